"""The SQLite file store's writer thread (``omnichannel.store.writer``): every write in a
transaction of its own, in the order asked, on one thread; a failure rolls back and is the
caller's; a cancelled caller's transaction still ends before the caller does."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import omnichannel.store.engine as store_engine
import omnichannel.store.writer as store_writer
from omnichannel.errors import StoreError
from omnichannel.store import Store
from omnichannel.store.schema import cursors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def file_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite:///{tmp_path / 'o.db'}", create=True)
    try:
        yield store
    finally:
        await store.close()


def _put(key: str, value: str) -> sa.Insert:
    return cursors.insert().values(key=key, cursor=value, updated_at=datetime.now(UTC))


async def _values(store: Store) -> dict[str, str]:
    rows = await store._read(lambda conn: conn.execute(sa.select(cursors)).all())
    return {row.key: row.cursor for row in rows}


class _OtherWriter:
    """Another process's write transaction on the file, until :meth:`end`: the store's
    inline attempt is refused meanwhile, so the writes asked go to the writer thread."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("BEGIN IMMEDIATE")

    def end(self) -> None:
        self._connection.execute("ROLLBACK")
        self._connection.close()


async def _until_queued(store: Store, count: int) -> None:
    """Let the loop run until ``count`` writes wait for the writer thread."""
    writer = store._writer
    assert writer is not None
    while writer._queued - writer._ended < count:
        await anyio.lowlevel.checkpoint()


async def test_writes_run_in_the_order_asked_and_none_overtakes_a_queued_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.db"
    threads: list[int] = []

    def write(conn: Connection, index: int) -> int:
        threads.append(threading.get_ident())
        conn.execute(_put(f"k{index}", str(index)))
        return index

    results: list[int] = []
    async with await Store.open(f"sqlite:///{path}", create=True) as store:

        async def one(index: int) -> None:
            results.append(await store._write(functools.partial(write, index=index)))

        other = _OtherWriter(path)
        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(one, index)
            # The first was refused inline and queued; the rest queued behind it, though
            # nothing stops them running inline but the order.
            await _until_queued(store, 20)
            other.end()
        assert results == list(range(20))  # started in order, written in order
        assert len(set(threads)) == 1
        assert threads[0] != threading.get_ident()
        # Nothing queued now: a lone write runs at once, on the caller's thread.
        await store._write(functools.partial(write, index=20))
        assert threads[-1] == threading.get_ident()
        assert await _values(store) == {f"k{i}": str(i) for i in range(21)}


async def test_a_write_run_at_once_never_waits_for_another_processs_lock(
    file_store: Store,
) -> None:
    def busy_timeout(conn: Connection) -> tuple[int, int]:
        timeout = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
        return threading.get_ident(), timeout

    assert await file_store._write(busy_timeout) == (threading.get_ident(), 0)


async def test_a_failed_write_rolls_back_and_the_next_one_runs(file_store: Store) -> None:
    def half_then_fail(conn: Connection) -> None:
        conn.execute(_put("half", "1"))
        raise LookupError("the work's own error")

    with pytest.raises(LookupError, match="the work's own error"):
        await file_store._write(half_then_fail)
    await file_store._write(lambda conn: conn.execute(_put("after", "2")))
    assert await _values(file_store) == {"after": "2"}


def _committed(path: Path) -> dict[str, str]:
    """The cursors committed to the file, read past the store (and its event loop)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return dict(connection.execute("SELECT key, cursor FROM omnichannel_cursors"))


async def test_a_cancelled_caller_is_cancelled_once_its_transaction_ended(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.db"
    started, release = threading.Event(), threading.Event()
    seen_when_cancelled: list[dict[str, str]] = []

    def slow(conn: Connection) -> None:
        conn.execute(_put("slow", "1"))
        started.set()
        release.wait(5)

    async with await Store.open(f"sqlite:///{path}", create=True) as store:
        with anyio.CancelScope() as scope:
            other = _OtherWriter(path)  # the write goes to the writer thread

            async def cancel_when_started() -> None:
                await _until_queued(store, 1)
                other.end()
                await anyio.to_thread.run_sync(started.wait, 5)
                scope.cancel()
                release.set()

            async with anyio.create_task_group() as group:
                group.start_soon(cancel_when_started)
                try:
                    await store._write(slow)
                except anyio.get_cancelled_exc_class():
                    seen_when_cancelled.append(_committed(path))
                    raise
        assert scope.cancelled_caught
    # The cancellation reached the caller only after the commit: the row was there.
    assert seen_when_cancelled == [{"slow": "1"}]


async def test_a_task_cancelled_by_asyncio_waits_for_its_transaction_too(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.db"
    started, release = threading.Event(), threading.Event()

    def slow(conn: Connection) -> None:
        conn.execute(_put("slow", "1"))
        started.set()
        release.wait(5)

    async with await Store.open(f"sqlite:///{path}", create=True) as store:
        other = _OtherWriter(path)  # the write goes to the writer thread
        task = asyncio.ensure_future(store._write(slow))
        await _until_queued(store, 1)
        other.end()
        await anyio.to_thread.run_sync(started.wait, 5)
        task.cancel()  # as asyncio.timeout() does
        await anyio.lowlevel.checkpoint()
        assert not task.done()  # still waiting for the transaction
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _committed(path) == {"slow": "1"}


async def test_closing_lets_the_loop_run_while_the_transaction_in_flight_ends(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    store = await Store.open(url, create=True)
    assert store._writer is not None
    started, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def slow(conn: Connection) -> None:
        conn.execute(_put("slow", "1"))
        started.set()
        # True when this test set it; False when the wait ran out because close() held the
        # event loop (joining the thread) so that this test could not.
        released.append(release.wait(5))

    other = _OtherWriter(tmp_path / "o.db")  # the write goes to the writer thread
    async with anyio.create_task_group() as group:
        group.start_soon(store._write, slow)
        await _until_queued(store, 1)
        other.end()
        await anyio.to_thread.run_sync(started.wait, 5)
        group.start_soon(store.close)
        while store._writer._thread is not None:  # close() has asked the thread to end
            await anyio.lowlevel.checkpoint()
        release.set()
    assert released == [True]
    # close() returned after the transaction committed.
    async with await Store.open(url) as again:
        assert await _values(again) == {"slow": "1"}


async def test_a_store_reopened_after_close_writes_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    store = await Store.open(url, create=True)
    await store._write(lambda conn: conn.execute(_put("first", "1")))
    await store.close()
    await store.close()  # closing twice is harmless
    async with await Store.open(url) as again:
        await again._write(lambda conn: conn.execute(_put("second", "2")))
        assert await _values(again) == {"first": "1", "second": "2"}


async def test_a_database_locked_by_another_writer_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 0)  # refuse at once, no real wait
    path = tmp_path / "o.db"
    async with await Store.open(f"sqlite:///{path}", create=True) as store:
        other = _OtherWriter(path)
        with pytest.raises(StoreError, match="failed: database is locked") as raised:
            await store._write(lambda conn: conn.execute(_put("blocked", "1")))
        assert str(path) in str(raised.value)
        other.end()
        await store._write(lambda conn: conn.execute(_put("later", "1")))
        assert await _values(store) == {"later": "1"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform has no fork")
def test_a_process_forked_after_writes_writes_on_a_thread_of_its_own(tmp_path: Path) -> None:
    """A pre-forking server opens the store, writes, forks: the child's writes must not wait
    for the parent's writer thread, which does not exist in the child."""
    url = f"sqlite:///{tmp_path / 'o.db'}"

    async def open_and_write(key: str) -> Store:
        store = await Store.open(url, create=True, worker=False)
        await store._write(lambda conn: conn.execute(_put(key, "1")))
        return store

    async def write(store: Store, key: str) -> None:
        await store._write(lambda conn: conn.execute(_put(key, "1")))

    store = asyncio.run(open_and_write("parent"))
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child, which reports by exit code
            code = 1
            signal.alarm(20)  # a child stuck on the parent's thread dies, and the test fails
            try:
                asyncio.run(write(store, "child"))
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        asyncio.run(write(store, "parent-again"))  # the parent's thread still serves it
        assert set(asyncio.run(_values(store))) == {"parent", "child", "parent-again"}
    finally:
        asyncio.run(store.close())


async def test_work_on_the_drivers_cursor_commits_and_rolls_back_as_core_work_does(
    file_store: Store,
) -> None:
    insert = "INSERT INTO omnichannel_cursors (key, cursor, updated_at) VALUES (?, ?, ?)"

    def on_driver(conn: Connection, key: str, *, fail: bool) -> None:
        cursor = conn.connection.cursor()
        cursor.execute(insert, (key, "1", "2026-12-03 06:30:00.000000"))
        cursor.close()
        if fail:
            raise LookupError("after the insert")

    with pytest.raises(LookupError):
        await file_store._write(functools.partial(on_driver, key="undone", fail=True))
    await file_store._write(functools.partial(on_driver, key="kept", fail=False))
    assert await _values(file_store) == {"kept": "1"}


async def test_the_writers_own_commits_checkpoint_nothing(file_store: Store) -> None:
    def autocheckpoint(conn: Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    assert await file_store._write(autocheckpoint) == 0


@attrs.define
class _HeldCheckpoints:
    """Checkpoints that wait, each for the test to let it run (a slow ``fdatasync``)."""

    started: threading.Event = attrs.Factory(threading.Event)
    release: threading.Event = attrs.Factory(threading.Event)
    done: threading.Event = attrs.Factory(threading.Event)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> _HeldCheckpoints:
    """Every write asks for a checkpoint, and the checkpoint waits for ``release``."""
    monkeypatch.setattr(store_writer, "CHECKPOINT_ROWS", 1)
    checkpoints = _HeldCheckpoints()
    checkpoint = store_writer._Checkpointer._checkpoint

    def gated(connection: object) -> None:
        checkpoints.started.set()
        assert checkpoints.release.wait(5), "the test never let the checkpoint run"
        checkpoint(connection)
        checkpoints.done.set()

    monkeypatch.setattr(store_writer._Checkpointer, "_checkpoint", staticmethod(gated))
    return checkpoints


async def test_writes_go_on_while_a_checkpoint_waits_for_the_disk(
    file_store: Store, held: _HeldCheckpoints
) -> None:
    await file_store._write(lambda conn: conn.execute(_put("first", "1")))
    assert await anyio.to_thread.run_sync(held.started.wait, 5)
    # The checkpoint is held: the writes after it do not wait for it.
    for index in range(5):
        await file_store._write(functools.partial(_put_row, key=f"k{index}"))
    assert not held.done.is_set()
    held.release.set()
    assert await anyio.to_thread.run_sync(held.done.wait, 5)
    assert len(await _values(file_store)) == 6


class _Cursor:
    """A DBAPI cursor answering ``PRAGMA wal_checkpoint`` with a log of ``frames``."""

    def __init__(self, frames: int, statements: list[str]) -> None:
        self.frames = frames
        self.statements = statements

    def execute(self, statement: str) -> _Cursor:
        self.statements.append(statement)
        return self

    def fetchone(self) -> tuple[int, int, int]:
        return (0, self.frames, self.frames)

    def close(self) -> None:
        pass


class _Connection:
    def __init__(self, frames: int) -> None:
        self.statements: list[str] = []
        self.frames = frames

    def cursor(self) -> _Cursor:
        return _Cursor(self.frames, self.statements)


def test_a_long_log_is_restarted_after_its_frames_are_copied() -> None:
    checkpoint = store_writer._Checkpointer._checkpoint
    short = _Connection(store_writer.RESTART_FRAMES - 1)
    checkpoint(short)
    assert short.statements == ["PRAGMA wal_checkpoint(PASSIVE)"]
    long = _Connection(store_writer.RESTART_FRAMES)
    checkpoint(long)
    assert long.statements == ["PRAGMA wal_checkpoint(PASSIVE)", "PRAGMA wal_checkpoint(RESTART)"]


async def test_after_a_restart_the_log_is_written_from_its_start(
    tmp_path: Path, held: _HeldCheckpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_writer, "RESTART_FRAMES", 1)
    path = tmp_path / "o.db"
    wal = path.with_name(path.name + "-wal")
    async with await Store.open(f"sqlite:///{path}", create=True) as store:
        await store._write(lambda conn: conn.execute(_put("first", "1")))
        size = wal.stat().st_size
        held.release.set()
        assert await anyio.to_thread.run_sync(held.done.wait, 5)
        await store._write(lambda conn: conn.execute(_put("second", "2")))
        # The second write went over the first one's frames: the file did not grow.
        assert wal.stat().st_size == size
        assert await _values(store) == {"first": "1", "second": "2"}


async def test_a_failed_checkpoint_is_logged_and_the_next_one_runs(
    file_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(store_writer, "CHECKPOINT_ROWS", 1)
    checkpoint = store_writer._Checkpointer._checkpoint
    failed, ran = threading.Event(), threading.Event()

    def fails_once(connection: object) -> None:
        if not failed.is_set():
            failed.set()
            raise sqlite3.OperationalError("disk I/O error")
        checkpoint(connection)
        ran.set()

    monkeypatch.setattr(store_writer._Checkpointer, "_checkpoint", staticmethod(fails_once))
    await file_store._write(lambda conn: conn.execute(_put("first", "1")))
    assert await anyio.to_thread.run_sync(failed.wait, 5)
    await file_store._write(lambda conn: conn.execute(_put("second", "2")))
    assert await anyio.to_thread.run_sync(ran.wait, 5)
    assert "checkpointing the store's write-ahead log failed: disk I/O error" in caplog.text


def _put_row(conn: Connection, key: str) -> None:
    conn.execute(_put(key, "1"))


def test_event_loops_on_two_threads_share_the_writer_without_overlapping(
    tmp_path: Path,
) -> None:
    """Inline writes take the writer's lock: two threads' loops writing at once to one store
    never run two transactions on its connection together."""
    url = f"sqlite:///{tmp_path / 'o.db'}"
    store = asyncio.run(Store.open(url, create=True))
    running: list[int] = []
    overlaps: list[int] = []

    def write(conn: Connection, key: str) -> None:
        running.append(1)
        if len(running) > 1:
            overlaps.append(len(running))
        conn.execute(_put(key, "1"))
        running.pop()

    async def writes(prefix: str) -> None:
        for index in range(200):
            await store._write(functools.partial(write, key=f"{prefix}{index}"))

    try:
        threads = [threading.Thread(target=asyncio.run, args=(writes(prefix),)) for prefix in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert overlaps == []
        assert len(asyncio.run(_values(store))) == 400
    finally:
        asyncio.run(store.close())
