"""The initial schema: outbox and its history, provider messages and status history, inbox
and handler completions, session windows, poll cursors, timers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types as they were at this revision (a migration never imports the live schema module).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "omnichannel_outbox",
        sa.Column("envelope_id", sa.String(255), primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("envelope", JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires_at", TIME),
        sa.Column("chain", sa.String(255)),
        sa.Column("chain_step", sa.Integer, nullable=False),
        sa.Column("last_error", JSON),
        sa.Column("receipt", JSON),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("omnichannel_outbox_due", "omnichannel_outbox", ["state", "due_at"])
    op.create_index("omnichannel_outbox_lease", "omnichannel_outbox", ["state", "lease_expires_at"])
    op.create_index("omnichannel_outbox_created", "omnichannel_outbox", ["created_at"])

    op.create_table(
        "omnichannel_outbox_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "envelope_id",
            sa.String(255),
            sa.ForeignKey("omnichannel_outbox.envelope_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", TIME, nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("worker", sa.String(255)),
    )
    op.create_index(
        "omnichannel_outbox_history_envelope",
        "omnichannel_outbox_history",
        ["envelope_id", "id"],
    )

    op.create_table(
        "omnichannel_provider_messages",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("provider_id", sa.String(255), primary_key=True),
        sa.Column("envelope_id", sa.String(255)),
        sa.Column("part_index", sa.Integer),
        sa.Column("status", sa.String(16)),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("envelope_id", "part_index", name="omnichannel_provider_messages_part"),
    )

    op.create_table(
        "omnichannel_status_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("provider_id", sa.String(255), nullable=False),
        sa.Column("envelope_id", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_after", sa.String(16), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("update", JSON, nullable=False),
    )
    op.create_index(
        "omnichannel_status_history_envelope",
        "omnichannel_status_history",
        ["envelope_id", "id"],
    )
    op.create_index(
        "omnichannel_status_history_message",
        "omnichannel_status_history",
        ["channel", "provider_id"],
    )

    op.create_table(
        "omnichannel_inbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires_at", TIME),
        sa.Column("last_error", sa.Text),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("omnichannel_inbox_due", "omnichannel_inbox", ["state", "due_at"])
    op.create_index("omnichannel_inbox_lease", "omnichannel_inbox", ["state", "lease_expires_at"])

    op.create_table(
        "omnichannel_inbox_handlers",
        sa.Column(
            "inbox_id",
            ID,
            sa.ForeignKey("omnichannel_inbox.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("handler", sa.String(255), primary_key=True),
        sa.Column("done_at", TIME, nullable=False),
    )

    op.create_table(
        "omnichannel_windows",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("business", sa.String(255), primary_key=True),
        sa.Column("customer", sa.String(255), primary_key=True),
        sa.Column("last_inbound_at", TIME, nullable=False),
    )
    op.create_index("omnichannel_windows_customer", "omnichannel_windows", ["channel", "customer"])

    op.create_table(
        "omnichannel_cursors",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("updated_at", TIME, nullable=False),
    )

    op.create_table(
        "omnichannel_timers",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires_at", TIME),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("omnichannel_timers_due", "omnichannel_timers", ["due_at"])


def downgrade() -> None:
    for table in (
        "omnichannel_timers",
        "omnichannel_cursors",
        "omnichannel_windows",
        "omnichannel_inbox_handlers",
        "omnichannel_inbox",
        "omnichannel_status_history",
        "omnichannel_provider_messages",
        "omnichannel_outbox_history",
        "omnichannel_outbox",
    ):
        op.drop_table(table)
