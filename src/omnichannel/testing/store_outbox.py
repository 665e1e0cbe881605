"""The outbox clauses of :class:`~omnichannel.testing.store_contract.StoreContract`: enqueue,
claims, the state machine, leases and fencing, history, provider messages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from omnichannel.errors import DuplicateEnvelope, StoreError
from omnichannel.events import DeliveryStatus
from omnichannel.store.records import OUTBOX_MOVES, SUPERSEDED, OutboxState
from omnichannel.testing.builders import make_envelope

__all__ = ["StoreOutboxClauses", "put_in_state"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
_ROUTES: dict[OutboxState, tuple[OutboxState, ...]] = {
    OutboxState.QUEUED: (),
    OutboxState.SENDING: (OutboxState.SENDING,),
    OutboxState.SENT: (OutboxState.SENDING, OutboxState.SENT),
    OutboxState.FAILED: (OutboxState.SENDING, OutboxState.FAILED),
    OutboxState.UNKNOWN: (OutboxState.SENDING, OutboxState.UNKNOWN),
    OutboxState.DEAD: (OutboxState.SENDING, OutboxState.DEAD),
    OutboxState.CANCELED: (OutboxState.CANCELED,),
    OutboxState.EXPIRED: (OutboxState.EXPIRED,),
}
_PAIRS = [
    (start, end)
    for start, end in itertools.product(OutboxState, OutboxState)
    if end is not OutboxState.SENDING
]


async def put_in_state(store: Any, state: OutboxState, *, worker: str = "w-1") -> str:
    """Enqueue an envelope and move it to ``state`` the way the worker would; its id."""
    envelope = make_envelope()
    await store.enqueue(envelope, due_at=T0, max_attempts=5)
    for step in _ROUTES[state]:
        if step is OutboxState.SENDING:
            claimed = await store.claim_outbox(
                worker=worker, now=T0, lease=LEASE, limit=1, envelope_id=envelope.id
            )
            assert len(claimed) == 1
        else:
            assert await store.transition(envelope.id, to=step, now=T0)
    return envelope.id


class StoreOutboxClauses:
    """Mixed into :class:`~omnichannel.testing.store_contract.StoreContract`."""

    # -- enqueue -------------------------------------------------------------------------------

    async def test_store_enqueue_writes_one_queued_row_with_its_envelope_and_history(
        self, store: Any
    ) -> None:
        envelope = make_envelope(text="your order shipped", metadata={"order": 7})
        record = await store.enqueue(envelope, due_at=T0, max_attempts=4, chain="urgent")
        assert record.state is OutboxState.QUEUED
        stored = await store.outbox_record(envelope.id)
        assert stored == record
        assert stored.envelope == envelope
        assert (stored.attempts, stored.max_attempts, stored.chain, stored.chain_step) == (
            0,
            4,
            "urgent",
            0,
        )
        assert stored.provider_ids == ()
        [entry] = await store.history(envelope.id)
        assert (entry.from_state, entry.to_state, entry.at) == (None, OutboxState.QUEUED, T0)

    async def test_store_enqueueing_an_envelope_again_adds_no_row(self, store: Any) -> None:
        envelope = make_envelope()
        await store.enqueue(envelope, due_at=T0, max_attempts=3)
        with pytest.raises(DuplicateEnvelope) as raised:
            await store.enqueue(envelope, due_at=T0 + LEASE, max_attempts=9)
        assert raised.value.record.envelope_id == envelope.id
        assert raised.value.record.max_attempts == 3
        assert sum((await store.count_outbox()).values()) == 1
        assert len(await store.history(envelope.id)) == 1

    async def test_store_concurrent_enqueues_of_one_envelope_leave_one_row(
        self, store: Any
    ) -> None:
        envelope = make_envelope()
        outcomes: list[str] = []

        async def enqueue() -> None:
            try:
                await store.enqueue(envelope, due_at=T0, max_attempts=3)
                outcomes.append("written")
            except DuplicateEnvelope:
                outcomes.append("duplicate")

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(enqueue)
        assert sorted(outcomes) == ["duplicate"] * 9 + ["written"]
        assert sum((await store.count_outbox()).values()) == 1

    # -- claims --------------------------------------------------------------------------------

    async def test_store_claim_takes_due_rows_oldest_first_with_a_lease(self, store: Any) -> None:
        later, sooner, future = make_envelope(), make_envelope(), make_envelope()
        await store.enqueue(later, due_at=T0, max_attempts=3)
        await store.enqueue(sooner, due_at=T0 - LEASE, max_attempts=3)
        await store.enqueue(future, due_at=T0 + LEASE, max_attempts=3)
        claimed = await store.claim_outbox(worker="w-1", now=T0, lease=LEASE, limit=10)
        assert [record.envelope_id for record in claimed] == [sooner.id, later.id]
        for record in claimed:
            assert record.state is OutboxState.SENDING
            assert (record.lease_owner, record.lease_expires_at) == ("w-1", T0 + LEASE)
            assert record.attempts == 1
            assert (await store.history(record.envelope_id))[-1].worker == "w-1"
        assert (await store.outbox_record(future.id)).state is OutboxState.QUEUED
        assert await store.claim_outbox(worker="w-2", now=T0, lease=LEASE, limit=10) == []

    async def test_store_claim_honours_the_limit(self, store: Any) -> None:
        for _ in range(3):
            await store.enqueue(make_envelope(), due_at=T0, max_attempts=3)
        assert len(await store.claim_outbox(worker="w", now=T0, lease=LEASE, limit=2)) == 2
        assert len(await store.claim_outbox(worker="w", now=T0, lease=LEASE, limit=2)) == 1

    async def test_store_claim_by_envelope_id_takes_that_row_only(self, store: Any) -> None:
        first, second = make_envelope(), make_envelope()
        await store.enqueue(first, due_at=T0, max_attempts=3)
        await store.enqueue(second, due_at=T0, max_attempts=3)
        claimed = await store.claim_outbox(
            worker="w", now=T0, lease=LEASE, limit=1, envelope_id=second.id
        )
        assert [record.envelope_id for record in claimed] == [second.id]
        assert (await store.outbox_record(first.id)).state is OutboxState.QUEUED

    async def test_store_two_stores_claiming_at_once_never_get_the_same_row(
        self, store: Any, second_store: Any
    ) -> None:
        ids = set()
        for _ in range(60):
            envelope = make_envelope()
            ids.add(envelope.id)
            await store.enqueue(envelope, due_at=T0, max_attempts=3)
        claims: dict[str, list[str]] = {"a": [], "b": []}

        async def drain(name: str, each: Any) -> None:
            while batch := await each.claim_outbox(worker=name, now=T0, lease=LEASE, limit=3):
                claims[name].extend(record.envelope_id for record in batch)

        async with anyio.create_task_group() as group:
            for name, each in (
                ("a", store),
                ("b", second_store),
                ("a", store),
                ("b", second_store),
            ):
                group.start_soon(drain, name, each)
        together = claims["a"] + claims["b"]
        assert len(together) == len(set(together)) == 60
        assert set(together) == ids

    # -- the state machine ---------------------------------------------------------------------

    async def test_store_transition_allows_exactly_the_listed_moves(self, store: Any) -> None:
        wrong = []
        for start, end in _PAIRS:
            envelope_id = await put_in_state(store, start)
            before = await store.history(envelope_id)
            moved = await store.transition(envelope_id, to=end, now=T0 + LEASE, reason="test")
            state = (await store.outbox_record(envelope_id)).state
            after = await store.history(envelope_id)
            if end in OUTBOX_MOVES[start]:
                last = (after[-1].from_state, after[-1].to_state, after[-1].reason, after[-1].at)
                if not moved or state is not end or len(after) != len(before) + 1:
                    wrong.append(f"{start} -> {end} refused, or no history row")
                elif last != (start, end, "test", T0 + LEASE):
                    wrong.append(f"{start} -> {end} recorded as {last}")
            elif moved or state is not start or after != before:
                wrong.append(f"{start} -> {end} allowed")
        assert wrong == []

    async def test_store_moves_to_sending_only_through_a_claim(self, store: Any) -> None:
        envelope_id = await put_in_state(store, OutboxState.QUEUED)
        with pytest.raises(ValueError, match="claim_outbox"):
            await store.transition(envelope_id, to=OutboxState.SENDING, now=T0)

    async def test_store_transition_of_an_unknown_envelope_is_refused(self, store: Any) -> None:
        assert await store.transition("nope", to=OutboxState.CANCELED, now=T0) is False

    async def test_store_leaving_sending_releases_the_lease_and_keeps_receipt_and_error(
        self, store: Any
    ) -> None:
        sent = await put_in_state(store, OutboxState.SENDING)
        receipt = {"envelope_id": sent, "provider_ids": ["p-1"], "status": "accepted"}
        assert await store.transition(
            sent, to=OutboxState.SENT, now=T0, worker="w-1", receipt=receipt
        )
        record = await store.outbox_record(sent)
        assert (record.lease_owner, record.lease_expires_at) == (None, None)
        assert record.receipt.thaw() == receipt
        failed = await put_in_state(store, OutboxState.SENDING)
        error = {"reason": "invalid_recipient", "message": "no such number"}
        assert await store.transition(failed, to=OutboxState.FAILED, now=T0, error=error)
        assert (await store.outbox_record(failed)).last_error == error

    async def test_store_a_worker_settles_only_a_row_it_still_holds(self, store: Any) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENDING, worker="w-1")
        assert not await store.transition(envelope_id, to=OutboxState.SENT, now=T0, worker="w-2")
        # Its lease expires and the sweep settles the row: the old worker is fenced off.
        [swept] = await store.expire_leases(now=T0 + 2 * LEASE)
        assert swept.envelope_id == envelope_id
        assert not await store.transition(envelope_id, to=OutboxState.SENT, now=T0, worker="w-1")
        assert (await store.outbox_record(envelope_id)).state is OutboxState.UNKNOWN
        # Queued again and claimed by another worker: still fenced off.
        assert await store.transition(envelope_id, to=OutboxState.QUEUED, now=T0)
        await store.claim_outbox(worker="w-2", now=T0, lease=LEASE, limit=1)
        assert not await store.transition(envelope_id, to=OutboxState.SENT, now=T0, worker="w-1")
        assert await store.transition(envelope_id, to=OutboxState.SENT, now=T0, worker="w-2")

    async def test_store_a_retry_is_due_again_at_its_time_with_its_attempts_counted(
        self, store: Any
    ) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENDING)
        retry_at = T0 + timedelta(seconds=8)
        assert await store.transition(
            envelope_id, to=OutboxState.QUEUED, now=T0, due_at=retry_at, reason="429"
        )
        assert await store.claim_outbox(worker="w", now=T0, lease=LEASE, limit=1) == []
        [again] = await store.claim_outbox(worker="w", now=retry_at, lease=LEASE, limit=1)
        assert again.attempts == 2

    async def test_store_an_operator_retry_of_a_dead_row_starts_its_attempts_over(
        self, store: Any
    ) -> None:
        envelope_id = await put_in_state(store, OutboxState.DEAD)
        assert (await store.outbox_record(envelope_id)).attempts == 1
        assert await store.transition(envelope_id, to=OutboxState.QUEUED, now=T0)
        record = await store.outbox_record(envelope_id)
        assert (record.state, record.attempts, record.due_at) == (OutboxState.QUEUED, 0, T0)

    async def test_store_an_expired_lease_ends_unknown_with_the_reason_in_history(
        self, store: Any
    ) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENDING, worker="w-dead")
        assert await store.expire_leases(now=T0 + LEASE) == []  # not yet expired
        [record] = await store.expire_leases(now=T0 + LEASE + timedelta(microseconds=1))
        assert record.state is OutboxState.UNKNOWN
        assert (record.lease_owner, record.lease_expires_at) == (None, None)
        last = (await store.history(envelope_id))[-1]
        assert (last.from_state, last.to_state) == (OutboxState.SENDING, OutboxState.UNKNOWN)
        assert (last.reason, last.worker) == ("lease expired while sending", "w-dead")
        # Never claimed again on its own: unknown is not queued.
        assert await store.claim_outbox(worker="w", now=T0 + LEASE * 9, lease=LEASE, limit=9) == []

    async def test_store_renewed_leases_do_not_expire(self, store: Any) -> None:
        mine = await put_in_state(store, OutboxState.SENDING, worker="w-1")
        theirs = await put_in_state(store, OutboxState.SENDING, worker="w-2")
        assert await store.renew_leases(worker="w-1", until=T0 + 10 * LEASE) == 1
        expired = await store.expire_leases(now=T0 + 2 * LEASE)
        assert [record.envelope_id for record in expired] == [theirs]
        assert (await store.outbox_record(mine)).state is OutboxState.SENDING

    async def test_store_supersede_notes_the_step_and_keeps_the_row_sent(self, store: Any) -> None:
        sent = await put_in_state(store, OutboxState.SENT)
        assert await store.supersede(sent, now=T0 + LEASE, reason="not delivered within 5m")
        record = await store.outbox_record(sent)
        assert record.state is OutboxState.SENT
        last = (await store.history(sent))[-1]
        assert (last.from_state, last.to_state) == (OutboxState.SENT, SUPERSEDED)
        queued = await put_in_state(store, OutboxState.QUEUED)
        assert await store.supersede(queued, now=T0) is False

    # -- listing -------------------------------------------------------------------------------

    async def test_store_lists_and_counts_rows_by_state(self, store: Any, clock: Any) -> None:
        older = await put_in_state(store, OutboxState.QUEUED)
        clock.advance(timedelta(seconds=1))
        newer = await put_in_state(store, OutboxState.QUEUED)
        clock.advance(timedelta(seconds=1))
        canceled = await put_in_state(store, OutboxState.CANCELED)
        listed = await store.list_outbox()
        assert [record.envelope_id for record in listed] == [canceled, newer, older]
        queued = await store.list_outbox(states=[OutboxState.QUEUED], limit=1)
        assert [record.envelope_id for record in queued] == [newer]
        counts = await store.count_outbox()
        assert counts[OutboxState.QUEUED] == 2
        assert counts[OutboxState.CANCELED] == 1
        assert counts[OutboxState.DEAD] == 0
        assert set(counts) == set(OutboxState)
        assert await store.outbox_record("no-such-envelope") is None

    async def test_store_lists_the_hops_of_one_chain(self, store: Any, clock: Any) -> None:
        root, hop = make_envelope(channel="sms"), make_envelope(channel="email")
        chain = f"urgent:{root.id}"
        await store.enqueue(root, due_at=T0, max_attempts=3, chain=chain)
        clock.advance(timedelta(seconds=1))
        await store.enqueue(hop, due_at=T0, max_attempts=3, chain=chain, chain_step=1)
        other = make_envelope()
        await store.enqueue(other, due_at=T0, max_attempts=3, chain=f"urgent:{other.id}")
        await put_in_state(store, OutboxState.QUEUED)
        listed = await store.list_outbox(chain=chain)
        assert [(record.envelope_id, record.chain_step) for record in listed] == [
            (hop.id, 1),
            (root.id, 0),
        ]
        assert await store.list_outbox(chain=chain, states=[OutboxState.SENT]) == []
        assert await store.list_outbox(chain="urgent:no-such-envelope") == []

    # -- provider messages ---------------------------------------------------------------------

    async def test_store_provider_messages_map_back_to_their_envelope_by_part(
        self, store: Any
    ) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENT)
        await store.record_provider_messages(
            envelope_id, "fake", ["p-1", "p-2"], DeliveryStatus.ACCEPTED
        )
        await store.record_provider_messages(envelope_id, "fake", ["p-1"], "accepted")
        assert (await store.outbox_record(envelope_id)).provider_ids == ("p-1", "p-2")
        assert await store.status_of(envelope_id) is DeliveryStatus.ACCEPTED
        with pytest.raises(StoreError, match="already recorded"):
            await store.record_provider_messages(envelope_id, "fake", ["p-9"], "accepted")
        other = await put_in_state(store, OutboxState.SENT)
        with pytest.raises(StoreError, match="already belongs"):
            await store.record_provider_messages(other, "fake", ["p-2"], "accepted")

    async def test_store_status_of_an_envelope_not_yet_at_the_provider_follows_its_state(
        self, store: Any
    ) -> None:
        expected = {
            OutboxState.QUEUED: DeliveryStatus.QUEUED,
            OutboxState.UNKNOWN: DeliveryStatus.UNKNOWN,
            OutboxState.DEAD: DeliveryStatus.FAILED,
            OutboxState.EXPIRED: DeliveryStatus.EXPIRED,
            OutboxState.CANCELED: DeliveryStatus.CANCELED,
        }
        for state, status in expected.items():
            assert await store.status_of(await put_in_state(store, state)) is status
        assert await store.status_of("no-such-envelope") is None
