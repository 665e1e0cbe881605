"""The schema clauses of :class:`~omnichannel.testing.store_contract.StoreContract`: the
migrations and a schema created on open give the live tables, carry earlier versions' rows
over, and a database without the schema, or with an old one, is refused naming the command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from omnichannel.errors import StoreSchemaOutdated
from omnichannel.testing.builders import make_envelope

if TYPE_CHECKING:
    from omnichannel.testing.store_contract import Clock

__all__ = ["StoreSchemaClauses"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _schema_differences(connection: Any) -> list[Any]:
    """What Alembic's comparison finds between the database and the live tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from omnichannel.store.schema import VERSION_TABLE, metadata

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    found: list[Any] = compare_metadata(context, metadata)
    return found


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


class StoreSchemaClauses:
    """Mixed into :class:`~omnichannel.testing.store_contract.StoreContract`, which says
    whether a second store sees the first one's database (``shares_database``)."""

    shares_database: ClassVar[bool]

    async def test_store_migrations_upgrade_an_empty_database_to_the_schema(
        self, empty_url: str
    ) -> None:
        from omnichannel.store import SCHEMA_VERSION, Store

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        assert await Store.schema_version(empty_url) is None
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION
        assert await Store.upgrade(empty_url) == SCHEMA_VERSION  # a second run changes nothing
        async with await Store.open(empty_url) as store, store.engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []

    async def test_store_created_on_open_has_the_schema_the_migrations_make(
        self, empty_url: str
    ) -> None:
        from omnichannel.store import SCHEMA_VERSION, OutboxState, Store
        from omnichannel.store.batches import ClaimedSend

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        # Two creators at once: one creates, the other finds the schema made.
        first, second = await _gather_opened(empty_url)
        try:
            assert await first.schema_version(empty_url) == SCHEMA_VERSION
            async with first.engine.connect() as connection:
                assert await connection.run_sync(_schema_differences) == []
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

    async def test_store_creates_nothing_over_tables_that_have_no_version(
        self, empty_url: str
    ) -> None:
        import sqlalchemy as sa

        from omnichannel.errors import ConfigurationError
        from omnichannel.store import Store
        from omnichannel.store.engine import create_engine, parse_url
        from omnichannel.store.schema import outbox

        if not self.shares_database:
            pytest.skip("an in-memory database gets its schema when it is opened")
        engine = create_engine(parse_url(empty_url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(outbox.create)
        finally:
            await engine.dispose()
        # Half a schema and no version: not stamped as this release's, whatever it holds.
        with pytest.raises(ConfigurationError, match="cannot open the store"):
            await Store.open(empty_url, create=True)
        assert await Store.schema_version(empty_url) is None
        engine = create_engine(parse_url(empty_url))
        try:
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        finally:
            await engine.dispose()
        assert tables == [outbox.name]

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
