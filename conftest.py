"""Repository-wide pytest configuration.

The SDK runs on asyncio (uvicorn, aiohttp and the sandbox use it). anyio's own pytest plugin
parametrises ``anyio_backend`` over every installed backend, so this fixes it to asyncio for
every test in the repository, the plugins' included.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio."""
    return "asyncio"
