"""Tests for omnichannel_twilio.messaging.webhooks: inbound messages, status callbacks, opt-out
keywords and refusals, through the sms.twilio adapter (the signature itself is tested in
``tests/test_webhooks.py``).

The signed requests are the vectors ``twilio-inbound-sms`` and ``twilio-message-status-callback``
of ``payloads/vectors.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from omnichannel_twilio import TwilioSmsAdapter, TwilioSmsSettings
from omnichannel_twilio.messaging.webhooks import inbound_params, opt_out_of
from omnichannel_twilio.webhooks import EMPTY_TWIML, sign, signed_request

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
)
from omnichannel.plugin import AdapterContext, build_settings

NOW = datetime(2026, 11, 3, 18, 20, 31, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"

Pairs = list[tuple[str, str]]

_VECTORS = json.loads((Path(__file__).parents[1] / "payloads" / "vectors.json").read_bytes())
INBOUND = _VECTORS["vectors"]["twilio-inbound-sms"]
STATUS = _VECTORS["vectors"]["twilio-message-status-callback"]
TOKEN: str = INBOUND["auth_token"]
INBOUND_URL: str = INBOUND["url"]
INBOUND_PARAMS: Pairs = list(INBOUND["params"].items())
INBOUND_SIGNATURE: str = INBOUND["expected_signature"]
STATUS_URL: str = STATUS["url"]
STATUS_PARAMS: Pairs = list(STATUS["params"].items())
STATUS_SIGNATURE: str = STATUS["expected_signature"]

# --- helpers -------------------------------------------------------------------------------------


def form_request(url: str, params: Pairs | bytes, signature: str | None) -> WebhookRequest:
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    headers = [("Content-Type", FORM)]
    if signature is not None:
        headers.append(("X-Twilio-Signature", signature))
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)


@pytest.fixture
def fixture_request(fixture: Callable[[str], dict[str, Any]]) -> Callable[[str], WebhookRequest]:
    """A webhook file under tests/payloads/, signed as Twilio signs it."""

    def build(name: str) -> WebhookRequest:
        data = fixture(name)
        params = [(name, value) for name, value in data["params"]]
        return signed_request(data["auth_token"], data["url"], params)

    return build


def make_adapter(
    auth_token: str = TOKEN, secondary: str | None = None, public_url: str | None = None
) -> TwilioSmsAdapter:
    values: dict[str, Any] = {
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": auth_token,
        "from": "+14155550100",
    }
    if secondary:
        values["secondary_auth_token"] = secondary
    adapter_settings = build_settings(TwilioSmsSettings, values, where="test")
    return TwilioSmsAdapter(
        adapter_settings, AdapterContext(public_url=public_url, clock=lambda: NOW)
    )


# --- inbound messages ----------------------------------------------------------------------------


def test_an_inbound_sms_becomes_an_inbound_envelope() -> None:
    adapter = make_adapter()
    result = adapter.parse_webhook(form_request(INBOUND_URL, INBOUND_PARAMS, INBOUND_SIGNATURE))
    assert result.statuses == ()
    (message,) = result.messages
    assert message.direction is Direction.INBOUND
    assert message.channel == "sms"
    assert message.sender is not None
    assert message.sender.value == "+14155550199"
    assert message.recipient.value == "+14155550100"
    assert message.business_address == message.recipient
    assert message.content.text == "Hi! Can you call me back? Café ☕ 8pm"
    assert [(m.url, m.content_type) for m in message.content.media] == [
        (INBOUND_PARAMS[-1][1], "image/jpeg")
    ]
    assert message.provider_id == "SM0123456789abcdef0123456789abcdef"
    assert message.created_at == NOW
    assert dict(message.metadata) == {}
    assert message.raw == {name: [value] for name, value in INBOUND_PARAMS}
    assert result.response.status_code == 200
    assert result.response.body == EMPTY_TWIML.encode()
    assert result.response.body == b'<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert result.response.content_type.startswith("text/xml")


def test_an_inbound_mms_keeps_every_media_item_and_every_blank_param(
    fixture: Callable[[str], dict[str, Any]], fixture_request: Callable[[str], WebhookRequest]
) -> None:
    adapter = make_adapter()
    request = fixture_request("inbound_mms.json")
    adapter.verify_webhook(request)
    (message,) = adapter.parse_webhook(request).messages
    assert [(m.url[-34:], m.content_type) for m in message.content.media] == [
        ("ME00000000000000000000000000000000", "image/jpeg"),
        ("ME11111111111111111111111111111111", "image/png"),
    ]
    assert isinstance(message.raw, dict)
    assert message.raw["ToCity"] == [""]
    assert message.raw["FromZip"] == [""]
    assert len(message.raw) == len(fixture("inbound_mms.json")["params"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "stop"),
        (" stop ", "stop"),
        ("Stop\n", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("Cancel", "stop"),
        ("END", "stop"),
        ("quit", "stop"),
        ("REVOKE", "stop"),
        ("optout", "stop"),
        ("START", "start"),
        ("yes", "start"),
        ("Unstop", "start"),
        ("HELP", "help"),
        ("info", "help"),
        ("stop please", None),
        ("Please STOP", None),
        ("", None),
    ],
)
def test_opt_out_keywords_match_the_whole_trimmed_body(body: str, expected: str | None) -> None:
    assert opt_out_of(body) == expected


def test_twilios_opt_out_type_wins_over_the_keyword_list() -> None:
    assert opt_out_of("arrêt", "STOP") == "stop"
    assert opt_out_of("STOP", "HELP") == "help"
    assert opt_out_of("STOP", "SOMETHING_NEW") == "stop"


def test_an_opt_out_message_is_surfaced_in_metadata() -> None:
    adapter = make_adapter()
    request = adapter.simulate(sender="+14155550199", text="Stop", url=INBOUND_URL)
    (message,) = adapter.parse_webhook(request).messages
    assert message.metadata["opt_out"] == "stop"


def test_a_message_sent_to_a_short_code_keeps_the_short_code() -> None:
    adapter = make_adapter()
    params = inbound_params(
        sender="+14155550199", to="87654", text="hi", account_sid="AC" + "0" * 32
    )
    (message,) = adapter.parse_webhook(signed_request(TOKEN, INBOUND_URL, params)).messages
    assert message.recipient.value == "87654"


def test_a_get_webhook_carries_its_params_in_the_signed_url() -> None:
    adapter = make_adapter()
    params = inbound_params(
        sender="+14155550199",
        to="+14155550100",
        text="by GET",
        account_sid="AC" + "0" * 32,
        message_sid="SM" + "2" * 32,
    )
    url = f"{INBOUND_URL}?{urlencode(params)}"
    request = WebhookRequest(
        method="GET", url=url, headers={"X-Twilio-Signature": sign(TOKEN, url, [])}
    )
    adapter.verify_webhook(request)
    (message,) = adapter.parse_webhook(request).messages
    assert message.content.text == "by GET"


# --- status callbacks ----------------------------------------------------------------------------


def test_an_undelivered_callback_becomes_a_status_update_with_its_reason() -> None:
    adapter = make_adapter()
    url = "https://support.example.com/webhooks/sms?envelope_id=01JC0000000000000000000001"
    request = signed_request(TOKEN, url, STATUS_PARAMS)
    adapter.verify_webhook(request)
    result = adapter.parse_webhook(request)
    assert result.messages == ()
    (update,) = result.statuses
    assert update == StatusUpdate(
        channel="sms",
        provider_id="SM89abcdef0123456789abcdef01234567",
        status=DeliveryStatus.UNDELIVERED,
        timestamp=NOW,
        envelope_id="01JC0000000000000000000001",
        recipient="+14155550199",
        reason=FailureReason.UNREACHABLE,
        retryable=True,
        provider_code="30003",
    )
    assert update.raw == {name: [value] for name, value in STATUS_PARAMS}
    assert result.response.body == EMPTY_TWIML.encode()


def test_a_failed_callback_maps_its_error_code_through_the_code_table(
    fixture_request: Callable[[str], WebhookRequest],
) -> None:
    adapter = make_adapter()
    (update,) = adapter.parse_webhook(fixture_request("status_callback_failed_21610.json")).statuses
    assert update.status is DeliveryStatus.FAILED
    assert update.reason is FailureReason.OPTED_OUT
    assert not update.retryable
    assert update.provider_message == "Attempt to send to unsubscribed recipient"
    assert update.envelope_id == "01JC0000000000000000000001"


def test_a_callback_without_our_envelope_id_still_parses() -> None:
    adapter = make_adapter()
    (update,) = adapter.parse_webhook(
        form_request(STATUS_URL, STATUS_PARAMS, STATUS_SIGNATURE)
    ).statuses
    assert update.envelope_id is None


@pytest.mark.parametrize(
    ("twilio", "expected"),
    [
        ("queued", DeliveryStatus.ACCEPTED),
        ("sending", DeliveryStatus.SENT),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("canceled", DeliveryStatus.CANCELED),
    ],
)
def test_positive_callbacks_carry_no_reason(twilio: str, expected: DeliveryStatus) -> None:
    params = [("MessageSid", "SM" + "3" * 32), ("MessageStatus", twilio), ("To", "+14155550199")]
    (update,) = make_adapter().parse_webhook(signed_request(TOKEN, INBOUND_URL, params)).statuses
    assert update.status is expected
    assert update.reason is None
    assert update.provider_code is None


def test_an_unknown_status_is_acknowledged_and_reported_as_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    params = [("MessageSid", "SM" + "3" * 32), ("MessageStatus", "teleported")]
    result = make_adapter().parse_webhook(signed_request(TOKEN, INBOUND_URL, params))
    assert result.statuses == ()
    assert result.messages == ()
    assert result.response.status_code == 200
    assert "teleported" in caplog.text


@pytest.mark.anyio
async def test_callbacks_reach_router_handlers_mapped_to_the_envelope() -> None:
    adapter = make_adapter(public_url="https://support.example.com")
    router = Router([adapter], host=PluginHost(), clock=lambda: NOW)
    seen: list[StatusUpdate] = []
    router.on_status(seen.append)
    url = "https://support.example.com/webhooks/sms?envelope_id=01JC0000000000000000000001"
    for status in ("delivered", "sent"):  # out of order: sent arrives last and is stale
        params = [
            ("SmsSid", "SM" + "4" * 32),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", "+14155550199"),
            ("MessageSid", "SM" + "4" * 32),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("From", "+14155550100"),
            ("ApiVersion", "2010-04-01"),
        ]
        response = await router.handle_webhook("sms", signed_request(TOKEN, url, params))
        assert response.status_code == 200
    assert [(u.status, u.envelope_id) for u in seen] == [
        (DeliveryStatus.DELIVERED, "01JC0000000000000000000001")
    ]


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([("Body", "hello")], "not a Twilio Messaging webhook"),
        ([("MessageSid", "SM1"), ("Body", "hi"), ("To", "+14155550100")], "without From"),
        ([("MessageSid", "SM1"), ("Body", "hi"), ("From", "+14155550199")], "without To"),
        ([("MessageStatus", "delivered"), ("To", "+1")], "without MessageSid"),
        (
            [
                ("MessageSid", "SM1"),
                ("NumMedia", "2"),
                ("From", "+14155550199"),
                ("To", "+1"),
                ("MediaUrl0", "https://m.example/0"),
            ],
            "MediaUrl1 is missing",
        ),
        (
            [("MessageSid", "SM1"), ("NumMedia", "lots"), ("From", "+14155550199"), ("To", "+1")],
            "NumMedia",
        ),
        (
            [("MessageSid", "SM1"), ("Body", ""), ("From", "+14155550199"), ("To", "+1")],
            "neither Body nor media",
        ),
        ([], "not a Twilio Messaging webhook"),
    ],
)
def test_a_signed_request_missing_what_twilio_always_sends_is_refused_with_400(
    params: Pairs, fragment: str
) -> None:
    adapter = make_adapter()
    request = signed_request(TOKEN, INBOUND_URL, params)
    adapter.verify_webhook(request)
    with pytest.raises(WebhookParseError, match=fragment):
        adapter.parse_webhook(request)


@pytest.mark.anyio
async def test_the_router_answers_403_to_a_wrong_signature_and_400_to_a_malformed_body() -> None:
    adapter = make_adapter()
    router = Router([adapter], host=PluginHost())
    got: list[Envelope] = []
    router.on_message(got.append)
    forged = form_request(INBOUND_URL, INBOUND_PARAMS, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert (await router.handle_webhook("sms", forged)).status_code == 403
    malformed = signed_request(TOKEN, INBOUND_URL, [("Body", "hello")])
    assert (await router.handle_webhook("sms", malformed)).status_code == 400
    assert got == []


# --- simulate() ----------------------------------------------------------------------------------


def test_simulate_builds_a_signed_twilio_shaped_inbound_request() -> None:
    adapter = make_adapter()
    request = adapter.simulate(sender="+14155550199", text="hello there", url=INBOUND_URL)
    assert request.method == "POST"
    assert request.url == INBOUND_URL
    assert request.header("Content-Type") == "application/x-www-form-urlencoded; charset=UTF-8"
    assert request.header("I-Twilio-Idempotency-Token")
    params = dict(request.form())
    assert params["SmsStatus"] == "received"
    assert params["From"] == "+14155550199"
    assert params["To"] == "+14155550100"
    assert params["AccountSid"] == "AC0123456789abcdef0123456789abcdef"
    assert params["MessageSid"].startswith("SM")
    assert len(params["MessageSid"]) == 34
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["FromCity"] == params["ToZip"] == ""
    assert request.header("X-Twilio-Signature") == sign(TOKEN, INBOUND_URL, request.form())
    adapter.verify_webhook(request)
    (message,) = adapter.parse_webhook(request).messages
    assert message.content.text == "hello there"
