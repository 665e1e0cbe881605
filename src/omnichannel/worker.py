"""The worker: sends the outbox, handles the inbox, fires timers, polls, settles dead leases.

``omni worker`` runs one; ``omni listen`` runs one beside the webhook app (``--no-worker`` to
split them). On PostgreSQL any number run at once and share the work: each claim takes rows
``FOR UPDATE SKIP LOCKED`` under the worker's lease, so no row is worked on twice; on SQLite one
worker process serves a file (the store's lock says so). A worker:

* claims due outbox rows and sends them (up to ``concurrency`` at once), settling each;
* claims due inbox events and runs their handlers;
* claims due timers (a failover chain's deadline) and fires them;
* renews the leases it holds (the heartbeat), and, at most once a second, settles rows
  whose holder died: a send left ``sending`` ends ``unknown`` and is reconciled with the
  provider where the adapter can look messages up; an event left ``handling`` is handled
  again (completed handlers are not run twice);
* polls the pull channels, with their cursors in the store;
* between passes, sleeps until a wake-up (NOTIFY on PostgreSQL, in-process on SQLite) or
  ``idle_interval``, whichever comes first; a missed notification costs at most that long.

``stop()`` (SIGTERM in ``omni worker``) stops claiming and lets the sends in flight finish.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import anyio
import attrs

from omnichannel.durable import INBOX_TOPIC, OUTBOX_TOPIC, TIMER_TOPIC
from omnichannel.durable.chains import CHAIN_TIMER
from omnichannel.errors import ConfigurationError

if TYPE_CHECKING:
    from omnichannel.router import Router
    from omnichannel.store import OutboxRecord, Store, Wakeup

__all__ = ["Worker", "WorkerPass"]

logger = logging.getLogger("omnichannel.worker")

DEFAULT_BATCH: Final = 32
DEFAULT_CONCURRENCY: Final = 8
DEFAULT_IDLE_INTERVAL: Final = 1.0
SWEEP_INTERVAL: Final = timedelta(seconds=1)
"""How often a pass looks for expired leases (a pass sooner after the last skips it)."""


@attrs.frozen(kw_only=True)
class WorkerPass:
    """What one pass of :meth:`Worker.run_once` did."""

    sent: int = 0
    """Outbox rows claimed and attempted."""
    handled: int = 0
    """Inbox events claimed and handled."""
    timers: int = 0
    """Timers fired."""
    settled: int = 0
    """Leases found expired and settled (sends ended unknown, events put back)."""

    @property
    def busy(self) -> bool:
        """Whether the pass found anything to do."""
        return bool(self.sent or self.handled or self.timers or self.settled)


class Worker:
    """Works a router's durable store: see the module documentation.

    Build it on a router with a store (``Router.from_config(config, worker=True)``, or
    ``Router(..., store=store)``) and run it with ``await worker.run()`` (until cancelled or
    :meth:`stop`), or one pass at a time with :meth:`run_once` (tests drive it this way,
    with the router's clock).
    """

    def __init__(
        self,
        router: Router,
        *,
        batch: int = DEFAULT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        idle_interval: float = DEFAULT_IDLE_INTERVAL,
        poll: bool = True,
    ) -> None:
        if batch < 1 or concurrency < 1:
            raise ValueError("batch and concurrency must be at least 1")
        self.router = router
        self.batch = batch
        self.concurrency = concurrency
        self.idle_interval = idle_interval
        self.poll = poll
        self._stopping = anyio.Event()
        self._in_flight = 0
        self._swept_at: datetime | None = None

    async def _store(self) -> Store:
        store = await self.router.durable_store()
        if store is None:
            raise ConfigurationError(
                "the worker needs a durable store: set [store] url, or build the router with "
                "store=..."
            )
        return store

    @property
    def in_flight(self) -> int:
        """How many sends and handlers this worker is running now."""
        return self._in_flight

    def stop(self) -> None:
        """Stop claiming; :meth:`run` returns once the work in flight is done."""
        self._stopping.set()

    async def run_once(self) -> WorkerPass:
        """One pass: settle expired leases, then claim and work what is due (up to
        ``batch`` of each kind)."""
        store = await self._store()
        outbox, inbox, chains = self.router.outbox, self.router.inbox, self.router.chains
        assert outbox is not None
        assert inbox is not None
        assert chains is not None
        worker = self.router.worker_id
        lease = outbox.policy.lease
        now = self.router.clock()
        expired: list[OutboxRecord] = []
        put_back = 0
        # The sweep for dead holders' leases, at most once a SWEEP_INTERVAL: under load the
        # passes follow each other closely, and a lease outlives many of them.
        if self._swept_at is None or now - self._swept_at >= SWEEP_INTERVAL:
            self._swept_at = now
            expired = await store.expire_leases(now=now)
            for record in expired:
                logger.warning(
                    "%s was left sending by %s, whose lease expired: it is unknown now",
                    record.envelope_id,
                    record.lease_owner or "a worker",
                )
                await outbox.reconcile_unknown(record)
            put_back = await store.expire_inbox_leases(now=now)
        if self._stopping.is_set():
            return WorkerPass(settled=len(expired) + put_back)

        # Only as many sends as run at once (so all of them start now, with no limiter): a
        # claimed row that never started would end unknown too if this process died, though
        # it never reached the provider.
        sends = await store.claim_outbox(
            worker=worker, now=now, lease=lease, limit=min(self.batch, self.concurrency)
        )

        async def attempt(record: OutboxRecord) -> None:
            self._in_flight += 1
            try:
                await outbox.attempt(record, inline=False)
            finally:
                self._in_flight -= 1

        # Shielded: a stop or a cancel lets claimed sends finish and be settled.
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as group:
                for record in sends:
                    group.start_soon(attempt, record)

        events = await store.claim_inbox(
            worker=worker, now=self.router.clock(), lease=lease, limit=self.batch
        )
        for event in events:
            self._in_flight += 1
            try:
                with anyio.CancelScope(shield=True):
                    await inbox.handle(event)
            finally:
                self._in_flight -= 1

        timers = await store.claim_timers(
            worker=worker, now=self.router.clock(), lease=lease, limit=self.batch
        )
        for timer in timers:
            if timer.kind == CHAIN_TIMER:
                await chains.fire(timer)
            else:
                logger.warning(
                    "timer %s has an unknown kind %r; left as it is", timer.key, timer.kind
                )
        return WorkerPass(
            sent=len(sends),
            handled=len(events),
            timers=len(timers),
            settled=len(expired) + put_back,
        )

    async def run(self) -> None:
        """Work until cancelled or stopped: passes, the heartbeat, the pollers."""
        store = await self._store()
        async with AsyncExitStack() as stack:
            wakeups = [
                await stack.enter_async_context(store.wakeups(topic))
                for topic in (OUTBOX_TOPIC, INBOX_TOPIC, TIMER_TOPIC)
            ]
            async with anyio.create_task_group() as group:
                group.start_soon(self._heartbeat, store)
                if self.poll:
                    from omnichannel.polling import Poller

                    poller = Poller(self.router, cursors=store.cursors)
                    if poller.channels:
                        group.start_soon(poller.run)
                while not self._stopping.is_set():
                    for wakeup in wakeups:
                        wakeup.clear()
                    done = await self.run_once()
                    if done.busy or self._stopping.is_set():
                        continue
                    await self._idle(wakeups)
                group.cancel_scope.cancel()

    async def _idle(self, wakeups: list[Wakeup]) -> None:
        with anyio.move_on_after(self.idle_interval):
            async with anyio.create_task_group() as group:

                async def wait(event: Wakeup) -> None:
                    await event.wait()
                    group.cancel_scope.cancel()

                async def stopped() -> None:
                    await self._stopping.wait()
                    group.cancel_scope.cancel()

                for wakeup in wakeups:
                    group.start_soon(wait, wakeup)
                group.start_soon(stopped)

    async def _heartbeat(self, store: Store) -> None:
        assert self.router.outbox is not None
        lease = self.router.outbox.policy.lease
        while True:
            await anyio.sleep(lease.total_seconds() / 3)
            try:
                await store.renew_leases(
                    worker=self.router.worker_id, until=self.router.clock() + lease
                )
            except Exception:
                logger.exception("renewing this worker's leases failed; retrying")
