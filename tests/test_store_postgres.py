"""The store on PostgreSQL: the whole StoreContract against a real server.

Reads ``$OMNICHANNEL_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
and works in a database created for the session; skips where no server answers, except under
CI, where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnichannel.testing.store_contract import StoreContract, postgres_database


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def empty_url(self) -> Iterator[str]:
        with postgres_database("omnichannel_empty") as url:
            yield url


@pytest.mark.anyio
async def test_claims_use_the_partial_indexes_in_generic_plans(postgres_url: str) -> None:
    """psycopg prepares a statement the store runs often, and PostgreSQL may then plan it
    once for any parameters (a generic plan): with the state bound as a parameter, such a
    plan cannot use an index on the queued (pending) rows only, and scans the table. The
    claims name the state in their SQL (``schema.in_state``)."""
    from sqlalchemy.dialects.postgresql import asyncpg

    from omnichannel.store import Store

    now = "'2026-03-02 09:00:00+00'"
    values = {"state": "'sending'", "worker": "'w'", "expires": now, "now": now, "limit": "9"}
    store = await Store.open(postgres_url, create=True)
    plans: dict[str, str] = {}
    try:
        for name, statement in {
            "outbox claim": store._claims[False],
            "inbox claim": store._inbox_claim,
        }.items():
            # Compiled with $n placeholders, as PREPARE takes them.
            compiled = statement.compile(dialect=asyncpg.dialect())
            arguments = ", ".join(
                values.get(n, f"'{compiled.params[n]}'") for n in compiled.positiontup or ()
            )
            async with store.engine.connect() as connection:
                await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
                await connection.exec_driver_sql(f"PREPARE claim AS {compiled}")
                rows = await connection.exec_driver_sql(f"EXPLAIN EXECUTE claim({arguments})")
                plans[name] = "\n".join(str(row[0]) for row in rows)
                await connection.exec_driver_sql("DEALLOCATE claim")
                await connection.rollback()
    finally:
        await store.close()
    assert "omnichannel_outbox_queued" in plans["outbox claim"], plans["outbox claim"]
    assert "omnichannel_inbox_pending" in plans["inbox claim"], plans["inbox claim"]
