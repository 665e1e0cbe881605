"""Alembic's environment for the store's migrations, run by ``omni store upgrade``.

The store hands Alembic an open connection inside its own transaction (see
``omnichannel.store.engine.run_upgrade``): the whole upgrade commits or none of it does, on
SQLite as on PostgreSQL. There is no alembic.ini to keep.
"""

from __future__ import annotations

from alembic import context

from omnichannel.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run through `omni store upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite alters a table by copying it; batch mode does that for later migrations.
    render_as_batch=True,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
