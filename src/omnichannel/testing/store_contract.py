"""StoreContract: the behaviour every engine of the durable store passes.

The project runs it on SQLite (a file, and in memory) and on PostgreSQL; an engine written
elsewhere is checked the same way. A subclass provides the database URLs as fixtures::

    class TestMyEngineStore(StoreContract):
        @pytest.fixture
        def store_url(self) -> str:
            return "postgresql+psycopg://postgres@127.0.0.1/test_store"

        @pytest.fixture
        def empty_url(self) -> Iterator[str]:
            ...  # a database with no tables at all, dropped afterwards

``store_url`` may be shared by every test: the contract migrates it, and empties the store's
tables before each test. The inherited tests drive every method with explicit times (no test
sleeps), including the state machine, leases and fencing, duplicate writes (also
concurrent), claims by two stores at once, statuses by precedence, the transactional outbox,
and the schema check.

:func:`postgres_database` makes a throwaway PostgreSQL database for such fixtures, from
``$OMNICHANNEL_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``):
it skips the test, saying how to run it, when no server answers, and fails it instead when
``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from omnichannel.errors import StoreSchemaOutdated
from omnichannel.testing.builders import make_envelope
from omnichannel.testing.store_batches import StoreBatchClauses
from omnichannel.testing.store_outbox import StoreOutboxClauses
from omnichannel.testing.store_state import StoreStateClauses

__all__ = [
    "POSTGRES_URL_VARIABLE",
    "T0",
    "Clock",
    "StoreContract",
    "empty_store",
    "postgres_database",
]

POSTGRES_URL_VARIABLE = "OMNICHANNEL_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""The contract's "now": every test passes times from here."""


class Clock:
    """A clock that moves only when told to (the store's clock for times not passed in)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock on by ``delta``; return the new time."""
        self.now += delta
        return self.now


async def empty_store(store: Any) -> None:
    """Delete every row of the store's tables (a shared test database, between tests)."""
    from omnichannel.store.schema import metadata

    async with store.transaction() as connection:
        for table in reversed(metadata.sorted_tables):
            await connection.execute(table.delete())


def _unavailable(reason: str) -> None:
    how = (
        f"start one (pg_ctlcluster --skip-systemctl-redirect <version> main start) or set "
        f"{POSTGRES_URL_VARIABLE} to a server where the user may create databases"
    )
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}; {how}", pytrace=False)
    pytest.skip(f"no PostgreSQL for the store tests: {reason}; {how}")


@contextlib.contextmanager
def postgres_database(prefix: str = "omnichannel_test") -> Iterator[str]:
    """Create a uniquely named database on the test server; yield its URL; drop it after."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as error:  # pragma: no cover - the postgres extra is not installed
        _unavailable(f"{error.name} is not installed (pip install 'omnichannel[postgres]')")
        raise
    base = make_url(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        _unavailable(f"{base.render_as_string(hide_password=True)} does not answer ({reason})")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _outbox_row_of_0001(envelope: Any, state: str, **values: Any) -> dict[str, Any]:
    """An outbox row with the columns of migration 0001 (and 0002)."""
    return {
        "envelope_id": envelope.id,
        "channel": envelope.channel,
        "state": state,
        "envelope": envelope.to_dict(),
        "attempts": 0,
        "max_attempts": 3,
        "due_at": T0,
        "lease_owner": None,
        "lease_expires_at": None,
        "chain": None,
        "chain_step": 0,
        "last_error": None,
        "receipt": None,
        "created_at": T0,
        "updated_at": T0,
        **values,
    }


async def _gather_opened(url: str) -> list[Any]:
    """Two stores opened at once with ``create=True`` on ``url`` (neither takes the lock)."""
    import asyncio

    from omnichannel.store import Store

    opened = await asyncio.gather(
        *(Store.open(url, create=True, worker=False) for _ in range(2)), return_exceptions=True
    )
    failed = [result for result in opened if isinstance(result, BaseException)]
    if failed:
        for result in opened:
            if not isinstance(result, BaseException):
                await result.close()
        raise failed[0]
    return list(opened)


def _migrate(connection: Any, revision: str, *, downgrade: bool = False) -> None:
    """Upgrade (or downgrade) the database on ``connection`` to ``revision``."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", "omnichannel.store:migrations")
    config.attributes["connection"] = connection
    (command.downgrade if downgrade else command.upgrade)(config, revision)


class StoreContract(StoreOutboxClauses, StoreBatchClauses, StoreStateClauses):
    """Inherited conformance tests for a store engine; see the module docstring."""

    pytestmark: ClassVar[Any] = pytest.mark.anyio

    shares_database: ClassVar[bool] = True
    """Whether a second :class:`Store` opened on ``store_url`` sees the same data (False for
    an in-memory SQLite database, private to its one connection)."""

    # -- what a subclass provides --------------------------------------------------------------

    @pytest.fixture
    def store_url(self) -> str:
        """The database the tests run on (must be overridden)."""
        raise NotImplementedError(f"{type(self).__name__} must define the store_url fixture")

    @pytest.fixture
    def empty_url(self) -> str:
        """A database with no tables, for the migration tests (must be overridden)."""
        raise NotImplementedError(f"{type(self).__name__} must define the empty_url fixture")

    # -- fixtures ------------------------------------------------------------------------------

    @pytest.fixture
    def clock(self) -> Clock:
        """The store's clock, at :data:`T0`."""
        return Clock()

    @pytest.fixture
    async def store(self, store_url: str, clock: Clock) -> AsyncIterator[Any]:
        """The store under test, migrated and empty."""
        from omnichannel.store import Store

        try:
            opened = await Store.open(store_url, clock=clock)
        except StoreSchemaOutdated:
            await Store.upgrade(store_url)
            opened = await Store.open(store_url, clock=clock)
        try:
            await empty_store(opened)
            yield opened
        finally:
            await opened.close()

    @pytest.fixture
    async def second_store(self, store_url: str, store: Any, clock: Clock) -> AsyncIterator[Any]:
        """Another store (another engine, other connections) on the same database."""
        from omnichannel.store import Store

        if not self.shares_database:
            pytest.skip("an in-memory database is private to the store that opened it")
        other = await Store.open(store_url, worker=False, clock=clock)
        try:
            yield other
        finally:
            await other.close()

    # -- the schema ----------------------------------------------------------------------------

    async def test_store_migrations_upgrade_an_empty_database_to_the_schema(
        self, empty_url: str
    ) -> None:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from omnichannel.store import SCHEMA_VERSION, Store
        from omnichannel.store.schema import VERSION_TABLE, metadata

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        assert await Store.schema_version(empty_url) is None
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION  # a second run changes nothing
        async with await Store.open(empty_url) as store:

            def differences(connection: Any) -> list[Any]:
                context = MigrationContext.configure(
                    connection, opts={"version_table": VERSION_TABLE}
                )
                found: list[Any] = compare_metadata(context, metadata)
                return found

            async with store.engine.connect() as connection:
                assert await connection.run_sync(differences) == []

    async def test_store_created_on_open_has_the_schema_the_migrations_make(
        self, empty_url: str
    ) -> None:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from omnichannel.store import SCHEMA_VERSION, OutboxState, Store
        from omnichannel.store.batches import ClaimedSend
        from omnichannel.store.schema import VERSION_TABLE, metadata

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        # Two creators at once: one creates, the other finds the schema made.
        first, second = await _gather_opened(empty_url)
        try:
            assert await first.schema_version(empty_url) == SCHEMA_VERSION

            def differences(connection: Any) -> list[Any]:
                context = MigrationContext.configure(
                    connection, opts={"version_table": VERSION_TABLE}
                )
                found: list[Any] = compare_metadata(context, metadata)
                return found

            async with first.engine.connect() as connection:
                assert await connection.run_sync(differences) == []
            # The history's trigger comes with the tables: a second move keeps the first.
            envelope, now = make_envelope(), first.clock()
            claim = ClaimedSend(envelope=envelope, due_at=now, max_attempts=3)
            await first.enqueue_claimed([claim], worker="w", lease=timedelta(seconds=30), now=now)
            unknown, queued = OutboxState.UNKNOWN, OutboxState.QUEUED
            assert await first.transition(
                envelope.id, to=unknown, now=now, reason="one", worker="w"
            )
            assert await second.transition(envelope.id, to=queued, now=now, reason="two")
            moves = [(entry.to_state, entry.reason) for entry in await first.history(envelope.id)]
            assert moves[-2:] == [("unknown", "one"), ("queued", "two")]
        finally:
            await first.close()
            await second.close()
        # Alembic takes the stamp as its own: nothing to migrate.
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION

    async def test_store_migrations_carry_the_rows_of_an_earlier_version_over(
        self, empty_url: str, clock: Clock
    ) -> None:
        import sqlalchemy as sa

        from omnichannel.store import SCHEMA_VERSION, Store
        from omnichannel.store.engine import create_engine, parse_url
        from omnichannel.store.schema import outbox

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        queued, sending = make_envelope(), make_envelope()
        engine = create_engine(parse_url(empty_url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_migrate, "0001")
                expired = T0 - timedelta(minutes=1)
                await connection.execute(
                    sa.insert(outbox),
                    [
                        _outbox_row_of_0001(queued, "queued"),
                        _outbox_row_of_0001(
                            sending, "sending", lease_owner="gone", lease_expires_at=expired
                        ),
                    ],
                )
        finally:
            await engine.dispose()
        assert await Store.schema_version(empty_url) == "0001"
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION
        async with await Store.open(empty_url, clock=clock) as store:
            settled = await store.expire_leases(now=T0)
            assert [record.envelope_id for record in settled] == [sending.id]
            claimed = await store.claim_outbox(
                worker="w", now=T0, lease=timedelta(minutes=1), limit=10
            )
            assert [record.envelope_id for record in claimed] == [queued.id]

    async def test_store_migration_0003_keeps_every_history_entry_and_gives_them_back(
        self, empty_url: str
    ) -> None:
        """0003 moves a row's creation onto the row (``created_by``) and keeps the moves after
        it; a move made then appends as ever; the downgrade writes the rows 0002 reads."""
        import sqlalchemy as sa

        from omnichannel.store import SCHEMA_VERSION, Store
        from omnichannel.store.engine import create_engine, parse_url
        from omnichannel.store.records import OutboxState
        from omnichannel.store.schema import outbox, outbox_history

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        later = T0 + timedelta(seconds=1)
        made_queued, made_claimed = make_envelope(), make_envelope()
        # (envelope, at, from, to, reason, worker), as 0002 wrote them, oldest first.
        rows_of_0002 = [
            (made_queued.id, T0, None, "queued", "enqueued", None),
            (made_claimed.id, T0, None, "sending", "enqueued", "w-2"),
            (made_queued.id, later, "queued", "sending", None, "w-1"),
            (made_claimed.id, later, "sending", "unknown", "lease expired while sending", "w-2"),
            (made_queued.id, later, "sending", "sent", "sent", "w-1"),
        ]
        columns = ("envelope_id", "at", "from_state", "to_state", "reason", "worker")
        engine = create_engine(parse_url(empty_url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_migrate, "0002")
                await connection.execute(
                    sa.insert(outbox),
                    [
                        _outbox_row_of_0001(made_queued, "sent", attempts=1, updated_at=later),
                        _outbox_row_of_0001(made_claimed, "unknown", attempts=1, updated_at=later),
                    ],
                )
                await connection.execute(
                    sa.insert(outbox_history),
                    [dict(zip(columns, each, strict=True)) for each in rows_of_0002],
                )
        finally:
            await engine.dispose()
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION
        async with await Store.open(empty_url) as store:

            async def moves(envelope_id: str) -> list[tuple[Any, ...]]:
                return [
                    (e.at, e.from_state, e.to_state, e.reason, e.worker)
                    for e in await store.history(envelope_id)
                ]

            assert await moves(made_queued.id) == [
                (T0, None, "queued", "enqueued", None),
                (later, OutboxState.QUEUED, "sending", None, "w-1"),
                (later, OutboxState.SENDING, "sent", "sent", "w-1"),
            ]
            assert await moves(made_claimed.id) == [
                (T0, None, "queued", "enqueued", None),
                (T0, OutboxState.QUEUED, "sending", None, "w-2"),
                (later, OutboxState.SENDING, "unknown", "lease expired while sending", "w-2"),
            ]
            # The move after the upgrade: on the row, the ones before it still in the table.
            assert await store.transition(
                made_claimed.id, to=OutboxState.QUEUED, now=later, reason="reconciled"
            )
            assert (await moves(made_claimed.id))[-1] == (
                later, OutboxState.UNKNOWN, "queued", "reconciled", None
            )  # fmt: skip
        rows_of_0002.append((made_claimed.id, later, "unknown", "queued", "reconciled", None))
        engine = create_engine(parse_url(empty_url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_migrate, "0002", downgrade=True)
                history = sa.table("omnichannel_outbox_history", *map(sa.column, columns))
                written = (
                    await connection.execute(sa.select(history).order_by(sa.literal_column("id")))
                ).all()
        finally:
            await engine.dispose()
        assert await Store.schema_version(empty_url) == "0002"

        def by_envelope(rows: Any) -> dict[str, list[tuple[Any, ...]]]:
            found: dict[str, list[tuple[Any, ...]]] = {}
            for envelope_id, at, *rest in rows:
                if isinstance(at, str):  # SQLite's text, read without the schema's type
                    at = datetime.fromisoformat(at).replace(tzinfo=UTC)
                found.setdefault(envelope_id, []).append((envelope_id, at, *rest))
            return found

        assert by_envelope(written) == by_envelope(rows_of_0002)

    async def test_store_refuses_a_database_without_the_schema_naming_the_command(
        self, empty_url: str
    ) -> None:
        from omnichannel.store import Store

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        with pytest.raises(StoreSchemaOutdated) as raised:
            await Store.open(empty_url)
        assert "has no omnichannel schema" in str(raised.value)
        assert "run `omni store upgrade`" in str(raised.value)

    async def test_store_refuses_an_old_schema_naming_the_command(self, empty_url: str) -> None:
        import sqlalchemy as sa

        from omnichannel.store import SCHEMA_VERSION, Store
        from omnichannel.store.schema import VERSION_TABLE

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        await Store.upgrade(empty_url)
        async with await Store.open(empty_url) as store, store.transaction() as connection:
            versions = sa.table(VERSION_TABLE, sa.column("version_num"))
            await connection.execute(sa.update(versions).values(version_num="0000"))
        with pytest.raises(StoreSchemaOutdated) as raised:
            await Store.open(empty_url)
        message = str(raised.value)
        assert f"is at version 0000, this omnichannel needs {SCHEMA_VERSION}" in message
        assert "run `omni store upgrade`" in message

    # -- the transactional outbox --------------------------------------------------------------

    async def test_store_a_rolled_back_application_transaction_leaves_no_outbox_row(
        self, store: Any
    ) -> None:
        envelope = make_envelope()

        async def business_change_that_fails() -> None:
            async with store.engine.begin() as connection:
                await store.enqueue(envelope, due_at=T0, max_attempts=3, connection=connection)
                raise RuntimeError("business change failed")

        with pytest.raises(RuntimeError, match="business change failed"):
            await business_change_that_fails()
        assert await store.outbox_record(envelope.id) is None
        assert await store.history(envelope.id) == []

    async def test_store_a_committed_application_transaction_leaves_exactly_one_row(
        self, store: Any
    ) -> None:
        envelope = make_envelope()
        async with store.engine.begin() as connection:
            await store.enqueue(envelope, due_at=T0, max_attempts=3, connection=connection)
        async with store.transaction() as connection:
            await store.record_window("fake", "b-1", "customer-1", T0, connection=connection)
        assert (await store.outbox_record(envelope.id)).state == "queued"
        assert sum((await store.count_outbox()).values()) == 1
        assert await store.last_inbound("fake", "b-1", "customer-1") == T0

    async def test_store_a_duplicate_inside_the_caller_s_transaction_leaves_it_usable(
        self, store: Any
    ) -> None:
        from omnichannel.errors import DuplicateEnvelope

        first, second = make_envelope(), make_envelope()
        await store.enqueue(first, due_at=T0, max_attempts=3)
        async with store.transaction() as connection:
            with pytest.raises(DuplicateEnvelope):
                await store.enqueue(first, due_at=T0, max_attempts=3, connection=connection)
            await store.enqueue(second, due_at=T0, max_attempts=3, connection=connection)
        assert await store.outbox_record(second.id) is not None

    # -- times ---------------------------------------------------------------------------------

    async def test_store_times_come_back_as_the_same_instants_in_utc(self, store: Any) -> None:
        paris = timezone(timedelta(hours=2))
        due = datetime(2026, 3, 2, 11, 30, 0, 123456, tzinfo=paris)
        envelope = make_envelope()
        await store.enqueue(envelope, due_at=due, max_attempts=1)
        record = await store.outbox_record(envelope.id)
        assert record.due_at == due
        assert record.due_at.tzinfo is UTC
        assert record.due_at.hour == 9
        assert record.due_at.microsecond == 123456
        # Ordering is by instant, not by the text of a local time.
        earlier = make_envelope()
        await store.enqueue(
            earlier, due_at=datetime(2026, 3, 2, 10, 0, tzinfo=paris), max_attempts=1
        )
        claimed = await store.claim_outbox(
            worker="w", now=due, lease=timedelta(seconds=30), limit=1
        )
        assert [item.envelope_id for item in claimed] == [earlier.id]

    async def test_store_refuses_naive_times(self, store: Any) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            await store.enqueue(make_envelope(), due_at=datetime(2026, 3, 2, 9), max_attempts=1)
        with pytest.raises(ValueError, match="timezone-aware"):
            await store.claim_outbox(
                worker="w", now=datetime(2026, 3, 2, 9), lease=timedelta(seconds=1), limit=1
            )
