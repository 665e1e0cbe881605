"""What every part of the store shares: the engine, transactions, the clock, dialect helpers.

Every query is written once, as a function of a synchronous SQLAlchemy ``Connection``, and run
one of three ways:

* in the caller's transaction when a method is given its ``connection`` (the transactional
  outbox), through ``AsyncConnection.run_sync``;
* on PostgreSQL (and an in-memory SQLite database) in a transaction of the async engine;
* on a SQLite file in a transaction of a synchronous engine on the same file: at most one
  thread hop per store call instead of three or four per statement through aiosqlite. Writes
  run one at a time in the order asked (:mod:`omnichannel.store.writer`): a lone one at once
  on the event loop, never waiting for another process's lock, the others on the store's
  writer thread, so concurrent tasks wait their turn in order without polling SQLite's busy
  handler; reads run in anyio's worker threads, beside the writes (WAL).

An in-memory database, one shared connection, queues every transaction on a lock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from omnichannel.errors import StoreError
from omnichannel.store.engine import READ_ONLY, StoreURL
from omnichannel.store.writer import SQLiteWriter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["StoreBase", "aware", "utc_now"]

T = TypeVar("T")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


def aware(value: datetime, name: str) -> datetime:
    """``value`` if it is timezone-aware; a naive time is refused (it names no instant)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value


def _read_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with (
        engine.connect() as connection,
        connection.execution_options(**{READ_ONLY: True}).begin(),
    ):
        return work(connection)


class StoreBase:
    """The engine and the transaction plumbing the query classes build on."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        target: StoreURL,
        clock: Callable[[], datetime] = utc_now,
        sync_engine: Engine | None = None,
    ) -> None:
        self.engine = engine
        """The SQLAlchemy async engine: the application may use it for its own tables."""
        self.dialect = target.dialect
        """``"sqlite"`` or ``"postgresql"``."""
        self.url = target.display
        """The store's URL, password hidden."""
        self.clock = clock
        """Where times come from when a method is given no ``now``."""
        self._target = target
        self._sync_engine = sync_engine
        self._writer = SQLiteWriter(sync_engine) if sync_engine is not None else None
        # The writer orders a file's writes; an in-memory database's share one lock.
        self._write_lock = anyio.Lock() if target.memory else None
        self._read_lock = self._write_lock if target.memory else None

    @property
    def writes_outlast_cancellation(self) -> bool:
        """True when a write the store makes in a transaction of its own ends as its work
        says (committed, or rolled back on an error) though its caller is cancelled
        meanwhile, the cancellation reaching the caller after: a SQLite file's writes. On
        the other engines a write whose caller is cancelled may end either way."""
        return self._writer is not None

    def _now(self, now: datetime | None = None) -> datetime:
        return self.clock() if now is None else aware(now, "now")

    @asynccontextmanager
    async def transaction(
        self, connection: AsyncConnection | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """The caller's ``connection`` (inside its own transaction), or a new transaction
        committed when the block ends and rolled back when it raises.

        Pass the connection to the store's methods to write inside the transaction::

            async with store.transaction() as connection:
                await connection.execute(orders.insert().values(...))
                await store.enqueue(envelope, ..., connection=connection)
        """
        if connection is not None:
            yield connection
            return
        async with self.engine.begin() as own:
            yield own

    async def _write(
        self,
        work: Callable[[Connection], T],
        connection: AsyncConnection | None = None,
        *,
        lone: bool = True,
    ) -> T:
        """Run ``work`` in the caller's transaction, or in one of its own that commits.

        ``lone=False`` says the write is a batch of several callers' items: on a SQLite file
        it goes to the writer thread even when nothing else is being written, so the loop
        goes on meanwhile and the next batch gathers what arrives (see
        :class:`~omnichannel.store.writer.SQLiteWriter`).
        """
        if connection is not None:
            with self._database_errors():
                return await connection.run_sync(work)
        if self._writer is not None:
            with self._database_errors():
                return await self._writer.run(work, inline=lone)
        lock: AbstractAsyncContextManager[Any] = self._write_lock or nullcontext()
        async with lock:
            with self._database_errors():
                async with self.engine.begin() as own:
                    return await own.run_sync(work)

    async def _read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a reading transaction (a deferred one on SQLite)."""
        lock: AbstractAsyncContextManager[Any] = self._read_lock or nullcontext()
        async with lock:
            with self._database_errors():
                if self._sync_engine is not None:
                    return await anyio.to_thread.run_sync(
                        _read_transaction, self._sync_engine, work
                    )
                async with self.engine.connect() as own:
                    await own.execution_options(**{READ_ONLY: True})
                    return await own.run_sync(work)

    def _database_errors(self) -> _DatabaseErrors:
        return _DatabaseErrors(self.url)

    def _insert(self, table: sa.Table) -> Any:
        """An INSERT with ``on_conflict_do_nothing``/``_do_update`` for this dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _locking(self, statement: sa.Select[Any], *, skip_locked: bool = False) -> sa.Select[Any]:
        """``statement`` with ``FOR UPDATE`` (SQLite, one writer at a time, needs none)."""
        if self.dialect == "postgresql":
            return statement.with_for_update(skip_locked=skip_locked)
        return statement


class _DatabaseErrors:
    """Turns a database failure into a :class:`StoreError` naming the store, not the SQL
    (whose parameters may hold message text)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, _traceback: object) -> None:
        if isinstance(error, DBAPIError):
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            raise StoreError(f"the store at {self.url} failed: {reason}") from error
