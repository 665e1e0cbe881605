"""The send path's prepared statements (``omnichannel.store.batches``): what they write is
what Core writes, and a database refusal inside one is a StoreError that rolls the whole
transaction back, on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnichannel.envelope import Envelope
from omnichannel.errors import StoreError
from omnichannel.store import Store
from omnichannel.store.batches import ClaimedSend
from omnichannel.store.records import OutboxState
from omnichannel.store.schema import outbox_history
from omnichannel.testing.builders import make_envelope

pytestmark = pytest.mark.anyio


async def test_a_refused_batch_is_a_store_error_and_leaves_nothing(store: Store) -> None:
    envelope = make_envelope()
    now = store.clock()
    claim = store._claims_work(
        [ClaimedSend(envelope=envelope, due_at=now, max_attempts=3)],
        worker="w-1",
        lease=timedelta(seconds=30),
        now=now,
    )

    def claim_then_break(conn: Connection) -> None:
        claim(conn)
        # Two provider ids for one part of the envelope: its unique key refuses the second.
        part = {"channel": "sms", "envelope_id": envelope.id, "part_index": 0}
        store._prepared["parts"].run(
            conn,
            [
                {**part, "provider_id": provider_id, "status": "sent", "updated_at": now}
                for provider_id in ("SM1", "SM2")
            ],
        )

    with pytest.raises(StoreError, match=r"failed: .*(UNIQUE|unique)") as raised:
        await store._write(claim_then_break)
    assert store.url in str(raised.value)
    assert await store.outbox_record(envelope.id) is None  # the claim was rolled back


CLAIMED_BY_W1 = [
    (None, "queued", "enqueued", None),
    (OutboxState.QUEUED, "sending", None, "w-1"),
]
"""A row's history once enqueued and claimed by w-1: (from, to, reason, worker)."""


async def _moves(store: Store, envelope_id: str) -> list[tuple[object, ...]]:
    return [
        (entry.from_state, entry.to_state, entry.reason, entry.worker)
        for entry in await store.history(envelope_id)
    ]


async def _written_claimed(store: Store) -> Envelope:
    """An envelope written to the outbox already claimed by worker w-1 (the send path)."""
    envelope = make_envelope()
    now = store.clock()
    await store.enqueue_claimed(
        [ClaimedSend(envelope=envelope, due_at=now, max_attempts=3)],
        worker="w-1",
        lease=timedelta(seconds=30),
        now=now,
    )
    return envelope


async def test_a_claimed_row_reads_back_with_no_receipt_error_or_chain(store: Store) -> None:
    envelope = await _written_claimed(store)
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert (record.receipt, record.last_error, record.chain) == (None, None, None)
    assert record.envelope == envelope


async def test_a_row_written_claimed_reads_back_as_two_moves_from_no_history_row(
    store: Store,
) -> None:
    envelope = await _written_claimed(store)
    assert await _moves(store, envelope.id) == CLAIMED_BY_W1
    stored = await store._read(
        lambda conn: conn.execute(
            sa.select(sa.func.count()).where(outbox_history.c.envelope_id == envelope.id)
        ).scalar()
    )
    assert stored == 0


async def test_a_row_enqueued_then_claimed_reads_as_one_written_claimed(store: Store) -> None:
    """A worker's claim of a queued row: the same two moves, from the row's creation and its
    newest move."""
    envelope = make_envelope()
    now = store.clock()
    await store.enqueue(envelope, due_at=now, max_attempts=3, now=now)
    claimed = await store.claim_outbox(
        worker="w-1", now=now, lease=timedelta(seconds=30), limit=1, envelope_id=envelope.id
    )
    assert [record.envelope_id for record in claimed] == [envelope.id]
    assert await _moves(store, envelope.id) == CLAIMED_BY_W1
