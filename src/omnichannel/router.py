"""The router: composes adapters, applies routing policies, and dispatches inbound events.

``await router.send(envelope)`` runs, in order: channel resolution, the expiry check, address
normalisation (with the channel's declared address kind), the outbound hooks (the core's
sensitivity rule among them), the session-window check, content fitting, then the adapter.
When a channel fails for good, the configured failover chain is tried next; the receipt says
which channel carried the message.

``await router.handle_webhook(channel, request)`` verifies and parses a provider request,
drops messages already seen, applies statuses by precedence and calls the handlers.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from omnichannel.adapter import (
    AdapterContext,
    ChannelAdapter,
    SendReceipt,
    WebhookRequest,
    WebhookResponse,
    utc_now,
)
from omnichannel.config import Config, build_settings
from omnichannel.envelope import Envelope
from omnichannel.errors import (
    ConfigurationError,
    PolicyViolation,
    SendError,
    UnknownChannel,
    WebhookError,
)
from omnichannel.events import (
    DeliveryStatus,
    FailureReason,
    StatusUpdate,
)
from omnichannel.fitting import FittingPolicy, fit
from omnichannel.http import Sender
from omnichannel.plugins import Outbound, PluginHost
from omnichannel.tracking import DEFAULT_REORDER_WINDOW, StatusAnomaly, StatusTracker

if TYPE_CHECKING:
    from omnichannel.blocking import BlockingRouter

__all__ = ["Router"]

logger = logging.getLogger("omnichannel.router")

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
MessageHandler = Callable[[Envelope], Awaitable[None] | None]
StatusHandler = Callable[[StatusUpdate], Awaitable[None] | None]

AUTO_CHANNEL = "auto"
_SEEN_LIMIT = 100_000


class _BoundedSet:
    """Remembers the most recent keys, forgetting the oldest past a limit."""

    def __init__(self, limit: int) -> None:
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._limit = limit

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._keys

    def add(self, key: tuple[str, str]) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._limit:
            self._keys.popitem(last=False)


async def _call(handler: Callable[[Any], Awaitable[None] | None], value: Any) -> None:
    result = handler(value)
    if inspect.isawaitable(result):
        await result


class Router:
    """Sends envelopes through adapters and dispatches what providers send back.

    Build it from adapter instances (tests, applications wiring adapters by hand) or from a
    configuration with :meth:`from_config`. One adapter serves each channel.
    """

    def __init__(
        self,
        adapters: Iterable[ChannelAdapter] | Mapping[str, ChannelAdapter],
        *,
        host: PluginHost | None = None,
        failover: Mapping[str, Sequence[str]] | None = None,
        fitting_policy: FittingPolicy | None = None,
        sender: Sender | None = None,
        clock: Callable[[], datetime] = utc_now,
        reorder_window: timedelta = DEFAULT_REORDER_WINDOW,
        public_url: str | None = None,
    ) -> None:
        self._public_url = public_url.rstrip("/") if public_url else None
        self._adapters: dict[str, ChannelAdapter]
        if isinstance(adapters, Mapping):
            self._adapters = dict(adapters)
        else:
            self._adapters = {adapter.info.channel: adapter for adapter in adapters}
        self.host = host if host is not None else PluginHost()
        self.failover = {channel: tuple(chain) for channel, chain in (failover or {}).items()}
        self.fitting_policy = fitting_policy or FittingPolicy()
        self.sender = sender
        self.clock = clock
        self._message_handlers: list[MessageHandler] = []
        self._status_handlers: list[StatusHandler] = []
        self._seen_messages = _BoundedSet(_SEEN_LIMIT)
        self._last_inbound: dict[tuple[str, str], datetime] = {}
        self._scheduled: list[Envelope] = []
        self.statuses = StatusTracker(clock=clock, reorder_window=reorder_window)
        self._check_failover()

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        host: PluginHost | None = None,
        sender: Sender | None = None,
        clock: Callable[[], datetime] = utc_now,
        fitting_policy: FittingPolicy | None = None,
    ) -> Router:
        """Build the adapters a configuration names, with settings checked and secrets wrapped."""
        plugin_host = host if host is not None else PluginHost.from_entry_points()
        shared_sender = sender if sender is not None else Sender()
        context = AdapterContext(sender=shared_sender, public_url=config.public_url, clock=clock)
        adapters: dict[str, ChannelAdapter] = {}
        for channel, channel_config in config.channels.items():
            entry = plugin_host.adapter(channel_config.adapter)
            if entry.info.channel != channel:
                raise ConfigurationError(
                    f"[channels.{channel}] uses adapter {entry.info.name!r}, which serves "
                    f"channel {entry.info.channel!r}"
                )
            settings = build_settings(
                entry.adapter_class.settings_class,
                channel_config.settings,
                where=f"[channels.{channel}] ({entry.info.name})",
            )
            adapters[channel] = entry.adapter_class(settings, context)
        return cls(
            adapters,
            host=plugin_host,
            failover=config.failover,
            sender=shared_sender,
            clock=clock,
            fitting_policy=fitting_policy,
            public_url=config.public_url,
        )

    def _check_failover(self) -> None:
        for channel, chain in self.failover.items():
            for step in (channel, *chain):
                if step not in self._adapters:
                    raise ConfigurationError(
                        f"routing.failover.{channel} names channel {step!r}, which is not "
                        f"configured; configured: {', '.join(sorted(self._adapters)) or 'none'}"
                    )

    # -- introspection ------------------------------------------------------------------------

    @property
    def public_url(self) -> str | None:
        """The URL providers call (``webhooks.public_url``); webhook signatures are checked
        against it."""
        return self._public_url

    @property
    def channels(self) -> list[str]:
        """The channels this router can send on."""
        return sorted(self._adapters)

    def adapter(self, channel: str) -> ChannelAdapter:
        """The adapter serving ``channel``; :class:`UnknownChannel` lists the ones that exist."""
        try:
            return self._adapters[channel]
        except KeyError:
            raise UnknownChannel(channel, self._adapters) from None

    def status_of(self, envelope_id: str) -> DeliveryStatus | None:
        """The latest status of a sent envelope (of its first part, when it was split)."""
        return self.statuses.status_of(envelope_id)

    @property
    def anomalies(self) -> list[StatusAnomaly]:
        """Status updates that contradicted what was known (kept, not applied)."""
        return self.statuses.anomalies

    # -- handlers -----------------------------------------------------------------------------

    def on_message(self, handler: HandlerT) -> HandlerT:
        """Register a handler (sync or async) for inbound messages; usable as a decorator."""
        self._message_handlers.append(handler)
        return handler

    def on_status(self, handler: HandlerT) -> HandlerT:
        """Register a handler (sync or async) for applied status updates; usable as a decorator."""
        self._status_handlers.append(handler)
        return handler

    # -- sending ------------------------------------------------------------------------------

    async def send(self, envelope: Envelope, *, channel: str | None = None) -> SendReceipt:
        """Send ``envelope`` (on ``channel`` when given), failing over along the configured chain.

        Raises :class:`~omnichannel.SendError` subclasses, :class:`~omnichannel.InvalidAddress`
        or :class:`~omnichannel.UnknownChannel`; all of them before any network call when the
        problem is ours.
        """
        target = channel or envelope.channel
        if target == AUTO_CHANNEL:
            target = self._choose_channel(envelope)
        if target != envelope.channel:
            envelope = attrs.evolve(
                envelope, channel=target, recipient=envelope.recipient.on(target)
            )
        if envelope.send_at is not None and envelope.send_at > self.clock():
            self._scheduled.append(envelope)
            self._scheduled.sort(key=lambda item: item.send_at or item.created_at)
            return SendReceipt(
                envelope_id=envelope.id,
                channel=target,
                adapter=self.adapter(target).info.name,
                provider_ids=(),
                status=DeliveryStatus.QUEUED,
            )
        attempts: list[str] = []
        chain = (target, *self.failover.get(target, ()))
        for index, step in enumerate(chain):
            step_envelope = envelope if step == target else self._moved(envelope, step)
            try:
                receipt = await self._send_on(step_envelope)
            except SendError as error:
                last = index == len(chain) - 1
                if last or not self._fails_over(error):
                    raise
                attempts.append(f"{step}: {error.reason.value}: {error.message}")
                logger.info("failing over from %s: %s", step, error)
                continue
            if attempts:
                receipt = attrs.evolve(receipt, requested_channel=target, attempts=tuple(attempts))
            return receipt
        raise AssertionError("unreachable: the chain always has at least one step")

    def _choose_channel(self, envelope: Envelope) -> str:
        choice = self.host.choose_channel(envelope, self.channels)
        if choice is None:
            raise UnknownChannel(AUTO_CHANNEL, self._adapters)
        return choice

    @staticmethod
    def _fails_over(error: SendError) -> bool:
        if isinstance(error, PolicyViolation):
            return error.reason is FailureReason.OUTSIDE_WINDOW
        return not error.retryable

    def _moved(self, envelope: Envelope, channel: str) -> Envelope:
        return attrs.evolve(
            envelope,
            channel=channel,
            recipient=envelope.recipient.on(channel),
            sender=None,
            business_address=None,
            thread=None,
            in_reply_to=None,
        )

    async def _send_on(self, envelope: Envelope) -> SendReceipt:
        adapter = self.adapter(envelope.channel)
        capabilities = adapter.capabilities
        now = self.clock()
        if envelope.expires_at is not None and envelope.expires_at <= now:
            raise PolicyViolation(
                f"envelope expired at {envelope.expires_at.isoformat()}; not sent",
                channel=envelope.channel,
                envelope_id=envelope.id,
            )
        recipient = envelope.recipient.normalized(capabilities.address_kind)
        if recipient is not envelope.recipient:
            envelope = attrs.evolve(envelope, recipient=recipient)
        outbound = self.host.outbound(
            Outbound(envelope=envelope, adapter=adapter.info.name, capabilities=capabilities)
        )
        envelope = outbound.envelope
        self._check_session_window(envelope, adapter)
        fitted = fit(envelope.content, capabilities, self.fitting_policy)
        receipts = []
        for part in fitted.parts:
            part_envelope = (
                envelope if part is envelope.content else attrs.evolve(envelope, content=part)
            )
            receipts.append(await adapter.send(part_envelope))
        provider_ids = tuple(pid for receipt in receipts for pid in receipt.provider_ids)
        receipt = attrs.evolve(receipts[0], provider_ids=provider_ids, fitting=fitted.report)
        self.statuses.sent(receipt)
        return receipt

    def _check_session_window(self, envelope: Envelope, adapter: ChannelAdapter) -> None:
        window = adapter.capabilities.session_window
        if window is None or envelope.content.template is not None:
            return
        last = self._last_inbound.get((envelope.channel, envelope.recipient.value))
        if last is not None and self.clock() - last <= window:
            return
        since = f"since {last.isoformat()}" if last else "ever"
        raise PolicyViolation(
            f"outside the {window} session window: the customer has not written {since}; "
            "send a template (Content(template=...)) or use another channel",
            reason=FailureReason.OUTSIDE_WINDOW,
            channel=envelope.channel,
            adapter=adapter.info.name,
            envelope_id=envelope.id,
        )

    def record_inbound(self, envelope: Envelope) -> None:
        """Note that the customer wrote (opening the channel's session window from now)."""
        if envelope.sender is not None:
            key = (envelope.channel, envelope.sender.value)
            self._last_inbound[key] = max(
                envelope.created_at, self._last_inbound.get(key, envelope.created_at)
            )

    async def reply(
        self,
        inbound: Envelope,
        content: Any,
        *,
        channel: str | None = None,
        **changes: Any,
    ) -> SendReceipt:
        """Answer ``inbound`` on the customer's channel, thread and business address."""
        return await self.send(inbound.reply(content, channel=channel, **changes))

    async def send_due(self) -> list[SendReceipt]:
        """Send the scheduled envelopes whose ``send_at`` has come (``omni listen`` calls this).

        Scheduled envelopes are kept in memory until a durable outbox exists: they are lost
        if the process stops first.
        """
        now = self.clock()
        due = [item for item in self._scheduled if item.send_at is None or item.send_at <= now]
        self._scheduled = [item for item in self._scheduled if item not in due]
        receipts = []
        for envelope in due:
            try:
                receipts.append(await self.send(attrs.evolve(envelope, send_at=None)))
            except SendError:
                logger.exception("scheduled envelope %s could not be sent", envelope.id)
        return receipts

    @property
    def scheduled(self) -> list[Envelope]:
        """Envelopes waiting for their ``send_at`` time."""
        return list(self._scheduled)

    # -- receiving ----------------------------------------------------------------------------

    async def handle_webhook(self, channel: str, request: WebhookRequest) -> WebhookResponse:
        """Verify, parse and dispatch one provider request; return the answer to give it.

        A bad signature answers 403 and a malformed body 400, and neither reaches a handler.
        A handler that raises makes the answer 500 so the provider retries, and the message is
        not marked as seen.
        """
        try:
            adapter = self.adapter(channel)
        except UnknownChannel as error:
            return WebhookResponse.text(error.message, status_code=404)
        try:
            result = await adapter.handle_webhook(request)
        except WebhookError as error:
            logger.warning("refused %s webhook (%d): %s", channel, error.status_code, error)
            return WebhookResponse.for_error(error)
        try:
            for message in result.messages:
                await self._dispatch_message(message)
            for status in result.statuses:
                await self._dispatch_status(status)
        except Exception:
            logger.exception(
                "a %s webhook handler raised; answering 500 so the provider retries", channel
            )
            return WebhookResponse.text("handler error", status_code=500)
        return result.response

    async def _dispatch_message(self, message: Envelope) -> None:
        key = (message.channel, message.provider_id or message.id)
        if key in self._seen_messages:
            logger.debug("dropping duplicate %s message %s", *key)
            return
        self.record_inbound(message)
        self.host.message_received(message)
        for handler in self._message_handlers:
            await _call(handler, message)
        self._seen_messages.add(key)

    async def _dispatch_status(self, update: StatusUpdate) -> None:
        for applied in self.statuses.receive(update):
            await self._tell_status(applied)

    async def release_held_statuses(self) -> None:
        """Pass on status updates that waited ``reorder_window`` for a missing predecessor.

        ``omni listen`` calls this periodically; an application serving the webhook app itself
        should too.
        """
        for applied in self.statuses.release_held():
            await self._tell_status(applied)

    async def _tell_status(self, update: StatusUpdate) -> None:
        self.host.status_received(update)
        for handler in self._status_handlers:
            await _call(handler, update)

    # -- lifecycle ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every adapter and the shared sender."""
        for adapter in self._adapters.values():
            await adapter.aclose()
        if self.sender is not None:
            await self.sender.aclose()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def blocking(self) -> BlockingRouter:
        """A synchronous facade over this router, for scripts and sync frameworks."""
        from omnichannel.blocking import BlockingRouter

        return BlockingRouter(self)
