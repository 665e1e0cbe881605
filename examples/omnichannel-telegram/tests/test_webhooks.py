"""Telegram updates: the secret token first, then messages; everything else acknowledged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from omnichannel_telegram import TelegramBotAdapter, TelegramBotSettings
from omnichannel_telegram.webhooks import SECRET_HEADER, update_request

from omnichannel import (
    Direction,
    Envelope,
    PluginHost,
    Router,
    UnsupportedFeature,
    WebhookParseError,
    WebhookRequest,
    WebhookVerificationError,
)
from omnichannel.plugin import AdapterContext, build_settings

pytestmark = pytest.mark.anyio

PAYLOADS = Path(__file__).parent / "payloads"
URL = "https://support.example.test/webhooks/telegram"
SECRET = "test-webhook-secret_0123"
SETTINGS = {"bot_token": "7000000001:AAH9-test_token_0123456789", "webhook_secret": SECRET}


def make_adapter() -> TelegramBotAdapter:
    settings = build_settings(TelegramBotSettings, SETTINGS, where="test")
    return TelegramBotAdapter(settings, AdapterContext())


def update(name: str) -> WebhookRequest:
    body = (PAYLOADS / name).read_bytes()
    return update_request(URL, body, make_adapter().settings.webhook_secret)


async def only_message(name: str) -> Envelope:
    result = await make_adapter().handle_webhook(update(name))
    assert result.response.status_code == 200
    [message] = result.messages
    return message


async def test_a_private_message_becomes_an_inbound_envelope_from_its_chat() -> None:
    message = await only_message("update_message.json")
    assert message.direction is Direction.INBOUND
    assert message.channel == "telegram"
    assert message.sender is not None
    assert (message.sender.value, message.sender.name) == ("123456789", "Ada Lovelace")
    assert message.business_address is not None
    assert message.business_address.value == "7000000001"
    assert message.recipient == message.business_address
    assert message.content.text == "Where is my order?"
    assert message.provider_id == "123456789:17"
    assert message.created_at == datetime.fromtimestamp(1762075800, UTC)
    assert dict(message.metadata) == {
        "update_id": 900000001,
        "chat_type": "private",
        "from_id": 123456789,
        "username": "ada",
    }
    assert message.raw == json.loads((PAYLOADS / "update_message.json").read_text())


async def test_an_edited_message_is_a_new_envelope_dated_by_its_edit() -> None:
    message = await only_message("update_edited_message.json")
    assert message.content.text == "Where is my order #42?"
    assert message.provider_id == "123456789:17@1762075830"
    assert message.created_at == datetime.fromtimestamp(1762075830, UTC)
    assert message.metadata["edited"] is True


async def test_a_reply_in_a_forum_topic_keeps_the_chat_topic_and_replied_message() -> None:
    message = await only_message("update_group_reply.json")
    assert message.sender is not None
    assert (message.sender.value, message.sender.name) == ("-1001234567890", "Grace")
    assert message.metadata["from_id"] == 555000111
    assert message.metadata["chat_type"] == "supergroup"
    assert message.thread == "42"
    assert message.in_reply_to == "-1001234567890:300"
    assert message.provider_id == "-1001234567890:305"


async def test_a_reply_to_an_inbound_message_answers_it_in_its_chat_and_topic() -> None:
    inbound = await only_message("update_group_reply.json")
    reply = inbound.reply("Sorry, fixing it now.")
    assert reply.recipient.value == "-1001234567890"
    assert (reply.in_reply_to, reply.thread) == ("-1001234567890:305", "42")


async def test_a_photo_brings_its_caption_and_a_sticker_is_described() -> None:
    assert (await only_message("update_photo_with_caption.json")).content.text == (
        "The box arrived like this"
    )
    assert (await only_message("update_sticker.json")).content.text == "[sticker]"


@pytest.mark.parametrize("name", ["update_callback_query.json", "update_new_members.json"])
async def test_other_updates_are_acknowledged_and_ignored(name: str) -> None:
    result = await make_adapter().handle_webhook(update(name))
    assert result.response.status_code == 200
    assert not result.messages
    assert not result.statuses


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {SECRET_HEADER: "test-webhook-secret_0124"},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: "sécret-ünicode"},
    ],
)
async def test_a_missing_or_wrong_secret_token_is_refused(headers: dict[str, str]) -> None:
    request = attrs.evolve(update("update_message.json"), headers=headers)
    with pytest.raises(WebhookVerificationError, match=SECRET_HEADER):
        await make_adapter().handle_webhook(request)


async def test_the_router_answers_a_wrong_token_with_403_and_calls_no_handler() -> None:
    router = Router([make_adapter()], host=PluginHost())
    seen: list[Envelope] = []
    router.on_message(seen.append)
    request = attrs.evolve(update("update_message.json"), headers={SECRET_HEADER: "nope"})
    response = await router.handle_webhook("telegram", request)
    assert response.status_code == 403
    assert seen == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"message": {"message_id": 1}}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "hi"}}',
        b'{"update_id": 1, "message": {"message_id": "1", "chat": {"id": 5}, "date": 1}}',
        b'{"update_id": 1, "message": "hi"}',
    ],
)
async def test_a_malformed_update_with_the_right_token_is_a_parse_error(body: bytes) -> None:
    adapter = make_adapter()
    request = update_request(URL, body, adapter.settings.webhook_secret)
    with pytest.raises(WebhookParseError):
        await adapter.handle_webhook(request)


async def test_messages_with_the_same_id_in_two_chats_both_reach_the_handler() -> None:
    router = Router([make_adapter()], host=PluginHost())
    seen: list[Envelope] = []
    router.on_message(seen.append)
    first = json.loads((PAYLOADS / "update_message.json").read_text())
    second = json.loads(json.dumps(first))
    second["update_id"] += 1
    second["message"]["chat"]["id"] = 987654321
    for data in (first, second):
        body = json.dumps(data).encode()
        request = update_request(URL, body, make_adapter().settings.webhook_secret)
        assert (await router.handle_webhook("telegram", request)).status_code == 200
    assert [message.sender.value for message in seen if message.sender] == [
        "123456789",
        "987654321",
    ]


async def test_an_edit_is_not_dropped_as_a_duplicate_but_a_redelivery_is() -> None:
    router = Router([make_adapter()], host=PluginHost())
    seen: list[Envelope] = []
    router.on_message(seen.append)
    for name in ("update_message.json", "update_edited_message.json", "update_message.json"):
        await router.handle_webhook("telegram", update(name))
    assert [message.content.text for message in seen] == [
        "Where is my order?",
        "Where is my order #42?",
    ]


async def test_simulate_builds_an_update_the_adapter_accepts() -> None:
    adapter = make_adapter()
    request = adapter.simulate(sender="123456789", text="hi there", url=URL)
    assert request.url == URL
    assert request.header(SECRET_HEADER) == SECRET
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.sender is not None
    assert (message.sender.value, message.content.text) == ("123456789", "hi there")


async def test_two_simulated_messages_are_not_duplicates() -> None:
    adapter = make_adapter()
    first, second = [
        (await adapter.handle_webhook(adapter.simulate(sender="1", text="a", url=URL))).messages[0]
        for _ in range(2)
    ]
    assert first.provider_id != second.provider_id


def test_simulate_needs_a_numeric_chat_id() -> None:
    with pytest.raises(UnsupportedFeature, match="chat ids are integers"):
        make_adapter().simulate(sender="@ada", text="hi", url=URL)
