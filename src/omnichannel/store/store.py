"""The :class:`Store`: opening, upgrading and closing one, and the queries put together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from omnichannel.errors import StoreSchemaOutdated
from omnichannel.store._base import utc_now
from omnichannel.store.engine import (
    StoreURL,
    WorkerLock,
    check_schema,
    create_engine,
    create_in_memory,
    create_sync_engine,
    current_version,
    parse_url,
    run_upgrade,
    unreachable,
)
from omnichannel.store.inbox import InboxQueries
from omnichannel.store.outbox import OutboxQueries
from omnichannel.store.schema import SCHEMA_VERSION
from omnichannel.store.state import StateQueries
from omnichannel.store.wakeups import WakeupQueries

__all__ = ["Store"]


class Store(OutboxQueries, InboxQueries, StateQueries, WakeupQueries):
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
    ) -> Store:
        """Open the store at ``url`` after checking its schema.

        An old or missing schema raises :class:`~omnichannel.errors.StoreSchemaOutdated`
        (``omni store upgrade`` fixes it); ``sqlite://`` (in memory) starts empty and is
        migrated here. On a SQLite file, ``worker=True`` takes the worker lock: a second
        worker process raises :class:`~omnichannel.errors.StoreLocked` (SQLite serves one;
        PostgreSQL any number). ``worker=False`` opens it without the lock, to inspect it
        (``omni outbox list``) or to write from another process.
        """
        target = parse_url(url)
        if target.sqlite_path is not None and not target.sqlite_path.exists():
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
                await create_in_memory(engine)
            else:
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

    async def close(self) -> None:
        """Close the connections and let the worker lock go."""
        await self.engine.dispose()
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
