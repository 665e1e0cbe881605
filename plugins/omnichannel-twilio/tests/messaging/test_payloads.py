"""Tests for omnichannel_twilio.messaging.payloads: the create-message form, the status and
error-code tables, and the lookup of a message.

The exact request encoding is the vector ``twilio-send-sms-form`` of ``shared/vectors.json``
(httpx 0.28.1 form encoding), copied inline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from omnichannel_twilio import payloads
from omnichannel_twilio.messaging.payloads import (
    ERROR_CODES,
    JSON_FIELDS,
    MESSAGE_STATUSES,
    OWN_FIELDS,
    envelope_form,
    message_form,
    message_lookup,
    messages_url,
    sent_status,
    validity_period,
)
from omnichannel_twilio.payloads import (
    TwilioError,
    create_request,
    form_body,
    form_headers,
    option_pairs,
    parse_error,
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
    InvalidEnvelope,
    InvalidRecipient,
    Media,
    ProviderError,
    SendError,
    UnsupportedFeature,
)

# The shared error reading, with the messaging code table, as the adapter uses it.
error_for = functools.partial(payloads.error_for, codes=ERROR_CODES, what="message")
failure_for_code = functools.partial(payloads.failure_for_code, codes=ERROR_CODES)
Fixture = Callable[[str], dict[str, Any]]
Payload = Callable[[str], bytes]


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
    request = create_request(
        messages_url("https://api.twilio.com", "AC0123456789abcdef0123456789abcdef"),
        vector_form(),
        form_headers({"Authorization": VECTOR_AUTHORIZATION}),
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
                "extra": option_pairs({"ValidityPeriod": 600, "SmartEncoded": True}),
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
                "extra": option_pairs({"MediaUrl": ["https://cdn.example.com/c.pdf"]}),
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
        message_form(to="+14155550199", body="hi", from_="+1", extra=[(field, "x")])


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
    from omnichannel_twilio.messaging.adapter import CAPABILITIES

    assert set(MESSAGE_STATUSES.values()) <= CAPABILITIES.statuses


def test_the_answer_to_a_send_with_a_status_twilio_adds_later_is_accepted(
    fixture: Fixture,
) -> None:
    assert sent_status("brand_new_status") is DeliveryStatus.ACCEPTED
    assert sent_status(fixture("message_created.json")["body"]["status"]) is (
        DeliveryStatus.ACCEPTED
    )


# --- errors --------------------------------------------------------------------------------------


@pytest.fixture
def error_from_fixture(fixture: Fixture, payload: Payload) -> Callable[[str], SendError]:
    """The error the adapter raises for an error answer under tests/payloads/."""
    return lambda name: error_for(fixture(name)["status"], parse_error(payload(name)), None)


@pytest.mark.parametrize("code", [21211, 21217, 21614, 21635, 21612, 21408])
def test_recipient_codes_become_invalid_recipient(code: int) -> None:
    error = error_for(400, TwilioError(code=code, message="nope"), None)
    assert type(error) is InvalidRecipient
    assert error.reason is FailureReason.INVALID_RECIPIENT
    assert not error.retryable
    assert error.provider_code == str(code)


def test_an_invalid_to_in_the_legacy_shape_keeps_code_and_message(
    error_from_fixture: Callable[[str], SendError],
) -> None:
    error = error_from_fixture("error_21211_invalid_to.json")
    assert isinstance(error, InvalidRecipient)
    assert error.provider_code == "21211"
    assert error.provider_message == "The 'To' number +1555 is not a valid phone number."
    assert error.status_code == 400


def test_a_not_mobile_recipient_in_rfc_9457_problem_json_is_classified_by_code(
    error_from_fixture: Callable[[str], SendError],
) -> None:
    error = error_from_fixture("error_21614_problem.json")
    assert isinstance(error, InvalidRecipient)
    assert error.provider_code == "21614"
    assert error.provider_message == (
        "The 'To' number +14155550123 is a landline and cannot receive SMS."
    )


def test_an_opted_out_recipient_is_not_retryable(
    error_from_fixture: Callable[[str], SendError],
) -> None:
    error = error_from_fixture("error_21610_unsubscribed.json")
    assert isinstance(error, InvalidRecipient)
    assert error.reason is FailureReason.OPTED_OUT
    assert not error.retryable
    assert "START" in error.message


def test_a_body_over_1600_characters_is_content_too_long(
    error_from_fixture: Callable[[str], SendError],
) -> None:
    error = error_from_fixture("error_21617_body_too_long.json")
    assert isinstance(error, ContentTooLong)
    assert isinstance(error, ContentRejected)
    assert error.reason is FailureReason.CONTENT_REJECTED
    assert not error.retryable


def test_queue_overflow_is_retryable_later(
    error_from_fixture: Callable[[str], SendError],
) -> None:
    error = error_from_fixture("error_30001_queue_overflow.json")
    assert type(error) is ProviderError
    assert error.retryable
    assert error.provider_code == "30001"


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


def test_a_mapping_in_the_options_is_a_json_string_only_for_content_variables() -> None:
    assert {"ContentVariables"} == JSON_FIELDS
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="hi",
        provider_options={"sms.twilio": {"ShortenUrls": {"on": True}}},
    )
    with pytest.raises(InvalidEnvelope, match=r"sms\.twilio"):
        envelope_form(
            envelope,
            adapter_name="sms.twilio",
            from_="+14155550100",
            messaging_service_sid=None,
            status_callback=None,
        )


# --- the lookup ----------------------------------------------------------------------------------

SINCE = datetime(2026, 11, 3, 18, 19, tzinfo=UTC)


def outbound(text: str = "Your code is 123456", **fields: Any) -> Envelope:
    return Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content=text,
        **fields,
    )


def lookup_of(envelope: Envelope, from_: str | None = "+14155550100") -> Any:
    service = None if from_ else "MG0123456789abcdef0123456789abcdef"
    return message_lookup(envelope, from_=from_, messaging_service_sid=service, since=SINCE)


def test_the_lookup_filters_by_to_from_and_the_day_the_attempt_began() -> None:
    assert lookup_of(outbound()).filters == (
        ("To", "+14155550199"),
        ("From", "+14155550100"),
        ("DateSent>", "2026-11-03"),
    )
    reply = outbound(business_address=Address(channel="sms", value="+14155550111"))
    assert ("From", "+14155550111") in lookup_of(reply).filters
    assert lookup_of(outbound(), from_=None).filters == (
        ("To", "+14155550199"),
        ("DateSent>", "2026-11-03"),
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"body": "Your code is 654321"}, False),
        ({"to": "+14155550111"}, False),
        ({"from": "+14155550111"}, False),
    ],
)
def test_a_listed_message_is_the_attempt_when_recipient_sender_and_body_match(
    fixture: Fixture, changes: dict[str, str], expected: bool
) -> None:
    resource = {**fixture("message_created.json")["body"], "body": "Your code is 123456"}
    assert lookup_of(outbound()).matches({**resource, **changes}) is expected


def test_through_a_messaging_service_the_service_stands_for_the_sender(fixture: Fixture) -> None:
    resource = fixture("message_created_messaging_service.json")["body"]
    found = lookup_of(outbound("Your table is ready"), from_=None)
    assert found.expected == {
        "to": "+14155550199",
        "body": "Your table is ready",
        "messaging_service_sid": "MG0123456789abcdef0123456789abcdef",
    }
    assert found.matches(resource)
    assert not found.matches({**resource, "messaging_service_sid": "MG" + "1" * 32})
