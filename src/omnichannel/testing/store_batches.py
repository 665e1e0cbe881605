"""The batched send-path clauses of :class:`~omnichannel.testing.store_contract.StoreContract`:
many sends enqueued claimed, or settled sent, in one transaction, with the results the one-row
methods would give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from omnichannel.errors import DuplicateEnvelope
from omnichannel.events import DeliveryStatus
from omnichannel.store.batches import ClaimedSend, SentSend
from omnichannel.store.records import OutboxState, ProviderParts
from omnichannel.testing.builders import make_envelope, make_status

__all__ = ["StoreBatchClauses"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def _claim(envelope: Any) -> ClaimedSend:
    return ClaimedSend(envelope=envelope, due_at=T0, max_attempts=5)


def _sent(envelope_id: str, *provider_ids: str, status: str = "accepted") -> SentSend:
    return SentSend(
        envelope_id=envelope_id,
        reason="sent",
        receipt={"envelope_id": envelope_id, "provider_ids": list(provider_ids)},
        parts=[
            ProviderParts(
                channel="fake", provider_ids=tuple(provider_ids), status=DeliveryStatus(status)
            )
        ],
    )


class StoreBatchClauses:
    """Mixed into :class:`~omnichannel.testing.store_contract.StoreContract`."""

    async def test_store_a_batch_enqueues_every_send_claimed_with_its_history(
        self, store: Any
    ) -> None:
        envelopes = [make_envelope(text=f"notice {n}") for n in range(3)]
        records = await store.enqueue_claimed(
            [_claim(e) for e in envelopes], worker="w-1", lease=LEASE, now=T0
        )
        assert [record.envelope_id for record in records] == [e.id for e in envelopes]
        for envelope in envelopes:
            stored = await store.outbox_record(envelope.id)
            assert (stored.state, stored.attempts, stored.lease_owner) == (
                OutboxState.SENDING,
                1,
                "w-1",
            )
            assert stored.lease_expires_at == T0 + LEASE
            assert stored.envelope.content.text == envelope.content.text
            assert [entry.to_state for entry in await store.history(envelope.id)] == [
                "queued",
                "sending",
            ]

    async def test_store_a_batch_reports_duplicates_without_touching_them(self, store: Any) -> None:
        existing, fresh = make_envelope(), make_envelope()
        await store.enqueue(existing, due_at=T0, max_attempts=5)
        results = await store.enqueue_claimed(
            [_claim(existing), _claim(fresh), _claim(fresh)], worker="w-1", lease=LEASE, now=T0
        )
        assert isinstance(results[0], DuplicateEnvelope)
        assert results[0].record.state is OutboxState.QUEUED
        assert results[1].state is OutboxState.SENDING
        assert isinstance(results[2], DuplicateEnvelope)  # the same envelope twice in a batch
        assert (await store.outbox_record(existing.id)).state is OutboxState.QUEUED
        assert len(await store.history(fresh.id)) == 2

    async def test_store_a_batch_settles_sent_only_the_rows_its_worker_holds(
        self, store: Any
    ) -> None:
        envelopes = [make_envelope() for _ in range(3)]
        await store.enqueue_claimed(
            [_claim(e) for e in envelopes], worker="w-1", lease=LEASE, now=T0
        )
        ours, swept, taken = envelopes
        # The sweep settled one unknown; another worker's lease holds the third.
        assert await store.transition(swept.id, to=OutboxState.UNKNOWN, now=T0)
        assert await store.transition(taken.id, to=OutboxState.QUEUED, now=T0)
        assert await store.claim_outbox(
            worker="w-2", now=T0, lease=LEASE, limit=1, envelope_id=taken.id
        )
        moved = await store.settle_sent(
            [_sent(ours.id, "p-1"), _sent(swept.id, "p-2"), _sent(taken.id, "p-3")],
            worker="w-1",
            now=T0 + timedelta(seconds=1),
        )
        assert moved == [True, True, False]
        sent = await store.outbox_record(ours.id)
        assert (sent.state, sent.provider_ids) == (OutboxState.SENT, ("p-1",))
        assert (sent.lease_owner, sent.lease_expires_at) == (None, None)  # the lease released
        late = await store.history(swept.id)
        assert (late[-1].from_state, late[-1].to_state) == (OutboxState.UNKNOWN, "sent")
        assert (await store.outbox_record(taken.id)).state is OutboxState.SENDING
        assert await store.status_of(ours.id) is DeliveryStatus.ACCEPTED

    async def test_store_a_batch_keeps_a_status_that_arrived_before_the_answer(
        self, store: Any
    ) -> None:
        envelope = make_envelope()
        await store.enqueue_claimed([_claim(envelope)], worker="w-1", lease=LEASE, now=T0)
        await store.apply_status(make_status(provider_id="p-early", status="delivered"))
        await store.settle_sent(
            [_sent(envelope.id, "p-early", "p-2")], worker="w-1", now=T0 + timedelta(seconds=1)
        )
        record = await store.outbox_record(envelope.id)
        assert record.provider_ids == ("p-early", "p-2")
        assert await store.status_of(envelope.id) is DeliveryStatus.DELIVERED

    async def test_store_starting_and_ending_sends_share_one_write(self, store: Any) -> None:
        ending, starting = make_envelope(), make_envelope()
        await store.enqueue_claimed([_claim(ending)], worker="w-1", lease=LEASE, now=T0)
        made, moved = await store.write_sends(
            [_claim(starting)], [_sent(ending.id, "p-1")], worker="w-1", lease=LEASE, now=T0
        )
        assert [record.envelope_id for record in made] == [starting.id]
        assert moved == [True]
        assert (await store.outbox_record(ending.id)).state is OutboxState.SENT
        assert (await store.outbox_record(starting.id)).state is OutboxState.SENDING
