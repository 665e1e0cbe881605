"""The store's tables: one :class:`~sqlalchemy.MetaData` for SQLite and PostgreSQL alike.

Every table is prefixed ``omnichannel_`` and the migration version table is
``omnichannel_schema_version``, so the store can share a database with the application that
uses it (the transactional outbox), its own tables and its own Alembic history included.

Times are timezone-aware UTC in Python everywhere: ``TIMESTAMP WITH TIME ZONE`` on
PostgreSQL; on SQLite, which has no such type, fixed-width ISO text in UTC, which sorts and
compares as the instants do (:class:`UTCDateTime` converts at the boundary).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = [
    "OUTBOX_MOVES_TRIGGER",
    "SCHEMA_VERSION",
    "VERSION_TABLE",
    "UTCDateTime",
    "cursors",
    "in_state",
    "inbox",
    "inbox_handlers",
    "metadata",
    "outbox",
    "outbox_history",
    "provider_messages",
    "status_history",
    "timers",
    "windows",
]

SCHEMA_VERSION: Final = "0003"
"""The Alembic head this code reads and writes (``migrations/versions/``); a test checks it."""
VERSION_TABLE: Final = "omnichannel_schema_version"

NO_BUSINESS: Final = ""
"""The business address of a window recorded without one (a key column cannot be NULL)."""


# The last time a SQLite column was given and its text, shared by every time column: a
# transaction's statements write the same instant (its ``now``) to several columns and tables.
# One tuple, replaced whole, so any thread reads a value with its own text.
_LAST_WRITTEN: list[tuple[datetime | None, str | None]] = [(None, None)]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both engines; a naive value is refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the store takes timezone-aware datetimes, got {value!r}")
        value = value.astimezone(UTC)
        # SQLite keeps the text SQLAlchemy writes; without the offset every value has one width.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        last = _LAST_WRITTEN

        def process(value: datetime | None) -> str | None:
            # The text SQLAlchemy's SQLite DATETIME writes, to the character, through the C
            # isoformat: its ``%`` formatting of seven fields was a tenth of the writer
            # thread's work on the send path.
            if value is None:
                return None
            seen, text = last[0]
            if value is seen:
                return text
            if value.tzinfo is None:
                raise ValueError(f"the store takes timezone-aware datetimes, got {value!r}")
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            last[0] = (value, text)
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id() -> sa.types.TypeEngine[int]:
    # SQLite's rowid aliasing (and so autoincrement) needs INTEGER exactly.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rows_in(state: str) -> dict[str, Any]:
    """The keyword arguments of an index on the rows in ``state`` only, on both engines."""
    where = sa.text(f"state = '{state}'")
    return {"sqlite_where": where, "postgresql_where": where}


def in_state(column: sa.ColumnElement[str], state: str) -> sa.ColumnElement[bool]:
    """``column = 'state'`` with the state written into the statement, not bound: psycopg
    prepares a statement run often, and PostgreSQL's plan for any parameters (a generic
    plan) can use a partial index (:func:`_rows_in`) only when the query names its state.
    (SQLite plans a statement with the values bound, and would use the index either way.)"""
    if not state.isidentifier():  # a state name, never text from outside
        raise ValueError(f"not a state: {state!r}")
    return column == sa.literal_column(f"'{state}'", type_=sa.String())


metadata = sa.MetaData()

outbox = sa.Table(
    "omnichannel_outbox",
    metadata,
    sa.Column("envelope_id", sa.String(255), primary_key=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("envelope", _json(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(255)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("chain", sa.String(255)),
    sa.Column("chain_step", sa.Integer, nullable=False),
    sa.Column("last_error", _json()),
    sa.Column("receipt", _json()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The row's history (see outbox_history): its creation is read from created_at and
    # created_by (the worker that claimed it as it was written; NULL: written queued), and its
    # newest move since is kept here, in moved_*, until the next one moves it to the table.
    sa.Column("created_by", sa.String(255)),
    sa.Column("moved_at", UTCDateTime),
    sa.Column("moved_from", sa.String(16)),
    sa.Column("moved_to", sa.String(16)),
    sa.Column("moved_reason", sa.Text),
    sa.Column("moved_by", sa.String(255)),
    # Partial: a send made inline is never queued, and leaves the leased rows when it
    # settles; an index on every row was written twice a send, for rows no query looks for.
    sa.Index("omnichannel_outbox_queued", "due_at", "envelope_id", **_rows_in("queued")),
    sa.Index("omnichannel_outbox_sending", "lease_expires_at", **_rows_in("sending")),
    sa.Index("omnichannel_outbox_created", "created_at"),
)

# Every move of an outbox row but its newest, which is on the row (moved_*), and its creation,
# which the row's created_at and created_by say: a send made inline (written claimed, then
# settled sent) writes no history row at all, where it wrote two. When a move replaces the
# row's newest one, a trigger (OUTBOX_MOVES_TRIGGER) appends the one it replaces here.
outbox_history = sa.Table(
    "omnichannel_outbox_history",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column(
        "envelope_id",
        sa.String(255),
        sa.ForeignKey("omnichannel_outbox.envelope_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("worker", sa.String(255)),
    sa.Index("omnichannel_outbox_history_envelope", "envelope_id", "id"),
)

_KEEP_MOVE = (
    "INSERT INTO omnichannel_outbox_history (envelope_id, at, from_state, to_state, reason, "
    "worker) VALUES (OLD.envelope_id, OLD.moved_at, OLD.moved_from, OLD.moved_to, "
    "OLD.moved_reason, OLD.moved_by);"
)

OUTBOX_MOVES_TRIGGER: Final[dict[str, tuple[str, ...]]] = {
    "sqlite": (
        "CREATE TRIGGER omnichannel_outbox_moves AFTER UPDATE OF moved_at ON omnichannel_outbox "
        f"FOR EACH ROW WHEN OLD.moved_at IS NOT NULL BEGIN {_KEEP_MOVE} END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION omnichannel_outbox_keep_move() RETURNS trigger LANGUAGE "
        f"plpgsql AS $$ BEGIN {_KEEP_MOVE} RETURN NULL; END $$",
        "CREATE TRIGGER omnichannel_outbox_moves AFTER UPDATE OF moved_at ON omnichannel_outbox "
        "FOR EACH ROW WHEN (OLD.moved_at IS NOT NULL) EXECUTE FUNCTION "
        "omnichannel_outbox_keep_move()",
    ),
}
"""Per dialect, the statements that create the trigger keeping an outbox row's replaced newest
move in the history table (any UPDATE that sets ``moved_at`` replaces it). Migration 0003
creates the same from its own copy (a migration never imports the live schema, which later
releases change); an in-memory database gets it with the tables."""


def _create_outbox_moves_trigger(_table: sa.Table, connection: sa.Connection, **_: Any) -> None:
    for statement in OUTBOX_MOVES_TRIGGER.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)


# After the history table, which the trigger writes to: metadata.create_all makes it second.
sa.event.listen(outbox_history, "after_create", _create_outbox_moves_trigger)

provider_messages = sa.Table(
    "omnichannel_provider_messages",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("provider_id", sa.String(255), primary_key=True),
    sa.Column("envelope_id", sa.String(255)),
    sa.Column("part_index", sa.Integer),
    sa.Column("status", sa.String(16)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The idempotency key of a part: envelope id + part index, recorded once.
    sa.UniqueConstraint("envelope_id", "part_index", name="omnichannel_provider_messages_part"),
)

status_history = sa.Table(
    "omnichannel_status_history",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("provider_id", sa.String(255), nullable=False),
    sa.Column("envelope_id", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_after", sa.String(16), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("update", _json(), nullable=False),
    sa.Index("omnichannel_status_history_envelope", "envelope_id", "id"),
    sa.Index("omnichannel_status_history_message", "channel", "provider_id"),
)

inbox = sa.Table(
    "omnichannel_inbox",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("payload", _json(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(255)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("omnichannel_inbox_pending", "due_at", "id", **_rows_in("pending")),
    sa.Index("omnichannel_inbox_handling", "lease_expires_at", **_rows_in("handling")),
)

inbox_handlers = sa.Table(
    "omnichannel_inbox_handlers",
    metadata,
    sa.Column(
        "inbox_id",
        _id(),
        sa.ForeignKey("omnichannel_inbox.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("handler", sa.String(255), primary_key=True),
    sa.Column("done_at", UTCDateTime, nullable=False),
)

windows = sa.Table(
    "omnichannel_windows",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("business", sa.String(255), primary_key=True),
    sa.Column("customer", sa.String(255), primary_key=True),
    sa.Column("last_inbound_at", UTCDateTime, nullable=False),
    sa.Index("omnichannel_windows_customer", "channel", "customer"),
)

cursors = sa.Table(
    "omnichannel_cursors",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

timers = sa.Table(
    "omnichannel_timers",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("payload", _json(), nullable=False),
    sa.Column("lease_owner", sa.String(255)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("omnichannel_timers_due", "due_at"),
)
