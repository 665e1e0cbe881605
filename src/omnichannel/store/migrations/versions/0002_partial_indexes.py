"""Index the outbox's and the inbox's waiting and leased rows only.

The indexes on ``(state, due_at)`` and ``(state, lease_expires_at)`` held every row, in every
state, and each change of state moved a row's entries in both: a send made inline wrote them
twice (claimed, then settled) though no query looks for a row sent or done. Partial indexes
hold only the rows the claims and the sweeps look for: queued (pending) by due time, sending
(handling) by lease expiry. The queries name the state in their SQL: PostgreSQL's generic
plan of a prepared statement cannot use a partial index for a state bound as a parameter.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _partial(name: str, table: str, columns: list[str], state: str) -> None:
    """An index on ``table``'s rows in ``state`` only, on both engines."""
    where = sa.text(f"state = '{state}'")
    op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    for table, old in (
        ("omnichannel_outbox", ("omnichannel_outbox_due", "omnichannel_outbox_lease")),
        ("omnichannel_inbox", ("omnichannel_inbox_due", "omnichannel_inbox_lease")),
    ):
        for name in old:
            op.drop_index(name, table_name=table)
    _partial("omnichannel_outbox_queued", "omnichannel_outbox", ["due_at", "envelope_id"], "queued")
    _partial("omnichannel_outbox_sending", "omnichannel_outbox", ["lease_expires_at"], "sending")
    _partial("omnichannel_inbox_pending", "omnichannel_inbox", ["due_at", "id"], "pending")
    _partial("omnichannel_inbox_handling", "omnichannel_inbox", ["lease_expires_at"], "handling")


def downgrade() -> None:
    for table, new in (
        ("omnichannel_outbox", ("omnichannel_outbox_queued", "omnichannel_outbox_sending")),
        ("omnichannel_inbox", ("omnichannel_inbox_pending", "omnichannel_inbox_handling")),
    ):
        for name in new:
            op.drop_index(name, table_name=table)
    op.create_index("omnichannel_outbox_due", "omnichannel_outbox", ["state", "due_at"])
    op.create_index("omnichannel_outbox_lease", "omnichannel_outbox", ["state", "lease_expires_at"])
    op.create_index("omnichannel_inbox_due", "omnichannel_inbox", ["state", "due_at"])
    op.create_index("omnichannel_inbox_lease", "omnichannel_inbox", ["state", "lease_expires_at"])
