"""Fixtures of the voice adapter's tests: settings, adapters on a respx router, and a router
over the adapter (the vectors and payloads come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from omnichannel_twilio import TwilioVoiceAdapter, TwilioVoiceSettings

from omnichannel import Router
from omnichannel.http import RetryPolicy, Sender
from omnichannel.plugin import AdapterContext, build_settings
from omnichannel.plugins import PluginHost

PUBLIC_URL = "https://hooks.example.com"
# The account and token of the vectors (shared/vectors.json): fake values.
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)


@pytest.fixture
def settings_values() -> dict[str, Any]:
    """Configuration values of the adapter, as omnichannel.toml would give them."""
    return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": "+14155550100"}


@pytest.fixture
def make_settings(settings_values: dict[str, Any]) -> Callable[..., TwilioVoiceSettings]:
    """Settings built as the router builds them; keyword arguments change values."""

    def build(**changes: Any) -> TwilioVoiceSettings:
        values = {**settings_values, **changes}
        settings: TwilioVoiceSettings = build_settings(TwilioVoiceSettings, values, where="test")
        return settings

    return build


@pytest.fixture
def respx_router() -> respx.MockRouter:
    """A respx router with no routes: a request nobody expected fails the test."""
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def clock() -> list[datetime]:
    """A settable clock: ``clock[0]`` is now."""
    return [NOW]


@pytest.fixture
def make_adapter(
    make_settings: Callable[..., TwilioVoiceSettings],
    respx_router: respx.MockRouter,
    clock: list[datetime],
) -> Callable[..., TwilioVoiceAdapter]:
    """An adapter whose requests go to ``respx_router`` (no retries unless ``retry`` given)."""

    def build(
        *,
        public_url: str | None = PUBLIC_URL,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        **changes: Any,
    ) -> TwilioVoiceAdapter:
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        sender = Sender(
            httpx.MockTransport(respx_router.async_handler),
            retry=retry or RetryPolicy(max_attempts=1),
            **extra,
        )
        context = AdapterContext(sender=sender, public_url=public_url, clock=lambda: clock[0])
        return TwilioVoiceAdapter(make_settings(**changes), context)

    return build


@pytest.fixture
def make_router(clock: list[datetime]) -> Callable[[TwilioVoiceAdapter], Router]:
    """A router over one adapter, on the same clock, with only the core's built-in plugins."""
    return lambda adapter: Router([adapter], host=PluginHost(), clock=lambda: clock[0])
