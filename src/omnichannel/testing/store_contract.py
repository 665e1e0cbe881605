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
from omnichannel.testing.store_schema import StoreSchemaClauses
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


class StoreContract(StoreOutboxClauses, StoreBatchClauses, StoreStateClauses, StoreSchemaClauses):
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
