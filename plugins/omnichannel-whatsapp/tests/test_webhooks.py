"""Tests for omnichannel_whatsapp.webhooks and .inbound: the handshake, X-Hub-Signature-256 over
the raw bytes, and every kind of message and status a notification carries.

The signature vectors are copied from the project's shared vectors into payloads/vectors.json
(ids ``wa-inbound-text``, ``wa-reserialised-body-fails``, ``wa-verify-ok``,
``wa-verify-bad-token``); their raw bodies are used byte for byte.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from omnichannel_whatsapp import MetaWhatsappAdapter, MetaWhatsappSettings
from omnichannel_whatsapp.webhooks import SIGNATURE_HEADER, serialise, sign, signed_request

from omnichannel import (
    DeliveryStatus,
    Direction,
    Envelope,
    FailureReason,
    PluginHost,
    Router,
    StatusUpdate,
    WebhookParseError,
    WebhookRequest,
    WebhookVerificationError,
)
from omnichannel.plugin import AdapterContext, build_settings

pytestmark = pytest.mark.anyio

PAYLOADS = Path(__file__).parent / "payloads"
VECTORS = json.loads((PAYLOADS / "vectors.json").read_text(encoding="utf-8"))["whatsapp_cloud"]
SIGNED = {vector["id"]: vector for vector in VECTORS["x_hub_signature_256"]}
HANDSHAKES = {vector["id"]: vector for vector in VECTORS["verification_get"]}
APP_SECRET = SIGNED["wa-inbound-text"]["app_secret"]
URL = "https://support.example.com/webhooks/whatsapp"
PHONE_NUMBER_ID = "106540352242922"
WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


MESSAGES = sample("webhook_messages.json")
STATUSES = sample("webhook_statuses.json")


def make_adapter(**changes: str) -> MetaWhatsappAdapter:
    values = {
        "access_token": "EAAtest-token",
        "phone_number_id": PHONE_NUMBER_ID,
        "app_secret": APP_SECRET,
        "verify_token": HANDSHAKES["wa-verify-ok"]["configured_verify_token"],
        **changes,
    }
    settings = build_settings(MetaWhatsappSettings, values, where="test")
    return MetaWhatsappAdapter(settings, AdapterContext(public_url="https://support.example.com"))


def signed(event: Any) -> WebhookRequest:
    return signed_request(URL, event, APP_SECRET)


async def messages_of(event: Any) -> list[Envelope]:
    result = await make_adapter().handle_webhook(signed(event))
    assert result.response.status_code == 200
    assert not result.statuses
    return list(result.messages)


async def message_of(event: Any) -> Envelope:
    [message] = await messages_of(event)
    return message


async def status_of(event: Any) -> StatusUpdate:
    result = await make_adapter().handle_webhook(signed(event))
    assert not result.messages
    [update] = result.statuses
    return update


# --- signature and handshake ---------------------------------------------------------------------


def raw_request(vector: dict[str, Any], header: str | None) -> WebhookRequest:
    headers = [("Content-Type", "application/json")]
    if header is not None:
        headers.append((SIGNATURE_HEADER, header))
    return WebhookRequest(
        method="POST", url=URL, headers=headers, body=vector["raw_body"].encode("utf-8")
    )


async def test_the_vector_body_verifies_byte_for_byte_with_its_escapes_decoded_after() -> None:
    vector = SIGNED["wa-inbound-text"]
    assert sign(APP_SECRET, vector["raw_body"].encode()) == vector["expected_header_value"]
    message = await message_of_request(raw_request(vector, vector["expected_header_value"]))
    # The body holds the six characters \u00e9; the text holds é.
    assert b"Caf\\u00e9" in vector["raw_body"].encode()
    assert message.content.text == "Café order #42?"


async def message_of_request(request: WebhookRequest) -> Envelope:
    result = await make_adapter().handle_webhook(request)
    [message] = result.messages
    return message


async def test_a_reserialised_body_fails_the_signature_meta_sent() -> None:
    genuine = SIGNED["wa-inbound-text"]
    reserialised = SIGNED["wa-reserialised-body-fails"]
    assert (
        sign(APP_SECRET, reserialised["raw_body"].encode())
        == (reserialised["expected_header_value"])
    )
    with pytest.raises(WebhookVerificationError):
        await make_adapter().handle_webhook(
            raw_request(reserialised, genuine["expected_header_value"])
        )


async def test_the_parsed_json_dumped_again_no_longer_verifies() -> None:
    vector = SIGNED["wa-inbound-text"]
    request = raw_request(vector, vector["expected_header_value"])
    again = json.dumps(json.loads(request.body), ensure_ascii=False).encode()
    with pytest.raises(WebhookVerificationError):
        await make_adapter().handle_webhook(attrs.evolve(request, body=again))


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=" + "0" * 40, "87af2e369aa2f1ced9676fccf5459b5bfd427103"],
)
async def test_a_missing_or_malformed_signature_is_refused(header: str | None) -> None:
    with pytest.raises(WebhookVerificationError, match=SIGNATURE_HEADER):
        await make_adapter().handle_webhook(raw_request(SIGNED["wa-inbound-text"], header))


async def test_an_uppercase_hex_signature_is_accepted() -> None:
    vector = SIGNED["wa-inbound-text"]
    header = "sha256=" + vector["expected_header_value"].removeprefix("sha256=").upper()
    assert (await message_of_request(raw_request(vector, header))).provider_id


async def test_one_changed_byte_is_refused() -> None:
    vector = SIGNED["wa-inbound-text"]
    request = raw_request(vector, vector["expected_header_value"])
    tampered = attrs.evolve(request, body=request.body.replace(b"#42", b"#43"))
    with pytest.raises(WebhookVerificationError):
        await make_adapter().handle_webhook(tampered)


def handshake_request(vector: dict[str, Any]) -> WebhookRequest:
    path = vector["request"].removeprefix("GET ")
    return WebhookRequest(method="GET", url=f"https://support.example.com{path}")


async def test_the_subscription_check_echoes_the_challenge_as_plain_text() -> None:
    vector = HANDSHAKES["wa-verify-ok"]
    result = await make_adapter().handle_webhook(handshake_request(vector))
    assert result.response.status_code == vector["expected_status"]
    assert result.response.body == vector["expected_body"].encode()
    assert result.response.content_type.startswith(vector["expected_content_type"])
    assert not result.messages


async def test_the_subscription_check_with_a_wrong_token_is_403() -> None:
    vector = HANDSHAKES["wa-verify-bad-token"]
    router = Router([make_adapter()], host=PluginHost())
    response = await router.handle_webhook("whatsapp", handshake_request(vector))
    assert response.status_code == vector["expected_status"] == 403
    assert b"1158201444" not in response.body


@pytest.mark.parametrize(
    "query",
    ["", "?hub.mode=unsubscribe&hub.verify_token=omni-verify-123&hub.challenge=1"],
)
async def test_a_get_without_the_subscribe_mode_and_token_is_403(query: str) -> None:
    request = WebhookRequest(method="GET", url=f"{URL}{query}")
    with pytest.raises(WebhookVerificationError):
        await make_adapter().handle_webhook(request)


async def test_a_right_token_without_a_challenge_is_400() -> None:
    request = WebhookRequest(
        method="GET", url=f"{URL}?hub.mode=subscribe&hub.verify_token=omni-verify-123"
    )
    with pytest.raises(WebhookParseError, match="challenge"):
        await make_adapter().handle_webhook(request)


def test_simulated_bodies_are_written_as_meta_writes_them() -> None:
    body = serialise({"text": {"body": "Café 👍"}})
    assert body == b'{"text":{"body":"Caf\\u00e9 \\ud83d\\udc4d"}}'
    request = make_adapter().simulate(sender="+14155550199", text="Zoë", url=URL)
    assert b"Zo\\u00eb" in request.body
    assert request.header(SIGNATURE_HEADER) == sign(APP_SECRET, request.body)


# --- inbound messages ----------------------------------------------------------------------------


async def test_a_text_message_carries_sender_profile_name_and_both_ids() -> None:
    message = await message_of(MESSAGES["text"])
    assert message.direction is Direction.INBOUND
    assert message.channel == "whatsapp"
    assert message.sender is not None
    assert (message.sender.value, message.sender.name) == ("+16505551234", "Sheena Nelson")
    assert message.recipient.value == PHONE_NUMBER_ID
    assert message.business_address == message.recipient
    assert message.content.text == "Can you call me back?"
    assert message.provider_id.startswith("wamid.")  # type: ignore[union-attr]
    assert message.created_at == datetime(2025, 6, 8, 20, 59, 44, tzinfo=UTC)
    assert dict(message.metadata) == {
        "whatsapp_type": "text",
        "wa_id": "16505551234",
        "user_id": "US.13491208655302741918",
        "parent_user_id": "US.ENT.11815799212886844830",
    }
    assert message.raw == MESSAGES["text"]["entry"][0]["changes"][0]["value"]["messages"][0]


@pytest.mark.parametrize(
    ("key", "content_type", "filename", "caption", "extra"),
    [
        ("image", "image/jpeg", None, "My receipt", {}),
        ("document", "application/pdf", "contract.pdf", "The contract", {}),
        ("voice", "audio/ogg; codecs=opus", None, None, {"voice": True}),
        ("video", "video/mp4", None, None, {}),
        ("sticker", "image/webp", None, None, {"animated": True}),
    ],
)
async def test_media_messages_carry_the_media_id_to_download_later(
    key: str, content_type: str, filename: str | None, caption: str | None, extra: dict[str, Any]
) -> None:
    message = await message_of(MESSAGES[key])
    raw = message.raw
    assert isinstance(raw, dict)
    media_id = raw[raw["type"]]["id"]
    [item] = message.content.media
    assert item.url == f"https://graph.facebook.com/v25.0/{media_id}"
    assert (item.content_type, item.filename, item.caption) == (content_type, filename, caption)
    assert message.content.text == (caption or "")
    assert message.metadata["media_id"] == media_id
    assert message.metadata["whatsapp_type"] == raw["type"]
    for name, value in extra.items():
        assert message.metadata[name] == value


async def test_a_location_is_described_in_text_with_its_coordinates_in_metadata() -> None:
    message = await message_of(MESSAGES["location"])
    assert message.content.text == (
        "Location: Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025 (37.4611978, -122.2164385)"
    )
    assert (message.metadata["latitude"], message.metadata["longitude"]) == (
        37.4611978,
        -122.2164385,
    )
    assert message.metadata["location_name"] == "Facebook HQ"


async def test_shared_contacts_become_one_line_each() -> None:
    message = await message_of(MESSAGES["contacts"])
    assert message.content.text == "Contact: Barbara Johnson, +1 650-555-0199"
    assert message.metadata["contacts"] == 1


@pytest.mark.parametrize(
    ("key", "text", "choice"),
    [
        ("button_reply", "In 1 hour", "cb_later"),
        ("list_reply", "18:00", "s1"),
        ("template_quick_reply", "Confirm", "CB_CONFIRM"),
    ],
)
async def test_button_and_list_replies_become_the_choice_picked(
    key: str, text: str, choice: str
) -> None:
    message = await message_of(MESSAGES[key])
    assert (message.content.text, message.content.choice) == (text, choice)
    raw = message.raw
    assert isinstance(raw, dict)
    assert message.in_reply_to == raw["context"]["id"]


async def test_a_reaction_answers_the_message_it_reacts_to() -> None:
    message = await message_of(MESSAGES["reaction"])
    assert message.content.text == "👍"
    assert message.metadata["reaction"] == "👍"
    assert message.in_reply_to == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCNkY5NTBENEU3ODYxQTM3RUQA"
    removed = await message_of(MESSAGES["reaction_removed"])
    assert removed.content.text == "[reaction removed]"
    assert removed.metadata["reaction_removed"] is True


async def test_a_reply_and_a_forwarded_message_keep_their_context() -> None:
    reply = await message_of(MESSAGES["reply"])
    assert reply.in_reply_to == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCNkY5NTBENEU3ODYxQTM3RUQA"
    forwarded = await message_of(MESSAGES["forwarded"])
    assert forwarded.in_reply_to is None
    assert forwarded.metadata["forwarded"] is True
    assert forwarded.metadata["frequently_forwarded"] is True


async def test_an_ad_referral_is_kept_in_metadata() -> None:
    message = await message_of(MESSAGES["referral"])
    assert message.content.text == "Hi, I saw your ad"
    assert message.metadata["referral_source_type"] == "ad"
    assert message.metadata["referral_source_id"] == "120205478290230105"
    assert message.metadata["referral_headline"] == "Spring sale"
    assert str(message.metadata["referral_ctwa_clid"]).startswith("ARAkLkA8")


@pytest.mark.parametrize(
    ("key", "text", "extra"),
    [
        (
            "unsupported",
            "[unsupported WhatsApp message: unsupported]",
            {"error_code": "131051", "error_title": "Message type unknown"},
        ),
        ("order", "[WhatsApp order of 1 item(s)]", {"catalog_id": "354160437058781"}),
        (
            "system",
            "User A changed from 16505551234 to 16505551235",
            {"system_type": "user_changed_number"},
        ),
        ("request_welcome", "[the customer opened the chat]", {}),
    ],
)
async def test_other_message_types_are_kept_with_their_type(
    key: str, text: str, extra: dict[str, str]
) -> None:
    message = await message_of(MESSAGES[key])
    assert message.content.text == text
    raw = message.raw
    assert isinstance(raw, dict)
    assert message.metadata["whatsapp_type"] == raw["type"]
    for name, value in extra.items():
        assert message.metadata[name] == value


async def test_a_customer_without_a_visible_number_is_addressed_by_the_bsuid() -> None:
    message = await message_of(MESSAGES["bsuid_username"])
    assert message.sender is not None
    assert (message.sender.value, message.sender.name) == ("US.13491208655302741918", "Jo")
    assert "wa_id" not in message.metadata
    assert message.metadata["user_id"] == "US.13491208655302741918"
    assert message.metadata["username"] == "@jo.codes"


async def test_events_for_another_phone_number_are_acknowledged_and_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="omnichannel_whatsapp")
    result = await make_adapter().handle_webhook(signed(sample("webhook_two_numbers.json")))
    assert result.response.status_code == 200
    assert [message.content.text for message in result.messages] == ["Can you call me back?"]
    assert all(message.business_address.value == PHONE_NUMBER_ID for message in result.messages)  # type: ignore[union-attr]
    assert [update.status for update in result.statuses] == [DeliveryStatus.DELIVERED]
    assert "209876543210987" in caplog.text


async def test_echoes_of_our_own_messages_never_become_inbound_messages() -> None:
    assert await messages_of(sample("webhook_smb_message_echoes.json")) == []
    own = json.loads(json.dumps(MESSAGES["text"]))
    own["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "15550783881"
    assert await messages_of(own) == []


async def test_other_fields_and_other_objects_are_acknowledged_and_ignored() -> None:
    assert await messages_of(sample("webhook_template_status_update.json")) == []
    assert await messages_of({"object": "page", "entry": []}) == []


@pytest.mark.parametrize(
    "event",
    [
        {"object": "whatsapp_business_account", "entry": {"id": "1"}},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": {"messages": []}}]}],
        },
    ],
)
async def test_a_signed_notification_of_the_wrong_shape_is_a_parse_error(event: Any) -> None:
    with pytest.raises(WebhookParseError):
        await make_adapter().handle_webhook(signed(event))


@pytest.mark.parametrize(
    ("field", "value"),
    [("timestamp", "yesterday"), ("id", None), ("text", {"body": ""}), ("from", None)],
)
async def test_a_message_missing_what_makes_it_one_is_a_parse_error(field: str, value: Any) -> None:
    event = json.loads(json.dumps(MESSAGES["text"]))
    change = event["entry"][0]["changes"][0]["value"]
    change["messages"][0][field] = value
    if field == "from":
        change["contacts"] = []
    with pytest.raises(WebhookParseError):
        await make_adapter().handle_webhook(signed(event))


# --- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("played", DeliveryStatus.READ),
    ],
)
async def test_statuses_map_back_to_the_envelope_by_the_callback_data(
    key: str, status: DeliveryStatus
) -> None:
    update = await status_of(STATUSES[key])
    assert update.status is status
    assert update.provider_id == WAMID
    assert update.envelope_id == "01JC0000000000000000000001"
    assert update.recipient == "+16505551234"
    assert update.reason is None
    assert update.metadata["whatsapp_status"] == key


async def test_pricing_is_kept_on_the_status() -> None:
    update = await status_of(STATUSES["delivered"])
    assert update.timestamp == datetime(2025, 6, 8, 21, 9, 55, tzinfo=UTC)
    assert dict(update.metadata) == {
        "whatsapp_status": "delivered",
        "billable": False,
        "category": "service",
        "pricing_model": "PMP",
        "pricing_type": "free_customer_service",
    }
    legacy = await status_of(STATUSES["delivered_legacy_cbp"])
    assert legacy.metadata["pricing_model"] == "CBP"
    assert legacy.metadata["conversation_id"] == "f5fdae3920125a39a1e6a23e5f877c16"
    assert legacy.metadata["conversation_category"] == "utility"


async def test_a_status_for_a_bsuid_recipient_names_it() -> None:
    update = await status_of(STATUSES["delivered_bsuid"])
    assert update.recipient == "US.13491208655302741918"
    assert update.metadata["pricing_type"] == "regular"


async def test_a_131047_failure_arrives_as_outside_window() -> None:
    update = await status_of(STATUSES["failed_131047"])
    assert update.status is DeliveryStatus.FAILED
    assert update.reason is FailureReason.OUTSIDE_WINDOW
    assert update.provider_code == "131047"
    assert update.provider_message is not None
    assert "24 hours" in update.provider_message
    assert not update.retryable


async def test_a_131026_failure_is_an_invalid_recipient() -> None:
    update = await status_of(STATUSES["failed_131026"])
    assert (update.reason, update.provider_code) == (FailureReason.INVALID_RECIPIENT, "131026")


async def test_a_status_meta_added_since_is_acknowledged_and_ignored() -> None:
    event = json.loads(json.dumps(STATUSES["sent"]))
    event["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "warning"
    result = await make_adapter().handle_webhook(signed(event))
    assert result.response.status_code == 200
    assert not result.statuses


async def statuses_through_router(*keys: str) -> tuple[Router, list[StatusUpdate]]:
    router = Router([make_adapter()], host=PluginHost())
    seen: list[StatusUpdate] = []
    router.on_status(seen.append, inline=True)
    for key in keys:
        response = await router.handle_webhook("whatsapp", signed(STATUSES[key]))
        assert response.status_code == 200
    return router, seen


async def test_a_router_that_never_sent_the_message_still_maps_its_statuses() -> None:
    # Another process sent it, or this one restarted: the callback data names the envelope.
    router, seen = await statuses_through_router("delivered")
    assert [update.envelope_id for update in seen] == ["01JC0000000000000000000001"]
    assert router.status_of("01JC0000000000000000000001") is DeliveryStatus.DELIVERED


async def test_read_without_a_prior_delivered_counts_as_delivered() -> None:
    router, seen = await statuses_through_router("sent", "read")
    status = router.status_of("01JC0000000000000000000001")
    assert status is DeliveryStatus.READ
    assert status.reached(DeliveryStatus.DELIVERED)
    assert [update.status for update in seen] == [DeliveryStatus.SENT, DeliveryStatus.READ]


async def test_a_delivered_after_failed_is_recorded_as_an_anomaly_not_applied() -> None:
    # Several devices: one failed, another received it (providers.md 10).
    router, seen = await statuses_through_router("failed_131026", "delivered")
    assert router.status_of("01JC0000000000000000000001") is DeliveryStatus.FAILED
    [anomaly] = router.anomalies
    assert (anomaly.update.status, anomaly.current) == (
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
    )
    assert [update.status for update in seen] == [DeliveryStatus.FAILED]


async def test_the_same_status_delivered_twice_reaches_the_handlers_once() -> None:
    _, seen = await statuses_through_router("delivered", "delivered")
    assert len(seen) == 1
