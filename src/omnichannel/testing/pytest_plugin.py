"""Pytest fixtures of the omnichannel test kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.testing.fake import FakeAdapter


def pytest_configure(config: pytest.Config) -> None:
    """Register the kit's ``anyio_backend`` after every other plugin (see
    :mod:`omnichannel.testing.anyio_backend`)."""
    from omnichannel.testing import anyio_backend

    if not config.pluginmanager.is_registered(anyio_backend):
        config.pluginmanager.register(anyio_backend, "omnichannel-anyio-backend")


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
