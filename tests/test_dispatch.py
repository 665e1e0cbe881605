"""Inbound dispatch: verification first, claims before handlers, handlers once each and never
blocking the server, statuses by precedence and sequence."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import anyio
import anyio.lowlevel
import attrs
import pytest

from omnichannel import (
    DeliveryStatus,
    Envelope,
    Inbound,
    PluginHost,
    Router,
    RoutingPolicy,
    StatusUpdate,
    hookimpl,
)
from omnichannel.testing import FakeAdapter, make_envelope

pytestmark = pytest.mark.anyio

URL = "https://hooks.example.test/webhooks/fake"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _router(
    adapter: FakeAdapter, *, host: PluginHost | None = None, timeout: float = 10.0
) -> Router:
    return Router(
        [adapter],
        host=host or PluginHost(),
        clock=Clock(),
        policy=RoutingPolicy(handler_timeout=timeout),
    )


def _recorded(router: Router) -> tuple[list[Envelope], list[StatusUpdate]]:
    messages: list[Envelope] = []
    statuses: list[StatusUpdate] = []
    router.on_message(messages.append, inline=True)
    router.on_status(statuses.append, inline=True)
    return messages, statuses


def _status(adapter: FakeAdapter, provider_id: str, status: str) -> object:
    payload = {"type": "status", "provider_id": provider_id, "status": status}
    return adapter.signed_request(URL, payload)


# -- verification ---------------------------------------------------------------------------


async def test_a_bad_signature_gets_403_and_reaches_no_handler() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    messages, statuses = _recorded(router)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    tampered = attrs.evolve(request, body=request.body.replace(b"hi", b"ho"))
    response = await router.handle_webhook("fake", tampered)
    assert response.status_code == 403
    assert (messages, statuses) == ([], [])


async def test_a_malformed_body_gets_400_and_reaches_no_handler() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    messages, statuses = _recorded(router)
    for payload in (
        {"type": "message"},
        {"type": "status", "status": "teleported", "provider_id": "x"},
        ["not", "an", "object"],
    ):
        response = await router.handle_webhook("fake", adapter.signed_request(URL, payload))
        assert response.status_code == 400
    assert (messages, statuses) == ([], [])


async def test_a_webhook_for_an_unconfigured_channel_gets_404_without_listing_channels() -> None:
    response = await _router(FakeAdapter()).handle_webhook(
        "fax", FakeAdapter().simulate(sender="c", text="t", url=URL)
    )
    assert response.status_code == 404
    assert b"fake" not in response.body


# -- claims ---------------------------------------------------------------------------------


async def test_inbound_messages_are_dispatched_once_even_when_delivered_twice() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    messages, _ = _recorded(router)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    for _ in range(3):
        assert (await router.handle_webhook("fake", request)).status_code == 204
    assert [message.content.text for message in messages] == ["hi"]


async def test_concurrent_copies_of_one_webhook_run_the_handler_once() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    release = anyio.Event()
    calls: list[str] = []

    async def slow(message: Envelope) -> None:
        calls.append(message.content.text)
        await release.wait()

    router.on_message(slow)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    answers: list[int] = []

    async def deliver() -> None:
        answers.append((await router.handle_webhook("fake", request)).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(deliver)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert calls == ["hi"]
    assert answers == [204, 204, 204]


async def test_a_retry_after_a_failure_reruns_only_the_handler_that_failed() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    first: list[str] = []
    second: list[str] = []

    def record(message: Envelope) -> None:
        first.append(message.content.text)

    def flaky(message: Envelope) -> None:
        second.append(message.content.text)
        if len(second) == 1:
            raise RuntimeError("database down")

    router.on_message(record)
    router.on_message(flaky)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    assert (await router.handle_webhook("fake", request)).status_code == 500
    assert (await router.handle_webhook("fake", request)).status_code == 204
    assert (await router.handle_webhook("fake", request)).status_code == 204
    assert first == ["hi"]
    assert second == ["hi", "hi"]


async def test_a_status_handler_that_fails_sees_the_status_again_on_the_retry() -> None:
    adapter = FakeAdapter(lambda envelope: "P-1")
    router = _router(adapter)
    seen: list[DeliveryStatus] = []

    def flaky(update: StatusUpdate) -> None:
        seen.append(update.status)
        if len(seen) == 1:
            raise RuntimeError("crm timeout")

    router.on_status(flaky)
    envelope = make_envelope()
    await router.send(envelope)
    request = _status(adapter, "P-1", "delivered")
    assert (await router.handle_webhook("fake", request)).status_code == 500  # type: ignore[arg-type]
    assert (await router.handle_webhook("fake", request)).status_code == 204  # type: ignore[arg-type]
    assert seen == [DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED]
    assert router.status_of(envelope.id) is DeliveryStatus.DELIVERED


# -- handlers that misbehave ------------------------------------------------------------------


async def test_a_sync_handler_runs_in_a_thread_so_the_event_loop_keeps_serving() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    started = threading.Event()
    finish = threading.Event()
    loop_thread = threading.get_ident()
    handler_threads: list[int] = []

    def blocking(message: Envelope) -> None:
        handler_threads.append(threading.get_ident())
        started.set()
        finish.wait(5)

    router.on_message(blocking)
    ticks: list[float] = []
    request = adapter.simulate(sender="c-1", text="hi", url=URL)

    async def deliver() -> None:
        await router.handle_webhook("fake", request)

    async with anyio.create_task_group() as group:
        group.start_soon(deliver)
        while not started.is_set():
            await anyio.lowlevel.checkpoint()
        for _ in range(5):  # the loop is free while the handler blocks its thread
            ticks.append(time.monotonic())
            await anyio.lowlevel.checkpoint()
        finish.set()
    assert len(ticks) == 5
    assert handler_threads
    assert handler_threads[0] != loop_thread


async def test_a_handler_that_runs_out_of_time_answers_500_and_is_retried() -> None:
    adapter = FakeAdapter()
    router = _router(adapter, timeout=0.05)
    hang = anyio.Event()
    calls: list[int] = []

    async def hanging(message: Envelope) -> None:
        calls.append(1)
        if len(calls) == 1:
            await hang.wait()

    router.on_message(hanging)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    assert (await router.handle_webhook("fake", request)).status_code == 500
    assert (await router.handle_webhook("fake", request)).status_code == 204
    assert len(calls) == 2


# -- hooks ----------------------------------------------------------------------------------


async def test_an_inbound_hook_enriches_or_drops_a_message_before_the_handlers() -> None:
    observed: list[str] = []

    class Enrich:
        @hookimpl
        def omnichannel_inbound(self, inbound: Inbound) -> None:
            if inbound.envelope.content.text == "spam":
                inbound.drop("spam filter")
                return
            inbound.envelope = attrs.evolve(inbound.envelope, metadata={"contact": "c-42"})

        @hookimpl
        def omnichannel_message_received(self, envelope: Envelope) -> None:
            observed.append(envelope.content.text)

    host = PluginHost()
    host.register(Enrich(), name="enrich")
    adapter = FakeAdapter()
    router = _router(adapter, host=host)
    messages, _ = _recorded(router)
    for text in ("hi", "spam"):
        request = adapter.simulate(sender="c-1", text=text, url=URL)
        assert (await router.handle_webhook("fake", request)).status_code == 204
    assert [(message.content.text, dict(message.metadata)) for message in messages] == [
        ("hi", {"contact": "c-42"})
    ]
    assert observed == ["hi"]


async def test_a_raising_inbound_hook_answers_500_so_the_provider_retries() -> None:
    class Broken:
        @hookimpl
        def omnichannel_inbound(self, inbound: Inbound) -> None:
            raise RuntimeError("crm down")

    host = PluginHost()
    host.register(Broken(), name="broken")
    adapter = FakeAdapter()
    router = _router(adapter, host=host)
    messages, _ = _recorded(router)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    assert (await router.handle_webhook("fake", request)).status_code == 500
    assert messages == []


# -- statuses -------------------------------------------------------------------------------


async def test_statuses_are_applied_by_precedence_and_mapped_to_the_envelope() -> None:
    adapter = FakeAdapter(lambda envelope: "P-7")
    router = _router(adapter)
    _, statuses = _recorded(router)
    envelope = make_envelope()
    await router.send(envelope)
    for status in ["delivered", "sent", "read", "sent", "delivered"]:
        await router.handle_webhook("fake", _status(adapter, "P-7", status))  # type: ignore[arg-type]
    assert [update.status for update in statuses] == [DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    assert {update.envelope_id for update in statuses} == {envelope.id}
    assert router.status_of(envelope.id) is DeliveryStatus.READ


async def test_a_failure_after_delivery_is_recorded_as_an_anomaly_not_applied() -> None:
    adapter = FakeAdapter(lambda envelope: "P-8")
    router = _router(adapter)
    _, statuses = _recorded(router)
    envelope = make_envelope()
    await router.send(envelope)
    for status in ["delivered", "failed"]:
        await router.handle_webhook("fake", _status(adapter, "P-8", status))  # type: ignore[arg-type]
    assert [update.status for update in statuses] == [DeliveryStatus.DELIVERED]
    assert [anomaly.update.status for anomaly in router.anomalies] == [DeliveryStatus.FAILED]
    assert router.status_of(envelope.id) is DeliveryStatus.DELIVERED


def _call_update(status: str, sequence: int, clock: Clock) -> StatusUpdate:
    return StatusUpdate(
        channel="voice",
        provider_id="CA1",
        status=DeliveryStatus(status),
        timestamp=clock.now,
        sequence=sequence,
    )


async def test_sequenced_updates_arriving_in_reverse_reach_handlers_in_order() -> None:
    clock = Clock()
    router = Router([FakeAdapter(channel="voice")], host=PluginHost(), clock=clock)
    _, statuses = _recorded(router)
    steps = list(enumerate(["initiated", "ringing", "answered", "completed"]))
    await router.receive(statuses=[_call_update(s, n, clock) for n, s in reversed(steps)])
    assert [update.status.value for update in statuses] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]


async def test_a_lost_sequenced_update_holds_the_rest_only_for_the_reorder_window() -> None:
    clock = Clock()
    router = Router([FakeAdapter(channel="voice")], host=PluginHost(), clock=clock)
    _, statuses = _recorded(router)
    await router.receive(
        statuses=[
            _call_update("initiated", 0, clock),
            _call_update("answered", 2, clock),
            _call_update("completed", 3, clock),
        ]
    )
    assert [update.status.value for update in statuses] == ["initiated"]
    await router.release_held_statuses()
    assert len(statuses) == 1
    clock.now += router.statuses.reorder_window
    await router.release_held_statuses()
    assert [update.status.value for update in statuses] == ["initiated", "answered", "completed"]


async def test_the_reorder_wait_is_measured_from_the_oldest_held_update() -> None:
    clock = Clock()
    router = Router([FakeAdapter(channel="voice")], host=PluginHost(), clock=clock)
    _, statuses = _recorded(router)
    window = router.statuses.reorder_window
    await router.receive(statuses=[_call_update("answered", 2, clock)])
    clock.now += window * 0.75
    await router.receive(statuses=[_call_update("completed", 3, clock)])
    clock.now += window * 0.5  # the newer one has waited less than the window, the older more
    await router.release_held_statuses()
    assert [update.status.value for update in statuses] == ["answered", "completed"]
