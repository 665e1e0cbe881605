"""Sends through the outbox: written before any provider call, settled by how they ended,
retried only where that is safe; on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio.lowlevel
import pytest
import sqlalchemy as sa

from omnichannel import (
    DeliveryStatus,
    DuplicateEnvelope,
    EnvelopeExpired,
    InvalidAddress,
    OutcomeUnknown,
    PluginHost,
    Router,
)
from omnichannel.durable import StorePolicy
from omnichannel.errors import ConfigurationError, InvalidRecipient, RateLimited, TransportError
from omnichannel.plugin import Capabilities, SentMessage
from omnichannel.store import OutboxState, Store
from omnichannel.testing import FakeAdapter, make_envelope
from omnichannel.testing.store_contract import Clock
from omnichannel.worker import Worker

pytestmark = pytest.mark.anyio

PHONE = Capabilities(
    address_kind="phone",
    max_text_length=1600,
    statuses={"accepted", "sent", "delivered", "failed"},
    reconcile=True,
)
CUSTOMER = "+14155550199"


def _router(store: Store, clock: Clock, *adapters: Any, **options: Any) -> Router:
    return Router(list(adapters), host=PluginHost(), clock=clock, store=store, **options)


async def _history(store: Store, envelope_id: str) -> list[str]:
    return [entry.to_state for entry in await store.history(envelope_id)]


async def test_a_send_is_written_before_the_provider_call_and_settled_sent(
    store: Store, clock: Clock
) -> None:
    seen_states: list[OutboxState | None] = []

    async def provider(envelope: Any) -> str:
        record = await store.outbox_record(envelope.id)
        seen_states.append(record.state if record else None)
        return "SM1"

    router = _router(store, clock, FakeAdapter(provider, channel="sms", capabilities=PHONE))
    envelope = make_envelope(channel="sms", to="+1 415 555 0199")
    receipt = await router.send(envelope)
    assert receipt.provider_ids == ("SM1",)
    assert seen_states == [OutboxState.SENDING]  # the row existed, leased, during the call
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.SENT
    assert record.envelope.recipient.value == CUSTOMER
    assert record.provider_ids == ("SM1",)
    assert record.receipt is not None
    assert tuple(record.receipt["provider_ids"]) == ("SM1",)
    assert await _history(store, envelope.id) == ["queued", "sending", "sent"]
    assert await router.status(envelope.id) is DeliveryStatus.ACCEPTED


async def test_the_same_envelope_sent_twice_reaches_the_provider_once(
    store: Store, clock: Clock
) -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    await router.send(envelope)
    with pytest.raises(DuplicateEnvelope) as caught:
        await router.send(envelope)
    assert caught.value.record.state is OutboxState.SENT
    assert len(sms.sent) == 1


async def test_an_invalid_address_is_refused_before_anything_is_written(
    store: Store, clock: Clock
) -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    envelope = make_envelope(channel="sms", to="+1555")
    with pytest.raises(InvalidAddress):
        await router.send(envelope)
    assert await store.outbox_record(envelope.id) is None
    assert sms.sent == []


async def test_wait_false_queues_and_a_worker_sends_it(store: Store, clock: Clock) -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    receipt = await router.send(envelope, wait=False)
    assert (receipt.status, receipt.provider_ids) == (DeliveryStatus.QUEUED, ())
    assert sms.sent == []
    done = await Worker(router).run_once()
    assert done.sent == 1
    assert [sent.id for sent in sms.sent] == [envelope.id]
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.SENT


async def test_a_scheduled_envelope_waits_in_the_outbox_for_its_time(
    store: Store, clock: Clock
) -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    envelope = make_envelope(channel="sms", to=CUSTOMER, send_at=clock.now + timedelta(hours=1))
    assert (await router.send(envelope)).status is DeliveryStatus.QUEUED
    worker = Worker(router)
    assert (await worker.run_once()).sent == 0
    clock.advance(timedelta(hours=1))
    assert (await worker.run_once()).sent == 1
    assert len(sms.sent) == 1


async def test_a_failure_that_is_safe_to_retry_is_queued_again_with_backoff(
    store: Store, clock: Clock
) -> None:
    answers: list[Exception | str] = [
        TransportError("connection refused", retryable=True),
        RateLimited("slow down", retry_after=90),
        "SM3",
    ]

    def provider(envelope: Any) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sms = FakeAdapter(provider, channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms, store_policy=StorePolicy(jitter=0))
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    receipt = await router.send(envelope)
    assert receipt.status is DeliveryStatus.QUEUED
    assert "attempt 1 of 5 failed (connection refused)" in receipt.attempts[0]
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert (record.state, record.due_at) == (OutboxState.QUEUED, clock.now + timedelta(seconds=30))
    assert record.last_error is not None
    assert record.last_error["reason"] == "unreachable"
    worker = Worker(router)
    assert (await worker.run_once()).sent == 0  # not due yet
    clock.advance(timedelta(seconds=30))
    await worker.run_once()  # the rate limit: its Retry-After decides the wait
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.due_at == clock.now + timedelta(seconds=90)
    clock.advance(timedelta(seconds=90))
    await worker.run_once()
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert (record.state, record.attempts, record.provider_ids) == (OutboxState.SENT, 3, ("SM3",))


async def test_a_send_out_of_attempts_ends_dead(store: Store, clock: Clock) -> None:
    def refused(envelope: Any) -> str:
        raise TransportError("connection refused", retryable=True)

    router = _router(
        store,
        clock,
        FakeAdapter(refused, channel="sms", capabilities=PHONE),
        store_policy=StorePolicy(max_attempts=2, jitter=0),
    )
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    await router.send(envelope)
    clock.advance(timedelta(minutes=1))
    await Worker(router).run_once()
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.DEAD
    assert (await store.history(envelope.id))[-1].reason.startswith("out of attempts (2)")


async def test_an_ambiguous_outcome_ends_unknown_and_is_never_resent(
    store: Store, clock: Clock
) -> None:
    calls: list[str] = []

    def lost_answer(envelope: Any) -> str:
        calls.append(envelope.id)
        raise OutcomeUnknown("the connection dropped after the request was sent")

    router = _router(store, clock, FakeAdapter(lost_answer, channel="sms", capabilities=PHONE))
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    with pytest.raises(OutcomeUnknown):
        await router.send(envelope)
    clock.advance(timedelta(hours=2))
    await Worker(router).run_once()
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.UNKNOWN
    assert calls == [envelope.id]
    assert await router.status(envelope.id) is DeliveryStatus.UNKNOWN


async def test_a_definite_refusal_ends_failed(store: Store, clock: Clock) -> None:
    def refused(envelope: Any) -> str:
        raise InvalidRecipient("not a mobile number")

    router = _router(store, clock, FakeAdapter(refused, channel="sms", capabilities=PHONE))
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    with pytest.raises(InvalidRecipient):
        await router.send(envelope)
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.FAILED
    assert record.last_error is not None
    assert record.last_error["type"] == "InvalidRecipient"


async def test_an_envelope_past_its_expiry_ends_expired_unsent(store: Store, clock: Clock) -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    envelope = make_envelope(
        channel="sms", to=CUSTOMER, expires_at=clock.now + timedelta(minutes=5)
    )
    await router.send(envelope, wait=False)
    clock.advance(timedelta(minutes=10))
    await Worker(router).run_once()
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.EXPIRED
    assert sms.sent == []
    with pytest.raises(EnvelopeExpired):
        await router.send(make_envelope(channel="sms", to=CUSTOMER, expires_at=clock.now))


async def test_a_send_whose_worker_died_ends_unknown_then_reconcile_settles_it(
    store: Store, clock: Clock
) -> None:
    found: dict[str, SentMessage | None] = {}

    def reconcile(envelope: Any) -> SentMessage | None:
        return found.get(envelope.id)

    sms = FakeAdapter(channel="sms", capabilities=PHONE, reconcile=reconcile)
    router = _router(store, clock, sms)
    created = make_envelope(channel="sms", to=CUSTOMER)
    absent = make_envelope(channel="sms", to=CUSTOMER)
    for envelope in (created, absent):
        # A worker claimed them and died mid-request.
        await store.enqueue(
            envelope,
            due_at=clock.now,
            max_attempts=5,
            claim_for="dead-worker",
            lease=timedelta(minutes=2),
        )
    found[created.id] = SentMessage(provider_id="SM-found", status=DeliveryStatus.DELIVERED)
    clock.advance(timedelta(minutes=3))
    worker = Worker(router)
    done = await worker.run_once()
    assert done.settled == 2
    settled = await store.outbox_record(created.id)
    assert settled is not None
    assert (settled.state, settled.provider_ids) == (OutboxState.SENT, ("SM-found",))
    assert await _history(store, created.id) == ["queued", "sending", "unknown", "sent"]
    # The provider has none of the other: resending it is safe, and the same pass does.
    assert await _history(store, absent.id) == [
        "queued", "sending", "unknown", "queued", "sending", "sent",
    ]  # fmt: skip
    assert [envelope.id for envelope in sms.sent] == [absent.id]


async def test_a_worker_pass_runs_at_most_its_concurrency_of_sends_at_once(
    store: Store, clock: Clock
) -> None:
    running: list[str] = []
    most = 0

    async def provider(envelope: Any) -> str:
        nonlocal most
        running.append(envelope.id)
        most = max(most, len(running))
        await anyio.lowlevel.checkpoint()  # the others get their turn meanwhile
        running.remove(envelope.id)
        return f"SM-{envelope.id}"

    sms = FakeAdapter(provider, channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    for _ in range(5):
        await router.send(make_envelope(channel="sms", to=CUSTOMER), wait=False)
    worker = Worker(router, concurrency=2, batch=10)
    passes = [(await worker.run_once()).sent for _ in range(4)]
    assert passes == [2, 2, 1, 0]
    assert most == 2
    assert len(sms.sent) == 5


async def test_a_busy_worker_sweeps_expired_leases_once_a_sweep_interval(
    store: Store, clock: Clock
) -> None:
    blind = Capabilities(address_kind="phone", statuses={"accepted"})  # no reconcile
    router = _router(store, clock, FakeAdapter(channel="sms", capabilities=blind))
    worker = Worker(router)
    sweeps: list[object] = []
    expire = store.expire_leases

    async def counted(**options: Any) -> Any:
        sweeps.append(options["now"])
        return await expire(**options)

    store.expire_leases = counted  # type: ignore[method-assign]
    await worker.run_once()
    await worker.run_once()  # the same instant: no second sweep
    assert len(sweeps) == 1
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    await store.enqueue(
        envelope, due_at=clock.now, max_attempts=5, claim_for="gone", lease=timedelta(minutes=2)
    )
    clock.advance(timedelta(minutes=3))  # the holder's lease ran out meanwhile
    done = await worker.run_once()
    assert len(sweeps) == 2
    assert done.settled == 1
    assert await _history(store, envelope.id) == ["queued", "sending", "unknown"]


async def test_an_unknown_send_stays_unknown_where_the_adapter_cannot_look_up(
    store: Store, clock: Clock
) -> None:
    blind = Capabilities(address_kind="phone", statuses={"accepted"})
    router = _router(store, clock, FakeAdapter(channel="sms", capabilities=blind))
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    await store.enqueue(
        envelope, due_at=clock.now, max_attempts=5, claim_for="gone", lease=timedelta(minutes=2)
    )
    clock.advance(timedelta(minutes=3))
    await Worker(router).run_once()
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.UNKNOWN


async def test_a_rolled_back_transaction_sends_nothing_and_a_committed_one_sends_once(
    store: Store, clock: Clock
) -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(store, clock, sms)
    orders = sa.Table("test_orders", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    async with store.engine.begin() as connection:
        await connection.run_sync(orders.drop, checkfirst=True)
        await connection.run_sync(orders.create)
    rolled_back = make_envelope(channel="sms", to=CUSTOMER, text="order 1 shipped")
    committed = make_envelope(channel="sms", to=CUSTOMER, text="order 2 shipped")

    class PaymentDeclined(Exception):
        pass

    async def place_order_then_decline() -> None:
        async with store.engine.begin() as connection:
            await connection.execute(orders.insert().values(id=1))
            receipt = await router.send(rolled_back, connection=connection)
            assert receipt.status is DeliveryStatus.QUEUED
            raise PaymentDeclined

    with pytest.raises(PaymentDeclined):
        await place_order_then_decline()
    async with store.engine.begin() as connection:
        await connection.execute(orders.insert().values(id=2))
        await router.send(committed, connection=connection)
        assert sms.sent == []  # nothing goes out before the commit
    worker = Worker(router)
    await worker.run_once()
    await worker.run_once()
    assert [envelope.content.text for envelope in sms.sent] == ["order 2 shipped"]
    assert await store.outbox_record(rolled_back.id) is None
    async with store.engine.begin() as connection:
        assert (await connection.execute(sa.select(orders.c.id))).scalars().all() == [2]
        await connection.run_sync(orders.drop)


async def test_failover_on_a_definite_failure_is_one_row_naming_the_hop(
    store: Store, clock: Clock
) -> None:
    def opted_out(envelope: Any) -> str:
        raise InvalidRecipient("the customer opted out")

    whatsapp = FakeAdapter(opted_out, channel="whatsapp", capabilities=PHONE)
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = Router(
        [whatsapp, sms],
        host=PluginHost(),
        clock=clock,
        store=store,
        policy=_failover(),
    )
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER)
    receipt = await router.send(envelope)
    assert receipt.channel == "sms"
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.state is OutboxState.SENT
    last = (await store.history(envelope.id))[-1]
    assert last.reason is not None
    assert last.reason.startswith("sent on sms after whatsapp: invalid_recipient")


def _failover() -> Any:
    from omnichannel import RoutingPolicy

    return RoutingPolicy(failover={"whatsapp": ["sms"]})


async def test_wait_false_connection_and_chain_need_a_store() -> None:
    router = Router([FakeAdapter(channel="sms", capabilities=PHONE)], host=PluginHost())
    envelope = make_envelope(channel="sms", to=CUSTOMER)
    with pytest.raises(ConfigurationError, match=r"wait=False.*needs the durable store"):
        await router.send(envelope, wait=False)
    with pytest.raises(ConfigurationError, match=r"chain=.*needs the durable store"):
        await router.send(envelope, chain="urgent")


async def test_concurrent_sends_share_outbox_writes_and_a_lone_send_writes_alone(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []  # the items of each outbox write, one transaction each

    def counted(write: Any) -> Any:
        async def counting(*item_lists: Any, **options: Any) -> Any:
            batches.append(sum(len(items) for items in item_lists))
            return await write(*item_lists, **options)

        return counting

    for name in ("write_sends", "enqueue_claimed", "settle_sent"):
        monkeypatch.setattr(store, name, counted(getattr(store, name)))

    async def provider(envelope: Any) -> str:
        await anyio.lowlevel.checkpoint()  # a provider call yields to the loop
        return f"SM-{envelope.id}"

    router = _router(store, clock, FakeAdapter(provider, channel="sms", capabilities=PHONE))
    for n in range(3):
        await router.send(make_envelope(channel="sms", to=CUSTOMER, text=f"lone {n}"))
    assert batches == [1] * 6  # claimed, then settled: each write its own
    batches.clear()
    envelopes = [make_envelope(channel="sms", to=CUSTOMER, text=f"many {n}") for n in range(20)]
    async with anyio.create_task_group() as group:
        for envelope in envelopes:
            group.start_soon(router.send, envelope)
    assert sum(batches) == 40
    assert len(batches) < 40 / 2  # they shared writes
    for envelope in envelopes:
        record = await store.outbox_record(envelope.id)
        assert record is not None
        assert record.state is OutboxState.SENT
