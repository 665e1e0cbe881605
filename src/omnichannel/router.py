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

The router chooses channels and fails over; collaborators hold the rest: one channel's
attempt in :mod:`~omnichannel.sending` (with :mod:`~omnichannel.window_rules` and
:mod:`~omnichannel.signposts`), channel moves in :mod:`~omnichannel.channel_moves`, inbound
events in :mod:`~omnichannel.receiving`, scheduled sends without a store in
:mod:`~omnichannel.scheduling`, building in :mod:`~omnichannel.assembly`, the store in
:mod:`~omnichannel.durable.opening`.
"""

from __future__ import annotations

import logging
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
from omnichannel.assembly import check_routing_policy, configured_adapters
from omnichannel.channel_moves import AUTO_CHANNEL, choose_channel, fails_over, move_envelope
from omnichannel.config import Config
from omnichannel.content import Content
from omnichannel.dispatch import Dispatcher
from omnichannel.durable.opening import StoreAttachment, configured_opener
from omnichannel.envelope import AddressKind, Envelope
from omnichannel.errors import ConfigurationError, SendError, UnknownChannel
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.fitting import FittingPolicy
from omnichannel.http import Sender
from omnichannel.plugins import PluginHost
from omnichannel.policy import RoutingPolicy
from omnichannel.preview import Preview
from omnichannel.receiving import Receiver, RejectedHandler
from omnichannel.scheduling import MemorySchedule
from omnichannel.sending import SendPipeline
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
RejectedT = TypeVar("RejectedT", bound=RejectedHandler)


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
        self._receiver = Receiver(self, self._adapters)
        self._pipeline = SendPipeline(self, self._adapters)
        self._schedule = MemorySchedule(self)
        check_routing_policy(self.policy, self._adapters)
        self.handle_inline = handle_inline
        """With a store: handle inbound events in the process that received them (False: the
        webhook only writes them to the inbox, for a worker)."""
        self.worker_id = ""
        """This process's name on the leases it takes (set when the store opens)."""
        self.chains: Chains | None = None
        """The status-driven chains, once the store is open."""
        self.outbox: DurableSends | None = None
        """The durable send path, once the store is open."""
        self.inbox: DurableInbound | None = None
        """The durable inbound path, once the store is open."""
        self._store_attachment = StoreAttachment(self, store, policy=store_policy)

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
        adapters = configured_adapters(config, host=plugin_host, context=context)
        return cls(
            adapters,
            host=plugin_host,
            policy=config.routing,
            sender=shared_sender,
            clock=clock,
            fitting_policy=fitting_policy,
            public_url=config.public_url,
            store=configured_opener(config, worker=worker),
            store_policy=store_policy,
            handle_inline=handle_inline,
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
        return self._store_attachment.store

    async def durable_store(self) -> Store | None:
        """The durable store, opened on first use; None when the router has none."""
        return await self._store_attachment.open()

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
        self._receiver.rejected_handlers.append(handler)
        return handler

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
            return self._schedule.hold(envelope, target)
        return await self.send_now(envelope)

    def resolve_channel(self, envelope: Envelope, channel: str | None = None) -> str:
        """The channel a send goes on: ``channel``, else the envelope's; ``auto`` asks the
        plugins' ``choose_channel`` hook among the channels that can reach the recipient."""
        target = channel or envelope.channel
        if target == AUTO_CHANNEL:
            return choose_channel(envelope, self._adapters, self.host)
        return target

    async def send_now(self, envelope: Envelope) -> SendReceipt:
        """Send ``envelope`` on its channel now, failing over on a definite failure along
        ``routing.failover``; no outbox, no scheduling (the durable path calls this)."""
        target = envelope.channel
        fallbacks = self.policy.failover.get(target)
        if not fallbacks:
            # One attempt, past the chain's bookkeeping: a send holds what it allocates here
            # until its answer (see omnichannel.http._Exchange).
            return await self._pipeline.send_on(envelope)
        attempts: list[str] = []
        chain = (target, *fallbacks)
        for index, step in enumerate(chain):
            try:
                receipt = await self._pipeline.send_on(self.moved(envelope, step))
            except SendError as error:
                if index == len(chain) - 1 or not fails_over(error):
                    error.attempts = (*attempts, *error.attempts)
                    raise
                attempts.append(f"{step}: {error.reason.value}: {error.message}")
                logger.info("failing over from %s: %s", step, error)
                continue
            if attempts:
                receipt = attrs.evolve(receipt, requested_channel=target, attempts=tuple(attempts))
            return receipt
        raise AssertionError("unreachable: the chain always has at least one step")

    def moved(self, envelope: Envelope, channel: str) -> Envelope:
        """``envelope`` on ``channel``: the one way an envelope changes channel (an explicit
        channel, failover, the signpost's private channel)."""
        if channel == envelope.channel:
            return envelope
        target = self.adapter(channel).capabilities
        source = self._adapters.get(envelope.channel)
        return move_envelope(
            envelope,
            channel,
            source=source.capabilities if source is not None else None,
            target=target,
        )

    async def preview(self, envelope: Envelope, *, channel: str | None = None) -> Preview:
        """What :meth:`send` would do with ``envelope``, sending nothing: the envelope as it
        would go out, the fitting report, and each provider call the adapter would make (as
        :meth:`~omnichannel.plugin.BaseAdapter.preview` describes it, secrets redacted).

        Every refusal :meth:`send` makes before the network is raised the same way. Failover
        is not previewed (it depends on how the first channel answers).
        """
        return await self._pipeline.preview(envelope, channel=channel)

    async def outside_window_failure(self, update: StatusUpdate) -> None:
        """The policy for free text the provider accepted, then failed as sent outside the
        window: the configured template, else the failover chain, else nothing more (the
        status handlers saw the failure)."""
        await self._pipeline.window_rules.outside_window_failure(update)

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
        attempted_at = attempted_at or envelope.created_at
        return await self._pipeline.reconcile(envelope, attempted_at=attempted_at)

    async def send_due(self) -> list[SendReceipt]:
        """Send the scheduled envelopes whose ``send_at`` has come (``omni listen`` calls this).

        Scheduled envelopes are kept in memory until a durable outbox exists: they are lost
        if the process stops first.
        """
        return await self._schedule.send_due()

    @property
    def scheduled(self) -> list[Envelope]:
        """Envelopes waiting for their ``send_at`` time, soonest first."""
        return self._schedule.scheduled

    # -- receiving ----------------------------------------------------------------------------

    async def handle_webhook(self, channel: str, request: WebhookRequest) -> WebhookResponse:
        """Verify, parse and dispatch one provider request; return the answer to give it.

        A bad signature answers 403 and a malformed body 400, and neither reaches a handler.
        A handler that raises or runs out of time makes the answer 500 so the provider retries;
        the retry runs only the handlers that did not complete.
        """
        return await self._receiver.handle_webhook(channel, request)

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
        await self._receiver.receive(messages, statuses)

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
        await self._store_attachment.close()

    async def __aenter__(self) -> Router:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def blocking(self) -> BlockingRouter:
        """A synchronous facade over this router, for scripts and sync frameworks."""
        from omnichannel.blocking import BlockingRouter

        return BlockingRouter(self)
