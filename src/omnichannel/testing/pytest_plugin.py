"""Pytest fixtures of the omnichannel test kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.testing.fake import FakeAdapter


class _AsyncioBackend:
    """Holds the ``anyio_backend`` fixture, registered once every entry-point plugin is loaded.

    anyio's own plugin defines ``anyio_backend`` parametrised over every installed backend
    (trio included); between two plugins' fixtures the one registered last wins, and
    entry-point order is not fixed. Registering this holder from ``pytest_configure``, after
    all entry points, makes the kit's choice win; a conftest.py fixture still overrides it.
    """

    @pytest.fixture(scope="session")
    def anyio_backend(self) -> str:
        """Run ``@pytest.mark.anyio`` tests on asyncio (the backend uvicorn, aiohttp and the
        sandbox use)."""
        return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    """Register the kit's ``anyio_backend`` after every other plugin (see ``_AsyncioBackend``)."""
    config.pluginmanager.register(_AsyncioBackend(), "omnichannel-anyio-backend")


@pytest.fixture
def plugin_host() -> PluginHost:
    """A plugin host with only the core's built-ins: register what the test needs.

    Tests never autoload installed entry points.
    """
    return PluginHost()


@pytest.fixture
def fake_adapter() -> FakeAdapter:
    """A :class:`FakeAdapter` on channel ``fake`` that accepts every send."""
    return FakeAdapter()


@pytest.fixture
async def router(plugin_host: PluginHost, fake_adapter: FakeAdapter) -> AsyncIterator[Router]:
    """A router over ``fake_adapter`` with ``plugin_host``."""
    async with Router([fake_adapter], host=plugin_host) as instance:
        yield instance
