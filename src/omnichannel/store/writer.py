"""The thread a SQLite file's writes run on: one thread, one connection, one transaction at a
time; and the thread its write-ahead log is checkpointed on.

SQLite takes one writer at a time, so the store's own write transactions queue here in the
order they were asked for, and each runs on the same connection, already open: no pool
checkout, no thread handed a job by a general pool. Against ``anyio.to_thread`` and a pooled
connection (and ``BEGIN`` through Core), a lone send's two store writes took about a third
less time. The transaction itself is begun and committed on the driver's connection: Core's
``Connection.begin()``, its events and its commit cost more than SQLite's ``BEGIN`` and
``COMMIT`` on a small write.

Checkpoints (the write-ahead log copied into the database file, which SQLite's ``synchronous =
NORMAL`` makes the only moment a write waits for the disk) run on a thread of their own: the
writer's connection checkpoints nothing itself, and after every few hundred rows written it
wakes the checkpointer, whose ``PASSIVE`` checkpoint waits for no writer and blocks none. One
send in a hundred used to wait milliseconds (66 ms at worst in one run) for the ``fdatasync``
of a checkpoint its commit had started; the writer now goes on meanwhile. A log grown past
:data:`WAL_LIMIT_FRAMES` (writes arriving faster than the checkpoints copy them) is
checkpointed with ``TRUNCATE``, which holds the writer back until the log is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["CHECKPOINT_ROWS", "WAL_LIMIT_FRAMES", "WRITER_BEGINS", "SQLiteWriter"]

T = TypeVar("T")

CHECKPOINT_ROWS: Final = 300
"""Rows the writer changes between two requests for a checkpoint (a row is about three pages
of the log: this is near SQLite's own default of a checkpoint every 1,000 pages)."""
WAL_LIMIT_FRAMES: Final = 16_384
"""A log this long after a checkpoint (64 MiB of 4 KiB pages) is emptied at once."""
WRITER_BEGINS: Final = "omnichannel_writer_begins"
"""The execution option of the writer's connection: its transactions are begun by the writer,
on the driver's connection, so Core's ``begin`` event must not issue a second ``BEGIN``."""

logger = logging.getLogger("omnichannel.store")


class _Job:
    """A unit of work, and how it ended (set on the caller's event loop)."""

    __slots__ = ("ended", "error", "future", "loop", "result", "work")

    def __init__(self, work: Callable[[Connection], Any], loop: asyncio.AbstractEventLoop):
        self.work = work
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        """What the caller awaits: it wakes the caller, and carries nothing."""
        self.ended = False
        self.result: Any = None
        self.error: BaseException | None = None


def _end(job: _Job, result: Any, error: BaseException | None) -> None:
    job.ended, job.result, job.error = True, result, error
    if not job.future.done():  # a cancelled caller's future is done already
        job.future.set_result(None)


def _driver(connection: Connection) -> Any:
    """The ``sqlite3.Connection`` under ``connection``."""
    return connection.connection.dbapi_connection


def _on_driver(connection: Connection, statement: str, call: Callable[[], Any]) -> Any:
    """``call()`` (a statement on the driver's connection), its error wrapped as Core would."""
    error_type = connection.dialect.loaded_dbapi.Error
    try:
        return call()
    except error_type as error:  # "database is locked" after the busy timeout, say
        raise DBAPIError.instance(statement, (), error, error_type) from error


class SQLiteWriter:
    """Runs units of work, each in a transaction of its own (committed when it returns, rolled
    back when it raises), on one thread with one connection of ``engine``.

    The thread starts with the first write and ends with :meth:`aclose`. A process forked after
    writes (a pre-forking server) starts a thread and a connection of its own: neither the
    parent's thread nor its connection exists in the child.
    """

    def __init__(self, engine: Engine, *, name: str = "omnichannel-store-writer") -> None:
        self._engine = engine
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._checkpointer = _Checkpointer(engine, name=f"{name}-checkpoints")
        _WRITERS.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's threads and queue are not ours."""
        self._jobs = queue.SimpleQueue()
        self._thread = None
        self._start_lock = threading.Lock()
        self._checkpointer = _Checkpointer(self._engine, name=self._checkpointer.name)
        # The pool's connections were opened by the parent: leave them to it, open new ones.
        self._engine.dispose(close=False)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction of its own and return what it returned.

        A caller cancelled meanwhile (by a cancel scope, or by asyncio as ``asyncio.timeout``
        does) still waits for the transaction to end, as it may commit: the cancellation
        reaches the caller after the commit or the rollback.
        """
        job = _Job(work, asyncio.get_running_loop())
        self._ensure_started()
        self._jobs.put(job)
        try:
            await job.future
        except asyncio.CancelledError:
            # The transaction goes on (it may commit): wait for its end, then be cancelled.
            # A bare loop, not a shielded scope: this path is taken twice a send.
            while not job.ended:
                job.future = job.loop.create_future()
                with contextlib.suppress(asyncio.CancelledError):
                    await job.future
            raise
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _serve(self) -> None:
        connection: Connection | None = None
        checkpointed_at = 0  # the connection's total_changes when a checkpoint was last asked
        try:
            while (job := self._jobs.get()) is not None:
                result: Any = None
                error: BaseException | None = None
                try:
                    if connection is None:
                        connection = self._connect()
                        checkpointed_at = 0
                    result = self._transaction(connection, job.work)
                except BaseException as raised:  # handed to the caller, whatever it is
                    error = raised
                    if connection is not None and connection.invalidated:
                        connection.close()
                        connection = None
                # A RuntimeError here: the caller's event loop is closed, nobody waits.
                with contextlib.suppress(RuntimeError):
                    job.loop.call_soon_threadsafe(_end, job, result, error)
                if connection is not None:
                    changes: int = _driver(connection).total_changes
                    if changes - checkpointed_at >= CHECKPOINT_ROWS:
                        checkpointed_at = changes
                        self._checkpointer.request()
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):  # back in the pool: SQLite's checkpoints
                    _driver(connection).execute("PRAGMA wal_autocheckpoint = 1000")
                connection.close()
            self._checkpointer.stop()

    def _connect(self) -> Connection:
        connection = self._engine.connect().execution_options(**{WRITER_BEGINS: True})
        driver = _driver(connection)
        _on_driver(
            connection,
            "PRAGMA wal_autocheckpoint = 0",
            lambda: driver.execute("PRAGMA wal_autocheckpoint = 0"),
        )
        return connection

    @staticmethod
    def _transaction(connection: Connection, work: Callable[[Connection], T]) -> T:
        """``work`` between ``BEGIN IMMEDIATE`` and ``COMMIT`` on the driver's connection.

        Work that runs Core statements makes Core begin a transaction of its own bookkeeping
        (the engine's ``begin`` listener issues nothing on this connection): it is then
        committed or rolled back through Core, which ends the driver's transaction too.
        """
        driver = _driver(connection)
        _on_driver(connection, "BEGIN IMMEDIATE", lambda: driver.execute("BEGIN IMMEDIATE"))
        try:
            result = work(connection)
            if connection.in_transaction():
                connection.commit()
            else:
                _on_driver(connection, "COMMIT", driver.commit)
        except BaseException:
            try:
                if connection.in_transaction():
                    connection.rollback()
                elif driver.in_transaction:
                    _on_driver(connection, "ROLLBACK", driver.rollback)
            except Exception:
                # A connection that cannot roll back is not used again.
                connection.invalidate()
            raise
        return result

    async def aclose(self) -> None:
        """Finish the queued work, close the connection and end the threads. The event loop
        goes on meanwhile (a transaction in flight may take milliseconds, or the busy
        timeout)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        await anyio.to_thread.run_sync(thread.join)


class _Checkpointer:
    """A thread that checkpoints the write-ahead log when asked, on a connection of its own.

    Requests coalesce: asked again while a checkpoint runs, it runs one more after, not one
    per request.
    """

    def __init__(self, engine: Engine, *, name: str) -> None:
        self._engine = engine
        self.name = name
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a checkpoint (from the writer thread)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
            self._thread.start()
        self._due.set()

    def stop(self) -> None:
        """End the thread after the checkpoint under way (from the writer thread)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._due.set()
        thread.join()

    def _serve(self) -> None:
        connection: Any = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                try:
                    if connection is None:
                        connection = self._engine.raw_connection()
                    self._checkpoint(connection)
                except Exception as error:
                    # The next request tries again (on a new connection); the log only grows.
                    logger.warning("checkpointing the store's write-ahead log failed: %s", error)
                    if connection is not None:
                        with contextlib.suppress(Exception):
                            connection.invalidate()
                        connection = None
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def _checkpoint(connection: Any) -> None:
        cursor = connection.cursor()
        try:
            # (1 when it could not run at all, frames in the log, frames copied)
            _busy, frames, _copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > WAL_LIMIT_FRAMES:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cursor.close()


_WRITERS: weakref.WeakSet[SQLiteWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._forget_parent()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
