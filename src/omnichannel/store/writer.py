"""How a SQLite file's writes run: one transaction at a time, in the order asked, a lone one
at once on the caller's thread and the rest on a writer thread; and the thread the
write-ahead log is checkpointed on.

SQLite takes one writer at a time. A write asked while none is queued or under way runs at
once, inline, on the event loop: about 100 us of CPU less a send, one send at a time on the
2-core host, than the two thread hops (and the GIL handed back and forth) of the writer thread.
Its connection has a busy timeout of 0, so the loop never waits for another process's write:
refused, the write goes to the thread. Writes asked while one is queued, and batches of many
callers' items (``inline=False``), queue for the writer thread, whose connection waits for the
lock up to the busy timeout; the loop goes on meanwhile, and a batch grows with the wait. Each
transaction is begun and committed on the driver's connection: Core's ``Connection.begin()``,
its events and its commit cost more than SQLite's ``BEGIN`` and ``COMMIT`` on a small write.

Checkpoints (the write-ahead log copied into the database file, which SQLite's ``synchronous =
NORMAL`` makes the only moment a write waits for the disk) run on a thread of their own: the
writing connections checkpoint nothing themselves, and after every few hundred rows written
they wake the checkpointer, whose ``PASSIVE`` checkpoint waits for no writer and blocks none.
One send in a hundred used to wait milliseconds (66 ms at worst in one run) for the
``fdatasync`` of a checkpoint its commit had started, and an inline write must never do so.

A checkpoint beside continuous writes copies the log but seldom lets it start over (SQLite
restarts the log only when a write begins with every frame copied), and a log that only grows
makes every commit extend the file: commits 4x slower in a bare ``sqlite3`` run once it was
240 MB. So a log found past :data:`RESTART_FRAMES` after the copy is checkpointed again with
``RESTART``: the few frames left are copied with the writers held back, and the next write
starts the log from its beginning, over the blocks the file already has (an inline write
refused meanwhile goes to the writer thread, which waits).
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

__all__ = ["CHECKPOINT_ROWS", "RESTART_FRAMES", "SQLITE_BUSY", "WRITER_BEGINS", "SQLiteWriter"]

T = TypeVar("T")

CHECKPOINT_ROWS: Final = 300
"""Rows the writer changes between two requests for a checkpoint (a row is about three pages
of the log: this is near SQLite's own default of a checkpoint every 1,000 pages)."""
RESTART_FRAMES: Final = 2_048
"""A log this long after a checkpoint (8 MiB of 4 KiB pages) is restarted."""
RESTART_WAIT_MS: Final = 100
"""How long a restart waits for a writer to end or a reader to let the log go (it holds the
writers back meanwhile): past it, it gives up until the next checkpoint."""
WRITER_BEGINS: Final = "omnichannel_writer_begins"
"""The execution option of the writer's connection: its transactions are begun by the writer,
on the driver's connection, so Core's ``begin`` event must not issue a second ``BEGIN``."""

logger = logging.getLogger("omnichannel.store")

SQLITE_BUSY: Final = 5
"""SQLite's result code for a lock another connection holds (``sqlite_errorcode``)."""


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


class _Refused:
    """What an inline attempt returns when SQLite's write lock is another process's."""


_REFUSED: Final = _Refused()


class _Held:
    """One of the writer's connections, and where its checkpoint requests stand."""

    __slots__ = ("busy_timeout_ms", "checkpointed_at", "connection")

    def __init__(self, connection: Connection, busy_timeout_ms: int | None) -> None:
        self.connection = connection
        self.busy_timeout_ms = busy_timeout_ms
        """The engine's busy timeout where this connection was given another, which it gets
        back with :meth:`release`."""
        self.checkpointed_at = 0
        """The connection's ``total_changes`` when it last asked for a checkpoint."""

    def release(self) -> None:
        """Give the connection back to the pool as the engine made it."""
        driver = _driver(self.connection)
        with contextlib.suppress(Exception):
            driver.execute("PRAGMA wal_autocheckpoint = 1000")
            if self.busy_timeout_ms is not None:
                _set_busy_timeout(driver, self.busy_timeout_ms)
        self.connection.close()


class SQLiteWriter:
    """Runs units of work, each in a transaction of its own (committed when it returns, rolled
    back when it raises), one at a time and in the order asked.

    A write asked while no other is queued or under way runs at once, on the caller's
    thread (the event loop), on a connection that never waits for SQLite's lock: when another
    process holds it, the write goes to the thread instead. Every other write queues for the
    writer thread, which has a connection of its own and waits for the lock up to the busy
    timeout. A lone write so pays no thread hop (about 100 us of CPU a send, one send at a
    time, on the 2-core host); the loop is held for the transaction itself, a small write on
    a file whose checkpoints run elsewhere.

    The thread starts with the first queued write and ends with :meth:`aclose`. A process
    forked after writes (a pre-forking server) starts a thread and connections of its own:
    neither the parent's thread nor its connections exist in the child.
    """

    def __init__(self, engine: Engine, *, name: str = "omnichannel-store-writer") -> None:
        self._engine = engine
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._checkpointer = _Checkpointer(engine, name=f"{name}-checkpoints")
        # Held while a write runs on a caller's thread and while a write is handed to the
        # writer thread: a write runs inline only when every one handed over has ended.
        self._inline_lock = threading.Lock()
        self._inline: _Held | None = None
        self._queued = 0  # writes handed to the thread (counted under the lock)
        self._ended = 0  # of those, the ones the thread has finished (counted by it)
        _WRITERS.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's threads, queue and connections are not ours."""
        self._jobs = queue.SimpleQueue()
        self._thread = None
        self._start_lock = threading.Lock()
        self._checkpointer = _Checkpointer(self._engine, name=self._checkpointer.name)
        self._inline_lock = threading.Lock()
        self._inline = None
        self._queued = self._ended = 0
        # The pool's connections were opened by the parent: leave them to it, open new ones.
        self._engine.dispose(close=False)

    async def run(self, work: Callable[[Connection], T], *, inline: bool = True) -> T:
        """Run ``work`` in a transaction of its own and return what it returned.

        ``inline=False`` sends it to the writer thread even when nothing else is being
        written: a batch of many callers' writes, during which the loop should go on (the
        next batch then gathers what arrived meanwhile; written inline, batches at
        concurrency 32 stayed small and the rate fell by a tenth).

        A caller cancelled meanwhile (by a cancel scope, or by asyncio as ``asyncio.timeout``
        does) still waits for the transaction to end, as it may commit: the cancellation
        reaches the caller after the commit or the rollback.
        """
        if inline and self._inline_lock.acquire(blocking=False):
            try:
                if self._queued == self._ended:
                    result = self._run_inline(work)
                    if not isinstance(result, _Refused):
                        return result
                job = self._queue(work)
            finally:
                self._inline_lock.release()
        else:
            with self._inline_lock:
                job = self._queue(work)
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
        queued_result: T = job.result
        return queued_result

    def _queue(self, work: Callable[[Connection], Any]) -> _Job:
        job = _Job(work, asyncio.get_running_loop())
        self._ensure_started()
        self._queued += 1
        self._jobs.put(job)
        return job

    def _run_inline(self, work: Callable[[Connection], T]) -> T | _Refused:
        """``work``'s result, run in a transaction on this thread; :class:`_Refused` when
        another process holds SQLite's write lock (nothing was run)."""
        held = self._inline
        if held is None:
            held = self._inline = self._connect(waits=False)
        connection = held.connection
        try:
            self._begin(connection)
        except DBAPIError as error:
            if getattr(error.orig, "sqlite_errorcode", None) == SQLITE_BUSY:
                return _REFUSED
            self._drop_if_invalid(held)
            raise
        try:
            result = self._finish(connection, work)
        finally:
            self._drop_if_invalid(held)
            self._checkpoint_if_due(held)
        return result

    def _drop_if_invalid(self, held: _Held) -> None:
        if held.connection.invalidated:
            held.connection.close()
            if self._inline is held:
                self._inline = None

    def _checkpoint_if_due(self, held: _Held) -> None:
        if held.connection.invalidated:
            return
        changes: int = _driver(held.connection).total_changes
        if changes - held.checkpointed_at >= CHECKPOINT_ROWS:
            held.checkpointed_at = changes
            self._checkpointer.request()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _serve(self) -> None:
        held: _Held | None = None
        try:
            while (job := self._jobs.get()) is not None:
                result: Any = None
                error: BaseException | None = None
                try:
                    if held is None:
                        held = self._connect(waits=True)
                    result = self._transaction(held.connection, job.work)
                except BaseException as raised:  # handed to the caller, whatever it is
                    error = raised
                if held is not None and held.connection.invalidated:
                    held.connection.close()
                    held = None
                self._ended += 1  # before the caller hears: its next write may run inline
                # A RuntimeError here: the caller's event loop is closed, nobody waits.
                with contextlib.suppress(RuntimeError):
                    job.loop.call_soon_threadsafe(_end, job, result, error)
                if held is not None:
                    self._checkpoint_if_due(held)
        finally:
            if held is not None:
                held.release()

    def _connect(self, *, waits: bool) -> _Held:
        """A writing connection: checkpoints left to the checkpoint thread, and unless it
        ``waits``, a busy timeout of 0 (another process's write refuses it at once)."""
        connection = self._engine.connect().execution_options(**{WRITER_BEGINS: True})
        driver = _driver(connection)
        pragma = "PRAGMA wal_autocheckpoint = 0"
        _on_driver(connection, pragma, lambda: driver.execute(pragma))
        busy_timeout_ms = None
        if not waits:
            busy_timeout_ms = _on_driver(
                connection, "PRAGMA busy_timeout = 0", lambda: _set_busy_timeout(driver, 0)
            )
        return _Held(connection, busy_timeout_ms)

    @classmethod
    def _transaction(cls, connection: Connection, work: Callable[[Connection], T]) -> T:
        """``work`` between ``BEGIN IMMEDIATE`` and ``COMMIT`` on the driver's connection."""
        cls._begin(connection)
        return cls._finish(connection, work)

    @staticmethod
    def _begin(connection: Connection) -> None:
        driver = _driver(connection)
        _on_driver(connection, "BEGIN IMMEDIATE", lambda: driver.execute("BEGIN IMMEDIATE"))

    @staticmethod
    def _finish(connection: Connection, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the transaction begun, and commit it (roll it back on an error).

        Work that runs Core statements makes Core begin a transaction of its own bookkeeping
        (the engine's ``begin`` listener issues nothing on this connection): it is then
        committed or rolled back through Core, which ends the driver's transaction too.
        """
        driver = _driver(connection)
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
        """Finish the queued work, close the connections and end the threads. The event loop
        goes on meanwhile (a transaction in flight may take milliseconds, or the busy
        timeout)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            await anyio.to_thread.run_sync(thread.join)
        with self._inline_lock:
            held, self._inline = self._inline, None
        if held is not None:
            held.release()
        await anyio.to_thread.run_sync(self._checkpointer.stop)


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
        self._start_lock = threading.Lock()

    def request(self) -> None:
        """Ask for a checkpoint (from either writing connection's thread)."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._stopping = False
                    thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                    thread.start()
                    self._thread = thread
        self._due.set()

    def stop(self) -> None:
        """End the thread after the checkpoint under way."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._due.set()
        thread.join()

    def _serve(self) -> None:
        connection: Any = None
        busy_timeout_ms = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                try:
                    if connection is None:
                        connection = self._engine.raw_connection()
                        busy_timeout_ms = _set_busy_timeout(connection, RESTART_WAIT_MS)
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
                if busy_timeout_ms is not None:
                    with contextlib.suppress(Exception):
                        _set_busy_timeout(connection, busy_timeout_ms)
                connection.close()

    @staticmethod
    def _checkpoint(connection: Any) -> None:
        cursor = connection.cursor()
        try:
            # (1 when it could not run at all, frames in the log, frames copied)
            _busy, frames, _copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames >= RESTART_FRAMES:
                cursor.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            cursor.close()


def _set_busy_timeout(connection: Any, milliseconds: int) -> int:
    """Set a DBAPI connection's busy timeout; return the one it had."""
    cursor = connection.cursor()
    try:
        before = int(cursor.execute("PRAGMA busy_timeout").fetchone()[0])
        cursor.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
    finally:
        cursor.close()
    return before


_WRITERS: weakref.WeakSet[SQLiteWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._forget_parent()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
