"""Wake-ups: a worker waiting for work is woken when some process adds it.

On PostgreSQL ``notify`` sends ``NOTIFY`` (delivered when the sender's transaction commits)
and ``wakeups`` listens on a dedicated connection outside the pool; on SQLite, one worker
process, ``notify`` wakes the waiters of this process. Either way a wake-up is a hint, never
the only signal: callers also poll on an interval, because a notification can be missed (a
dropped listening connection; PgBouncer in transaction mode, which does not carry LISTEN at
all: point the listener at PostgreSQL directly, or rely on the polling).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from omnichannel.store._base import StoreBase, utc_now
from omnichannel.store.engine import StoreURL

__all__ = ["Wakeup", "WakeupQueries"]

logger = logging.getLogger("omnichannel.store")

RECONNECT_DELAYS: Final = (1.0, 2.0, 5.0, 10.0, 30.0)


class Wakeup:
    """An event set when a notification for its topic arrives; :meth:`clear` re-arms it."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._event = anyio.Event()

    def set(self) -> None:
        """Wake whoever waits."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether a notification arrived since the last :meth:`clear`."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Wait until a notification arrives (use with ``anyio.move_on_after``: poll too)."""
        await self._event.wait()

    def clear(self) -> None:
        """Forget the notifications seen so far."""
        if self._event.is_set():
            self._event = anyio.Event()


class WakeupQueries(StoreBase):
    """``notify`` and ``wakeups``: that part of :class:`~omnichannel.store.Store`."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        target: StoreURL,
        clock: Callable[[], datetime] = utc_now,
        sync_engine: Engine | None = None,
    ) -> None:
        super().__init__(engine=engine, target=target, clock=clock, sync_engine=sync_engine)
        self._waiters: dict[str, set[Wakeup]] = {}

    async def notify(self, topic: str, *, connection: AsyncConnection | None = None) -> None:
        """Wake the waiters on ``topic``: this process's at once, other processes' on
        PostgreSQL (with ``connection``, when the caller's transaction commits)."""
        for waiter in list(self._waiters.get(topic, ())):
            waiter.set()
        if self.dialect != "postgresql":
            return
        statement = sa.select(sa.func.pg_notify(topic, ""))
        await self._write(lambda conn: conn.execute(statement), connection)

    @asynccontextmanager
    async def wakeups(self, topic: str) -> AsyncIterator[Wakeup]:
        """A :class:`Wakeup` set whenever ``topic`` is notified, while the block runs."""
        waiter = Wakeup(topic)
        self._waiters.setdefault(topic, set()).add(waiter)
        try:
            if self.dialect != "postgresql":
                yield waiter
                return
            async with anyio.create_task_group() as group:
                started = anyio.Event()
                group.start_soon(self._listen, waiter, started)
                await started.wait()
                try:
                    yield waiter
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._waiters[topic].discard(waiter)

    async def _listen(self, waiter: Wakeup, started: anyio.Event) -> None:
        import psycopg
        from psycopg import sql

        conninfo = self._target.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True
                ) as listener:
                    await listener.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(waiter.topic))
                    )
                    failures = 0
                    started.set()
                    async for _notification in listener.notifies():
                        waiter.set()
            except psycopg.Error as error:
                started.set()
                # The caller polls meanwhile; wake it so it looks at once after the gap.
                waiter.set()
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                logger.warning(
                    "listening for %r on %s failed (%s); retrying in %gs",
                    waiter.topic,
                    self.url,
                    str(error).strip().splitlines()[0] if str(error) else type(error).__name__,
                    delay,
                )
                await anyio.sleep(delay)
