"""The store on SQLite: the whole StoreContract on a file and in memory, and what only SQLite
has (the one-worker file lock, WAL, paths)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import anyio
import pytest

from omnichannel.errors import StoreLocked, StoreSchemaOutdated
from omnichannel.store import Store
from omnichannel.testing.store_contract import StoreContract


@pytest.fixture(scope="session")
async def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once: each test starts from a copy (a migration per test would
    cost a tenth of a second of fsyncs)."""
    path = tmp_path_factory.mktemp("store-template") / "template.db"
    await Store.upgrade(f"sqlite:///{path}")
    return path


class TestSqliteFileStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path, migrated_file: Path) -> str:
        path = tmp_path / "store.db"
        shutil.copyfile(migrated_file, path)
        return f"sqlite:///{path}"

    @pytest.fixture
    def empty_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'empty.db'}"


class TestSqliteMemoryStore(StoreContract):
    shares_database = False

    @pytest.fixture
    def store_url(self) -> str:
        return "sqlite://"

    @pytest.fixture
    def empty_url(self) -> str:
        return "sqlite://"


HOLD_THE_LOCK = """
import asyncio, sys
from omnichannel.store import Store

async def main():
    store = await Store.open(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.readline()
    await store.close()

asyncio.run(main())
"""

OPEN_AS_WORKER = """
import asyncio, sys
from omnichannel.errors import StoreLocked
from omnichannel.store import Store

async def main():
    try:
        store = await Store.open(sys.argv[1])
    except StoreLocked as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    await store.close()
    print("opened")

asyncio.run(main())
"""


@pytest.fixture
async def migrated_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    await Store.upgrade(url)
    return url


async def _open_as_worker(url: str) -> tuple[int, str, str]:
    result = await anyio.run_process([sys.executable, "-c", OPEN_AS_WORKER, url], check=False)
    return result.returncode, result.stdout.decode().strip(), result.stderr.decode().strip()


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_second_worker_process_on_one_sqlite_file_is_refused_clearly(
    migrated_url: str,
) -> None:
    async with await Store.open(migrated_url):
        code, _, message = await _open_as_worker(migrated_url)
    assert code == 2
    assert message.startswith("another omnichannel worker holds ")
    assert f"worker.db (pid {os.getpid()})" in message
    assert "use PostgreSQL for several" in message
    # Released on close: the next worker opens it.
    assert await _open_as_worker(migrated_url) == (0, "opened", "")


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_killed_worker_leaves_no_stale_lock(migrated_url: str) -> None:
    async with await anyio.open_process(
        [sys.executable, "-c", HOLD_THE_LOCK, migrated_url]
    ) as holder:
        assert holder.stdout is not None
        seen = b""
        with anyio.fail_after(60):
            while b"\n" not in seen:
                seen += await holder.stdout.receive()
        assert seen.strip() == b"holding"
        with pytest.raises(StoreLocked, match=rf"\(pid {holder.pid}\)"):
            await Store.open(migrated_url)
        # An inspecting process (omni outbox list) opens it without the lock.
        async with await Store.open(migrated_url, worker=False) as reader:
            assert sum((await reader.count_outbox()).values()) == 0
        holder.kill()
        await holder.wait()
    async with await Store.open(migrated_url) as store:
        assert store.dialect == "sqlite"


@pytest.mark.anyio
async def test_the_lock_refuses_a_second_worker_in_the_same_process_too(
    migrated_url: str,
) -> None:
    async with await Store.open(migrated_url):
        with pytest.raises(StoreLocked):
            await Store.open(migrated_url)
        with pytest.raises(StoreLocked):
            await Store.upgrade(migrated_url)


@pytest.mark.anyio
async def test_a_sqlite_file_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
    migrated_url: str,
) -> None:
    async with await Store.open(migrated_url) as store, store.engine.connect() as connection:
        pragmas = {
            name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


@pytest.mark.anyio
async def test_synchronous_full_can_be_asked_for_in_the_url(migrated_url: str) -> None:
    async with (
        await Store.open(migrated_url + "?synchronous=full") as store,
        store.engine.connect() as connection,
    ):
        assert (await connection.exec_driver_sql("PRAGMA synchronous")).scalar() == 2


@pytest.mark.anyio
async def test_opening_a_missing_sqlite_file_names_the_upgrade_and_creates_nothing(
    tmp_path: Path,
) -> None:
    with pytest.raises(StoreSchemaOutdated, match="run `omni store upgrade`"):
        await Store.open(f"sqlite:///{tmp_path / 'missing.db'}")
    assert await Store.schema_version(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert os.listdir(tmp_path) == []


@pytest.mark.anyio
async def test_times_are_stored_as_fixed_width_utc_text_on_sqlite(migrated_url: str) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from omnichannel.testing import make_envelope

    local = datetime(2026, 3, 2, 11, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    async with await Store.open(migrated_url) as store:
        await store.enqueue(make_envelope(), due_at=local, max_attempts=1, now=local)
        async with store.engine.connect() as connection:
            raw = (
                await connection.exec_driver_sql("SELECT due_at FROM omnichannel_outbox")
            ).scalar()
        [record] = await store.list_outbox()
    assert raw == "2026-03-02 09:00:05.000000"
    assert record.due_at == datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)


@pytest.mark.anyio
async def test_claims_read_only_the_waiting_rows_through_the_partial_indexes(
    tmp_path: Path,
) -> None:
    """The partial indexes (migration 0002) hold only the queued (pending) and sending
    (handling) rows; a claim reads them, in the order it claims, and no sent or done row."""
    from datetime import UTC, datetime

    store = await Store.open(f"sqlite:///{tmp_path / 'plans.db'}", create=True)
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    try:
        plans: dict[str, str] = {}
        async with store.engine.connect() as connection:
            for name, statement in {
                "outbox claim": store._claims[False],
                "inbox claim": store._inbox_claim,
            }.items():
                compiled = statement.compile(dialect=connection.dialect)
                values = {**compiled.params, "now": now, "expires": now, "worker": "w", "limit": 9}
                driver_values = tuple(
                    now.isoformat(" ") if isinstance(values[n], datetime) else values[n]
                    for n in compiled.positiontup or ()
                )
                rows = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {compiled}", driver_values
                )
                plans[name] = " | ".join(str(row[-1]) for row in rows)
    finally:
        await store.close()
    assert "USING INDEX omnichannel_outbox_queued (due_at<?)" in plans["outbox claim"]
    assert "USING INDEX omnichannel_inbox_pending (due_at<?)" in plans["inbox claim"]
    assert "TEMP B-TREE" not in plans["outbox claim"]  # the index gives the claim order
