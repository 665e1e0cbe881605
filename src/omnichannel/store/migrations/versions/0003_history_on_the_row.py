"""Keep an outbox row's creation and newest move on the row; the history table holds the rest.

A send made inline wrote two history rows (written claimed, then settled sent), each a row and
an index entry, for moves its outbox row already says. Now the row's ``created_at`` and
``created_by`` (the worker that claimed it as it was written; NULL: written queued) give its
creation, and ``moved_*`` its newest move since. A move that replaces the newest one sets
``moved_at``, and a trigger appends the move it replaces to the history table, so the table
holds every move in between, in order.

The upgrade fills ``created_by`` from the creation rows and deletes them; the moves after the
creation stay in the table, with ``moved_*`` empty. The downgrade writes the creation rows back
(ids below every other, so each reads first) and the newest moves after the rest.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)

_KEEP_MOVE = (
    "INSERT INTO omnichannel_outbox_history (envelope_id, at, from_state, to_state, reason, "
    "worker) VALUES (OLD.envelope_id, OLD.moved_at, OLD.moved_from, OLD.moved_to, "
    "OLD.moved_reason, OLD.moved_by);"
)

_TRIGGER = {
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

_DROP_TRIGGER = {
    "sqlite": ("DROP TRIGGER omnichannel_outbox_moves",),
    "postgresql": (
        "DROP TRIGGER omnichannel_outbox_moves ON omnichannel_outbox",
        "DROP FUNCTION omnichannel_outbox_keep_move()",
    ),
}


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(255)),
        sa.Column("moved_at", TIME),
        sa.Column("moved_from", sa.String(16)),
        sa.Column("moved_to", sa.String(16)),
        sa.Column("moved_reason", sa.Text),
        sa.Column("moved_by", sa.String(255)),
    ]


def upgrade() -> None:
    # Added and dropped in place (SQLite 3.35 and later drop a column so), never by a copy
    # of the table, which would have to bring its partial indexes along.
    for column in _columns():
        op.add_column("omnichannel_outbox", column)
    # A row written claimed had one creation row, to sending, naming the worker.
    op.execute(
        "UPDATE omnichannel_outbox SET created_by = (SELECT history.worker FROM "
        "omnichannel_outbox_history AS history WHERE history.envelope_id = "
        "omnichannel_outbox.envelope_id AND history.from_state IS NULL AND "
        "history.to_state = 'sending' ORDER BY history.id LIMIT 1)"
    )
    op.execute("DELETE FROM omnichannel_outbox_history WHERE from_state IS NULL")
    for statement in _TRIGGER[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DROP_TRIGGER[op.get_bind().dialect.name]:
        op.execute(statement)
    op.execute(
        "INSERT INTO omnichannel_outbox_history (envelope_id, at, from_state, to_state, reason, "
        "worker) SELECT envelope_id, moved_at, moved_from, moved_to, moved_reason, moved_by "
        "FROM omnichannel_outbox WHERE moved_at IS NOT NULL"
    )
    # 0002 reads a row's history by id: each creation row gets an id below every other.
    op.execute(
        "INSERT INTO omnichannel_outbox_history (id, envelope_id, at, from_state, to_state, "
        "reason, worker) SELECT -ROW_NUMBER() OVER (ORDER BY envelope_id), envelope_id, "
        "created_at, NULL, CASE WHEN created_by IS NULL THEN 'queued' ELSE 'sending' END, "
        "'enqueued', created_by FROM omnichannel_outbox"
    )
    for column in reversed(_columns()):
        op.drop_column("omnichannel_outbox", column.name)
