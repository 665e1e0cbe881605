"""What every part of the store shares: the engine, transactions, the clock, dialect helpers.

The store's methods write in a transaction of their own, or in the caller's when given its
``connection`` (the transactional outbox). On SQLite, where one writer at a time is the rule,
the store's own write transactions also queue on a lock in this process, so concurrent tasks
wait their turn without polling SQLite's busy handler; an in-memory database, one shared
connection, queues every transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from omnichannel.errors import StoreError
from omnichannel.store.engine import READ_ONLY, StoreURL

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

__all__ = ["StoreBase", "aware", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


def aware(value: datetime, name: str) -> datetime:
    """``value`` if it is timezone-aware; a naive time is refused (it names no instant)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value


class StoreBase:
    """The engine and the transaction plumbing the query classes build on."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        target: StoreURL,
        clock: Callable[[], datetime] = utc_now,
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
        self._write_lock = anyio.Lock() if target.dialect == "sqlite" else None
        self._read_lock = self._write_lock if target.memory else None

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

    @asynccontextmanager
    async def _writing(
        self, connection: AsyncConnection | None = None
    ) -> AsyncIterator[AsyncConnection]:
        if connection is not None:
            with self._database_errors():
                yield connection
            return
        lock: AbstractAsyncContextManager[Any] = self._write_lock or nullcontext()
        async with lock:
            with self._database_errors():
                async with self.engine.begin() as own:
                    yield own

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        lock: AbstractAsyncContextManager[Any] = self._read_lock or nullcontext()
        async with lock:
            with self._database_errors():
                async with self.engine.connect() as own:
                    await own.execution_options(**{READ_ONLY: True})
                    yield own

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
