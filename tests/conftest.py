"""Fixtures the core's tests share: a throwaway PostgreSQL database for the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnichannel.testing.store_contract import postgres_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session on the test server, dropped at its end.

    Skips (outside CI) or fails (under ``CI``) when no server answers; see
    :func:`omnichannel.testing.store_contract.postgres_database`.
    """
    with postgres_database() as url:
        yield url
