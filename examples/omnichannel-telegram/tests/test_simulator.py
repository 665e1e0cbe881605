"""The Bot API simulator: what it answers, as the adapter sees it, and that it posts nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from omnichannel_telegram import TelegramBotAdapter, TelegramBotSettings, TelegramBotSimulator
from omnichannel_telegram.simulator import BLOCKED_CHAT, FLOODED_CHAT, UNKNOWN_CHAT

from omnichannel import (
    ContentTooLong,
    DeliveryStatus,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    RateLimited,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.testing import make_envelope

pytestmark = pytest.mark.anyio

BASE_URL = "http://sandbox.test/" + TelegramBotSimulator.prefix


def settings(**changes: Any) -> TelegramBotSettings:
    values = {**TelegramBotSimulator.sample_settings(BASE_URL), **changes}
    return build_settings(TelegramBotSettings, values, where="sample settings")


class Harness:
    """The simulator in a sandbox, an adapter pointed at it, and a trap for any callback."""

    def __init__(self) -> None:
        self.app = respx.Router(assert_all_mocked=False)
        self.context = SimulatorContext(
            public_url="https://app.test", transport=httpx.MockTransport(self.app.async_handler)
        )
        self.sandbox = Sandbox([TelegramBotSimulator(settings(), self.context)], self.context)

    def adapter(self, **changes: Any) -> TelegramBotAdapter:
        sender = Sender(httpx.ASGITransport(app=self.sandbox), retry=RetryPolicy(max_attempts=1))
        return TelegramBotAdapter(settings(**changes), AdapterContext(sender=sender))

    async def call(self, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.sandbox)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.post(path, **kwargs)


async def test_send_message_answers_the_message_and_posts_no_callback() -> None:
    harness = Harness()
    receipt = await harness.adapter().send(make_envelope(channel="telegram", to="123456789"))
    await harness.sandbox.settle()
    assert receipt.provider_id == "123456789:1"
    assert receipt.status is DeliveryStatus.SENT
    assert not harness.app.calls


async def test_message_ids_count_up_and_a_reply_is_echoed() -> None:
    harness = Harness()
    adapter = harness.adapter()
    await adapter.send(make_envelope(channel="telegram", to="123456789"))
    receipt = await adapter.send(
        make_envelope(channel="telegram", to="123456789", in_reply_to="123456789:1")
    )
    assert receipt.provider_id == "123456789:2"
    assert isinstance(receipt.raw, dict)
    assert receipt.raw["reply_to_message"]["message_id"] == 1


async def test_a_wrong_token_is_refused_and_read_as_an_auth_failure() -> None:
    adapter = Harness().adapter(bot_token="7000000001:AAwrong-token")
    with pytest.raises(ProviderError) as caught:
        await adapter.send(make_envelope(channel="telegram", to="123456789"))
    assert caught.value.reason is FailureReason.AUTH


async def test_get_me_answers_the_bot_and_unknown_methods_are_404() -> None:
    harness = Harness()
    token = TelegramBotSimulator.sample_settings(BASE_URL)["bot_token"]
    me = await harness.call(f"/bot{token}/getMe")
    assert me.json()["result"]["id"] == 7000000001
    unknown = await harness.call(f"/bot{token}/sendSticker", json={})
    assert unknown.status_code == 404
    assert unknown.json()["ok"] is False


@pytest.mark.parametrize(
    ("chat", "error", "reason"),
    [
        (BLOCKED_CHAT, InvalidRecipient, FailureReason.OPTED_OUT),
        (UNKNOWN_CHAT, InvalidRecipient, FailureReason.INVALID_RECIPIENT),
        (FLOODED_CHAT, RateLimited, FailureReason.RATE_LIMITED),
    ],
)
async def test_special_chats_answer_the_bot_api_errors_the_adapter_maps(
    chat: int, error: type[Exception], reason: FailureReason
) -> None:
    with pytest.raises(error) as caught:
        await Harness().adapter().send(make_envelope(channel="telegram", to=str(chat)))
    assert getattr(caught.value, "reason", None) is reason


async def test_flood_control_asks_for_three_seconds() -> None:
    with pytest.raises(RateLimited) as caught:
        await Harness().adapter().send(make_envelope(channel="telegram", to=str(FLOODED_CHAT)))
    assert caught.value.retry_after == 3


async def test_text_over_4096_characters_is_refused_as_too_long() -> None:
    with pytest.raises(ContentTooLong):
        await Harness().adapter().send(make_envelope(channel="telegram", to="1", text="x" * 4097))


@pytest.mark.parametrize(
    "params",
    [
        {"text": "hi"},
        {"chat_id": 1},
        {"chat_id": 1, "text": "  "},
        {"chat_id": "@ada", "text": "hi"},
    ],
)
async def test_bad_parameters_are_400(params: dict[str, Any]) -> None:
    token = TelegramBotSimulator.sample_settings(BASE_URL)["bot_token"]
    response = await Harness().call(f"/bot{token}/sendMessage", json=params)
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request")
