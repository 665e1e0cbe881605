"""The :class:`Store`: opening, upgrading and closing one, and the queries put together."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from omnichannel.errors import StoreSchemaOutdated
from omnichannel.events import DeliveryStatus, StatusOutcome, StatusTransition, StatusUpdate
from omnichannel.store._base import aware, utc_now
from omnichannel.store.batches import BatchQueries
from omnichannel.store.engine import (
    StoreURL,
    WorkerLock,
    check_schema,
    create_engine,
    create_schema,
    create_sync_engine,
    current_version,
    parse_url,
    run_upgrade,
    unreachable,
)
from omnichannel.store.inbox import InboxQueries
from omnichannel.store.records import (
    AppliedStatus,
    InboundEvent,
    InboxRecord,
    InboxState,
    OutboxState,
    ProviderParts,
    WindowMark,
)
from omnichannel.store.schema import SCHEMA_VERSION, inbox_handlers
from omnichannel.store.wakeups import WakeupQueries

__all__ = ["Store"]

_STATUS_MARK = "@status:"
"""The inbox-handler row that records a status event was applied, with what it did."""


class Store(BatchQueries, InboxQueries, WakeupQueries):
    """The durable store: outbox, inbox, statuses, windows, cursors and timers in one
    database, SQLite or PostgreSQL.

    Open it with :meth:`open` (or ``async with await Store.open(url) as store``); every
    method that writes takes an optional ``connection`` to write inside the caller's own
    transaction (:meth:`transaction`), and every time is timezone-aware UTC.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        target: StoreURL,
        clock: Callable[[], datetime] = utc_now,
        lock: WorkerLock | None = None,
        sync_engine: Engine | None = None,
    ) -> None:
        super().__init__(engine=engine, target=target, clock=clock, sync_engine=sync_engine)
        self._worker_lock = lock

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        worker: bool = True,
        clock: Callable[[], datetime] = utc_now,
        create: bool = False,
    ) -> Store:
        """Open the store at ``url`` after checking its schema.

        An old or missing schema raises :class:`~omnichannel.errors.StoreSchemaOutdated`
        (``omni store upgrade`` fixes it); ``sqlite://`` (in memory) starts empty and gets
        its schema here. On a SQLite file, ``worker=True`` takes the worker lock: a second
        worker process raises :class:`~omnichannel.errors.StoreLocked` (SQLite serves one;
        PostgreSQL any number). ``worker=False`` opens it without the lock, to inspect it
        (``omni outbox list``) or to write from another process.

        ``create=True`` creates the schema in a database that has none yet (a new SQLite
        file included); a database at an older version still raises.
        """
        target = parse_url(url)
        if not create and target.sqlite_path is not None and not target.sqlite_path.exists():
            # Connecting would create an empty file; say what is missing instead.
            raise StoreSchemaOutdated(target.display, None, SCHEMA_VERSION)
        lock = None
        if worker and target.sqlite_path is not None:
            lock = WorkerLock.acquire(target.sqlite_path)
        try:
            engine = create_engine(target)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            if target.memory:
                await create_schema(engine, target)
            elif not (
                create
                and await _has_no_schema(engine, target)
                and await create_schema(engine, target)
            ):
                await check_schema(engine, target)
        except BaseException:
            await engine.dispose()
            if lock is not None:
                lock.release()
            raise
        sync_engine = create_sync_engine(target)
        return cls(engine=engine, target=target, clock=clock, lock=lock, sync_engine=sync_engine)

    @staticmethod
    async def upgrade(url: str) -> str:
        """Migrate the store at ``url`` to this omnichannel's schema (creating it in an
        empty database) and return the version it is at.

        On a SQLite file it takes the worker lock meanwhile: stop the worker first.
        """
        target = parse_url(url)
        lock = WorkerLock.acquire(target.sqlite_path) if target.sqlite_path else None
        try:
            engine = create_engine(target)
            try:
                return await run_upgrade(engine, target)
            finally:
                await engine.dispose()
        finally:
            if lock is not None:
                lock.release()

    @staticmethod
    async def schema_version(url: str) -> str | None:
        """The schema version of the store at ``url`` (None when it has none yet)."""
        target = parse_url(url)
        if target.sqlite_path is not None and not target.sqlite_path.exists():
            return None
        engine = create_engine(target)
        try:
            return await current_version(engine)
        except DBAPIError as error:
            raise unreachable(target, error) from None
        finally:
            await engine.dispose()

    # -- combined writes: one transaction each ------------------------------------------------

    async def settle_send(
        self,
        envelope_id: str,
        *,
        to: OutboxState,
        now: datetime,
        worker: str | None,
        reason: str | None = None,
        due_at: datetime | None = None,
        receipt: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
        parts: Sequence[ProviderParts] = (),
    ) -> bool:
        """Settle ``worker``'s send of ``envelope_id`` (``to``, as :meth:`transition` with
        the worker's fencing; None: no fencing) and record the provider ids of the parts that
        went out, in one transaction.

        The provider ids are recorded whatever the row's state (the provider has those
        messages). When the worker no longer holds the row because the sweep settled it
        ``unknown`` meanwhile, a success still moves it ``unknown -> sent``: the late answer
        settles the doubt. Returns whether the row moved.
        """
        fenced = self._transition_work(
            envelope_id, to=to, now=now, reason=reason, worker=worker, due_at=due_at,
            receipt=receipt, error=error,
        )  # fmt: skip
        late = (
            self._transition_work(
                envelope_id,
                to=OutboxState.SENT,
                now=now,
                reason=f"{reason or 'sent'}, answered after the lease expired",
                receipt=receipt,
                only_from=OutboxState.UNKNOWN,
            )
            if OutboxState(to) is OutboxState.SENT and worker is not None
            else None
        )
        recording = [
            self._parts_work(
                part.envelope_id or envelope_id, part.channel, part.provider_ids, part.status, now
            )
            for part in parts
            if part.provider_ids
        ]

        def write(conn: Connection) -> bool:
            moved = fenced(conn) or (late is not None and late(conn))
            for record in recording:
                record(conn)
            return moved

        return await self._write(write)

    async def record_inbound_events(
        self,
        events: Sequence[InboundEvent],
        *,
        received_at: datetime,
        windows: Sequence[WindowMark] = (),
        claim_for: str | None = None,
        lease: timedelta | None = None,
    ) -> list[InboxRecord]:
        """Write verified inbound events (each under its unique dedupe key) and the session
        windows their messages open, in one transaction, before the provider gets its 200.

        Returns the events written now, in order (duplicates of earlier ones are left out:
        acknowledge and drop them). ``claim_for`` writes them ``handling`` under that
        worker's ``lease``, for handling at once.
        """
        if (claim_for is None) != (lease is None):
            raise ValueError("give claim_for and lease together")
        works = [
            self._inbound_work(
                dedupe_key=event.dedupe_key,
                kind=event.kind,
                channel=event.channel,
                payload=event.payload,
                received_at=received_at,
                claim_for=claim_for,
                lease=lease,
            )
            for event in events
        ]
        marks = [
            self._window_work(mark.channel, mark.business, mark.customer, mark.at)
            for mark in windows
        ]

        claimed = claim_for is not None and lease is not None
        received_at = aware(received_at, "received_at")

        def write(conn: Connection) -> list[InboxRecord]:
            written = [(event, work(conn)) for event, work in zip(events, works, strict=True)]
            for mark in marks:
                mark(conn)
            # Built from what was written, not read back: a new event has no handlers done.
            return [
                InboxRecord(
                    id=found,
                    dedupe_key=event.dedupe_key,
                    kind=event.kind,
                    channel=event.channel,
                    payload=event.payload,
                    state=InboxState.HANDLING if claimed else InboxState.PENDING,
                    attempts=1 if claimed else 0,
                    handlers_done=frozenset(),
                    due_at=received_at,
                    lease_owner=claim_for if claimed else None,
                    lease_expires_at=received_at + lease if lease is not None else None,
                    last_error=None,
                    received_at=received_at,
                )
                for event, found in written
                if found is not None
            ]

        return await self._write(write, lone=len(events) <= 1)

    async def apply_status_once(
        self, update: StatusUpdate, *, inbox_id: int, now: datetime | None = None
    ) -> AppliedStatus:
        """Apply the status event ``inbox_id`` holds (:meth:`apply_status`) once, however
        often its handling is retried: the first time applies it and records what it did;
        later times return that record (``previous`` is then None)."""
        now = self._now(now)
        applying = self._status_work(update, now)
        marked = sa.select(inbox_handlers.c.handler).where(
            inbox_handlers.c.inbox_id == inbox_id,
            inbox_handlers.c.handler.startswith(_STATUS_MARK, autoescape=True),
        )

        def write(conn: Connection) -> AppliedStatus:
            mark = conn.execute(marked).scalar()
            if mark is not None:
                outcome, status, envelope_id = mark[len(_STATUS_MARK) :].split(":", 2)
                return AppliedStatus(
                    transition=StatusTransition(
                        outcome=StatusOutcome(outcome), status=DeliveryStatus(status)
                    ),
                    previous=None,
                    envelope_id=envelope_id or None,
                )
            applied = applying(conn)
            name = (
                f"{_STATUS_MARK}{applied.outcome.value}:{applied.transition.status.value}:"
                f"{applied.envelope_id or ''}"
            )
            conn.execute(
                inbox_handlers.insert().values(inbox_id=inbox_id, handler=name, done_at=now)
            )
            return applied

        return await self._write(write)

    async def close(self) -> None:
        """Close the connections and let the worker lock go."""
        await self.engine.dispose()
        if self._writer is not None:
            await self._writer.aclose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._worker_lock is not None:
            self._worker_lock.release()
            self._worker_lock = None

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Store {self.url}>"


async def _has_no_schema(engine: AsyncEngine, target: StoreURL) -> bool:
    try:
        return await current_version(engine) is None
    except DBAPIError as error:
        raise unreachable(target, error) from None
