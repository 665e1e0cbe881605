"""The adapter against a mocked X API (respx, strictly: method, path, auth, body)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import respx
from omnichannel import (
    ConfigurationError,
    DeliveryStatus,
    InvalidRecipient,
    PluginHost,
    ProviderError,
    RateLimited,
    Router,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.testing import make_envelope

from omnichannel_x import (
    XTwitterAdapter,
    XTwitterSettings,
)

pytestmark = pytest.mark.anyio

BASE_URL = "https://api.x.test/v1"
API_TOKEN = "test-api-token-0123456789"
SETTINGS = {"api_token": API_TOKEN, "webhook_secret": "test-webhook-secret", "base_url": BASE_URL}


@pytest.fixture
def api() -> respx.Router:
    """The mocked API: unmatched requests fail the test (``assert_all_mocked``)."""
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


def make_adapter(
    api: respx.Router,
    **settings: Any,
) -> XTwitterAdapter:
    values = build_settings(
        XTwitterSettings,
        {**SETTINGS, **settings},
        where="test",
    )
    sender = Sender(httpx.MockTransport(api.async_handler), retry=RetryPolicy(max_attempts=1))
    return XTwitterAdapter(values, AdapterContext(sender=sender))


async def test_send_posts_the_message_as_json_with_the_bearer_token(
    api: respx.Router,
) -> None:
    route = api.post("/messages").respond(201, json={"id": "msg-1", "status": "accepted"})
    envelope = make_envelope(channel="twitter", to="customer-1", text="Hello")
    receipt = await make_adapter(api).send(envelope)
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/messages"
    assert request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "to": "customer-1",
        "text": "Hello",
        "reference": envelope.id,
    }
    assert receipt.provider_id == "msg-1"
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert receipt.channel == "twitter"
    assert receipt.adapter == "twitter.x"


async def test_the_configured_sender_is_sent_as_from(api: respx.Router) -> None:
    route = api.post("/messages").respond(201, json={"id": "msg-1", "status": "accepted"})
    await make_adapter(api, **{"from": "support"}).send(make_envelope(channel="twitter"))
    assert json.loads(route.calls.last.request.content)["from"] == "support"


async def test_the_router_splits_long_text_into_one_request_per_part(
    api: respx.Router,
) -> None:
    route = api.post("/messages").mock(
        side_effect=[
            httpx.Response(201, json={"id": f"msg-{n}", "status": "accepted"}) for n in (1, 2)
        ]
    )
    router = Router([make_adapter(api)], host=PluginHost())
    receipt = await router.send(make_envelope(channel="twitter", text="word " * 500))
    texts = [json.loads(call.request.content)["text"] for call in route.calls]
    assert len(texts) == 2
    assert all(len(text) <= 2000 for text in texts)
    assert receipt.provider_ids == ("msg-1", "msg-2")
    assert receipt.fitting.parts == 2


async def test_a_rate_limit_becomes_rate_limited_with_retry_after_and_context(
    api: respx.Router,
) -> None:
    api.post("/messages").respond(
        429, headers={"Retry-After": "7"}, json={"error": {"code": "rate_limited"}}
    )
    envelope = make_envelope(channel="twitter")
    with pytest.raises(RateLimited) as caught:
        await make_adapter(api).send(envelope)
    assert caught.value.retry_after == 7
    assert caught.value.envelope_id == envelope.id
    assert caught.value.adapter == "twitter.x"


async def test_a_refused_recipient_becomes_invalid_recipient(api: respx.Router) -> None:
    api.post("/messages").respond(400, json={"error": {"code": "invalid_recipient"}})
    with pytest.raises(InvalidRecipient):
        await make_adapter(api).send(make_envelope(channel="twitter"))


async def test_a_2xx_answer_that_is_not_json_is_a_provider_error(api: respx.Router) -> None:
    api.post("/messages").respond(201, text="<html>")
    with pytest.raises(ProviderError, match="not JSON"):
        await make_adapter(api).send(make_envelope(channel="twitter"))


async def test_what_the_api_cannot_express_is_refused_before_any_request(
    api: respx.Router,
) -> None:
    envelope = make_envelope(channel="twitter", visibility=Visibility.PUBLIC)
    with pytest.raises(UnsupportedFeature):
        await make_adapter(api).send(envelope)
    assert not api.calls


async def test_errors_and_logs_never_show_the_api_token(
    api: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post("/messages").respond(401, json={"error": {"code": "unauthorized"}})
    adapter = make_adapter(api)
    with pytest.raises(ProviderError) as caught:
        await adapter.send(make_envelope(channel="twitter"))
    shown = f"{caught.value} {caught.value!r} {adapter!r} {adapter.settings!r} {caplog.text}"
    assert API_TOKEN not in shown


def test_settings_refuse_a_base_url_without_a_scheme() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        build_settings(
            XTwitterSettings,
            {**SETTINGS, "base_url": "api.x.test"},
            where="test",
        )


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    fields = attrs.fields(XTwitterSettings)
    names = [field.name.removesuffix("_") for field in fields]
    assert [name for name in names if f"`{name}`" not in readme] == []
