"""The send path's prepared statements (``omnichannel.store.batches``): what they write is
what Core writes, and a database refusal inside one is a StoreError that rolls the whole
transaction back, on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Connection

from omnichannel.errors import StoreError
from omnichannel.store import Store
from omnichannel.store.batches import ClaimedSend
from omnichannel.store.outbox import _history
from omnichannel.store.records import OutboxState
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
        # A history row for an envelope the outbox does not have: the foreign key refuses it.
        store._prepared["history"].run(
            conn, [_history("no-such-envelope", now, None, OutboxState.QUEUED, "enqueued")]
        )

    with pytest.raises(StoreError, match=r"failed: .*(FOREIGN KEY|foreign key)") as raised:
        await store._write(claim_then_break)
    assert store.url in str(raised.value)
    assert await store.outbox_record(envelope.id) is None  # the claim was rolled back


async def test_a_claimed_row_reads_back_with_no_receipt_error_or_chain(store: Store) -> None:
    envelope = make_envelope()
    now = store.clock()
    await store.enqueue_claimed(
        [ClaimedSend(envelope=envelope, due_at=now, max_attempts=3)],
        worker="w-1",
        lease=timedelta(seconds=30),
        now=now,
    )
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert (record.receipt, record.last_error, record.chain) == (None, None, None)
    assert record.envelope == envelope
