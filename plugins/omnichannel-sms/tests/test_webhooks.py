"""Tests for omnichannel_sms.webhooks: X-Twilio-Signature, inbound messages, status callbacks.

The signature vectors are copied inline from ``shared/vectors.json`` (computed there with
twilio 9.13.0's ``RequestValidator`` and cross-checked with the standard library), so these
tests never depend on that file.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omnichannel_sms import TwilioSmsAdapter, TwilioSmsSettings
from omnichannel_sms.webhooks import (
    EMPTY_TWIML,
    inbound_params,
    opt_out_of,
    sign,
    signed_request,
    verify_request,
)

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

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 11, 3, 18, 20, 31, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"

Pairs = list[tuple[str, str]]

# --- Vectors (copied from shared/vectors.json) ---------------------------------------------------

# twilio-form-basic / twilio-port-rules: twilio-python's own unit-test vectors, token "12345".
BASIC_TOKEN = "12345"
BASIC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
BASIC_PARAMS: Pairs = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
BASIC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

# twilio-form-multivalue
MULTIVALUE_PARAMS: Pairs = [
    ("Sid", "CA123"),
    ("SidAccount", "AC123"),
    ("Digits", "5678"),
    ("Digits", "1234"),
    ("Digits", "1234"),
]
MULTIVALUE_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="

# twilio-port-rules: (url, signature, valid)
PORT_RULES = [
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", True),
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w=", True),
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4=", True),
    ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", True),
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", False),
]

# twilio-json-bodysha256
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_URL = (
    "https://mycompany.com/myapp.php?foo=1&bar=2"
    "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
)
JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="

# twilio-inbound-sms
TOKEN = "0123456789abcdef0123456789abcdef"
INBOUND_URL = "https://hooks.example.com/omnichannel/twilio/sms"
INBOUND_PARAMS: Pairs = [
    ("ToCountry", "US"),
    ("ToState", "CA"),
    ("SmsMessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("NumMedia", "1"),
    ("ToCity", "SAN FRANCISCO"),
    ("FromZip", "94105"),
    ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
    ("FromState", "CA"),
    ("SmsStatus", "received"),
    ("FromCity", "SAN FRANCISCO"),
    ("Body", "Hi! Can you call me back? Café ☕ 8pm"),
    ("FromCountry", "US"),
    ("To", "+14155550100"),
    ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
    ("ToZip", "94105"),
    ("NumSegments", "1"),
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550199"),
    ("ApiVersion", "2010-04-01"),
    ("MediaContentType0", "image/jpeg"),
    (
        "MediaUrl0",
        "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/"
        "MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef",
    ),
]
INBOUND_SIGNATURE = "tpMnpdIsMKhP2Fe9vBrZK/TaYJU="

# twilio-message-status-callback
STATUS_URL = "https://hooks.example.com/omnichannel/twilio/status?msg=om_01HZX"
STATUS_PARAMS: Pairs = [
    ("SmsSid", "SM89abcdef0123456789abcdef01234567"),
    ("SmsStatus", "undelivered"),
    ("MessageStatus", "undelivered"),
    ("ErrorCode", "30003"),
    ("To", "+14155550199"),
    ("MessageSid", "SM89abcdef0123456789abcdef01234567"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550100"),
    ("ApiVersion", "2010-04-01"),
]
STATUS_SIGNATURE = "uh7ELfqXN9xIowaMRtYHVg8RTXg="

# twilio-voice-status-nondefault-port: blank values, a non-default port, the raw body as sent.
PORT_URL = "https://hooks.example.com:8443/omnichannel/twilio/voice/status"
PORT_BODY = (
    b"Called=%2B14155550199&ToState=CA&CallerCountry=US&Direction=outbound-api"
    b"&Timestamp=Tue%2C+03+Nov+2026+18%3A20%3A31+%2B0000&CallbackSource=call-progress-events"
    b"&SipResponseCode=200&CallerState=CA&ToZip=&SequenceNumber=2"
    b"&CallSid=CA0123456789abcdef0123456789abcdef&To=%2B14155550199&CallerZip=&CalledZip="
    b"&ApiVersion=2010-04-01&CalledCity=&CallStatus=in-progress&From=%2B14155550100"
    b"&AccountSid=AC0123456789abcdef0123456789abcdef&CalledCountry=US&CallerCity=&ToCity="
    b"&FromCountry=US&Caller=%2B14155550100&FromCity=&CalledState=CA&FromZip=&FromState=CA"
    b"&AnsweredBy=human"
)
PORT_SIGNATURE = "374Hg86dkIQ2SGhL082H5CJhfG4="


# --- helpers -------------------------------------------------------------------------------------


def form_request(url: str, params: Pairs | bytes, signature: str | None) -> WebhookRequest:
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    headers = [("Content-Type", FORM)]
    if signature is not None:
        headers.append(("X-Twilio-Signature", signature))
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)


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


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def fixture_request(name: str) -> WebhookRequest:
    data = fixture(name)
    params = [(name, value) for name, value in data["params"]]
    return signed_request(data["auth_token"], data["url"], params)


# --- signature: the vectors ----------------------------------------------------------------------


def test_the_basic_form_vector_verifies() -> None:
    verify_request(form_request(BASIC_URL, BASIC_PARAMS, BASIC_SIGNATURE), [BASIC_TOKEN])
    assert sign(BASIC_TOKEN, BASIC_URL, BASIC_PARAMS) == BASIC_SIGNATURE


def test_the_multivalue_vector_sorts_and_deduplicates_values() -> None:
    request = form_request(BASIC_URL, MULTIVALUE_PARAMS, MULTIVALUE_SIGNATURE)
    verify_request(request, [BASIC_TOKEN])


@pytest.mark.parametrize(("url", "signature", "valid"), PORT_RULES)
def test_port_rules_follow_twilios_validator(url: str, signature: str, valid: bool) -> None:
    request = form_request(url, BASIC_PARAMS, signature)
    if valid:
        verify_request(request, [BASIC_TOKEN])
    else:
        with pytest.raises(WebhookVerificationError):
            verify_request(request, [BASIC_TOKEN])


def test_a_signature_over_a_non_default_port_verifies_when_the_public_url_keeps_it() -> None:
    verify_request(form_request(PORT_URL, PORT_BODY, PORT_SIGNATURE), [TOKEN])


def test_a_non_default_port_hidden_by_a_proxy_cannot_verify() -> None:
    hidden = PORT_URL.replace(":8443", "")
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(hidden, PORT_BODY, PORT_SIGNATURE), [TOKEN])


def test_the_json_variant_signs_the_url_and_checks_the_body_hash() -> None:
    request = WebhookRequest(
        method="POST",
        url=JSON_URL,
        headers={"Content-Type": "application/json", "X-Twilio-Signature": JSON_SIGNATURE},
        body=JSON_BODY,
    )
    verify_request(request, [BASIC_TOKEN])
    with pytest.raises(WebhookVerificationError, match="bodySHA256"):
        verify_request(attrs.evolve(request, body=JSON_BODY + b" "), [BASIC_TOKEN])


def test_the_inbound_vector_verifies_and_its_tampered_forms_do_not() -> None:
    verify_request(form_request(INBOUND_URL, INBOUND_PARAMS, INBOUND_SIGNATURE), [TOKEN])
    tampered = [(name, value + "!" if name == "Body" else value) for name, value in INBOUND_PARAMS]
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(INBOUND_URL, tampered, INBOUND_SIGNATURE), [TOKEN])
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(INBOUND_URL + "/", INBOUND_PARAMS, INBOUND_SIGNATURE), [TOKEN])


def test_the_status_callback_vector_signs_its_query_string() -> None:
    verify_request(form_request(STATUS_URL, STATUS_PARAMS, STATUS_SIGNATURE), [TOKEN])
    with pytest.raises(WebhookVerificationError):
        verify_request(
            form_request(
                STATUS_URL.replace("om_01HZX", "om_01HZY"), STATUS_PARAMS, STATUS_SIGNATURE
            ),
            [TOKEN],
        )


# --- signature: tampering and rotation -----------------------------------------------------------


def test_a_dropped_blank_param_breaks_the_signature() -> None:
    dropped = PORT_BODY.replace(b"&ToZip=", b"")
    assert dropped != PORT_BODY
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(PORT_URL, dropped, PORT_SIGNATURE), [TOKEN])


def test_an_added_param_breaks_the_signature() -> None:
    extra = [*INBOUND_PARAMS, ("OptOutType", "STOP")]
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(INBOUND_URL, extra, INBOUND_SIGNATURE), [TOKEN])


def test_a_missing_signature_header_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="missing X-Twilio-Signature"):
        verify_request(form_request(INBOUND_URL, INBOUND_PARAMS, None), [TOKEN])


def test_a_body_that_is_not_a_form_cannot_carry_a_signature() -> None:
    request = form_request(INBOUND_URL, b"\xff\xfe\x00garbage", INBOUND_SIGNATURE)
    with pytest.raises(WebhookVerificationError):
        verify_request(request, [TOKEN])


def test_the_secondary_token_is_accepted_during_rotation() -> None:
    rotating = make_adapter(auth_token="f" * 32, secondary=TOKEN)
    rotating.verify_webhook(form_request(INBOUND_URL, INBOUND_PARAMS, INBOUND_SIGNATURE))
    new_primary = make_adapter(auth_token="f" * 32)
    with pytest.raises(WebhookVerificationError):
        new_primary.verify_webhook(form_request(INBOUND_URL, INBOUND_PARAMS, INBOUND_SIGNATURE))


@settings(database=None, max_examples=60, deadline=None)
@given(
    params=st.lists(
        st.tuples(
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1),
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"])),
        ),
        max_size=8,
    ),
    replacement=st.text(min_size=1, max_size=5),
)
def test_any_signed_form_verifies_and_any_changed_value_does_not(
    params: Pairs, replacement: str
) -> None:
    request = signed_request(TOKEN, INBOUND_URL, params)
    verify_request(request, [TOKEN])
    if params:
        name, value = params[0]
        changed = [(name, value + replacement), *params[1:]]
        forged = attrs.evolve(request, body=urlencode(changed).encode())
        with pytest.raises(WebhookVerificationError):
            verify_request(forged, [TOKEN])


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


def test_an_inbound_mms_keeps_every_media_item_and_every_blank_param() -> None:
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


def test_a_failed_callback_maps_its_error_code_through_the_code_table() -> None:
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


def test_a_signed_json_body_that_is_not_a_flat_object_is_refused_with_400() -> None:
    adapter = make_adapter()
    body = b'{"MessageSid": ["SM1"]}'
    url = f"{INBOUND_URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    request = WebhookRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json", "X-Twilio-Signature": sign(TOKEN, url, [])},
        body=body,
    )
    adapter.verify_webhook(request)
    with pytest.raises(WebhookParseError, match="flat object"):
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
