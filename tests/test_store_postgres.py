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
