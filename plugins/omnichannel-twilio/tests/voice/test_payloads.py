"""Tests for omnichannel_twilio.voice.payloads: TwiML, the create-call form, the status table,
the voice error codes and the lookup of a call."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from omnichannel_twilio.payloads import (
    account_url,
    create_request,
    error_for,
    form_headers,
    option_pairs,
    parse_error,
)
from omnichannel_twilio.voice import payloads

from omnichannel import Address, DeliveryStatus, Envelope, FailureReason, ProviderError, SendError
from omnichannel.errors import InvalidRecipient

AGENT = "+14155550123"
BUSINESS = "+14155550100"


def answer(status: int, body: bytes) -> SendError:
    """The error the voice adapter raises for a Twilio answer."""
    return error_for(status, parse_error(body), None, codes=payloads.ERROR_CODES, what="call")


def test_callback_twiml_matches_twilios_own_serialisation_of_say_then_dial(
    vectors: dict[str, Any],
) -> None:
    twiml = payloads.callback_twiml(
        "Hello, this is Acme returning your call. Connecting you to an agent now.",
        voice="Polly.Joanna",
        language="en-US",
        agent=AGENT,
        caller_id=BUSINESS,
    )
    assert twiml == vectors["voice-callback-say-dial"]["xml"]


def test_callback_twiml_without_an_agent_is_one_say() -> None:
    twiml = payloads.callback_twiml("We will call you at 8.", voice="alice", language="en-GB")
    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Say language="en-GB" voice="alice">We will call you at 8.</Say></Response>'
    )


def test_say_text_escapes_ampersand_and_angle_brackets() -> None:
    text = 'Tom & Jerry <3 > "quotes" & café'
    twiml = payloads.callback_twiml(text, voice="Polly.Joanna", language="en-US")
    assert 'Tom &amp; Jerry &lt;3 &gt; "quotes" &amp; café</Say>' in twiml
    assert ET.fromstring(twiml).findtext("Say") == text


def test_numbers_and_voice_are_escaped_in_attributes() -> None:
    twiml = payloads.callback_twiml(
        "Hi", voice='Polly."Joanna"&', language="en-US", agent=AGENT, caller_id=BUSINESS
    )
    assert 'voice="Polly.&quot;Joanna&quot;&amp;"' in twiml
    assert ET.fromstring(twiml).find("Say").get("voice") == 'Polly."Joanna"&'  # type: ignore[union-attr]


def test_voicemail_message_is_a_second_say_in_the_same_voice_before_the_dial() -> None:
    twiml = payloads.callback_twiml(
        "Your order shipped.",
        voice="Polly.Joanna",
        language="en-US",
        agent=AGENT,
        caller_id=BUSINESS,
        voicemail_message="Call us back at 415 555 0100.",
    )
    root = ET.fromstring(twiml)
    assert [child.tag for child in root] == ["Say", "Say", "Dial", "Say"]
    assert root[1].text == "Call us back at 415 555 0100."
    assert root[1].attrib == {"language": "en-US", "voice": "Polly.Joanna"}


def test_connecting_an_agent_needs_the_caller_id() -> None:
    with pytest.raises(ValueError, match="caller id"):
        payloads.callback_twiml("Hi", voice="alice", language="en-US", agent=AGENT)


def test_create_call_form_encodes_exactly_like_the_vector(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-create-call-form"]
    form = payloads.create_call_form(
        to="+14155550199",
        from_=BUSINESS,
        twiml="<Response><Say>Hi</Say></Response>",
        status_callback="https://hooks.example.com/s",
        machine_detection="Enable",
    )
    assert urlencode(form) == vector["body"]


def test_create_call_request_posts_the_form_to_the_accounts_calls_resource(
    vectors: dict[str, Any],
) -> None:
    vector = vectors["twilio-create-call-form"]
    auth = vectors["twilio-basic-auth-header"]
    form = payloads.create_call_form(
        to="+14155550199",
        from_=BUSINESS,
        twiml="<Response><Say>Hi</Say></Response>",
        status_callback="https://hooks.example.com/s",
        machine_detection="Enable",
    )
    request = create_request(
        account_url("https://api.twilio.com/", auth["account_sid"], payloads.CALLS.name),
        form,
        form_headers({"Authorization": auth["expected_authorization"]}),
    )
    assert request.method == vector["method"]
    assert str(request.url) == vector["url"]
    assert request.headers["Content-Type"] == vector["content_type"]
    assert request.headers["Authorization"] == auth["expected_authorization"]
    assert request.body.decode() == vector["body"]


def test_without_a_status_callback_no_events_are_subscribed() -> None:
    form = payloads.create_call_form(to="+14155550199", from_=BUSINESS, twiml="<Response/>")
    assert [name for name, _ in form] == ["To", "From", "Twiml"]


def test_provider_options_become_form_fields_and_replace_same_named_ones() -> None:
    extra = option_pairs(
        {
            "Timeout": 30,
            "Record": True,
            "MachineDetection": "Enable",
            "RecordingStatusCallbackEvent": ("completed", "absent"),
        }
    )
    form = payloads.create_call_form(
        to="+14155550199",
        from_=BUSINESS,
        twiml="<Response/>",
        machine_detection="DetectMessageEnd",
        extra=extra,
    )
    assert form == [
        ("To", "+14155550199"),
        ("From", BUSINESS),
        ("Twiml", "<Response/>"),
        ("Timeout", "30"),
        ("Record", "true"),
        ("MachineDetection", "Enable"),
        ("RecordingStatusCallbackEvent", "completed"),
        ("RecordingStatusCallbackEvent", "absent"),
    ]


def test_provider_option_values_must_be_flat() -> None:
    with pytest.raises(TypeError, match="provider option"):
        option_pairs({"Nested": {"a": 1}})


def test_read_call_sid_accepts_only_a_call_resource(payload: Callable[[str], bytes]) -> None:
    body = json.loads(payload("call_created.json"))
    assert payloads.read_call_sid(body) == "CA0123456789abcdef0123456789abcdef"
    assert payloads.read_call_sid({"sid": "SM0123"}) is None
    assert payloads.read_call_sid(["CA1"]) is None


def test_every_twilio_call_status_has_its_status() -> None:
    assert payloads.CALL_STATUSES == {
        "queued": DeliveryStatus.INITIATED,
        "initiated": DeliveryStatus.INITIATED,
        "ringing": DeliveryStatus.RINGING,
        "in-progress": DeliveryStatus.ANSWERED,
        "completed": DeliveryStatus.COMPLETED,
        "busy": DeliveryStatus.BUSY,
        "no-answer": DeliveryStatus.NO_ANSWER,
        "failed": DeliveryStatus.FAILED,
        "canceled": DeliveryStatus.CANCELED,
    }


@pytest.mark.parametrize(
    ("answered_by", "machine"),
    [
        ("human", False),
        ("machine_start", True),
        ("machine_end_beep", True),
        ("machine_end_silence", True),
        ("machine_end_other", True),
        ("fax", True),
        ("unknown", None),
        (None, None),
    ],
)
def test_answered_by_becomes_the_machine_flag(
    answered_by: str | None, machine: bool | None
) -> None:
    assert payloads.answered_by_machine(answered_by) is machine


# --- errors: one test per code family ----------------------------------------------------------


@pytest.mark.parametrize("code", [21210, 21212])
def test_from_not_of_the_account_is_a_configuration_error_not_retried(code: int) -> None:
    body = json.dumps({"code": code, "message": "not verified", "status": 400}).encode()
    error = answer(400, body)
    assert type(error) is ProviderError
    assert error.reason is FailureReason.AUTH
    assert not error.retryable
    assert "'from' setting" in error.message


@pytest.mark.parametrize("code", [21211, 21217, 13224])
def test_invalid_numbers_are_invalid_recipients(code: int) -> None:
    body = json.dumps({"code": code, "message": "invalid number", "status": 400}).encode()
    error = answer(400, body)
    assert isinstance(error, InvalidRecipient)
    assert error.reason is FailureReason.INVALID_RECIPIENT
    assert not error.retryable
    assert error.provider_code == str(code)
    assert error.provider_message == "invalid number"


def test_geo_permission_21215_is_a_policy_error_that_keeps_the_number_valid(
    payload: Callable[[str], bytes],
) -> None:
    error = answer(400, payload("call_error_21215_geo_permission_problem.json"))
    assert type(error) is ProviderError
    assert not isinstance(error, InvalidRecipient)
    assert error.reason is FailureReason.POLICY
    assert not error.retryable
    assert "Geo permissions" in error.message


# --- the lookup ----------------------------------------------------------------------------------


def test_the_lookup_filters_by_to_from_and_the_day_the_call_may_have_started() -> None:
    envelope = Envelope(
        channel="voice", recipient=Address(channel="voice", value="+14155550199"), content="Hi"
    )
    since = datetime(2026, 11, 3, 0, 0, 30, tzinfo=UTC)
    found = payloads.call_lookup(envelope, from_=BUSINESS, since=since)
    assert found.filters == (
        ("To", "+14155550199"),
        ("From", BUSINESS),
        ("StartTime>", "2026-11-03"),
    )
    assert found.expected == {"to": "+14155550199", "from": BUSINESS}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({}, True), ({"to": "+14155550111"}, False), ({"from": "+14155550111"}, False)],
)
def test_a_listed_call_is_the_attempt_when_it_went_to_the_recipient_from_our_number(
    payload: Callable[[str], bytes], changes: dict[str, str], expected: bool
) -> None:
    call = {**json.loads(payload("call_created.json")), **changes}
    envelope = Envelope(
        channel="voice", recipient=Address(channel="voice", value="+14155550199"), content="Hi"
    )
    since = datetime(2026, 11, 3, tzinfo=UTC)
    assert payloads.call_lookup(envelope, from_=BUSINESS, since=since).matches(call) is expected


def test_a_listed_calls_status_maps_through_the_call_table() -> None:
    assert payloads.CALLS.status_of("completed") is DeliveryStatus.COMPLETED
    assert payloads.CALLS.status_of("no-answer") is DeliveryStatus.NO_ANSWER
    assert payloads.CALLS.status_of("something-new") is DeliveryStatus.INITIATED
