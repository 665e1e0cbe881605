"""The session-window rules of the send path, and the late outside-window policy.

A channel with a session window takes free text only while the customer's last message is
recent enough; outside it only a template goes out. Before a send, free text outside the
window becomes ``routing.window_templates``' template for the channel (with a note in the
fitting report), or is refused with reason ``outside_window``. After a send, a provider may
still accept free text and then fail it as sent outside the window (a status with reason
``outside_window``): the configured template is sent then, else the failover chain is tried.

Windows are read from the durable store when there is one (every process sees the customer's
messages), else from the router's memory (:class:`~omnichannel.sessions.SessionWindows`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs

from omnichannel.adapter import ChannelAdapter
from omnichannel.content import Content, Template
from omnichannel.envelope import Envelope
from omnichannel.errors import PolicyViolation, SendError
from omnichannel.events import FailureReason, StatusUpdate
from omnichannel.mappings import BoundedDict

if TYPE_CHECKING:
    from omnichannel.capabilities import Capabilities
    from omnichannel.router import Router
    from omnichannel.sending import SendPipeline

__all__ = ["SessionWindowRules", "business_address_of"]

# The router's logger: what the late policy does is the router's doing to an operator.
logger = logging.getLogger("omnichannel.router")


def business_address_of(envelope: Envelope, adapter: ChannelAdapter) -> str | None:
    """The business address ``envelope`` goes out from (its own, else the adapter's): the
    middle of the key windows and menus are kept under."""
    own = envelope.business_address or envelope.sender
    return own.value if own is not None else adapter.business_address


def _duration_text(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}-hour"
    if seconds % 60 == 0:
        return f"{seconds // 60}-minute"
    return f"{seconds}-second"


def _as_window_template(envelope: Envelope, template: Template) -> Envelope:
    content = Content(template=template, fallback_text=envelope.content.plain_text or None)
    return attrs.evolve(envelope, content=content)


class SessionWindowRules:
    """Applies the session window to a router's sends, before and after the provider call."""

    def __init__(self, router: Router, pipeline: SendPipeline) -> None:
        self.router = router
        self.pipeline = pipeline
        self._windowed_sends: BoundedDict[str, Envelope] = BoundedDict(10_000)

    async def within(
        self, envelope: Envelope, adapter: ChannelAdapter
    ) -> tuple[Envelope, str | None]:
        """``envelope`` as it may go out under the channel's session window: as it is inside
        the window, as the configured template outside it (with a note for the report), or
        refused with reason ``outside_window``."""
        router = self.router
        # A public post and a private message may live under different rules.
        window = adapter.capabilities.for_visibility(envelope.visibility).session_window
        if window is None or envelope.content.template is not None:
            return envelope, None
        business = business_address_of(envelope, adapter)
        store = router.store
        if store is not None:
            last = await store.last_inbound(envelope.channel, business, envelope.recipient.value)
        else:
            last = router.windows.last(envelope.channel, business, envelope.recipient.value)
        if last is not None and router.clock() - last <= window:
            return envelope, None
        since = f"since {last.isoformat()}" if last else "ever"
        template = router.policy.window_templates.get(envelope.channel)
        length = _duration_text(window)
        if template is not None:
            note = (
                f"The customer has not written {since}, outside the {length} session window, "
                f"so template {template.name!r} was sent instead of the free text."
            )
            return _as_window_template(envelope, template), note
        raise PolicyViolation(
            f"outside the {length} session window: the customer has not written {since}; "
            "send a template (Content(template=...)), configure routing.window_templates, or "
            "use another channel",
            reason=FailureReason.OUTSIDE_WINDOW,
            channel=envelope.channel,
            adapter=adapter.info.name,
            envelope_id=envelope.id,
        )

    def sent(self, envelope: Envelope, shape: Capabilities) -> None:
        """Note a send the provider accepted, in the shape it went out under."""
        if shape.session_window is not None and envelope.content.template is None:
            # Kept for the late path: a provider may accept free text, then fail it as sent
            # outside the window (a status with reason outside_window).
            self._windowed_sends[envelope.id] = envelope

    async def outside_window_failure(self, update: StatusUpdate) -> None:
        """The policy for free text the provider accepted, then failed as sent outside the
        window: the configured template, else the failover chain, else nothing more."""
        router = self.router
        envelope = self._windowed_sends.pop(update.envelope_id or "", None)
        store = router.store
        if envelope is None and store is not None and update.envelope_id:
            record = await store.outbox_record(update.envelope_id)
            if record is not None and record.envelope.content.template is None:
                envelope = attrs.evolve(record.envelope, id=f"{record.envelope_id}.window")
        if envelope is None:
            return
        template = router.policy.window_templates.get(envelope.channel)
        chain = router.policy.failover.get(envelope.channel, ())
        try:
            if template is not None:
                retry = _as_window_template(envelope, template)
                await self.pipeline.send_on(retry)
                logger.info("resent %s as template %s after %s", envelope.id, template.name, update)
            elif chain:
                receipt = await router.send(envelope, channel=chain[0])
                logger.info("failed %s over to %s after %s", envelope.id, receipt.channel, update)
        except SendError:
            logger.exception("the outside-window policy for %s could not send", envelope.id)
