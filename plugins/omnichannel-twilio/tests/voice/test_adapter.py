"""Tests for omnichannel_twilio.voice.adapter: the exact create-call request, receipts, errors,
scheduling, the call statuses handed to the application in order, and looking an unknown call
up (``reconcile``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import respx
from omnichannel_twilio import TwilioVoiceAdapter, TwilioVoiceSimulator

from omnichannel import (
    Address,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidAddress,
    InvalidEnvelope,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    Router,
    StatusUpdate,
    UnsupportedFeature,
)
from omnichannel.errors import InvalidRecipient
from omnichannel.http import RetryPolicy, Sender
from omnichannel.plugin import AdapterContext
from omnichannel.plugins import PluginHost
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.web import WebhookApp

pytestmark = pytest.mark.anyio

CALLS_URL = (
    "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"
)
CALLS_PATH = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"
CUSTOMER = "+14155550199"
TEXT = "We are calling you back about order 42."
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
SAY = '<Say language="en-US" voice="Polly.Joanna">'
EVENTS = [("StatusCallbackEvent", e) for e in ("initiated", "ringing", "answered", "completed")]


def callback_envelope(text: str = TEXT, **changes: Any) -> Envelope:
    return Envelope(
        channel="voice", recipient=Address(channel="voice", value=CUSTOMER), content=text, **changes
    )


def created(payload: Callable[[str], bytes]) -> httpx.Response:
    return httpx.Response(
        201, content=payload("call_created.json"), headers={"Content-Type": "application/json"}
    )


def expected_body(envelope: Envelope, twiml: str, *extra: tuple[str, str]) -> str:
    return urlencode(
        [
            ("To", CUSTOMER),
            ("From", "+14155550100"),
            ("Twiml", twiml),
            (
                "StatusCallback",
                f"https://hooks.example.com/webhooks/voice?envelope_id={envelope.id}",
            ),
            *EVENTS,
            *extra,
        ]
    )


async def test_a_callback_places_a_call_that_says_the_text(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
    vectors: dict[str, Any],
) -> None:
    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    envelope = callback_envelope()
    receipt = await make_router(make_adapter()).send(envelope)

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.path == CALLS_PATH
    assert (
        request.headers["Authorization"]
        == vectors["twilio-basic-auth-header"]["expected_authorization"]
    )
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    twiml = f"{DECLARATION}<Response>{SAY}{TEXT}</Say></Response>"
    assert request.content.decode() == expected_body(envelope, twiml)

    assert receipt.provider_id == "CA0123456789abcdef0123456789abcdef"
    assert receipt.status is DeliveryStatus.INITIATED
    assert receipt.channel == "voice"
    assert receipt.adapter == "voice.twilio"
    assert receipt.raw == json.loads(payload("call_created.json"))


async def test_connect_to_in_metadata_dials_that_number_after_the_message(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    envelope = callback_envelope(metadata={"connect_to": "+1 (415) 555-0124"})
    await make_router(make_adapter(agent="+14155550123")).send(envelope)
    twiml = (
        f"{DECLARATION}<Response>{SAY}{TEXT}</Say>"
        '<Dial answerOnBridge="true" callerId="+14155550100" timeout="20">'
        "<Number>+14155550124</Number></Dial>"
        "<Say>Sorry, nobody is available. Goodbye.</Say></Response>"
    )
    assert route.calls.last.request.content.decode() == expected_body(envelope, twiml)


async def test_the_agent_setting_is_dialled_when_the_envelope_names_nobody(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    await make_router(make_adapter(agent="+14155550123")).send(callback_envelope())
    form = dict(parse_qsl(route.calls.last.request.content.decode()))
    assert "<Number>+14155550123</Number>" in form["Twiml"]


@pytest.mark.parametrize("connect_to", ["555-0124", "+1555", 4155550124])
async def test_an_invalid_connect_to_is_refused_before_any_request(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    connect_to: object,
) -> None:
    envelope = callback_envelope(metadata={"connect_to": connect_to})
    with pytest.raises(InvalidAddress) as caught:
        await make_router(make_adapter()).send(envelope)
    assert caught.value.channel == "voice"
    assert caught.value.envelope_id == envelope.id
    assert not respx_router.calls


@pytest.mark.parametrize("number", ["4155550199", "+1555", "+999123"])
async def test_an_invalid_customer_number_is_refused_before_any_request(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    number: str,
) -> None:
    envelope = Envelope(
        channel="voice", recipient=Address(channel="voice", value=number), content=TEXT
    )
    with pytest.raises(InvalidAddress):
        await make_router(make_adapter()).send(envelope)
    assert not respx_router.calls


async def test_text_longer_than_a_call_says_is_refused_not_split(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
) -> None:
    with pytest.raises(ContentTooLong):
        await make_router(make_adapter()).send(callback_envelope("word " * 700))
    assert not respx_router.calls


async def test_twiml_over_4000_characters_once_escaped_is_refused(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
) -> None:
    # 900 "&" fit max_text_length but become 4,500 characters of "&amp;".
    with pytest.raises(ContentTooLong, match="4000"):
        await make_router(make_adapter()).send(callback_envelope("&" * 900))
    assert not respx_router.calls


async def test_machine_detection_asks_twilio_to_wait_for_the_beep_and_adds_the_voicemail_line(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    adapter = make_adapter(machine_detection="true", voicemail_message="Call us on 415 555 0100.")
    envelope = callback_envelope()
    await make_router(adapter).send(envelope)
    twiml = (
        f"{DECLARATION}<Response>{SAY}{TEXT}</Say>{SAY}Call us on 415 555 0100.</Say></Response>"
    )
    assert route.calls.last.request.content.decode() == expected_body(
        envelope, twiml, ("MachineDetection", "DetectMessageEnd")
    )


async def test_without_a_public_url_no_status_callback_is_requested(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    await make_router(make_adapter(public_url=None)).send(callback_envelope())
    names = [name for name, _ in parse_qsl(route.calls.last.request.content.decode())]
    assert names == ["To", "From", "Twiml"]


async def test_provider_options_pass_through_as_form_fields(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    envelope = callback_envelope(
        provider_options={
            "voice.twilio": {"Timeout": 30, "TimeLimit": 600, "Record": True},
            "sms.twilio": {"ValidityPeriod": 60},
        }
    )
    await make_router(make_adapter()).send(envelope)
    twiml = f"{DECLARATION}<Response>{SAY}{TEXT}</Say></Response>"
    assert route.calls.last.request.content.decode() == expected_body(
        envelope, twiml, ("Timeout", "30"), ("TimeLimit", "600"), ("Record", "true")
    )


async def test_provider_options_that_are_not_flat_are_refused(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
) -> None:
    envelope = callback_envelope(provider_options={"voice.twilio": {"Record": {"on": True}}})
    with pytest.raises(InvalidEnvelope, match=r"voice\.twilio"):
        await make_router(make_adapter()).send(envelope)
    assert not respx_router.calls


async def test_twilio_429_becomes_rate_limited_with_its_retry_after(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    respx_router.post(CALLS_URL).mock(
        return_value=httpx.Response(
            429, content=payload("error_20429_too_many_requests.json"), headers={"Retry-After": "7"}
        )
    )
    with pytest.raises(RateLimited) as caught:
        await make_router(make_adapter()).send(callback_envelope())
    assert caught.value.retryable
    assert caught.value.retry_after == 7.0
    assert caught.value.provider_code == "20429"
    assert caught.value.adapter == "voice.twilio"


async def test_the_sender_waits_the_retry_after_then_places_the_call(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    route = respx_router.post(CALLS_URL)
    route.side_effect = [
        httpx.Response(
            429, content=payload("error_20429_too_many_requests.json"), headers={"Retry-After": "3"}
        ),
        created(payload),
    ]
    adapter = make_adapter(retry=RetryPolicy(max_attempts=2), sleep=sleep)
    receipt = await make_router(adapter).send(callback_envelope())
    assert slept == [3.0]
    assert receipt.provider_id == "CA0123456789abcdef0123456789abcdef"
    assert route.calls[0].request.content == route.calls[1].request.content


async def test_an_invalid_to_answer_becomes_invalid_recipient(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
) -> None:
    respx_router.post(CALLS_URL).mock(
        return_value=httpx.Response(400, content=payload("call_error_21211_invalid_to.json"))
    )
    with pytest.raises(InvalidRecipient) as caught:
        await make_router(make_adapter()).send(callback_envelope())
    assert caught.value.provider_code == "21211"
    assert "not a valid phone number" in str(caught.value)


async def test_a_2xx_without_a_call_sid_is_a_provider_error(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
) -> None:
    respx_router.post(CALLS_URL).mock(return_value=httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(ProviderError, match="without a call sid"):
        await make_router(make_adapter()).send(callback_envelope())


# --- scheduling --------------------------------------------------------------------------------


async def test_a_callback_booked_for_later_waits_for_send_due(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
    clock: list[datetime],
) -> None:
    router = make_router(make_adapter())
    envelope = callback_envelope(send_at=clock[0] + timedelta(hours=2))

    receipt = await router.send(envelope)
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider_ids == ()
    assert not respx_router.calls  # no route exists: any request would have failed the send
    assert await router.send_due() == []
    assert router.scheduled == [envelope]

    route = respx_router.post(CALLS_URL).mock(return_value=created(payload))
    clock[0] += timedelta(hours=2)
    (placed,) = await router.send_due()
    assert placed.envelope_id == envelope.id
    assert placed.provider_id == "CA0123456789abcdef0123456789abcdef"
    assert placed.status is DeliveryStatus.INITIATED
    form = dict(parse_qsl(route.calls.last.request.content.decode()))
    assert form["StatusCallback"].endswith(f"envelope_id={envelope.id}")
    assert router.scheduled == []


async def test_the_adapter_alone_refuses_a_future_send_at(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    respx_router: respx.MockRouter,
    clock: list[datetime],
) -> None:
    envelope = callback_envelope(send_at=clock[0] + timedelta(minutes=5))
    with pytest.raises(UnsupportedFeature, match="send_at"):
        await make_adapter().send(envelope)
    assert not respx_router.calls


# --- statuses through the router ---------------------------------------------------------------


def _router_over_the_sandbox(
    make_settings: Callable[..., Any], *, out_of_order: bool = False
) -> tuple[Router, Sandbox, list[StatusUpdate]]:
    """A router whose adapter calls the voice simulator, which posts its callbacks back to the
    router's webhook app; the list collects the status updates the handlers see."""
    context = SimulatorContext(public_url="https://hooks.example.com", out_of_order=out_of_order)
    settings = make_settings(base_url="http://sandbox.test/twilio-voice")
    sandbox = Sandbox([TwilioVoiceSimulator(settings, context)], context)
    sender = Sender(httpx.ASGITransport(app=sandbox), retry=RetryPolicy(max_attempts=1))
    adapter = TwilioVoiceAdapter(
        settings, AdapterContext(sender=sender, public_url="https://hooks.example.com")
    )
    router = Router([adapter], host=PluginHost())
    context.set_transport(httpx.ASGITransport(app=WebhookApp.for_router(router)))
    seen: list[StatusUpdate] = []
    router.on_status(seen.append)
    return router, sandbox, seen


async def test_callbacks_in_reverse_order_reach_the_handlers_in_call_order(
    make_settings: Callable[..., Any],
) -> None:
    router, sandbox, seen = _router_over_the_sandbox(make_settings, out_of_order=True)

    receipt = await router.send(callback_envelope())
    await sandbox.settle()
    await sandbox.aclose()

    assert [update.status for update in seen if update.status is not DeliveryStatus.INITIATED] == [
        DeliveryStatus.RINGING,
        DeliveryStatus.ANSWERED,
        DeliveryStatus.COMPLETED,
    ]
    assert [update.sequence for update in seen] == sorted(update.sequence or 0 for update in seen)
    assert all(update.provider_id == receipt.provider_id for update in seen)
    assert router.status_of(receipt.envelope_id) is DeliveryStatus.COMPLETED


async def test_a_busy_customer_ends_busy_and_retryable_through_the_router(
    make_settings: Callable[..., Any],
) -> None:
    router, sandbox, seen = _router_over_the_sandbox(make_settings)
    envelope = Envelope(
        channel="voice", recipient=Address(channel="voice", value="+15005550010"), content=TEXT
    )

    await router.send(envelope)
    await sandbox.settle()
    await sandbox.aclose()

    last = seen[-1]
    assert last.status is DeliveryStatus.BUSY
    assert last.reason is FailureReason.UNREACHABLE
    assert last.retryable
    assert router.status_of(envelope.id) is DeliveryStatus.BUSY


# --- reconcile: looking an unknown call up ----------------------------------------------------


async def test_reconcile_lists_calls_by_to_from_and_start_time_and_finds_the_one_placed(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    respx_router: respx.MockRouter,
    fixture_response: Callable[[str], httpx.Response],
    vectors: dict[str, Any],
    clock: list[datetime],
) -> None:
    route = respx_router.get(CALLS_URL).mock(return_value=fixture_response("calls_list_page.json"))
    found = await make_adapter().reconcile(callback_envelope(), attempted_at=clock[0])
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.path == CALLS_PATH
    assert (
        request.headers["Authorization"]
        == vectors["twilio-basic-auth-header"]["expected_authorization"]
    )
    assert list(request.url.params.multi_items()) == [
        ("To", CUSTOMER),
        ("From", "+14155550100"),
        ("StartTime>", "2026-11-03"),
        ("PageSize", "100"),
    ]
    # The no-answer call of the morning was before the attempt; the one since is it.
    assert found is not None
    assert found.provider_id == "CA0123456789abcdef0123456789abcdef"
    assert found.status is DeliveryStatus.COMPLETED


async def test_reconcile_finds_no_call_when_none_was_placed_since_the_attempt(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    respx_router: respx.MockRouter,
    fixture_response: Callable[[str], httpx.Response],
    clock: list[datetime],
) -> None:
    respx_router.get(CALLS_URL).mock(return_value=fixture_response("calls_list_page.json"))
    later = clock[0] + timedelta(minutes=5)
    assert await make_adapter().reconcile(callback_envelope(), attempted_at=later) is None


async def test_the_router_settles_an_unknown_call_with_the_call_twilio_lists(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    make_router: Callable[[TwilioVoiceAdapter], Router],
    respx_router: respx.MockRouter,
    fixture_response: Callable[[str], httpx.Response],
) -> None:
    respx_router.post(CALLS_URL).mock(return_value=httpx.Response(502, text="Bad Gateway"))
    respx_router.get(CALLS_URL).mock(return_value=fixture_response("calls_list_page.json"))
    router = make_router(make_adapter())
    with pytest.raises(OutcomeUnknown) as caught:
        await router.send(callback_envelope())
    envelope = caught.value.envelope
    assert envelope is not None
    receipt = await router.reconcile(envelope, attempted_at=caught.value.attempted_at)
    assert receipt is not None
    assert receipt.provider_id == "CA0123456789abcdef0123456789abcdef"
    assert receipt.adapter == "voice.twilio"
    assert router.status_of(envelope.id) is DeliveryStatus.COMPLETED


async def test_a_call_placed_for_another_envelope_is_not_taken_for_this_one(
    make_adapter: Callable[..., TwilioVoiceAdapter],
    respx_router: respx.MockRouter,
    payload: Callable[[str], bytes],
    fixture_response: Callable[[str], httpx.Response],
    clock: list[datetime],
) -> None:
    respx_router.post(CALLS_URL).mock(return_value=created(payload))
    respx_router.get(CALLS_URL).mock(return_value=fixture_response("calls_list_page.json"))
    adapter = make_adapter()
    first = callback_envelope()
    await adapter.send(first)
    assert await adapter.reconcile(callback_envelope(), attempted_at=clock[0]) is None
    found = await adapter.reconcile(first, attempted_at=clock[0])
    assert found is not None
    assert found.provider_id == "CA0123456789abcdef0123456789abcdef"
