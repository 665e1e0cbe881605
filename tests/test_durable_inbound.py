"""Inbound events through the inbox: written before the provider's 200, each once however
often it comes, handled with retries that never lose a status; windows every process sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest

from omnichannel import (
    DeliveryStatus,
    Envelope,
    PluginHost,
    PolicyViolation,
    Router,
    StatusUpdate,
)
from omnichannel.durable import StorePolicy
from omnichannel.plugin import Capabilities, InteractiveRules
from omnichannel.store import InboxState, Store
from omnichannel.testing import FakeAdapter, make_envelope
from omnichannel.testing.store_contract import Clock
from omnichannel.worker import Worker

pytestmark = pytest.mark.anyio

WINDOWED = Capabilities(
    address_kind="opaque",
    templates=True,
    interactive=InteractiveRules(),
    session_window=timedelta(hours=24),
    statuses={"accepted", "sent", "delivered", "read", "failed"},
)
URL = "https://hooks.example.test/webhooks/whatsapp"


def _whatsapp() -> FakeAdapter:
    return FakeAdapter(channel="whatsapp", capabilities=WINDOWED)


def _router(store: Store, clock: Clock, adapter: FakeAdapter, **options: Any) -> Router:
    return Router([adapter], host=PluginHost(), clock=clock, store=store, **options)


def _status(adapter: FakeAdapter, provider_id: str, status: str) -> Any:
    return adapter.signed_request(
        URL, {"type": "status", "provider_id": provider_id, "status": status}
    )


async def test_a_message_is_in_the_inbox_before_the_answer_and_handled_once(
    store: Store, clock: Clock
) -> None:
    adapter = _whatsapp()
    router = _router(store, clock, adapter)
    heard: list[Envelope] = []
    router.on_message(heard.append, inline=True)
    request = adapter.simulate(sender="customer-1", text="where is my order?", url=URL)
    first = await router.handle_webhook("whatsapp", request)
    again = await router.handle_webhook("whatsapp", request)  # the provider's redelivery
    assert (first.status_code, again.status_code) == (204, 204)
    assert [message.content.text for message in heard] == ["where is my order?"]
    assert heard[0].raw is not None  # handled here: the parsed event itself
    (event,) = await store.list_inbox()
    assert (event.state, event.kind, event.dedupe_key) == (
        InboxState.DONE,
        "message",
        "message:whatsapp:in-1",
    )


async def test_concurrent_copies_of_one_webhook_reach_the_handler_once(
    store: Store, clock: Clock
) -> None:
    adapter = _whatsapp()
    routers = [_router(store, clock, adapter) for _ in range(2)]
    heard: list[str] = []
    for router in routers:
        router.on_message(lambda message: heard.append(message.id), inline=True)
    request = adapter.simulate(sender="customer-1", text="hi", url=URL)
    answers: list[int] = []

    async def deliver(router: Router) -> None:
        answers.append((await router.handle_webhook("whatsapp", request)).status_code)

    async with anyio.create_task_group() as group:
        for router in (*routers, routers[0]):
            group.start_soon(deliver, router)
    assert answers == [204, 204, 204]
    assert len(heard) == 1


async def test_a_customer_message_opens_the_window_for_another_router_on_the_store(
    store: Store, clock: Clock, store_url: str
) -> None:
    receiving = _router(store, clock, _whatsapp())
    other_store = await Store.open(store_url, worker=False, clock=clock)
    try:
        sending_adapter = _whatsapp()
        sending = _router(other_store, clock, sending_adapter)
        with pytest.raises(PolicyViolation, match="outside the 24-hour session window"):
            await sending.send(make_envelope(channel="whatsapp", to="customer-1"))
        request = receiving.adapter("whatsapp").simulate(  # type: ignore[attr-defined]
            sender="customer-1", text="hello", url=URL
        )
        await receiving.handle_webhook("whatsapp", request)
        receipt = await sending.send(make_envelope(channel="whatsapp", to="customer-1"))
        assert receipt.status is DeliveryStatus.ACCEPTED
        assert len(sending_adapter.sent) == 1
    finally:
        await other_store.close()


async def test_a_failing_handler_is_retried_alone_and_the_provider_still_gets_its_200(
    store: Store, clock: Clock
) -> None:
    adapter = _whatsapp()
    router = _router(store, clock, adapter, store_policy=StorePolicy(jitter=0))
    steady: list[str] = []
    flaky_calls: list[str] = []

    @router.on_message
    async def record(message: Envelope) -> None:
        steady.append(message.id)

    @router.on_message
    async def crm(message: Envelope) -> None:
        flaky_calls.append(message.id)
        if len(flaky_calls) == 1:
            raise RuntimeError("the CRM is down")

    response = await router.handle_webhook(
        "whatsapp", adapter.simulate(sender="customer-1", text="hi", url=URL)
    )
    assert response.status_code == 204
    (event,) = await store.list_inbox()
    assert event.state is InboxState.PENDING
    assert event.last_error is not None
    assert event.last_error.endswith(".crm failed: RuntimeError: the CRM is down")
    assert event.due_at == clock.now + timedelta(seconds=5)
    worker = Worker(router)
    assert (await worker.run_once()).handled == 0
    clock.advance(timedelta(seconds=5))
    assert (await worker.run_once()).handled == 1
    assert (len(steady), len(flaky_calls)) == (1, 2)  # the handler that completed ran once
    (event,) = await store.list_inbox()
    assert event.state is InboxState.DONE
    assert sorted(name.rsplit(".", 1)[1] for name in event.handlers_done) == ["crm", "record"]


async def test_an_event_whose_handler_keeps_failing_ends_dead(store: Store, clock: Clock) -> None:
    adapter = _whatsapp()
    router = _router(store, clock, adapter, store_policy=StorePolicy(handler_attempts=2))

    @router.on_message
    async def broken(message: Envelope) -> None:
        raise RuntimeError("always")

    await router.handle_webhook("whatsapp", adapter.simulate(sender="c", text="hi", url=URL))
    clock.advance(timedelta(hours=1))
    await Worker(router).run_once()
    (event,) = await store.list_inbox()
    assert (event.state, event.attempts) == (InboxState.DEAD, 2)


async def test_a_status_is_applied_once_by_precedence_and_its_handler_retried_never_lost(
    store: Store, clock: Clock
) -> None:
    adapter = _whatsapp()
    router = _router(store, clock, adapter, store_policy=StorePolicy(jitter=0))
    envelope = make_envelope(channel="whatsapp", to="customer-1")
    await store.record_window("whatsapp", None, "customer-1", clock.now)
    receipt = await router.send(envelope)
    (provider_id,) = receipt.provider_ids
    seen: list[tuple[str, str | None]] = []
    failures = [RuntimeError("down")]

    @router.on_status
    async def track(update: StatusUpdate) -> None:
        if failures:
            raise failures.pop()
        seen.append((update.status.value, update.envelope_id))

    await router.handle_webhook("whatsapp", _status(adapter, provider_id, "read"))
    await router.handle_webhook("whatsapp", _status(adapter, provider_id, "delivered"))
    assert seen == []  # read failed its handler; delivered came late: stale, not handed on
    assert await router.status(envelope.id) is DeliveryStatus.READ
    clock.advance(timedelta(minutes=1))
    await Worker(router).run_once()
    assert seen == [("read", envelope.id)]
    outcomes = [entry.outcome.value for entry in await store.status_history(envelope.id)]
    assert outcomes == ["applied", "stale"]  # the retry did not apply read again


async def test_with_handle_inline_off_the_webhook_only_writes_and_a_worker_handles(
    store: Store, clock: Clock
) -> None:
    adapter = _whatsapp()
    listener = _router(store, clock, adapter, handle_inline=False)
    listener_heard: list[str] = []
    listener.on_message(lambda message: listener_heard.append(message.id), inline=True)
    worker_router = _router(store, clock, _whatsapp())
    worker_heard: list[str] = []
    worker_router.on_message(lambda message: worker_heard.append(message.id), inline=True)
    await listener.handle_webhook("whatsapp", adapter.simulate(sender="c", text="hi", url=URL))
    assert listener_heard == []
    (event,) = await store.list_inbox()
    assert event.state is InboxState.PENDING
    await Worker(worker_router).run_once()
    assert len(worker_heard) == 1
