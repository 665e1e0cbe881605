"""``omni send --wait`` on a durable store: a status that a listener in another process
recorded (a provider posting every status to one configured URL) is read back from the store
and reported once, each time it changes."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from omnichannel.adapter import SendReceipt
from omnichannel.cli._wait import store_statuses
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.store import Store
from omnichannel.store.batches import ClaimedSend, SentSend
from omnichannel.store.records import ProviderParts
from omnichannel.testing.builders import make_envelope, make_status

pytestmark = pytest.mark.anyio


async def test_each_status_the_store_records_is_reported_once(store: Store) -> None:
    envelope = make_envelope()
    now = store.clock()
    await store.enqueue_claimed(
        [ClaimedSend(envelope=envelope, due_at=now, max_attempts=3)],
        worker="w-1",
        lease=timedelta(seconds=30),
        now=now,
    )
    await store.settle_sent(
        [
            SentSend(
                envelope_id=envelope.id,
                reason="sent",
                receipt={},
                parts=[
                    ProviderParts(
                        channel="fake", provider_ids=("p-1",), status=DeliveryStatus.ACCEPTED
                    )
                ],
            )
        ],
        worker="w-1",
        now=now,
    )
    receipt = SendReceipt(
        envelope_id=envelope.id,
        channel="fake",
        adapter="fake.test",
        provider_ids=("p-1",),
        status=DeliveryStatus.ACCEPTED,
    )
    reported: list[StatusUpdate] = []
    tick_send, ticks = anyio.create_memory_object_stream[None](1)
    ready_send, ready = anyio.create_memory_object_stream[None](1)

    async def pause() -> None:  # the poller's sleep, stepped by the test
        await ready_send.send(None)
        await ticks.receive()

    async def poll_once() -> None:
        await tick_send.send(None)
        await ready.receive()  # the poll ran and the poller is pausing again

    with tick_send, ticks, ready_send, ready:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: store_statuses(store, receipt, reported.append, pause=pause))
            await ready.receive()
            await poll_once()
            assert reported == []  # still what the receipt said
            await store.apply_status(make_status(provider_id="p-1", status="sent"))
            await store.apply_status(make_status(provider_id="p-1", status="delivered"))
            await poll_once()
            await poll_once()
            await store.apply_status(make_status(provider_id="p-1", status="read"))
            await poll_once()
            group.cancel_scope.cancel()
    assert [(update.status, update.provider_id, update.envelope_id) for update in reported] == [
        (DeliveryStatus.DELIVERED, "p-1", envelope.id),
        (DeliveryStatus.READ, "p-1", envelope.id),
    ]
