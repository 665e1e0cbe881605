"""Tests for omnichannel_twilio.voice.simulator: what it checks, what it answers, the callbacks
it posts and the call resources it keeps."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from omnichannel_twilio import TwilioVoiceSettings, TwilioVoiceSimulator
from omnichannel_twilio.webhooks import verify_request

from omnichannel import Secret, WebhookRequest
from omnichannel.http import basic_auth
from omnichannel.sandbox import SimulatorContext

pytestmark = pytest.mark.anyio

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "0123456789abcdef0123456789abcdef"
BASE = "http://sandbox.test/twilio-voice"
CALLS = f"{BASE}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
CALLBACK = "https://hooks.example.com/webhooks/voice?envelope_id=01JENV"
TWIML = "<Response><Say>Hi</Say></Response>"
ALL_EVENTS = ("initiated", "ringing", "answered", "completed")


Recorder = Any  # the ``recorder`` fixture: a CallbackRecorder of tests/conftest.py


@pytest.fixture
def make_simulator(
    make_settings: Callable[..., TwilioVoiceSettings], recorder: Recorder
) -> Callable[..., TwilioVoiceSimulator]:
    def build(
        *, step_delay: float = 0.0, out_of_order: bool = False, **changes: Any
    ) -> TwilioVoiceSimulator:
        context = SimulatorContext(
            public_url="https://hooks.example.com",
            transport=httpx.MockTransport(recorder.handle),
            step_delay=step_delay,
            out_of_order=out_of_order,
            sleep=recorder.sleep,
        )
        return TwilioVoiceSimulator(make_settings(base_url=BASE, **changes), context)

    return build


def create_call(
    fields: list[tuple[str, str]] | None = None,
    *,
    url: str = CALLS,
    token: str = TOKEN,
    account: str = ACCOUNT,
) -> WebhookRequest:
    if fields is None:
        fields = call_fields()
    return WebhookRequest(
        method="POST",
        url=url,
        headers={
            "Authorization": basic_auth(account, token),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=urlencode(fields).encode(),
    )


def call_fields(
    to: str = "+14155550199",
    *,
    events: tuple[str, ...] = ALL_EVENTS,
    callback: str | None = CALLBACK,
    **extra: str,
) -> list[tuple[str, str]]:
    fields = [("To", to), ("From", "+14155550100"), ("Twiml", TWIML)]
    if callback is not None:
        fields.append(("StatusCallback", callback))
        fields += [("StatusCallbackEvent", event) for event in events]
    return fields + list(extra.items())


async def run(simulator: TwilioVoiceSimulator, request: WebhookRequest) -> tuple[int, Any]:
    response = await simulator.handle(request)
    await simulator.context.settle()
    return response.status_code, httpx.Response(200, content=response.body).json()


def test_sample_settings_are_well_formed_fake_credentials() -> None:
    values = TwilioVoiceSimulator.sample_settings("http://127.0.0.1:8865/twilio-voice")
    assert re.fullmatch(r"AC[0-9a-f]{32}", values["account_sid"])
    assert re.fullmatch(r"[0-9a-f]{32}", values["auth_token"])
    assert values["auth_token"] not in values["account_sid"]
    assert values["from"] == "+14155550100"
    assert values["base_url"] == "http://127.0.0.1:8865/twilio-voice"
    assert TwilioVoiceSimulator.adapter_name == "voice.twilio"
    assert TwilioVoiceSimulator.prefix == "twilio-voice"


async def test_a_call_is_created_with_a_realistic_201(
    make_simulator: Callable[..., TwilioVoiceSimulator],
) -> None:
    status, body = await run(make_simulator(), create_call())
    assert status == 201
    assert re.fullmatch(r"CA[0-9a-f]{32}", body["sid"])
    assert body["account_sid"] == ACCOUNT
    assert body["status"] == "queued"
    assert body["direction"] == "outbound-api"
    assert body["to"] == "+14155550199"
    assert body["from"] == "+14155550100"
    assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{body['sid']}.json"


@pytest.mark.parametrize(
    ("token", "account"),
    [("ffffffffffffffffffffffffffffffff", ACCOUNT), (TOKEN, "AC" + "1" * 32)],
)
async def test_wrong_credentials_get_twilios_401(
    make_simulator: Callable[..., TwilioVoiceSimulator],
    recorder: Recorder,
    token: str,
    account: str,
) -> None:
    status, body = await run(make_simulator(), create_call(token=token, account=account))
    assert status == 401
    assert body == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert not recorder.requests


async def test_missing_credentials_get_twilios_401(
    make_simulator: Callable[..., TwilioVoiceSimulator],
) -> None:
    request = WebhookRequest(method="POST", url=CALLS, body=urlencode(call_fields()).encode())
    status, body = await run(make_simulator(), request)
    assert (status, body["code"]) == (401, 20003)


async def test_the_secondary_token_authenticates_too(
    make_simulator: Callable[..., TwilioVoiceSimulator],
) -> None:
    simulator = make_simulator(secondary_auth_token="fedcba9876543210fedcba9876543210")
    status, _ = await run(simulator, create_call(token="fedcba9876543210fedcba9876543210"))
    assert status == 201


async def test_another_account_in_the_path_is_refused_as_twilio_refuses_it(
    make_simulator: Callable[..., TwilioVoiceSimulator],
) -> None:
    # Credentials that do not cover the account in the path: 401, code 20003 ("Using
    # subaccount credentials to access master account", Twilio's error page 20003).
    other = CALLS.replace(ACCOUNT, "AC" + "2" * 32)
    status, body = await run(make_simulator(), create_call(url=other))
    assert (status, body["code"]) == (401, 20003)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param([("From", "+14155550100"), ("Twiml", TWIML)], 21201, id="no To"),
        pytest.param([("To", "+14155550199"), ("Twiml", TWIML)], 21213, id="no From"),
        pytest.param([("To", "+14155550199"), ("From", "+14155550100")], 21205, id="no TwiML"),
        pytest.param(call_fields("+15005550001"), 21211, id="the invalid magic number"),
        pytest.param(call_fields("+1555"), 21211, id="not a phone number"),
        pytest.param(
            [("To", "+14155550199"), ("From", "+14155550111"), ("Twiml", TWIML)],
            21210,
            id="From not of the account",
        ),
    ],
)
async def test_bad_requests_get_twilios_400_and_no_call(
    make_simulator: Callable[..., TwilioVoiceSimulator],
    recorder: Recorder,
    fields: list[tuple[str, str]],
    code: int,
) -> None:
    simulator = make_simulator()
    status, body = await run(simulator, create_call(fields))
    assert status == 400
    assert body["code"] == code
    assert body["status"] == 400
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert not simulator.resources
    assert not recorder.requests


async def test_url_or_application_sid_may_replace_twiml(
    make_simulator: Callable[..., TwilioVoiceSimulator],
) -> None:
    fields = [("To", "+14155550199"), ("From", "+14155550100"), ("Url", "https://x.example/t")]
    status, _ = await run(make_simulator(), create_call(fields))
    assert status == 201


async def test_status_callbacks_are_signed_over_the_exact_url_and_params(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    _, body = await run(make_simulator(), create_call())
    assert [str(r.url) for r in recorder.requests] == [CALLBACK] * 4
    for request in recorder.requests:
        incoming = WebhookRequest(
            method="POST", url=CALLBACK, headers=list(request.headers.items()), body=request.content
        )
        verify_request(incoming, [Secret(TOKEN)])
    forms = recorder.forms()
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2", "3"]
    assert all(f["CallSid"] == body["sid"] for f in forms)
    assert all(f["CallbackSource"] == "call-progress-events" for f in forms)
    assert all(f["Direction"] == "outbound-api" for f in forms)
    assert all(f["ToZip"] == "" for f in forms)
    assert forms[3]["CallDuration"] == "12"
    assert "CallDuration" not in forms[2]
    assert not any("AnsweredBy" in f for f in forms)


async def test_answered_by_human_is_reported_when_detection_was_asked(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    await run(make_simulator(), create_call(call_fields(MachineDetection="DetectMessageEnd")))
    forms = recorder.forms()
    assert forms[2]["AnsweredBy"] == "human"
    assert "AnsweredBy" not in forms[1]


async def test_the_voicemail_number_is_answered_by_a_machine(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    fields = call_fields("+15005550012", MachineDetection="DetectMessageEnd")
    await run(make_simulator(), create_call(fields))
    assert recorder.forms()[2]["AnsweredBy"] == "machine_end_beep"


@pytest.mark.parametrize(
    ("number", "final"), [("+15005550010", "busy"), ("+15005550011", "no-answer")]
)
async def test_magic_numbers_end_busy_or_unanswered(
    make_simulator: Callable[..., TwilioVoiceSimulator],
    recorder: Recorder,
    number: str,
    final: str,
) -> None:
    status, _ = await run(make_simulator(), create_call(call_fields(number)))
    assert status == 201
    forms = recorder.forms()
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", final]
    assert forms[-1]["CallDuration"] == "0"


async def test_only_subscribed_events_are_posted_numbered_as_sent(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    await run(make_simulator(), create_call(call_fields(events=("answered", "completed"))))
    forms = recorder.forms()
    assert [(f["CallStatus"], f["SequenceNumber"]) for f in forms] == [
        ("in-progress", "0"),
        ("completed", "1"),
    ]


async def test_without_events_only_completed_is_posted(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    await run(make_simulator(), create_call(call_fields(events=())))
    assert [f["CallStatus"] for f in recorder.forms()] == ["completed"]


async def test_without_a_status_callback_nothing_is_posted(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    status, _ = await run(make_simulator(), create_call(call_fields(callback=None)))
    assert status == 201
    assert not recorder.requests


async def test_out_of_order_posts_the_callbacks_in_reverse(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    await run(make_simulator(out_of_order=True), create_call())
    forms = recorder.forms()
    assert [f["CallStatus"] for f in forms] == ["completed", "in-progress", "ringing", "initiated"]
    assert [f["SequenceNumber"] for f in forms] == ["3", "2", "1", "0"]


async def test_steps_are_paced_by_the_contexts_sleep_not_real_time(
    make_simulator: Callable[..., TwilioVoiceSimulator], recorder: Recorder
) -> None:
    await run(make_simulator(step_delay=0.25), create_call())
    assert recorder.sleeps == [0.25] * 4
    assert len(recorder.requests) == 4


def test_the_scenarios_omni_sandbox_lists_are_the_outcomes_the_simulator_plays() -> None:
    scenarios = TwilioVoiceSimulator.scenarios
    assert TwilioVoiceSimulator.outcome("+15005550010")[-1] == "busy"
    assert scenarios["+15005550010"] == "rings, then ends busy"
    assert TwilioVoiceSimulator.outcome("+15005550011")[-1] == "no-answer"
    assert scenarios["+15005550011"] == "rings, then ends no-answer"
    assert set(scenarios) == {"+15005550001", "+15005550010", "+15005550011", "+15005550012"}
