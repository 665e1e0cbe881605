"""The router: composes adapters, applies routing policies, and dispatches inbound events.

``await router.send(envelope)`` runs, in order: channel resolution, scheduling, then per
channel of the failover chain: the expiry check, address normalisation (with the channel's
declared address kind), the outbound hooks, the rules no hook may override (RESTRICTED never
PUBLIC, with the signpost policy; PUBLIC only where the channel posts publicly), media URL
checks, the session window, content fitting (with the capability shape of the envelope's
visibility), then the adapter. A definite failure moves on along the failover chain; an
ambiguous one (:class:`~omnichannel.OutcomeUnknown`) stops it: the message may exist.

``await router.handle_webhook(channel, request)`` verifies and parses a provider request and
hands its events to the :class:`~omnichannel.dispatch.Dispatcher` (claims, hooks, handlers);
pollers hand theirs to :meth:`Router.receive`.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from omnichannel.adapter import (
    AdapterContext,
    ChannelAdapter,
    SendReceipt,
    WebhookRequest,
    WebhookResponse,
    fitted_sender,
    utc_now,
)
from omnichannel.capabilities import Capabilities
from omnichannel.config import Config, build_settings
from omnichannel.content import Content, Template
from omnichannel.dispatch import Dispatcher, HandlerFailed
from omnichannel.envelope import AddressKind, Envelope, Sensitivity, Visibility, new_envelope_id
from omnichannel.errors import (
    ConfigurationError,
    EnvelopeExpired,
    InvalidAddress,
    OutcomeUnknown,
    PolicyViolation,
    SendError,
    UnknownChannel,
    UnsupportedFeature,
    WebhookError,
)
from omnichannel.events import DeliveryStatus, FailureReason, StatusUpdate
from omnichannel.fitting import FittedContent, FittingPolicy, FittingReport, fit
from omnichannel.hookvalues import Outbound
from omnichannel.http import Sender
from omnichannel.mappings import BoundedDict
from omnichannel.plugins import PluginHost
from omnichannel.policy import RestrictedPublic, RoutingPolicy
from omnichannel.sessions import NumberedMenus, SessionWindows
from omnichannel.tracking import DEFAULT_REORDER_WINDOW, StatusAnomaly, StatusTracker

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from omnichannel.blocking import BlockingRouter
    from omnichannel.durable import StorePolicy
    from omnichannel.durable.chains import Chains
    from omnichannel.durable.inbound import DurableInbound
    from omnichannel.durable.sends import DurableSends
    from omnichannel.store import Store

__all__ = ["Preview", "Router"]

logger = logging.getLogger("omnichannel.router")

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
RejectedT = TypeVar("RejectedT", bound=Callable[[str, int, str], Awaitable[None] | None])

AUTO_CHANNEL = "auto"


def _duration_text(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}-hour"
    if seconds % 60 == 0:
        return f"{seconds // 60}-minute"
    return f"{seconds}-second"


@attrs.frozen(kw_only=True)
class Preview:
    """What a send would do, from :meth:`Router.preview`: nothing was sent."""

    envelope: Envelope
    """The envelope as it would go out (normalised, changed by hooks, on the window's terms)."""
    adapter: str
    fitting: FittingReport
    calls: tuple[Mapping[str, Any], ...]
    """One description per provider call, secrets redacted (method, url, headers, body)."""
    public_signpost: Preview | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``omni send --dry-run --json``)."""
        return {
            "envelope": self.envelope.to_dict(),
            "adapter": self.adapter,
            "fitting": self.fitting.to_dict(),
            "calls": [dict(call) for call in self.calls],
            "public_signpost": self.public_signpost.to_dict() if self.public_signpost else None,
        }


@attrs.frozen(kw_only=True)
class _Prepared:
    envelope: Envelope
    adapter: ChannelAdapter
    shape: Capabilities
    fitted: FittedContent


@attrs.frozen(kw_only=True)
class _Signpost:
    private: Envelope
    public: Envelope


class Router:
    """Sends envelopes through adapters and dispatches what providers send back.

    Build it from adapter instances (tests, applications wiring adapters by hand) or from a
    configuration with :meth:`from_config`. One adapter serves each channel. ``public_url`` is
    the base URL providers call (webhook signatures are checked against it); ``policy`` holds
    the routing choices (failover, the signpost rule, handler timeouts).
    """

    def __init__(
        self,
        adapters: Iterable[ChannelAdapter] | Mapping[str, ChannelAdapter],
        *,
        host: PluginHost | None = None,
        policy: RoutingPolicy | None = None,
        fitting_policy: FittingPolicy | None = None,
        sender: Sender | None = None,
        clock: Callable[[], datetime] = utc_now,
        reorder_window: timedelta = DEFAULT_REORDER_WINDOW,
        public_url: str | None = None,
        store: Store | Callable[[], Awaitable[Store]] | None = None,
        store_policy: StorePolicy | None = None,
        handle_inline: bool = True,
    ) -> None:
        self._public_url = public_url.rstrip("/") if public_url else None
        self._adapters: dict[str, ChannelAdapter]
        if isinstance(adapters, Mapping):
            self._adapters = dict(adapters)
        else:
            self._adapters = {adapter.info.channel: adapter for adapter in adapters}
        self.host = host if host is not None else PluginHost()
        self.policy = policy or RoutingPolicy()
        self.fitting_policy = fitting_policy or FittingPolicy()
        self.sender = sender
        self.clock = clock
        self.statuses = StatusTracker(clock=clock, reorder_window=reorder_window)
        self.windows = SessionWindows()
        self.menus = NumberedMenus()
        self.dispatcher = Dispatcher(
            host=self.host,
            statuses=self.statuses,
            windows=self.windows,
            menus=self.menus,
            address_kind_of=self._address_kind_of,
            adapter_name_of=lambda channel: self.adapter(channel).info.name,
            clock=clock,
            handler_timeout=self.policy.handler_timeout,
            on_outside_window=self.outside_window_failure,
            has_session_window=self.has_session_window,
        )
        self._rejected_handlers: list[Callable[[str, int, str], Awaitable[None] | None]] = []
        self._windowed_sends: BoundedDict[str, Envelope] = BoundedDict(10_000)
        # Found once per adapter: the base send that takes the fitting report, so that each
        # send builds one receipt.
        self._fitted_senders = {
            channel: fitted_sender(adapter) for channel, adapter in self._adapters.items()
        }
        self._scheduled: list[tuple[datetime, int, Envelope]] = []
        self._order = itertools.count()
        self._check_policy()
        self.handle_inline = handle_inline
        """With a store: handle inbound events in the process that received them (False: the
        webhook only writes them to the inbox, for a worker)."""
        self._store_policy = store_policy
        self._store: Store | None = None
        self._open_store: Callable[[], Awaitable[Store]] | None = None
        self._store_opening = anyio.Lock()
        self.worker_id = ""
        """This process's name on the leases it takes (set when the store opens)."""
        self.chains: Chains | None = None
        """The status-driven chains, once the store is open."""
        self.outbox: DurableSends | None = None
        """The durable send path, once the store is open."""
        self.inbox: DurableInbound | None = None
        """The durable inbound path, once the store is open."""
        if store is not None and callable(store) and not hasattr(store, "enqueue"):
            self._open_store = store
        elif store is not None:
            self._attach(store)  # type: ignore[arg-type]

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        host: PluginHost | None = None,
        sender: Sender | None = None,
        clock: Callable[[], datetime] = utc_now,
        fitting_policy: FittingPolicy | None = None,
        worker: bool = False,
        store_policy: StorePolicy | None = None,
        handle_inline: bool = True,
    ) -> Router:
        """Build the adapters a configuration names, with settings checked and secrets wrapped.

        The durable store is the configuration's ``[store] url``, else a SQLite file
        ``omnichannel.db`` next to the configuration file (created on first use); a
        configuration built in code, with no file and no ``[store]``, keeps the router's state
        in memory, as ``[store] url = "memory"`` does. The store opens on first use (or
        ``async with``); ``worker=True`` opens a SQLite file as its one worker process.
        """
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
            policy=config.routing,
            sender=shared_sender,
            clock=clock,
            fitting_policy=fitting_policy,
            public_url=config.public_url,
            store=_store_opener(config, worker=worker),
            store_policy=store_policy,
            handle_inline=handle_inline,
        )

    def _check_policy(self) -> None:
        configured = ", ".join(sorted(self._adapters)) or "none"
        for channel, fallbacks in self.policy.failover.items():
            for step in (channel, *fallbacks):
                if step not in self._adapters:
                    raise ConfigurationError(
                        f"routing.failover.{channel} names channel {step!r}, which is not "
                        f"configured; configured: {configured}"
                    )
        for chain in self.policy.chains.values():
            for link in chain.steps:
                adapter = self._adapters.get(link.channel)
                if adapter is None:
                    raise ConfigurationError(
                        f"routing.chains.{chain.name} names channel {link.channel!r}, which is "
                        f"not configured; configured: {configured}"
                    )
                reported = adapter.capabilities.statuses
                if link.until is not None and not any(
                    status.reached(link.until) for status in reported
                ):
                    raise ConfigurationError(
                        f"routing.chains.{chain.name}: {link.channel} never reports "
                        f"{link.until.value!r} (it reports "
                        f"{', '.join(sorted(status.value for status in reported))}); wait for "
                        "one of those"
                    )
        private = self.policy.signpost_channel
        if private is not None and private not in self._adapters:
            raise ConfigurationError(
                f"routing.signpost_channel names channel {private!r}, which is not "
                f"configured; configured: {configured}"
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

    def has_session_window(self, channel: str) -> bool:
        """Whether ``channel`` has a session window (an unknown channel may: its windows are
        recorded)."""
        adapter = self._adapters.get(channel)
        return adapter is None or adapter.capabilities.session_window is not None

    def _address_kind_of(self, channel: str) -> AddressKind | None:
        adapter = self._adapters.get(channel)
        return adapter.capabilities.address_kind if adapter is not None else None

    def status_of(self, envelope_id: str) -> DeliveryStatus | None:
        """The latest status of an envelope this process sent (of its first part, when it was
        split), from memory; with a store, :meth:`status` reads what every process recorded."""
        return self.statuses.status_of(envelope_id)

    async def status(self, envelope_id: str) -> DeliveryStatus | None:
        """The latest status of an envelope: from the store when there is one (whichever
        process sent it or heard its statuses), else as :meth:`status_of`."""
        store = await self.durable_store()
        if store is None:
            return self.statuses.status_of(envelope_id)
        return await store.status_of(envelope_id)

    # -- the durable store --------------------------------------------------------------------

    @property
    def store(self) -> Store | None:
        """The durable store, once open (None for a router keeping its state in memory)."""
        return self._store

    async def durable_store(self) -> Store | None:
        """The durable store, opened on first use; None when the router has none."""
        if self._store is None and self._open_store is not None:
            async with self._store_opening:
                if self._store is None and self._open_store is not None:
                    self._attach(await self._open_store())
        return self._store

    def _attach(self, store: Store) -> None:
        from omnichannel.durable import StorePolicy, worker_identity
        from omnichannel.durable.chains import Chains
        from omnichannel.durable.inbound import DurableInbound
        from omnichannel.durable.sends import DurableSends

        self._store = store
        self.worker_id = worker_identity()
        policy = self._store_policy or StorePolicy()
        chains = Chains(self, store, worker=self.worker_id)
        self.chains = chains
        self.outbox = DurableSends(self, store, worker=self.worker_id, policy=policy, chains=chains)
        self.inbox = DurableInbound(
            self,
            store,
            worker=self.worker_id,
            policy=policy,
            chains=chains,
            handle_inline=self.handle_inline,
        )

    @property
    def anomalies(self) -> list[StatusAnomaly]:
        """Status updates that contradicted what was known (kept, not applied)."""
        return self.statuses.anomalies

    # -- handlers -----------------------------------------------------------------------------

    def on_message(self, handler: HandlerT, *, inline: bool = False) -> HandlerT:
        """Register a handler (sync or async) for inbound messages; usable as a decorator.

        A sync handler runs in a worker thread so it cannot stall the server; ``inline=True``
        runs it on the event loop instead (for one that never blocks: printing, appending).
        """
        self.dispatcher.message_handlers.append((handler, inline))
        return handler

    def on_status(self, handler: HandlerT, *, inline: bool = False) -> HandlerT:
        """Register a handler (sync or async) for applied status updates (see
        :meth:`on_message`)."""
        self.dispatcher.status_handlers.append((handler, inline))
        return handler

    def on_rejected(self, handler: RejectedT) -> RejectedT:
        """Register a handler (sync or async) called as ``handler(channel, status_code,
        reason)`` for every webhook request :meth:`handle_webhook` refuses (403 bad signature,
        400 malformed, 404 no such channel); usable as a decorator.

        It runs on the event loop before the refusal is answered, so it must not block; what
        it raises is logged and ignored.
        """
        self._rejected_handlers.append(handler)
        return handler

    async def _rejected(self, channel: str, status_code: int, reason: str) -> None:
        for handler in self._rejected_handlers:
            try:
                result = handler(channel, status_code, reason)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("a rejected-webhook handler raised; ignored")

    # -- sending ------------------------------------------------------------------------------

    async def send(
        self,
        envelope: Envelope,
        *,
        channel: str | None = None,
        wait: bool = True,
        connection: AsyncConnection | None = None,
        chain: str | None = None,
    ) -> SendReceipt:
        """Send ``envelope`` (on ``channel`` when given), failing over along the configured chain.

        Raises :class:`~omnichannel.SendError` subclasses, :class:`~omnichannel.InvalidAddress`
        or :class:`~omnichannel.UnknownChannel`; all of them before any network call when the
        problem is ours. :class:`~omnichannel.OutcomeUnknown` means the message may exist: it
        is never resent and the chain stops; settle it with :meth:`reconcile` or a status.

        With a durable store the envelope is written to the outbox before any provider call
        (the same envelope id twice raises :class:`~omnichannel.DuplicateEnvelope`) and the
        first attempt is made here; a failure that is safe to retry returns a receipt with
        status ``queued`` (a worker retries it). ``wait=False`` returns at once, queued.
        ``connection`` (the application's own SQLAlchemy ``AsyncConnection`` on the store's
        database) writes the outbox row in the application's transaction: the message goes
        out once it commits, and never if it rolls back. ``chain`` names a status-driven
        failover chain of ``routing.chains``. These three need a store.
        """
        if await self.durable_store() is not None:
            assert self.outbox is not None
            return await self.outbox.send(
                envelope, channel=channel, wait=wait, connection=connection, chain=chain
            )
        if not wait or connection is not None or chain is not None:
            used = "wait=False" if not wait else "connection=" if connection else "chain="
            raise ConfigurationError(
                f"router.send({used}...) needs the durable store: build the router with "
                'store=... or set [store] url (url = "sqlite://" keeps it in memory)'
            )
        target = self.resolve_channel(envelope, channel)
        envelope = self.moved(envelope, target)
        if envelope.send_at is not None and envelope.send_at > self.clock():
            heapq.heappush(self._scheduled, (envelope.send_at, next(self._order), envelope))
            return SendReceipt(
                envelope_id=envelope.id,
                channel=target,
                adapter=self.adapter(target).info.name,
                provider_ids=(),
                status=DeliveryStatus.QUEUED,
                conversation_id=envelope.conversation_id,
            )
        return await self.send_now(envelope)

    def resolve_channel(self, envelope: Envelope, channel: str | None = None) -> str:
        """The channel a send goes on: ``channel``, else the envelope's; ``auto`` asks the
        plugins' ``choose_channel`` hook among the channels that can reach the recipient."""
        target = channel or envelope.channel
        return self._choose_channel(envelope) if target == AUTO_CHANNEL else target

    async def send_now(self, envelope: Envelope) -> SendReceipt:
        """Send ``envelope`` on its channel now, failing over on a definite failure along
        ``routing.failover``; no outbox, no scheduling (the durable path calls this)."""
        target = envelope.channel
        attempts: list[str] = []
        chain = (target, *self.policy.failover.get(target, ()))
        for index, step in enumerate(chain):
            try:
                receipt = await self._send_on(self.moved(envelope, step))
            except SendError as error:
                if index == len(chain) - 1 or not self._fails_over(error):
                    error.attempts = (*attempts, *error.attempts)
                    raise
                attempts.append(f"{step}: {error.reason.value}: {error.message}")
                logger.info("failing over from %s: %s", step, error)
                continue
            if attempts:
                receipt = attrs.evolve(receipt, requested_channel=target, attempts=tuple(attempts))
            return receipt
        raise AssertionError("unreachable: the chain always has at least one step")

    def _choose_channel(self, envelope: Envelope) -> str:
        reachable = [
            channel
            for channel in self.channels
            if self._reaches(envelope, self._adapters[channel].capabilities)
        ]
        choice = self.host.choose_channel(envelope, reachable) if reachable else None
        if choice is None:
            raise UnknownChannel(AUTO_CHANNEL, self._adapters)
        return choice

    @staticmethod
    def _reaches(envelope: Envelope, capabilities: Capabilities) -> bool:
        try:
            capabilities.recipient(envelope.recipient)
        except InvalidAddress:
            return False
        return True

    def moved(self, envelope: Envelope, channel: str) -> Envelope:
        """``envelope`` on ``channel``: the one way an envelope changes channel (an explicit
        channel, failover, the signpost's private channel)."""
        if channel == envelope.channel:
            return envelope
        target = self.adapter(channel).capabilities
        source = self._adapters.get(envelope.channel)
        kind = target.address_kind
        if source is not None and source.capabilities.is_scoped_id(envelope.recipient.value):
            raise InvalidAddress(
                envelope.recipient.value,
                kind.value,
                f"a provider-scoped id of {envelope.channel} cannot be used on {channel}; "
                f"address the {channel} envelope explicitly",
                channel=channel,
            )
        if source is not None and source.capabilities.address_kind is not kind:
            raise InvalidAddress(
                envelope.recipient.value,
                kind.value,
                f"a {source.capabilities.address_kind.value} address on {envelope.channel} "
                f"cannot be used on {channel}; address the {channel} envelope explicitly",
                channel=channel,
            )
        moved = envelope.moved_to(channel)
        return attrs.evolve(moved, recipient=moved.recipient.normalized(kind))

    @staticmethod
    def _fails_over(error: SendError) -> bool:
        if isinstance(error, OutcomeUnknown) or error.receipt is not None:
            return False  # the message may exist, or part of it went out
        if isinstance(error, PolicyViolation):
            return error.reason is FailureReason.OUTSIDE_WINDOW
        return not error.retryable

    async def _send_on(self, envelope: Envelope, *, signpost: bool = True) -> SendReceipt:
        prepared = await self._prepare(envelope, signpost=signpost)
        if isinstance(prepared, _Signpost):
            return await self._signposted(prepared)
        return await self._deliver(prepared)

    async def _prepare(self, envelope: Envelope, *, signpost: bool) -> _Prepared | _Signpost:
        """Everything before the adapter: expiry, address, hooks, the rules no hook may
        override, media URLs, the session window, fitting. No network call but DNS for
        media hosts."""
        adapter = self.adapter(envelope.channel)
        capabilities = adapter.capabilities
        if envelope.expires_at is not None and envelope.expires_at <= self.clock():
            self.statuses.ended(envelope.id, DeliveryStatus.EXPIRED)
            raise EnvelopeExpired(
                f"envelope expired at {envelope.expires_at.isoformat()}; not sent",
                channel=envelope.channel,
                envelope_id=envelope.id,
            )
        recipient = capabilities.recipient(envelope.recipient)
        if recipient is not envelope.recipient:
            envelope = attrs.evolve(envelope, recipient=recipient)
        outbound = self.host.outbound(
            Outbound(envelope=envelope, adapter=adapter.info.name, capabilities=capabilities)
        )
        envelope = outbound.envelope
        if self._restricted_in_public(envelope):
            if signpost and self.policy.restricted_public is RestrictedPublic.SIGNPOST:
                return self._signpost_of(envelope)
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
        envelope, window_note = await self._within_session_window(envelope, adapter)
        shape = capabilities.for_visibility(envelope.visibility)
        fitted = fit(envelope.content, shape, self.fitting_policy)
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
        envelope, adapter, shape, fitted = (
            prepared.envelope,
            prepared.adapter,
            prepared.shape,
            prepared.fitted,
        )
        if fitted.report.choices:
            self.menus.remember(
                envelope.channel,
                self._business_of(envelope, adapter),
                envelope.recipient.value,
                fitted.report.choices,
                self.clock(),
            )
        receipts: list[SendReceipt] = []
        attempted_at = self.clock()
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
        self.statuses.sent(receipt)
        if shape.session_window is not None and envelope.content.template is None:
            # Kept for the late path: a provider may accept free text, then fail it as sent
            # outside the window (a status with reason outside_window).
            self._windowed_sends[envelope.id] = envelope
        return receipt

    def _record_failure(
        self,
        error: SendError,
        envelope: Envelope,
        part: Envelope,
        sent: list[SendReceipt],
        attempted_at: datetime,
    ) -> None:
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
            self.statuses.sent(error.receipt)
        elif isinstance(error, OutcomeUnknown):
            error.receipt = SendReceipt(
                envelope_id=envelope.id,
                channel=envelope.channel,
                adapter=self.adapter(envelope.channel).info.name,
                provider_ids=(),
                status=DeliveryStatus.UNKNOWN,
                conversation_id=envelope.conversation_id,
            )
        self.statuses.ended(envelope.id, status)

    @staticmethod
    def _restricted_in_public(envelope: Envelope) -> bool:
        return (
            envelope.sensitivity is Sensitivity.RESTRICTED
            and envelope.visibility is Visibility.PUBLIC
        )

    def _signpost_of(self, envelope: Envelope) -> _Signpost:
        """The signpost policy's two envelopes: the content privately, a short answer
        publicly, under one conversation id."""
        conversation = envelope.conversation_id or new_envelope_id()
        capabilities = self.adapter(envelope.channel).capabilities
        private = attrs.evolve(
            envelope,
            visibility=Visibility.PRIVATE,
            thread=None,
            in_reply_to=None,
            conversation_id=conversation,
        )
        if capabilities.public is None:  # no private mode of its own: another channel
            if self.policy.signpost_channel is None:
                raise PolicyViolation(
                    f"restricted content cannot be sent publicly and {envelope.channel} has no "
                    "private mode; set routing.signpost_channel to a private channel",
                    channel=envelope.channel,
                    envelope_id=envelope.id,
                )
            private = self.moved(private, self.policy.signpost_channel)
        public = attrs.evolve(
            envelope,
            id=new_envelope_id(),
            content=Content(
                text=self.policy.signpost_for(
                    recipient=envelope.recipient.value,
                    name=envelope.recipient.name,
                    reference=conversation,
                )
            ),
            sensitivity=Sensitivity.NORMAL,
            conversation_id=conversation,
        )
        return _Signpost(private=private, public=public)

    async def _signposted(self, signpost: _Signpost) -> SendReceipt:
        private_receipt = await self._send_on(signpost.private, signpost=False)
        try:
            public_receipt = await self._send_on(signpost.public, signpost=False)
        except SendError as error:
            # The content already went privately: say so, or the caller may send it again.
            error.receipt = private_receipt
            error.message += "; the content itself went privately (error.receipt)"
            raise
        return attrs.evolve(
            private_receipt,
            conversation_id=signpost.private.conversation_id,
            public_signpost=public_receipt,
        )

    async def preview(self, envelope: Envelope, *, channel: str | None = None) -> Preview:
        """What :meth:`send` would do with ``envelope``, sending nothing: the envelope as it
        would go out, the fitting report, and each provider call the adapter would make (as
        :meth:`~omnichannel.plugin.BaseAdapter.preview` describes it, secrets redacted).

        Every refusal :meth:`send` makes before the network is raised the same way. Failover
        is not previewed (it depends on how the first channel answers).
        """
        target = self.resolve_channel(envelope, channel)
        prepared = await self._prepare(self.moved(envelope, target), signpost=True)
        if isinstance(prepared, _Signpost):
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
            allow_private=self.policy.allow_private_media_hosts,
            channel=envelope.channel,
            envelope_id=envelope.id,
        )

    @staticmethod
    def _business_of(envelope: Envelope, adapter: ChannelAdapter) -> str | None:
        own = envelope.business_address or envelope.sender
        return own.value if own is not None else adapter.business_address

    async def _within_session_window(
        self, envelope: Envelope, adapter: ChannelAdapter
    ) -> tuple[Envelope, str | None]:
        """``envelope`` as it may go out under the channel's session window: as it is inside
        the window, as the configured template outside it (with a note for the report), or
        refused with reason ``outside_window``."""
        # A public post and a private message may live under different rules.
        window = adapter.capabilities.for_visibility(envelope.visibility).session_window
        if window is None or envelope.content.template is not None:
            return envelope, None
        business = self._business_of(envelope, adapter)
        store = self._store
        if store is not None:
            last = await store.last_inbound(envelope.channel, business, envelope.recipient.value)
        else:
            last = self.windows.last(envelope.channel, business, envelope.recipient.value)
        if last is not None and self.clock() - last <= window:
            return envelope, None
        since = f"since {last.isoformat()}" if last else "ever"
        template = self.policy.window_templates.get(envelope.channel)
        length = _duration_text(window)
        if template is not None:
            note = (
                f"The customer has not written {since}, outside the {length} session window, "
                f"so template {template.name!r} was sent instead of the free text."
            )
            return self._as_window_template(envelope, template), note
        raise PolicyViolation(
            f"outside the {length} session window: the customer has not written {since}; "
            "send a template (Content(template=...)), configure routing.window_templates, or "
            "use another channel",
            reason=FailureReason.OUTSIDE_WINDOW,
            channel=envelope.channel,
            adapter=adapter.info.name,
            envelope_id=envelope.id,
        )

    @staticmethod
    def _as_window_template(envelope: Envelope, template: Template) -> Envelope:
        content = Content(template=template, fallback_text=envelope.content.plain_text or None)
        return attrs.evolve(envelope, content=content)

    async def outside_window_failure(self, update: StatusUpdate) -> None:
        """The policy for free text the provider accepted, then failed as sent outside the
        window: the configured template, else the failover chain, else nothing more (the
        status handlers saw the failure)."""
        envelope = self._windowed_sends.pop(update.envelope_id or "", None)
        if envelope is None and self._store is not None and update.envelope_id:
            record = await self._store.outbox_record(update.envelope_id)
            if record is not None and record.envelope.content.template is None:
                envelope = attrs.evolve(record.envelope, id=f"{record.envelope_id}.window")
        if envelope is None:
            return
        template = self.policy.window_templates.get(envelope.channel)
        chain = self.policy.failover.get(envelope.channel, ())
        try:
            if template is not None:
                retry = self._as_window_template(envelope, template)
                await self._send_on(retry)
                logger.info("resent %s as template %s after %s", envelope.id, template.name, update)
            elif chain:
                receipt = await self.send(envelope, channel=chain[0])
                logger.info("failed %s over to %s after %s", envelope.id, receipt.channel, update)
        except SendError:
            logger.exception("the outside-window policy for %s could not send", envelope.id)

    def record_inbound(self, envelope: Envelope) -> None:
        """Note, in memory, that the customer wrote (opening the channel's session window from
        then). With a store, webhooks and pollers record it there; see :meth:`note_inbound`."""
        self.dispatcher.record_inbound(envelope)

    async def note_inbound(self, envelope: Envelope) -> None:
        """Note that the customer wrote: in the store when there is one (every process then
        sees the window open), else in memory."""
        store = await self.durable_store()
        customer, business = self.dispatcher.customer_of(envelope)
        if store is None or customer is None:
            self.dispatcher.record_inbound(envelope)
            return
        await store.record_window(envelope.channel, business, customer, envelope.created_at)

    async def reply(
        self, inbound: Envelope, content: Content | str, *, channel: str | None = None
    ) -> SendReceipt:
        """Answer ``inbound`` on the customer's channel, thread and business address (build
        the answer with :meth:`Envelope.reply` for more control)."""
        return await self.send(inbound.reply(content, channel=channel))

    async def reconcile(
        self, envelope: Envelope, *, attempted_at: datetime | None = None
    ) -> SendReceipt | None:
        """Settle an ambiguous send: ask the provider whether ``envelope`` created a message.

        Pass the envelope of the :class:`~omnichannel.OutcomeUnknown` (``error.envelope``) and
        its ``error.attempted_at``. Returns the receipt of the message found (its status now
        tracked), or None when the provider shows none: sending it again is then safe. Raises
        :class:`~omnichannel.UnsupportedFeature` when the adapter cannot look messages up.
        """
        adapter = self.adapter(envelope.channel)
        if not adapter.capabilities.reconcile:
            raise UnsupportedFeature(
                f"{adapter.info.name} cannot look messages up; settle the outcome by its status "
                "callbacks or in the provider's console",
                channel=envelope.channel,
                adapter=adapter.info.name,
                envelope_id=envelope.id,
            )
        found = await adapter.reconcile(envelope, attempted_at=attempted_at or envelope.created_at)
        if found is None:
            self.statuses.forget(envelope.id)
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
        self.statuses.sent(receipt)
        return receipt

    async def send_due(self) -> list[SendReceipt]:
        """Send the scheduled envelopes whose ``send_at`` has come (``omni listen`` calls this).

        Scheduled envelopes are kept in memory until a durable outbox exists: they are lost
        if the process stops first.
        """
        now = self.clock()
        receipts = []
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, envelope = heapq.heappop(self._scheduled)
            try:
                receipts.append(await self.send(attrs.evolve(envelope, send_at=None)))
            except SendError:
                logger.exception("scheduled envelope %s could not be sent", envelope.id)
        return receipts

    @property
    def scheduled(self) -> list[Envelope]:
        """Envelopes waiting for their ``send_at`` time, soonest first."""
        return [envelope for _, _, envelope in sorted(self._scheduled)]

    # -- receiving ----------------------------------------------------------------------------

    async def handle_webhook(self, channel: str, request: WebhookRequest) -> WebhookResponse:
        """Verify, parse and dispatch one provider request; return the answer to give it.

        A bad signature answers 403 and a malformed body 400, and neither reaches a handler.
        A handler that raises or runs out of time makes the answer 500 so the provider retries;
        the retry runs only the handlers that did not complete.
        """
        adapter = self._adapters.get(channel)
        if adapter is None:
            if self._rejected_handlers:
                await self._rejected(channel, 404, "no such channel")
            return WebhookResponse.text("no such channel", status_code=404)
        try:
            result = await adapter.handle_webhook(request)
        except WebhookError as error:
            logger.warning("refused %s webhook (%d): %s", channel, error.status_code, error)
            if self._rejected_handlers:
                await self._rejected(channel, error.status_code, error.message)
            return WebhookResponse.for_error(error)
        try:
            await self.receive(result.messages, result.statuses)
        except HandlerFailed:
            return WebhookResponse.text("handler error", status_code=500)
        except Exception:
            logger.exception("a %s webhook's inbound hooks raised; answering 500", channel)
            return WebhookResponse.text("handler error", status_code=500)
        return result.response

    async def receive(
        self, messages: Sequence[Envelope] = (), statuses: Sequence[StatusUpdate] = ()
    ) -> None:
        """Take verified inbound events (from a webhook or a poller): claim, hook, handle.

        Raises :class:`~omnichannel.dispatch.HandlerFailed` when a handler failed: the events
        whose handlers all completed are done; the others are taken again when they come back.

        With a store the events are written to the inbox first (duplicates dropped there),
        then handled here (or by a worker, with ``handle_inline=False``); a failed handler is
        retried from the inbox, so nothing is raised.
        """
        if await self.durable_store() is not None:
            assert self.inbox is not None
            await self.inbox.receive(messages, statuses)
            return
        failed: HandlerFailed | None = None
        for message in messages:
            try:
                await self.dispatcher.message(message)
            except HandlerFailed as error:
                failed = failed or error
        for update in statuses:
            try:
                await self.dispatcher.status(update)
            except HandlerFailed as error:
                failed = failed or error
        if failed is not None:
            raise failed

    async def release_held_statuses(self) -> None:
        """Pass on status updates that waited ``reorder_window`` for a missing predecessor.

        ``omni listen`` calls this periodically; an application serving the webhook app itself
        should too.
        """
        await self.dispatcher.released()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the durable store (when there is one) and start every adapter (open
        long-lived connections); ``async with`` calls it."""
        await self.durable_store()
        for adapter in self._adapters.values():
            await adapter.start()

    async def aclose(self) -> None:
        """Close every adapter, the shared sender and the store this router opened."""
        for adapter in self._adapters.values():
            await adapter.aclose()
        if self.sender is not None:
            await self.sender.aclose()
        if self._store is not None and self._open_store is not None:
            await self._store.close()
            self._store = None

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def blocking(self) -> BlockingRouter:
        """A synchronous facade over this router, for scripts and sync frameworks."""
        from omnichannel.blocking import BlockingRouter

        return BlockingRouter(self)


MEMORY_STORE = "memory"
"""``[store] url = "memory"``: keep the router's state in this process's memory."""


def _store_opener(config: Config, *, worker: bool) -> Callable[[], Awaitable[Store]] | None:
    """How :meth:`Router.from_config` opens the configuration's store (None: no store)."""
    if config.store_url == MEMORY_STORE or (config.store_url is None and config.path is None):
        return None
    try:
        from omnichannel.store import Store, configured_url
    except ImportError:
        if config.store_url is not None:
            raise ConfigurationError(
                "[store] url needs the store extra: pip install 'omnichannel[store]'"
            ) from None
        logger.warning(
            "the durable store is not installed (pip install 'omnichannel[store]'); the "
            "router keeps its state in memory"
        )
        return None
    url = configured_url(config)
    directory = Path(config.path).parent if config.path is not None else None

    async def open_store() -> Store:
        if directory is not None and not directory.is_dir():
            raise ConfigurationError(f"cannot create the store next to {config.path}")
        return await Store.open(url, worker=worker, create=True)

    return open_store
