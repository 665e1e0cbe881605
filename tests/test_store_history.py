"""An outbox row's history, on a SQLite file, in memory and on PostgreSQL: its creation and
newest move are on the row, every move between them in the history table (appended by the
trigger when a move replaces the newest), and :meth:`Store.history` reads them back as one
list in order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from omnichannel.store import Store
from omnichannel.store.batches import ClaimedSend, SentSend
from omnichannel.store.records import SUPERSEDED, OutboxState
from omnichannel.store.schema import outbox_history
from omnichannel.testing.builders import make_envelope

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite created", "sqlite migrated", "memory", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The schema made by the migrations (``omni store upgrade``) and by opening a database
    with none (``create=True``, from the tables): the trigger comes with both."""
    if request.param.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'omnichannel.db'}"
        if request.param == "sqlite migrated":
            await Store.upgrade(url)
        return url
    if request.param == "memory":
        return "sqlite://"
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


LEASE = timedelta(seconds=30)
SECOND = timedelta(seconds=1)


async def _rows_in_the_table(store: Store, envelope_id: str) -> int:
    def count(conn: sa.Connection) -> int:
        statement = sa.select(sa.func.count()).where(outbox_history.c.envelope_id == envelope_id)
        return int(conn.execute(statement).scalar_one())

    return await store._read(count)


async def _moves(store: Store, envelope_id: str) -> list[tuple[object, ...]]:
    return [
        (entry.at, entry.from_state, entry.to_state, entry.reason, entry.worker)
        for entry in await store.history(envelope_id)
    ]


async def test_a_send_made_inline_writes_no_history_row_and_reads_its_three_moves(
    store: Store,
) -> None:
    envelope = make_envelope()
    t0 = store.clock()
    [claimed] = await store.enqueue_claimed(
        [ClaimedSend(envelope=envelope, due_at=t0, max_attempts=3)],
        worker="w-1",
        lease=LEASE,
        now=t0,
    )
    assert not isinstance(claimed, Exception)
    sent = SentSend(envelope_id=envelope.id, reason="sent", receipt={"envelope_id": envelope.id})
    assert await store.settle_sent([sent], worker="w-1", now=t0 + SECOND) == [True]
    assert await _moves(store, envelope.id) == [
        (t0, None, "queued", "enqueued", None),
        (t0, OutboxState.QUEUED, "sending", None, "w-1"),
        (t0 + SECOND, OutboxState.SENDING, "sent", "sent", "w-1"),
    ]
    assert await _rows_in_the_table(store, envelope.id) == 0


async def test_every_move_of_a_row_reads_back_in_order_and_the_table_holds_all_but_the_newest(
    store: Store,
) -> None:
    envelope = make_envelope()
    t0 = store.clock()
    at = [t0 + n * SECOND for n in range(8)]
    await store.enqueue(envelope, due_at=at[0], max_attempts=3, now=at[0])
    assert await _rows_in_the_table(store, envelope.id) == 0
    await store.claim_outbox(worker="w-1", now=at[1], lease=LEASE, limit=1)
    # A retry, claimed again by another worker; the lease of the second attempt expires.
    assert await store.settle_send(
        envelope.id, to=OutboxState.QUEUED, now=at[2], worker="w-1", reason="429", due_at=at[3]
    )
    await store.claim_outbox(worker="w-2", now=at[3], lease=LEASE, limit=1)
    [swept] = await store.expire_leases(now=at[3] + LEASE + SECOND)
    assert swept.envelope_id == envelope.id
    # Its answer comes late; then notes that leave the state as it is.
    assert await store.settle_send(
        envelope.id, to=OutboxState.SENT, now=at[5], worker="w-2", reason="sent"
    )
    assert await store.note(envelope.id, "chain_done", now=at[6], reason="step 1 delivered")
    assert await store.supersede(envelope.id, now=at[7], reason="not read within 5m", worker="c")
    expired_at = at[3] + LEASE + SECOND
    assert await _moves(store, envelope.id) == [
        (at[0], None, "queued", "enqueued", None),
        (at[1], OutboxState.QUEUED, "sending", None, "w-1"),
        (at[2], OutboxState.SENDING, "queued", "429", "w-1"),
        (at[3], OutboxState.QUEUED, "sending", None, "w-2"),
        (expired_at, OutboxState.SENDING, "unknown", "lease expired while sending", "w-2"),
        (at[5], OutboxState.UNKNOWN, "sent", "sent, answered after the lease expired", None),
        (at[6], OutboxState.SENT, "chain_done", "step 1 delivered", None),
        (at[7], OutboxState.SENT, SUPERSEDED, "not read within 5m", "c"),
    ]
    # Seven moves after the creation: the newest is on the row, the six before it in the table.
    assert await _rows_in_the_table(store, envelope.id) == 6
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert (record.state, record.attempts) == (OutboxState.SENT, 2)


async def test_a_refused_move_leaves_the_history_as_it_was(store: Store) -> None:
    envelope = make_envelope()
    t0 = store.clock()
    await store.enqueue(envelope, due_at=t0, max_attempts=3, now=t0)
    await store.claim_outbox(worker="w-1", now=t0, lease=LEASE, limit=1)
    before = await _moves(store, envelope.id)
    # Not the worker holding the lease; a state the row is not in; no such row.
    assert not await store.settle_send(envelope.id, to=OutboxState.SENT, now=t0, worker="w-9")
    assert not await store.supersede(envelope.id, now=t0 + SECOND)
    assert not await store.note("no-such-envelope", "chain_done", now=t0)
    assert await _moves(store, envelope.id) == before
    assert await _rows_in_the_table(store, envelope.id) == 0
    assert await store.history("no-such-envelope") == []
