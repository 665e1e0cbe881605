"""Tests for omnichannel_sms.payloads: request building, status and error-code tables.

The exact request encoding is the vector ``twilio-send-sms-form`` of ``shared/vectors.json``
(httpx 0.28.1 form encoding), copied inline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from omnichannel_sms.payloads import (
    ERROR_CODES,
    MESSAGE_STATUSES,
    OWN_FIELDS,
    TwilioError,
    envelope_form,
    error_for,
    failure_for_code,
    form_body,
    message_form,
    messages_url,
    option_pairs,
    parse_error,
    request_headers,
    send_request,
    sent_status,
    status_callback_url,
    validity_period,
)

from omnichannel import (
    Address,
    Content,
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Direction,
    Envelope,
    FailureReason,
    InvalidRecipient,
    Media,
    ProviderError,
    RateLimited,
    SendError,
    UnsupportedFeature,
)

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def body_of(name: str) -> bytes:
    return json.dumps(payload(name)["body"]).encode()


# twilio-send-sms-form (shared/vectors.json)
VECTOR_URL = (
    "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
)
VECTOR_BODY = (
    b"To=%2B14155550199&From=%2B14155550100&Body=Hi+Zo%C3%AB%2C+call+you+at+8pm%3F+%E2%98%95"
    b"&StatusCallback=https%3A%2F%2Fhooks.example.com%2Fomnichannel%2Ftwilio%2Fstatus%3Fmsg%3D"
    b"om_01HZX&MediaUrl=https%3A%2F%2Fcdn.example.com%2Fa.jpg"
    b"&MediaUrl=https%3A%2F%2Fcdn.example.com%2Fb.png"
)
# twilio-basic-auth-header (shared/vectors.json)
VECTOR_AUTHORIZATION = (
    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjow"
    "MTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="
)


def vector_form() -> list[tuple[str, str]]:
    return message_form(
        to="+14155550199",
        from_="+14155550100",
        body="Hi Zoë, call you at 8pm? ☕",
        status_callback="https://hooks.example.com/omnichannel/twilio/status?msg=om_01HZX",
        media_urls=["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"],
    )


# --- the send request ----------------------------------------------------------------------------


def test_the_send_vector_is_encoded_byte_for_byte() -> None:
    assert form_body(vector_form()) == VECTOR_BODY


def test_the_send_request_is_a_form_post_with_the_auth_header() -> None:
    request = send_request(
        messages_url("https://api.twilio.com", "AC0123456789abcdef0123456789abcdef"),
        vector_form(),
        request_headers({"Authorization": VECTOR_AUTHORIZATION}),
    )
    assert request.method == "POST"
    assert str(request.url) == VECTOR_URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == VECTOR_AUTHORIZATION
    assert request.headers["Accept"] == "application/json"
    assert request.body == VECTOR_BODY
    assert not request.idempotent


def test_form_body_matches_httpx_own_encoding_of_a_mapping_with_lists() -> None:
    by_httpx = httpx.Request(
        "POST",
        VECTOR_URL,
        data={
            "To": "+14155550199",
            "From": "+14155550100",
            "Body": "Hi Zoë, call you at 8pm? ☕",
            "StatusCallback": "https://hooks.example.com/omnichannel/twilio/status?msg=om_01HZX",
            "MediaUrl": ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"],
        },
    )
    assert by_httpx.content == form_body(vector_form())


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.twilio.com", VECTOR_URL),
        ("https://api.twilio.com/", VECTOR_URL),
        (
            "http://127.0.0.1:8765/twilio-messaging",
            "http://127.0.0.1:8765/twilio-messaging/2010-04-01/Accounts/"
            "AC0123456789abcdef0123456789abcdef/Messages.json",
        ),
    ],
)
def test_messages_url_joins_the_base_url_the_api_version_and_the_account(
    base_url: str, expected: str
) -> None:
    assert messages_url(base_url, "AC0123456789abcdef0123456789abcdef") == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"to": "+14155550199", "body": "hi", "from_": "+14155550100"},
            [("To", "+14155550199"), ("From", "+14155550100"), ("Body", "hi")],
            id="text-from-a-number",
        ),
        pytest.param(
            {"to": "+14155550199", "body": "hi", "messaging_service_sid": "MG" + "a" * 32},
            [("To", "+14155550199"), ("MessagingServiceSid", "MG" + "a" * 32), ("Body", "hi")],
            id="messaging-service-without-from",
        ),
        pytest.param(
            {
                "to": "+14155550199",
                "body": "",
                "from_": "+14155550100",
                "media_urls": ["https://cdn.example.com/a.jpg"],
            },
            [
                ("To", "+14155550199"),
                ("From", "+14155550100"),
                ("MediaUrl", "https://cdn.example.com/a.jpg"),
            ],
            id="media-only-has-no-body",
        ),
        pytest.param(
            {
                "to": "+14155550199",
                "body": "hi",
                "from_": "+14155550100",
                "status_callback": "https://h.example/webhooks/sms?envelope_id=E1",
            },
            [
                ("To", "+14155550199"),
                ("From", "+14155550100"),
                ("Body", "hi"),
                ("StatusCallback", "https://h.example/webhooks/sms?envelope_id=E1"),
            ],
            id="status-callback",
        ),
        pytest.param(
            {
                "to": "+14155550199",
                "body": "hi",
                "from_": "+14155550100",
                "options": {"ValidityPeriod": 600, "SmartEncoded": True},
            },
            [
                ("To", "+14155550199"),
                ("From", "+14155550100"),
                ("Body", "hi"),
                ("ValidityPeriod", "600"),
                ("SmartEncoded", "true"),
            ],
            id="provider-options-appended",
        ),
        pytest.param(
            {
                "to": "+14155550199",
                "body": "hi",
                "from_": "+14155550100",
                "media_urls": ["https://cdn.example.com/a.jpg"],
                "options": {"MediaUrl": ["https://cdn.example.com/c.pdf"]},
            },
            [
                ("To", "+14155550199"),
                ("From", "+14155550100"),
                ("Body", "hi"),
                ("MediaUrl", "https://cdn.example.com/a.jpg"),
                ("MediaUrl", "https://cdn.example.com/c.pdf"),
            ],
            id="provider-options-add-media-items",
        ),
    ],
)
def test_message_form_builds_twilio_fields(
    kwargs: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert message_form(**kwargs) == expected


@pytest.mark.parametrize("field", sorted(OWN_FIELDS))
def test_provider_options_cannot_set_the_fields_the_adapter_sets(field: str) -> None:
    with pytest.raises(UnsupportedFeature, match=f"cannot set {field}"):
        message_form(to="+14155550199", body="hi", from_="+1", options={field: "x"})


def test_a_public_envelope_is_refused_because_sms_has_no_public_posts() -> None:
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="hi",
        visibility="public",
    )
    with pytest.raises(UnsupportedFeature, match="no public posts"):
        envelope_form(
            envelope,
            adapter_name="sms.twilio",
            from_="+14155550100",
            messaging_service_sid=None,
            status_callback=None,
        )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ValidityPeriod": 600}, [("ValidityPeriod", "600")]),
        ({"SmartEncoded": False}, [("SmartEncoded", "false")]),
        (
            {"ContentSid": "HX" + "0" * 32, "ContentVariables": {"1": "Zoë"}},
            [("ContentSid", "HX" + "0" * 32), ("ContentVariables", '{"1":"Zoë"}')],
        ),
        (
            {"MediaUrl": ["https://a.example/1", "https://a.example/2"]},
            [
                ("MediaUrl", "https://a.example/1"),
                ("MediaUrl", "https://a.example/2"),
            ],
        ),
        ({"ShortenUrls": None}, []),
    ],
)
def test_provider_options_become_form_fields(
    options: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    assert option_pairs(options) == expected


def test_envelope_options_for_other_adapters_are_ignored_and_ours_pass_through() -> None:
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content=Content(text="hi", media=[Media(url="https://cdn.example.com/a.jpg")]),
        provider_options={
            "sms.twilio": {"ValidityPeriod": 60, "ContentVariables": {"1": "x"}},
            "whatsapp.meta": {"preview_url": True},
        },
    )
    form = envelope_form(
        envelope,
        adapter_name="sms.twilio",
        from_="+14155550100",
        messaging_service_sid=None,
        status_callback=None,
    )
    assert form == [
        ("To", "+14155550199"),
        ("From", "+14155550100"),
        ("Body", "hi"),
        ("MediaUrl", "https://cdn.example.com/a.jpg"),
        ("ValidityPeriod", "60"),
        ("ContentVariables", '{"1":"x"}'),
    ]


def test_a_reply_goes_out_from_the_business_address_the_customer_wrote_to() -> None:
    inbound = Envelope(
        channel="sms",
        direction=Direction.INBOUND,
        sender=Address(channel="sms", value="+14155550199"),
        recipient=Address(channel="sms", value="+14155550111"),
        business_address=Address(channel="sms", value="+14155550111"),
        content="hello",
        provider_id="SM" + "1" * 32,
    )
    form = envelope_form(
        inbound.reply("hi back"),
        adapter_name="sms.twilio",
        from_=None,
        messaging_service_sid="MG" + "a" * 32,
        status_callback=None,
    )
    assert form == [
        ("To", "+14155550199"),
        ("From", "+14155550111"),
        ("MessagingServiceSid", "MG" + "a" * 32),
        ("Body", "hi back"),
    ]


NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (None, None),
        (timedelta(minutes=10), 600),
        (timedelta(seconds=0.2), 1),
        (timedelta(hours=9, minutes=59, seconds=59), 35_999),
        (timedelta(hours=10), None),
        (timedelta(days=2), None),
    ],
)
def test_expires_at_becomes_twilios_validity_period(
    expires_in: timedelta | None, expected: int | None
) -> None:
    expires_at = NOW + expires_in if expires_in is not None else None
    assert validity_period(expires_at, NOW) == expected


def test_an_expiring_envelope_asks_twilio_to_drop_it_unless_its_options_say_otherwise() -> None:
    def form(options: dict[str, object]) -> list[tuple[str, str]]:
        envelope = Envelope(
            channel="sms",
            recipient=Address(channel="sms", value="+14155550199"),
            content="Your code is 123456",
            expires_at=NOW + timedelta(minutes=5),
            provider_options={"sms.twilio": options},
        )
        return envelope_form(
            envelope,
            adapter_name="sms.twilio",
            from_="+14155550100",
            messaging_service_sid=None,
            status_callback=None,
            now=NOW,
        )

    assert form({})[-1] == ("ValidityPeriod", "300")
    assert [pair for pair in form({"ValidityPeriod": 60}) if pair[0] == "ValidityPeriod"] == [
        ("ValidityPeriod", "60")
    ]


@pytest.mark.parametrize(
    ("webhook_url", "expected"),
    [
        (
            "https://support.example.com/webhooks/sms",
            "https://support.example.com/webhooks/sms?envelope_id=01JC0000000000000000000001",
        ),
        (
            "https://support.example.com/webhooks/sms?tenant=7",
            "https://support.example.com/webhooks/sms?tenant=7&envelope_id=01JC0000000000000000000001",
        ),
    ],
)
def test_the_status_callback_carries_the_envelope_id(webhook_url: str, expected: str) -> None:
    assert status_callback_url(webhook_url, "01JC0000000000000000000001") == expected


# --- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("twilio", "expected"),
    [
        ("accepted", DeliveryStatus.ACCEPTED),
        ("queued", DeliveryStatus.ACCEPTED),
        ("scheduled", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.SENT),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
        ("failed", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.CANCELED),
        ("read", DeliveryStatus.DELIVERED),
        ("partially_delivered", DeliveryStatus.SENT),
    ],
)
def test_twilio_statuses_map_to_delivery_statuses(twilio: str, expected: DeliveryStatus) -> None:
    assert MESSAGE_STATUSES[twilio] is expected


def test_every_mapped_status_is_one_the_channel_declares() -> None:
    from omnichannel_sms.adapter import CAPABILITIES

    assert set(MESSAGE_STATUSES.values()) <= CAPABILITIES.statuses


def test_the_answer_to_a_send_with_a_status_twilio_adds_later_is_accepted() -> None:
    assert sent_status("brand_new_status") is DeliveryStatus.ACCEPTED
    assert sent_status(payload("message_created.json")["body"]["status"]) is (
        DeliveryStatus.ACCEPTED
    )


# --- errors --------------------------------------------------------------------------------------


def error_from_fixture(name: str, retry_after: float | None = None) -> SendError:
    fixture = payload(name)
    return error_for(fixture["status"], parse_error(body_of(name)), retry_after)


@pytest.mark.parametrize("code", [21211, 21217, 21614, 21635, 21612, 21408])
def test_recipient_codes_become_invalid_recipient(code: int) -> None:
    error = error_for(400, TwilioError(code=code, message="nope"), None)
    assert type(error) is InvalidRecipient
    assert error.reason is FailureReason.INVALID_RECIPIENT
    assert not error.retryable
    assert error.provider_code == str(code)


def test_an_invalid_to_in_the_legacy_shape_keeps_code_and_message() -> None:
    error = error_from_fixture("error_21211_invalid_to.json")
    assert isinstance(error, InvalidRecipient)
    assert error.provider_code == "21211"
    assert error.provider_message == "The 'To' number +1555 is not a valid phone number."
    assert error.status_code == 400


def test_a_not_mobile_recipient_in_rfc_9457_problem_json_is_classified_by_code() -> None:
    error = error_from_fixture("error_21614_problem.json")
    assert isinstance(error, InvalidRecipient)
    assert error.provider_code == "21614"
    assert error.provider_message == (
        "The 'To' number +14155550123 is a landline and cannot receive SMS."
    )


def test_problem_json_without_code_is_classified_by_its_type_page() -> None:
    parsed = parse_error(
        json.dumps(
            {
                "type": "https://www.twilio.com/docs/errors/21610",
                "title": "Unsubscribed recipient",
                "status": 400,
            }
        ).encode()
    )
    assert parsed == TwilioError(
        code=21610,
        message="Unsubscribed recipient",
        more_info="https://www.twilio.com/docs/errors/21610",
    )


def test_an_opted_out_recipient_is_not_retryable() -> None:
    error = error_from_fixture("error_21610_unsubscribed.json")
    assert isinstance(error, InvalidRecipient)
    assert error.reason is FailureReason.OPTED_OUT
    assert not error.retryable
    assert "START" in error.message


def test_a_body_over_1600_characters_is_content_too_long() -> None:
    error = error_from_fixture("error_21617_body_too_long.json")
    assert isinstance(error, ContentTooLong)
    assert isinstance(error, ContentRejected)
    assert error.reason is FailureReason.CONTENT_REJECTED
    assert not error.retryable


def test_authentication_failure_is_auth_and_not_retryable() -> None:
    error = error_from_fixture("error_20003_authenticate.json")
    assert type(error) is ProviderError
    assert error.reason is FailureReason.AUTH
    assert not error.retryable
    assert error.provider_code == "20003"
    assert "auth_token" in error.message


def test_too_many_requests_is_rate_limited_with_retry_after() -> None:
    error = error_from_fixture("error_20429_too_many_requests.json", retry_after=7.0)
    assert isinstance(error, RateLimited)
    assert error.reason is FailureReason.RATE_LIMITED
    assert error.retryable
    assert error.retry_after == 7.0


def test_queue_overflow_is_retryable_later() -> None:
    error = error_from_fixture("error_30001_queue_overflow.json")
    assert type(error) is ProviderError
    assert error.retryable
    assert error.provider_code == "30001"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_provider_errors(status: int) -> None:
    error = error_for(status, parse_error(b"<html>Bad Gateway</html>"), 3.0)
    assert type(error) is ProviderError
    assert error.retryable
    assert error.retry_after == 3.0
    assert error.provider_code is None


def test_twilio_internal_error_500_is_retryable() -> None:
    error = error_from_fixture("error_500_internal.json")
    assert type(error) is ProviderError
    assert error.retryable
    assert error.provider_code == "20500"


def test_a_code_missing_from_the_table_is_a_provider_error_that_keeps_code_and_message() -> None:
    body = json.dumps({"code": 21999, "message": "Something new", "status": 400}).encode()
    error = error_for(400, parse_error(body), None)
    assert type(error) is ProviderError
    assert error.reason is FailureReason.PROVIDER_ERROR
    assert not error.retryable
    assert error.provider_code == "21999"
    assert error.provider_message == "Something new"
    assert "21999" in error.message
    assert "Something new" in error.message


def test_a_429_without_a_known_code_is_still_rate_limited() -> None:
    error = error_for(429, TwilioError(), 2.0)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0


def test_classification_is_by_code_never_by_text() -> None:
    misleading = TwilioError(code=21211, message="Too Many Requests: rate limit, try later")
    assert type(error_for(400, misleading, None)) is InvalidRecipient


def test_error_messages_never_carry_the_whole_body() -> None:
    long_message = "x" * 5000
    body = json.dumps(
        {"code": 21211, "message": long_message, "more_info": "https://secret.example/trace"}
    ).encode()
    error = error_for(400, parse_error(body), None)
    assert len(error.message) < 400
    assert "more_info" not in error.message
    assert "secret.example" not in error.message


def test_an_unreadable_error_body_falls_back_to_the_http_status() -> None:
    assert parse_error(b"") == TwilioError()
    assert parse_error(b"[1, 2]") == TwilioError()
    error = error_for(404, parse_error(b"not json"), None)
    assert type(error) is ProviderError
    assert not error.retryable


@pytest.mark.parametrize(
    ("code", "reason", "retryable"),
    [
        ("30003", FailureReason.UNREACHABLE, True),
        ("30001", FailureReason.PROVIDER_ERROR, True),
        ("30005", FailureReason.INVALID_RECIPIENT, False),
        ("21610", FailureReason.OPTED_OUT, False),
        ("30007", FailureReason.CONTENT_REJECTED, False),
        ("30008", FailureReason.PROVIDER_ERROR, False),
        ("garbage", FailureReason.PROVIDER_ERROR, False),
        (None, FailureReason.UNKNOWN, False),
    ],
)
def test_status_callback_error_codes_use_the_same_table(
    code: str | None, reason: FailureReason, retryable: bool
) -> None:
    assert failure_for_code(code) == (reason, retryable)


def test_every_rule_builds_its_error_class() -> None:
    for code, rule in ERROR_CODES.items():
        error = error_for(400, TwilioError(code=code, message="m"), None)
        assert type(error) is rule.error
        assert error.reason is rule.reason
        assert error.retryable is rule.retryable
