"""Network faults on the durable path: the Twilio SMS adapter, the default transport and a
scripted loopback stand-in, each fault ending the outbox row in the state its safety rules
say (and reaching the "provider" as often as they allow)."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from omnichannel import OutcomeUnknown, PluginHost, Router, SendError
from omnichannel.events import DeliveryStatus
from omnichannel.http import RetryPolicy, Sender
from omnichannel.plugin import AdapterContext, build_settings
from omnichannel.store import OutboxState, Store
from omnichannel.testing import make_envelope
from omnichannel.testing.standin import NO_ANSWER, RESET_AFTER_REQUEST, Reply, ScriptedServer
from omnichannel.testing.store_contract import Clock
from omnichannel.transports import AiohttpTransport

pytestmark = pytest.mark.anyio

twilio = pytest.importorskip("omnichannel_twilio")

CUSTOMER = "+14155550199"
CREATED = Reply(
    201,
    b'{"sid": "SM5ef8732a3c49700934481addd5ce1659", "status": "queued", "to": "+14155550199",'
    b' "from": "+14155550100", "body": "hi", "num_segments": "1", "error_code": null}',
)


def _error(status: int, code: int, message: str, *headers: tuple[str, str]) -> Reply:
    body = (
        f'{{"code": {code}, "message": "{message}", '
        f'"more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}'
    ).encode()
    return Reply(status, body, headers=(("Content-Type", "application/json"), *headers))


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _router(store: Store, clock: Clock, base_url: str, sleeps: Sleeps) -> Router:
    settings = build_settings(
        twilio.TwilioSmsSettings,
        twilio.TwilioSmsSimulator.sample_settings(base_url),
        where="test",
    )
    sender = Sender(
        AiohttpTransport(), retry=RetryPolicy(), timeout=0.5, sleep=sleeps, rand=lambda: 0.0
    )
    adapter = twilio.TwilioSmsAdapter(settings, AdapterContext(sender=sender))
    return Router([adapter], host=PluginHost(), sender=sender, clock=clock, store=store)


async def _send(router: Router) -> tuple[str, Any]:
    envelope = make_envelope(channel="sms", to=CUSTOMER, text="hi")
    try:
        outcome: Any = await router.send(envelope)
    except SendError as error:
        outcome = error
    finally:
        await router.aclose()
    return envelope.id, outcome


@pytest.mark.parametrize(
    ("script", "state", "requests"),
    [
        ([_error(500, 20500, "Internal Server Error")], OutboxState.UNKNOWN, 1),
        ([_error(502, 20502, "Bad Gateway")], OutboxState.UNKNOWN, 1),
        ([RESET_AFTER_REQUEST], OutboxState.UNKNOWN, 1),
        ([NO_ANSWER], OutboxState.UNKNOWN, 1),
        ([_error(400, 21211, "Invalid 'To' Phone Number")], OutboxState.FAILED, 1),
        ([_error(429, 20429, "Too Many Requests", ("Retry-After", "1")), CREATED], "sent", 2),
    ],
    ids=["500", "502", "reset-after-request", "read-timeout", "400-invalid-to", "429-then-201"],
)
async def test_each_fault_ends_the_send_in_the_state_its_safety_rules_say(
    store: Store, clock: Clock, script: list[Any], state: Any, requests: int
) -> None:
    async with ScriptedServer(script) as server:
        envelope_id, outcome = await _send(_router(store, clock, server.url, Sleeps()))
    record = await store.outbox_record(envelope_id)
    assert record is not None
    assert record.state == state
    assert len(server.requests) == requests
    if state is OutboxState.UNKNOWN:
        assert isinstance(outcome, OutcomeUnknown)
        assert await store.status_of(envelope_id) is DeliveryStatus.UNKNOWN


@pytest.mark.parametrize("status", [429, 503])
async def test_a_long_retry_after_queues_the_send_for_then(
    store: Store, clock: Clock, status: int
) -> None:
    script = [_error(status, 20429, "Too Many Requests", ("Retry-After", "120"))]
    async with ScriptedServer(script) as server:
        envelope_id, receipt = await _send(_router(store, clock, server.url, Sleeps()))
    assert receipt.status is DeliveryStatus.QUEUED
    record = await store.outbox_record(envelope_id)
    assert record is not None
    assert (record.state, record.due_at) == (OutboxState.QUEUED, clock.now + timedelta(seconds=120))
    assert len(server.requests) == 1


async def test_a_refused_connection_is_retried_then_queued_never_having_reached_anyone(
    store: Store, clock: Clock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    sleeps = Sleeps()
    envelope_id, receipt = await _send(_router(store, clock, f"http://127.0.0.1:{port}", sleeps))
    assert receipt.status is DeliveryStatus.QUEUED
    assert len(sleeps.waits) == 2  # the sender's own retries first
    record = await store.outbox_record(envelope_id)
    assert record is not None
    assert record.state is OutboxState.QUEUED
    assert record.last_error is not None
    assert record.last_error["retryable"] is True
