"""The send pipeline on one channel: everything between an envelope and the adapter's receipt.

In order: the expiry check, address normalisation (with the channel's declared address
kind), the outbound hooks, the rules no hook may override (RESTRICTED never PUBLIC, with the
signpost policy; PUBLIC only where the channel posts publicly), media URL checks, the
session window, content fitting (with the capability shape of the envelope's visibility),
then the adapter, once per fitted part. The router picks the channel and fails over; this
runs one channel's attempt. A preview runs the same steps and asks the adapter to describe
its calls instead of making them; an ambiguous attempt is settled here too, by asking the
provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from omnichannel.adapter import ChannelAdapter, SendReceipt, fitted_sender
from omnichannel.capabilities import Capabilities
from omnichannel.envelope import Envelope, Visibility
from omnichannel.errors import (
    EnvelopeExpired,
    OutcomeUnknown,
    PolicyViolation,
    SendError,
    UnsupportedFeature,
)
from omnichannel.events import DeliveryStatus
from omnichannel.fitting import FittedContent, fit
from omnichannel.hookvalues import Outbound
from omnichannel.policy import RestrictedPublic
from omnichannel.preview import Preview
from omnichannel.signposts import Signpost, Signposts, restricted_in_public
from omnichannel.window_rules import SessionWindowRules, business_address_of

if TYPE_CHECKING:
    from omnichannel.router import Router

__all__ = ["SendPipeline"]


@attrs.frozen(kw_only=True)
class _Prepared:
    envelope: Envelope
    adapter: ChannelAdapter
    shape: Capabilities
    fitted: FittedContent


class SendPipeline:
    """A router's sends on one channel, with the session-window rules and signposts they
    apply (``window_rules``, ``signposts``)."""

    def __init__(self, router: Router, adapters: Mapping[str, ChannelAdapter]) -> None:
        self.router = router
        self.window_rules = SessionWindowRules(router, self)
        self.signposts = Signposts(router, self)
        # Found once per adapter: the base send that takes the fitting report, so that each
        # send builds one receipt.
        self._fitted_senders = {
            channel: fitted_sender(adapter) for channel, adapter in adapters.items()
        }

    async def send_on(self, envelope: Envelope, *, signpost: bool = True) -> SendReceipt:
        """Send ``envelope`` on its channel: no failover (``signpost=False``: as one envelope,
        even where the signpost policy would make it two)."""
        prepared = await self._prepare(envelope, signpost=signpost)
        if isinstance(prepared, Signpost):
            return await self.signposts.send(prepared)
        return await self._deliver(prepared)

    async def preview(self, envelope: Envelope, *, channel: str | None = None) -> Preview:
        """What sending ``envelope`` would do, sending nothing (see :meth:`Router.preview`)."""
        router = self.router
        target = router.resolve_channel(envelope, channel)
        prepared = await self._prepare(router.moved(envelope, target), signpost=True)
        if isinstance(prepared, Signpost):
            private = await self.preview(prepared.private)
            public = await self.preview(prepared.public)
            return attrs.evolve(private, public_signpost=public)
        calls = [call for part in self._parts(prepared) for call in prepared.adapter.preview(part)]
        return Preview(
            envelope=prepared.envelope,
            adapter=prepared.adapter.info.name,
            fitting=prepared.fitted.report,
            calls=tuple(calls),
        )

    async def reconcile(self, envelope: Envelope, *, attempted_at: datetime) -> SendReceipt | None:
        """Ask the provider whether ``envelope`` created a message (see :meth:`Router.reconcile`);
        the status of a message found is tracked from then, one not found is forgotten."""
        router = self.router
        adapter = router.adapter(envelope.channel)
        if not adapter.capabilities.reconcile:
            raise UnsupportedFeature(
                f"{adapter.info.name} cannot look messages up; settle the outcome by its status "
                "callbacks or in the provider's console",
                channel=envelope.channel,
                adapter=adapter.info.name,
                envelope_id=envelope.id,
            )
        found = await adapter.reconcile(envelope, attempted_at=attempted_at)
        if found is None:
            router.statuses.forget(envelope.id)
            return None
        receipt = SendReceipt(
            envelope_id=envelope.id,
            channel=envelope.channel,
            adapter=adapter.info.name,
            provider_ids=(found.provider_id,),
            status=found.status,
            conversation_id=envelope.conversation_id,
            raw=found.raw,
        )
        router.statuses.sent(receipt)
        return receipt

    async def _prepare(self, envelope: Envelope, *, signpost: bool) -> _Prepared | Signpost:
        """Everything before the adapter: expiry, address, hooks, the rules no hook may
        override, media URLs, the session window, fitting. No network call but DNS for
        media hosts."""
        router = self.router
        adapter = router.adapter(envelope.channel)
        capabilities = adapter.capabilities
        if envelope.expires_at is not None and envelope.expires_at <= router.clock():
            router.statuses.ended(envelope.id, DeliveryStatus.EXPIRED)
            raise EnvelopeExpired(
                f"envelope expired at {envelope.expires_at.isoformat()}; not sent",
                channel=envelope.channel,
                envelope_id=envelope.id,
            )
        recipient = capabilities.recipient(envelope.recipient)
        if recipient is not envelope.recipient:
            envelope = attrs.evolve(envelope, recipient=recipient)
        outbound = router.host.outbound(
            Outbound(envelope=envelope, adapter=adapter.info.name, capabilities=capabilities)
        )
        envelope = outbound.envelope
        if restricted_in_public(envelope):
            if signpost and router.policy.restricted_public is RestrictedPublic.SIGNPOST:
                return self.signposts.of(envelope)
            raise PolicyViolation(
                "restricted content cannot be sent publicly; send it with visibility=PRIVATE "
                "(a direct message) or on a private channel, or set "
                'routing.restricted_public = "signpost"',
                channel=envelope.channel,
                envelope_id=envelope.id,
            )
        if envelope.visibility is Visibility.PUBLIC and not capabilities.public_posting:
            raise PolicyViolation(
                f"{envelope.channel} cannot post publicly; send it with visibility=PRIVATE",
                channel=envelope.channel,
                adapter=adapter.info.name,
                envelope_id=envelope.id,
            )
        if envelope.content.media or envelope.content.template is not None:
            await self._check_media(envelope)
        envelope, window_note = await self.window_rules.within(envelope, adapter)
        shape = capabilities.for_visibility(envelope.visibility)
        fitted = fit(envelope.content, shape, router.fitting_policy)
        if window_note is not None:
            report = fitted.report
            fitted = attrs.evolve(
                fitted, report=attrs.evolve(report, notes=(window_note, *report.notes))
            )
        return _Prepared(envelope=envelope, adapter=adapter, shape=shape, fitted=fitted)

    @staticmethod
    def _parts(prepared: _Prepared) -> list[Envelope]:
        envelope = prepared.envelope
        return [
            envelope if part is envelope.content else attrs.evolve(envelope, content=part)
            for part in prepared.fitted.parts
        ]

    async def _deliver(self, prepared: _Prepared) -> SendReceipt:
        router = self.router
        envelope, adapter, shape, fitted = (
            prepared.envelope,
            prepared.adapter,
            prepared.shape,
            prepared.fitted,
        )
        if fitted.report.choices:
            router.menus.remember(
                envelope.channel,
                business_address_of(envelope, adapter),
                envelope.recipient.value,
                fitted.report.choices,
                router.clock(),
            )
        receipts: list[SendReceipt] = []
        attempted_at = router.clock()
        send_fitted = self._fitted_senders.get(envelope.channel)
        for part_envelope in self._parts(prepared):
            if receipts and shape.reply_chain and receipts[-1].provider_id:
                part_envelope = attrs.evolve(part_envelope, in_reply_to=receipts[-1].provider_id)
            try:
                if send_fitted is not None:
                    receipts.append(await send_fitted(part_envelope, fitted.report))
                else:
                    receipts.append(await adapter.send(part_envelope))
            except SendError as error:
                self._record_failure(error, envelope, part_envelope, receipts, attempted_at)
                raise
        receipt = receipts[0]
        if len(receipts) > 1 or receipt.fitting is not fitted.report:
            provider_ids = tuple(pid for part in receipts for pid in part.provider_ids)
            receipt = attrs.evolve(receipt, provider_ids=provider_ids, fitting=fitted.report)
        router.statuses.sent(receipt)
        self.window_rules.sent(envelope, shape)
        return receipt

    def _record_failure(
        self,
        error: SendError,
        envelope: Envelope,
        part: Envelope,
        sent: list[SendReceipt],
        attempted_at: datetime,
    ) -> None:
        statuses = self.router.statuses
        status = error.status
        if isinstance(error, OutcomeUnknown):
            error.envelope = part
            error.attempted_at = attempted_at
        if sent:
            error.receipt = attrs.evolve(
                sent[0],
                provider_ids=tuple(pid for receipt in sent for pid in receipt.provider_ids),
                status=status,
            )
            statuses.sent(error.receipt)
        elif isinstance(error, OutcomeUnknown):
            error.receipt = SendReceipt(
                envelope_id=envelope.id,
                channel=envelope.channel,
                adapter=self.router.adapter(envelope.channel).info.name,
                provider_ids=(),
                status=DeliveryStatus.UNKNOWN,
                conversation_id=envelope.conversation_id,
            )
        statuses.ended(envelope.id, status)

    async def _check_media(self, envelope: Envelope) -> None:
        urls = [item.url for item in envelope.content.media if item.url is not None]
        template = envelope.content.template
        header_media = template.header.media if template and template.header else None
        if header_media is not None and header_media.url is not None:
            urls.append(header_media.url)
        if not urls:
            return
        from omnichannel.media_urls import check_media_urls

        await check_media_urls(
            urls,
            allow_private=self.router.policy.allow_private_media_hosts,
            channel=envelope.channel,
            envelope_id=envelope.id,
        )
