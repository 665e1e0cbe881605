"""Tests for omnichannel_twilio.voice.webhooks: call statuses, inbound calls and spoken words,
and the signature check as the voice.twilio adapter applies it (the signature itself is tested
in ``tests/test_webhooks.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest
from omnichannel_twilio import TwilioVoiceAdapter
from omnichannel_twilio.webhooks import sign

from omnichannel import (
    DeliveryStatus,
    Direction,
    FailureReason,
    WebhookParseError,
    WebhookRequest,
    WebhookVerificationError,
)
from omnichannel.plugin import WebhookResult

pytestmark = pytest.mark.anyio

WEBHOOK_URL = "https://hooks.example.com/webhooks/voice"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
FORM = "application/x-www-form-urlencoded"
SECONDARY_TOKEN = "fedcba9876543210fedcba9876543210"


def form_request(
    url: str,
    params: list[tuple[str, str]],
    *,
    token: str | None = "0123456789abcdef0123456789abcdef",
    sign_url: str | None = None,
) -> WebhookRequest:
    """A form POST as Twilio sends it, signed with ``token`` over ``sign_url`` (default ``url``)."""
    headers = {"Content-Type": FORM}
    if token is not None:
        headers["X-Twilio-Signature"] = sign(token, sign_url or url, params)
    return WebhookRequest(method="POST", url=url, headers=headers, body=urlencode(params).encode())


def status_params(vectors: dict[str, Any], **changes: str | None) -> list[tuple[str, str]]:
    """The parameters of the vector's real status callback, changed (None removes one)."""
    params = dict(vectors["twilio-voice-status-nondefault-port"]["params"])
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return list(params.items())


async def handle(adapter: TwilioVoiceAdapter, request: WebhookRequest) -> WebhookResult:
    return await adapter.handle_webhook(request)


# --- signatures --------------------------------------------------------------------------------


async def test_voice_status_on_a_non_default_port_verifies_only_with_that_port(
    vectors: dict[str, Any], make_adapter: Callable[..., TwilioVoiceAdapter]
) -> None:
    vector = vectors["twilio-voice-status-nondefault-port"]
    adapter = make_adapter()
    for case in vector["validate"]:
        request = WebhookRequest(
            method="POST",
            url=case["url"],
            headers={"Content-Type": FORM, "X-Twilio-Signature": case["signature"]},
            body=vector["raw_body"].encode(),
        )
        if case["valid"]:
            result = await handle(adapter, request)
            assert [update.status for update in result.statuses] == [DeliveryStatus.ANSWERED]
        else:
            with pytest.raises(WebhookVerificationError):
                await handle(adapter, request)


async def test_a_missing_signature_is_refused(
    vectors: dict[str, Any], make_adapter: Callable[..., TwilioVoiceAdapter]
) -> None:
    request = form_request(WEBHOOK_URL, status_params(vectors), token=None)
    with pytest.raises(WebhookVerificationError, match="missing X-Twilio-Signature"):
        await handle(make_adapter(), request)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda r: attrs.evolve(r, body=r.body.replace(b"in-progress", b"completed")),
            id="a param changed",
        ),
        pytest.param(lambda r: attrs.evolve(r, body=r.body + b"&Extra=1"), id="a param added"),
        pytest.param(
            lambda r: attrs.evolve(r, url=r.url + "?envelope_id=OTHER"), id="the query changed"
        ),
        pytest.param(
            lambda r: attrs.evolve(r, url=r.url.replace("https:", "http:")), id="the scheme changed"
        ),
        pytest.param(lambda r: attrs.evolve(r, url=r.url + "/"), id="a trailing slash"),
    ],
)
async def test_a_request_changed_after_signing_is_refused(
    vectors: dict[str, Any],
    make_adapter: Callable[..., TwilioVoiceAdapter],
    tamper: Callable[[WebhookRequest], WebhookRequest],
) -> None:
    request = tamper(form_request(WEBHOOK_URL, status_params(vectors)))
    with pytest.raises(WebhookVerificationError, match="does not match"):
        await handle(make_adapter(), request)


async def test_the_secondary_token_is_accepted_during_a_rotation(
    vectors: dict[str, Any], make_adapter: Callable[..., TwilioVoiceAdapter]
) -> None:
    request = form_request(WEBHOOK_URL, status_params(vectors), token=SECONDARY_TOKEN)
    with pytest.raises(WebhookVerificationError):
        await handle(make_adapter(), request)
    adapter = make_adapter(secondary_auth_token=SECONDARY_TOKEN)
    result = await handle(adapter, request)
    assert len(result.statuses) == 1
    primary = form_request(WEBHOOK_URL, status_params(vectors))
    assert len((await handle(adapter, primary)).statuses) == 1


async def test_a_body_that_is_not_a_form_cannot_be_verified(
    make_adapter: Callable[..., TwilioVoiceAdapter],
) -> None:
    request = WebhookRequest(
        method="POST",
        url=WEBHOOK_URL,
        headers={"Content-Type": FORM, "X-Twilio-Signature": "bm9wZQ=="},
        body=b"\xff\xfe{garbage",
    )
    with pytest.raises(WebhookVerificationError):
        await handle(make_adapter(), request)


# --- status callbacks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_status", "status", "reason", "retryable"),
    [
        ("queued", DeliveryStatus.INITIATED, None, False),
        ("initiated", DeliveryStatus.INITIATED, None, False),
        ("ringing", DeliveryStatus.RINGING, None, False),
        ("in-progress", DeliveryStatus.ANSWERED, None, False),
        ("completed", DeliveryStatus.COMPLETED, None, False),
        ("busy", DeliveryStatus.BUSY, FailureReason.UNREACHABLE, True),
        ("no-answer", DeliveryStatus.NO_ANSWER, FailureReason.UNREACHABLE, True),
        ("failed", DeliveryStatus.FAILED, FailureReason.UNREACHABLE, True),
        ("canceled", DeliveryStatus.CANCELED, None, False),
    ],
)
async def test_call_status_callbacks_become_status_updates(
    vectors: dict[str, Any],
    make_adapter: Callable[..., TwilioVoiceAdapter],
    call_status: str,
    status: DeliveryStatus,
    reason: FailureReason | None,
    retryable: bool,
) -> None:
    url = f"{WEBHOOK_URL}?envelope_id=01JENVELOPE"
    result = await handle(
        make_adapter(), form_request(url, status_params(vectors, CallStatus=call_status))
    )
    (update,) = result.statuses
    assert update.status is status
    assert update.reason is reason
    assert update.retryable is retryable
    assert update.channel == "voice"
    assert update.provider_id == "CA0123456789abcdef0123456789abcdef"
    assert update.envelope_id == "01JENVELOPE"
    assert update.recipient == "+14155550199"
    assert update.metadata["call_status"] == call_status
    assert not result.messages


async def test_a_status_update_carries_sequence_duration_and_the_providers_time(
    vectors: dict[str, Any], make_adapter: Callable[..., TwilioVoiceAdapter]
) -> None:
    params = status_params(
        vectors, CallStatus="completed", SequenceNumber="3", CallDuration="42", Duration="1"
    )
    (update,) = (await handle(make_adapter(), form_request(WEBHOOK_URL, params))).statuses
    assert update.sequence == 3
    assert update.duration_seconds == 42
    assert update.timestamp == datetime(2026, 11, 3, 18, 20, 31, tzinfo=UTC)
    assert update.envelope_id is None
    assert update.raw == dict(params)


@pytest.mark.parametrize("stamp", [None, "", "yesterday at noon"])
async def test_without_a_readable_timestamp_the_adapters_clock_is_used(
    vectors: dict[str, Any],
    make_adapter: Callable[..., TwilioVoiceAdapter],
    clock: list[datetime],
    stamp: str | None,
) -> None:
    params = status_params(vectors, Timestamp=stamp)
    (update,) = (await handle(make_adapter(), form_request(WEBHOOK_URL, params))).statuses
    assert update.timestamp == clock[0]


@pytest.mark.parametrize(
    ("answered_by", "machine"),
    [("human", False), ("machine_end_beep", True), ("fax", True), ("unknown", None), (None, None)],
)
async def test_answered_by_is_reported_on_the_status(
    vectors: dict[str, Any],
    make_adapter: Callable[..., TwilioVoiceAdapter],
    answered_by: str | None,
    machine: bool | None,
) -> None:
    params = status_params(vectors, AnsweredBy=answered_by)
    (update,) = (await handle(make_adapter(), form_request(WEBHOOK_URL, params))).statuses
    assert update.answered_by_machine is machine
    assert update.metadata.get("answered_by") == answered_by


async def test_the_answer_is_empty_twiml(
    vectors: dict[str, Any], make_adapter: Callable[..., TwilioVoiceAdapter]
) -> None:
    result = await handle(make_adapter(), form_request(WEBHOOK_URL, status_params(vectors)))
    assert result.response.status_code == 200
    assert result.response.body == EMPTY_TWIML
    assert result.response.body == vectors["messaging-empty-ack"]["xml"].encode()
    assert result.response.content_type.startswith("text/xml")


async def test_an_unknown_call_status_is_acknowledged_and_ignored(
    vectors: dict[str, Any], make_adapter: Callable[..., TwilioVoiceAdapter]
) -> None:
    params = status_params(vectors, CallStatus="teleported")
    result = await handle(make_adapter(), form_request(WEBHOOK_URL, params))
    assert result.response.status_code == 200
    assert not result.statuses
    assert not result.messages


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"CallSid": None}, id="no CallSid"),
        pytest.param({"CallStatus": None}, id="no CallStatus"),
        pytest.param({"CallStatus": ""}, id="blank CallStatus"),
        pytest.param({"SequenceNumber": "two"}, id="SequenceNumber not a number"),
        pytest.param({"CallDuration": "1.5s"}, id="CallDuration not a number"),
    ],
)
async def test_a_verified_but_malformed_status_callback_is_refused_with_400(
    vectors: dict[str, Any],
    make_adapter: Callable[..., TwilioVoiceAdapter],
    changes: dict[str, str | None],
) -> None:
    params = status_params(vectors, **changes)
    with pytest.raises(WebhookParseError) as caught:
        await handle(make_adapter(), form_request(WEBHOOK_URL, params))
    assert caught.value.status_code == 400


# --- inbound calls -----------------------------------------------------------------------------


def inbound_params(**extra: str) -> list[tuple[str, str]]:
    params = {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "ApiVersion": "2010-04-01",
        "CallSid": "CAfedcba9876543210fedcba9876543210",
        "CallStatus": "ringing",
        "Called": "+14155550100",
        "Caller": "+14155550199",
        "Direction": "inbound",
        "From": "+14155550199",
        "To": "+14155550100",
        "FromCity": "",
        "FromZip": "",
        "ToCity": "",
        "ToZip": "",
        **extra,
    }
    return list(params.items())


async def test_an_inbound_call_becomes_an_incoming_call_message(
    make_adapter: Callable[..., TwilioVoiceAdapter], clock: list[datetime]
) -> None:
    result = await handle(make_adapter(), form_request(WEBHOOK_URL, inbound_params()))
    (message,) = result.messages
    assert not result.statuses
    assert message.direction is Direction.INBOUND
    assert message.channel == "voice"
    assert message.content.text == "incoming call"
    assert message.sender is not None
    assert message.sender.value == "+14155550199"
    assert message.recipient.value == "+14155550100"
    assert message.business_address == message.recipient
    assert message.provider_id == "CAfedcba9876543210fedcba9876543210"
    assert message.thread == "CAfedcba9876543210fedcba9876543210"
    assert dict(message.metadata) == {
        "call_sid": "CAfedcba9876543210fedcba9876543210",
        "call_status": "ringing",
    }
    assert message.created_at == clock[0]
    assert result.response.body == EMPTY_TWIML


async def test_spoken_words_of_a_gather_become_the_message_text(
    make_adapter: Callable[..., TwilioVoiceAdapter],
) -> None:
    params = inbound_params(
        CallStatus="in-progress", SpeechResult="Call me at 8.", Confidence="0.9"
    )
    (message,) = (await handle(make_adapter(), form_request(WEBHOOK_URL, params))).messages
    assert message.content.text == "Call me at 8."
    assert message.metadata["confidence"] == "0.9"
    assert message.provider_id is not None
    assert message.provider_id.startswith("CAfedcba9876543210fedcba9876543210:speech:")
    other = inbound_params(CallStatus="in-progress", SpeechResult="Or at 9.")
    (second,) = (await handle(make_adapter(), form_request(WEBHOOK_URL, other))).messages
    assert second.provider_id != message.provider_id
    assert second.thread == message.thread


async def test_a_withheld_caller_id_is_kept_as_sent(
    make_adapter: Callable[..., TwilioVoiceAdapter],
) -> None:
    params = inbound_params(From="anonymous", Caller="anonymous")
    (message,) = (await handle(make_adapter(), form_request(WEBHOOK_URL, params))).messages
    assert message.sender is not None
    assert message.sender.value == "anonymous"


async def test_simulate_builds_a_signed_speech_webhook_the_adapter_accepts(
    make_adapter: Callable[..., TwilioVoiceAdapter],
) -> None:
    adapter = make_adapter()
    request = adapter.simulate(
        sender="+1 415 555 0199", text="Please call me back", url=WEBHOOK_URL
    )
    form = dict(request.form())
    assert form["CallSid"].startswith("CA")
    assert len(form["CallSid"]) == 34
    assert form["Direction"] == "inbound"
    assert form["SpeechResult"] == "Please call me back"
    assert form["To"] == "+14155550100"
    assert form["FromCity"] == ""
    (message,) = (await handle(adapter, request)).messages
    assert message.content.text == "Please call me back"
    assert message.sender is not None
    assert message.sender.value == "+14155550199"
