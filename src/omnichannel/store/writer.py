"""The thread a SQLite file's writes run on: one thread, one connection, one transaction at a
time.

SQLite takes one writer at a time, so the store's own write transactions queue here in the
order they were asked for, and each runs on the same connection, already open: no pool
checkout, no thread handed a job by a general pool. Against ``anyio.to_thread`` and a pooled
connection (and ``BEGIN`` through Core), a lone send's two store writes took about a third
less time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from sqlalchemy.engine import Connection, Engine

__all__ = ["SQLiteWriter"]

T = TypeVar("T")

_Job = tuple[Callable[[Connection], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
        _WRITERS.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's thread and queue are not ours."""
        self._jobs = queue.SimpleQueue()
        self._thread = None
        self._start_lock = threading.Lock()
        # The pool's connections were opened by the parent: leave them to it, open new ones.
        self._engine.dispose(close=False)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction of its own and return what it returned.

        As with ``anyio.to_thread.run_sync``, a caller cancelled meanwhile still waits for the
        transaction to end (it may have committed) and is cancelled after.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_started()
        self._jobs.put((work, future, loop))
        with anyio.CancelScope(shield=True):
            result = await future
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
        try:
            while (job := self._jobs.get()) is not None:
                work, future, loop = job
                result: Any = None
                error: BaseException | None = None
                try:
                    if connection is None:
                        connection = self._engine.connect()
                    with connection.begin():
                        result = work(connection)
                except BaseException as raised:  # handed to the caller, whatever it is
                    error = raised
                    if connection is not None and connection.invalidated:
                        connection.close()
                        connection = None
                # A RuntimeError here: the caller's event loop is closed, nobody waits.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, future, result, error)
        finally:
            if connection is not None:
                connection.close()

    async def aclose(self) -> None:
        """Finish the queued work, close the connection and end the thread. The event loop goes
        on meanwhile (a transaction in flight may take milliseconds, or the busy timeout)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        await anyio.to_thread.run_sync(thread.join)


_WRITERS: weakref.WeakSet[SQLiteWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._forget_parent()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
