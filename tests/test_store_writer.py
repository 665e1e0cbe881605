"""The SQLite file store's writer thread (``omnichannel.store.writer``): every write in a
transaction of its own, in the order asked, on one thread; a failure rolls back and is the
caller's; a cancelled caller's transaction still ends before the caller does."""

from __future__ import annotations

import asyncio
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
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import omnichannel.store.engine as store_engine
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


async def test_writes_run_in_the_order_asked_on_one_thread(file_store: Store) -> None:
    threads: list[int] = []

    def write(conn: Connection, index: int) -> int:
        threads.append(threading.get_ident())
        conn.execute(_put(f"k{index}", str(index)))
        return index

    results: list[int] = []

    async def one(index: int) -> None:
        results.append(await file_store._write(functools.partial(write, index=index)))

    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(one, index)
    assert results == list(range(20))  # started in order, written in order
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()
    assert await _values(file_store) == {f"k{i}": str(i) for i in range(20)}


async def test_a_failed_write_rolls_back_and_the_next_one_runs(file_store: Store) -> None:
    def half_then_fail(conn: Connection) -> None:
        conn.execute(_put("half", "1"))
        raise LookupError("the work's own error")

    with pytest.raises(LookupError, match="the work's own error"):
        await file_store._write(half_then_fail)
    await file_store._write(lambda conn: conn.execute(_put("after", "2")))
    assert await _values(file_store) == {"after": "2"}


async def test_a_cancelled_caller_waits_for_its_transaction_to_end(file_store: Store) -> None:
    started, release = threading.Event(), threading.Event()
    returned = False

    def slow(conn: Connection) -> None:
        conn.execute(_put("slow", "1"))
        started.set()
        release.wait(5)

    with anyio.CancelScope() as scope:

        async def cancel_when_started() -> None:
            await anyio.to_thread.run_sync(started.wait, 5)
            scope.cancel()
            release.set()

        async with anyio.create_task_group() as group:
            group.start_soon(cancel_when_started)
            await file_store._write(slow)
            returned = True
            await anyio.lowlevel.checkpoint()  # where the cancellation is delivered
    assert returned
    assert scope.cancelled_caught
    # The caller came back only after the commit: the row is there.
    assert await _values(file_store) == {"slow": "1"}


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

    async with anyio.create_task_group() as group:
        group.start_soon(store._write, slow)
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
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process's write transaction
            with pytest.raises(StoreError, match="failed: database is locked") as raised:
                await store._write(lambda conn: conn.execute(_put("blocked", "1")))
            assert str(path) in str(raised.value)
            other.execute("ROLLBACK")
            await store._write(lambda conn: conn.execute(_put("later", "1")))
        finally:
            other.close()
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
