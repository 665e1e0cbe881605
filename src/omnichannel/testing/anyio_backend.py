"""The test kit's ``anyio_backend`` fixture, as a plugin module of its own.

anyio's pytest plugin defines ``anyio_backend`` parametrised over every installed backend (trio
included); between two plugins' fixtures the one registered last wins, and entry-point order is
not fixed. The kit's pytest plugin registers this module from ``pytest_configure``, after every
entry point, so the kit's choice wins; a conftest.py fixture still overrides it.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio (the backend uvicorn, aiohttp and the sandbox
    use)."""
    return "asyncio"
