"""The adapter against a mocked Bot API (respx, strictly), and the bot token kept out of sight."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import respx
from omnichannel_telegram import TelegramBotAdapter, TelegramBotSettings

from omnichannel import (
    ConfigurationError,
    DeliveryStatus,
    FailureReason,
    InvalidRecipient,
    OutcomeUnknown,
    PluginHost,
    RateLimited,
    Router,
    SendError,
    TransportError,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.testing import make_envelope

pytestmark = pytest.mark.anyio

BASE_URL = "https://api.telegram.org"
BOT_TOKEN = "7000000001:AAH9-test_token_never_shown_0123456789"
SEND_PATH = f"/bot{BOT_TOKEN}/sendMessage"
SETTINGS = {"bot_token": BOT_TOKEN, "webhook_secret": "test-webhook-secret"}
SENT: dict[str, Any] = {
    "ok": True,
    "result": {"message_id": 18, "chat": {"id": 123456789, "type": "private"}, "date": 1},
}


@pytest.fixture
def api() -> respx.Router:
    """The mocked Bot API: unmatched requests fail the test (``assert_all_mocked``)."""
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


def sent_as(message_id: int) -> dict[str, Any]:
    """sendMessage's answer for message ``message_id`` of chat 123456789."""
    return {**SENT, "result": {**SENT["result"], "message_id": message_id}}


def make_adapter(
    transport: httpx.AsyncBaseTransport, *, retry: RetryPolicy | None = None, **settings: Any
) -> TelegramBotAdapter:
    values = build_settings(TelegramBotSettings, {**SETTINGS, **settings}, where="test")
    sender = Sender(transport, retry=retry or RetryPolicy(max_attempts=1))
    return TelegramBotAdapter(values, AdapterContext(sender=sender))


def mocked(api: respx.Router) -> TelegramBotAdapter:
    return make_adapter(httpx.MockTransport(api.async_handler))


async def test_send_posts_send_message_with_the_token_in_the_path(api: respx.Router) -> None:
    route = api.post(SEND_PATH).respond(200, json=SENT)
    envelope = make_envelope(channel="telegram", to="123456789", text="Hello")
    receipt = await mocked(api).send(envelope)
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}{SEND_PATH}"
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    assert json.loads(request.content) == {"chat_id": 123456789, "text": "Hello"}
    assert receipt.provider_id == "123456789:18"
    assert receipt.status is DeliveryStatus.SENT
    assert (receipt.channel, receipt.adapter) == ("telegram", "telegram.bot")


async def test_a_reply_carries_reply_parameters(api: respx.Router) -> None:
    route = api.post(SEND_PATH).respond(200, json=SENT)
    await mocked(api).send(make_envelope(channel="telegram", to="123456789", in_reply_to="17"))
    assert json.loads(route.calls.last.request.content)["reply_parameters"] == {"message_id": 17}


async def test_text_of_4096_characters_goes_in_one_message(api: respx.Router) -> None:
    route = api.post(SEND_PATH).respond(200, json=SENT)
    router = Router([mocked(api)], host=PluginHost())
    receipt = await router.send(make_envelope(channel="telegram", to="1", text="x" * 4096))
    assert len(route.calls) == 1
    assert receipt.fitting.parts == 1


async def test_longer_text_is_split_into_messages_of_at_most_4096_characters(
    api: respx.Router,
) -> None:
    route = api.post(SEND_PATH).mock(
        side_effect=[httpx.Response(200, json=sent_as(message_id)) for message_id in (1, 2)]
    )
    router = Router([mocked(api)], host=PluginHost())
    receipt = await router.send(make_envelope(channel="telegram", to="1", text="word " * 1000))
    texts = [json.loads(call.request.content)["text"] for call in route.calls]
    assert len(texts) == 2
    assert all(len(text) <= 4096 for text in texts)
    assert receipt.provider_ids == ("123456789:1", "123456789:2")


@pytest.mark.parametrize(
    ("status_code", "body", "error", "reason"),
    [
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 5",
                "parameters": {"retry_after": 5},
            },
            RateLimited,
            FailureReason.RATE_LIMITED,
        ),
        (
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
            InvalidRecipient,
            FailureReason.OPTED_OUT,
        ),
        (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            InvalidRecipient,
            FailureReason.INVALID_RECIPIENT,
        ),
    ],
)
async def test_bot_api_errors_become_typed_errors_with_context(
    api: respx.Router,
    status_code: int,
    body: dict[str, Any],
    error: type[SendError],
    reason: FailureReason,
) -> None:
    api.post(SEND_PATH).respond(status_code, json=body)
    envelope = make_envelope(channel="telegram", to="123456789")
    with pytest.raises(error) as caught:
        await mocked(api).send(envelope)
    assert caught.value.reason is reason
    assert caught.value.envelope_id == envelope.id
    assert caught.value.adapter == "telegram.bot"
    assert BOT_TOKEN not in str(caught.value)


async def test_a_2xx_answer_that_is_not_json_is_an_unknown_outcome(api: respx.Router) -> None:
    api.post(SEND_PATH).respond(200, text="<html>")
    with pytest.raises(OutcomeUnknown, match="not resent"):
        await mocked(api).send(make_envelope(channel="telegram", to="1"))


async def test_retries_log_no_token(api: respx.Router, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flood = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1"}
    api.post(SEND_PATH).mock(
        side_effect=[httpx.Response(429, json={**flood, "parameters": {"retry_after": 1}}),
                     httpx.Response(200, json=SENT)]
    )  # fmt: skip
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    values = build_settings(TelegramBotSettings, SETTINGS, where="test")
    sender = Sender(httpx.MockTransport(api.async_handler), retry=RetryPolicy(), sleep=sleep)
    adapter = TelegramBotAdapter(values, AdapterContext(sender=sender))
    receipt = await adapter.send(make_envelope(channel="telegram", to="1"))
    assert slept == [1.0]
    assert "retrying" in caplog.text
    assert BOT_TOKEN not in caplog.text
    assert BOT_TOKEN not in repr(receipt)


async def test_a_transport_failure_naming_the_url_does_not_leak_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    with pytest.raises(TransportError) as caught:
        await make_adapter(httpx.MockTransport(refuse)).send(
            make_envelope(channel="telegram", to="1")
        )
    assert BOT_TOKEN not in f"{caught.value} {caught.value!r}"
    assert caught.value.__cause__ is None


async def test_settings_and_adapter_reprs_hide_the_token(api: respx.Router) -> None:
    adapter = mocked(api)
    shown = f"{adapter!r} {adapter} {adapter.settings!r} {adapter.settings}"
    assert BOT_TOKEN not in shown
    assert BOT_TOKEN.partition(":")[2] not in shown


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bot_token", "not-a-token"),
        ("bot_token", "123456:has spaces"),
        ("webhook_secret", "has spaces"),
        ("webhook_secret", "x" * 257),
        ("base_url", "api.telegram.org"),
    ],
)
def test_settings_refuse_malformed_values_without_showing_them(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as caught:
        build_settings(TelegramBotSettings, {**SETTINGS, name: value}, where="test")
    if name != "base_url":
        assert value not in str(caught.value)


def test_the_bot_id_is_the_public_part_of_the_token() -> None:
    settings = build_settings(TelegramBotSettings, SETTINGS, where="test")
    assert settings.bot_id == "7000000001"


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    names = [field.name.removesuffix("_") for field in attrs.fields(TelegramBotSettings)]
    assert [name for name in names if f"`{name}`" not in readme] == []
