"""Tests for omnichannel_twilio.messaging.simulator: the sandbox's stand-in for Twilio Messaging.

Requests reach the simulator as the sandbox passes them (``WebhookRequest`` values), or through
``httpx.ASGITransport`` around the sandbox app when the real adapter sends them. Status
callbacks go through an ``httpx.MockTransport`` around the ``recorder`` fixture; ``step_delay``
is 0 and ``sleep`` is the recorder's, so no test sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from omnichannel_twilio import TwilioSmsAdapter, TwilioSmsSettings, TwilioSmsSimulator
from omnichannel_twilio.webhooks import verify_request

from omnichannel import (
    Address,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidRecipient,
    PluginHost,
    Router,
    StatusUpdate,
    WebhookRequest,
)
from omnichannel.http import basic_auth
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.web import WebhookApp

pytestmark = pytest.mark.anyio

SANDBOX = "http://sandbox.test/twilio-messaging"
PUBLIC_URL = "https://support.example.com"
SAMPLE = TwilioSmsSimulator.sample_settings(SANDBOX)
ACCOUNT = SAMPLE["account_sid"]
TOKEN = SAMPLE["auth_token"]
MESSAGES = f"{SANDBOX}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
CALLBACK = f"{PUBLIC_URL}/webhooks/sms?envelope_id=01JC0000000000000000000001"


def settings(**changes: Any) -> TwilioSmsSettings:
    values = {**SAMPLE, **changes}
    return build_settings(TwilioSmsSettings, values, where="test")


Recorder = Any  # the ``recorder`` fixture: a CallbackRecorder of tests/conftest.py


def simulator(
    recorder: Recorder, *, out_of_order: bool = False, step_delay: float = 0.0, **changes: Any
) -> TwilioSmsSimulator:
    context = SimulatorContext(
        public_url=PUBLIC_URL,
        transport=httpx.MockTransport(recorder.handle),
        step_delay=step_delay,
        out_of_order=out_of_order,
        sleep=recorder.sleep,
    )
    return TwilioSmsSimulator(settings(**changes), context)


def api_request(
    form: Sequence[tuple[str, str]],
    *,
    url: str = MESSAGES,
    method: str = "POST",
    authorization: str | None = None,
) -> WebhookRequest:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["Authorization"] = authorization or basic_auth(ACCOUNT, TOKEN)
    return WebhookRequest(method=method, url=url, headers=headers, body=urlencode(form).encode())


GOOD_FORM = [
    ("To", "+14155550199"),
    ("From", "+14155550100"),
    ("Body", "hi"),
    ("StatusCallback", CALLBACK),
]


def json_of(response: Any) -> Any:
    return httpx.Response(response.status_code, content=response.body).json()


# --- the API -------------------------------------------------------------------------------------


async def test_a_good_request_is_answered_201_with_a_realistic_message(recorder: Recorder) -> None:
    sim = simulator(recorder)
    response = await sim.handle(api_request(GOOD_FORM[:3]))
    assert response.status_code == 201
    assert response.content_type == "application/json"
    message = json_of(response)
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message["status"] == "queued"
    assert message["account_sid"] == ACCOUNT
    assert (message["to"], message["from"], message["body"]) == (
        "+14155550199",
        "+14155550100",
        "hi",
    )
    assert message["direction"] == "outbound-api"
    assert (message["num_segments"], message["num_media"]) == ("1", "0")
    assert message["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{message['sid']}.json"
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000", message["date_created"])


async def test_media_make_an_mms(recorder: Recorder) -> None:
    sim = simulator(recorder)
    form = [*GOOD_FORM[:2], ("MediaUrl", "https://cdn.example.com/a.jpg")]
    message = json_of(await sim.handle(api_request(form)))
    assert message["sid"].startswith("MM")
    assert message["num_media"] == "1"


async def test_a_messaging_service_send_starts_accepted_without_a_from(recorder: Recorder) -> None:
    service = "MG" + "c" * 32
    changes: dict[str, Any] = {"from": None, "messaging_service_sid": service}
    sim = simulator(recorder, **changes)
    form = [("To", "+14155550199"), ("MessagingServiceSid", service), ("Body", "hi")]
    message = json_of(await sim.handle(api_request(form)))
    assert (message["status"], message["from"], message["num_segments"]) == ("accepted", None, "0")
    assert message["messaging_service_sid"] == service


@pytest.mark.parametrize(
    "authorization",
    [
        basic_auth(ACCOUNT, "0" * 32),
        basic_auth("AC" + "f" * 32, TOKEN),
        "Bearer token",
        "Basic not-base64!",
    ],
)
async def test_wrong_credentials_get_twilios_401(recorder: Recorder, authorization: str) -> None:
    response = await simulator(recorder).handle(api_request(GOOD_FORM, authorization=authorization))
    assert response.status_code == 401
    assert json_of(response) == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert ("WWW-Authenticate", 'Basic realm="Twilio API"') in response.headers


async def test_another_account_in_the_path_gets_401(recorder: Recorder) -> None:
    other = MESSAGES.replace(ACCOUNT, "AC" + "e" * 32)
    response = await simulator(recorder).handle(api_request(GOOD_FORM, url=other))
    assert response.status_code == 401
    assert json_of(response)["code"] == 20003


async def test_an_api_key_is_accepted_when_configured(recorder: Recorder) -> None:
    key = "SK" + "d" * 32
    sim = simulator(recorder, api_key_sid=key, api_key_secret="key-secret")
    response = await sim.handle(
        api_request(GOOD_FORM[:3], authorization=basic_auth(key, "key-secret"))
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("From", "+14155550100"), ("Body", "hi")], 21604),
        ([("To", "+14155550199"), ("Body", "hi")], 21603),
        ([("To", "+14155550199"), ("From", "+14155550100")], 21602),
        ([("To", "+1555"), ("From", "+14155550100"), ("Body", "hi")], 21211),
        ([("To", "+15005550001"), ("From", "+14155550100"), ("Body", "hi")], 21211),
        ([("To", "+15005550002"), ("From", "+14155550100"), ("Body", "hi")], 21612),
        ([("To", "+15005550003"), ("From", "+14155550100"), ("Body", "hi")], 21408),
        ([("To", "+15005550004"), ("From", "+14155550100"), ("Body", "hi")], 21610),
        ([("To", "+15005550009"), ("From", "+14155550100"), ("Body", "hi")], 21614),
        ([("To", "+14155550199"), ("From", "+14155550777"), ("Body", "hi")], 21606),
        ([("To", "+14155550199"), ("From", "+14155550100"), ("Body", "x" * 1601)], 21617),
        (
            [("To", "+14155550199"), ("From", "+14155550100")]
            + [("MediaUrl", f"https://cdn.example.com/{n}.jpg") for n in range(11)],
            21623,
        ),
    ],
)
async def test_invalid_requests_get_twilios_400_with_its_code(
    recorder: Recorder, form: list[tuple[str, str]], code: int
) -> None:
    response = await simulator(recorder).handle(api_request(form))
    assert response.status_code == 400
    body = json_of(response)
    assert body["code"] == code
    assert body["status"] == 400
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["message"]


async def test_a_content_sid_replaces_the_body(recorder: Recorder) -> None:
    form = [("To", "+14155550199"), ("From", "+14155550100"), ("ContentSid", "HX" + "0" * 32)]
    assert (await simulator(recorder).handle(api_request(form))).status_code == 201


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", f"{SANDBOX}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"),
        ("GET", f"{SANDBOX}/v1/Services"),
        ("GET", f"{SANDBOX}/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'0' * 32}.json"),
    ],
)
async def test_unknown_routes_get_twilios_404(recorder: Recorder, method: str, url: str) -> None:
    response = await simulator(recorder).handle(api_request([], url=url, method=method))
    assert response.status_code == 404
    body = json_of(response)
    assert body["code"] == 20404
    assert body["status"] == 404


# --- status callbacks ----------------------------------------------------------------------------


async def test_sent_then_delivered_callbacks_are_posted_signed_to_the_status_callback(
    recorder: Recorder,
) -> None:
    sim = simulator(recorder, step_delay=0.25)
    message = json_of(await sim.handle(api_request(GOOD_FORM)))
    await sim.context.settle()
    assert recorder.sleeps == [0.25, 0.25]
    assert [str(request.url) for request in recorder.requests] == [CALLBACK, CALLBACK]
    statuses = []
    for request in recorder.requests:
        received = WebhookRequest(
            method=request.method,
            url=str(request.url),
            headers=list(request.headers.items()),
            body=request.content,
        )
        verify_request(received, [TOKEN])
        params = dict(received.form())
        assert params["MessageSid"] == params["SmsSid"] == message["sid"]
        assert params["AccountSid"] == ACCOUNT
        assert (params["To"], params["From"]) == ("+14155550199", "+14155550100")
        assert params["SmsStatus"] == params["MessageStatus"]
        statuses.append(params["MessageStatus"])
    assert statuses == ["sent", "delivered"]


async def test_out_of_order_delivery_posts_the_callbacks_reversed(recorder: Recorder) -> None:
    sim = simulator(recorder, out_of_order=True)
    await sim.handle(api_request(GOOD_FORM))
    await sim.context.settle()
    statuses = [
        dict(WebhookRequest(method="POST", url="", body=r.content).form())
        for r in recorder.requests
    ]
    assert [params["MessageStatus"] for params in statuses] == ["delivered", "sent"]


async def test_no_status_callback_means_no_callbacks(recorder: Recorder) -> None:
    sim = simulator(recorder)
    await sim.handle(api_request(GOOD_FORM[:3]))
    await sim.context.settle()
    assert recorder.requests == []


async def test_a_fetched_message_shows_its_latest_status(recorder: Recorder) -> None:
    sim = simulator(recorder)
    sid = json_of(await sim.handle(api_request(GOOD_FORM)))["sid"]
    await sim.context.settle()
    fetched = await sim.handle(
        api_request([], method="GET", url=MESSAGES.replace(".json", f"/{sid}.json"))
    )
    assert fetched.status_code == 200
    body = json_of(fetched)
    assert body["status"] == "delivered"
    assert body["date_sent"] is not None


# --- the adapter against the simulator -----------------------------------------------------------


async def test_the_adapter_sends_through_the_sandbox_and_hears_back_about_its_envelope(
    recorder: Recorder,
) -> None:
    context = SimulatorContext(public_url=PUBLIC_URL, step_delay=0.0, sleep=recorder.sleep)
    sandbox = Sandbox([TwilioSmsSimulator(settings(), context)], context)
    sender = Sender(httpx.ASGITransport(app=sandbox), retry=RetryPolicy(max_attempts=1))
    adapter = TwilioSmsAdapter(settings(), AdapterContext(sender=sender, public_url=PUBLIC_URL))
    router = Router([adapter], host=PluginHost())
    context.set_transport(httpx.ASGITransport(app=WebhookApp.for_router(router)))
    updates: list[StatusUpdate] = []
    router.on_status(updates.append)
    envelope = Envelope(
        channel="sms", recipient=Address(channel="sms", value="+14155550199"), content="hello"
    )
    receipt = await router.send(envelope)
    await sandbox.settle()
    await sandbox.aclose()
    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.provider_id or "")
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert [(u.status, u.envelope_id, u.provider_id) for u in updates] == [
        (DeliveryStatus.SENT, envelope.id, receipt.provider_id),
        (DeliveryStatus.DELIVERED, envelope.id, receipt.provider_id),
    ]
    assert router.status_of(envelope.id) is DeliveryStatus.DELIVERED


async def test_a_magic_number_fails_through_the_adapter_as_the_real_api_would() -> None:
    context = SimulatorContext(public_url=PUBLIC_URL)
    sandbox = Sandbox([TwilioSmsSimulator(settings(), context)], context)
    sender = Sender(httpx.ASGITransport(app=sandbox), retry=RetryPolicy(max_attempts=1))
    adapter = TwilioSmsAdapter(settings(), AdapterContext(sender=sender))
    envelope = Envelope(
        channel="sms", recipient=Address(channel="sms", value="+15005550004"), content="hi"
    )
    with pytest.raises(InvalidRecipient) as caught:
        await Router([adapter], host=PluginHost()).send(envelope)
    assert caught.value.reason is FailureReason.OPTED_OUT
    await sandbox.aclose()


def test_the_sample_settings_build_valid_settings() -> None:
    built = settings()
    assert built.account_sid.startswith("AC")
    assert len(built.auth_token.reveal()) == 32
    assert built.from_ == "+14155550100"
    assert built.base_url == SANDBOX
    assert TwilioSmsSimulator.sample_recipient == "+14155550199"
    assert (TwilioSmsSimulator.adapter_name, TwilioSmsSimulator.prefix) == (
        "sms.twilio",
        "twilio-messaging",
    )


def test_every_magic_number_is_listed_as_a_scenario_for_omni_sandbox() -> None:
    from omnichannel_twilio.messaging.simulator import MAGIC_RECIPIENTS

    assert set(TwilioSmsSimulator.scenarios) == set(MAGIC_RECIPIENTS)
    assert TwilioSmsSimulator.scenarios["+15005550004"].startswith(
        "refused at once: 400, error 21610"
    )
