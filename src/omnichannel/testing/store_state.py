"""The clauses of :class:`~omnichannel.testing.store_contract.StoreContract` beyond the
outbox: statuses by precedence, the inbox, windows, cursors, timers and wake-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from omnichannel.events import DeliveryStatus, StatusOutcome
from omnichannel.store.records import InboxState, OutboxState
from omnichannel.testing.builders import make_status
from omnichannel.testing.store_outbox import put_in_state

__all__ = ["StoreStateClauses"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
DAY = timedelta(days=1)


async def _inbound(store: Any, key: str, *, at: datetime = T0) -> bool:
    written: bool = await store.record_inbound(
        dedupe_key=key, kind="message", channel="fake", payload={"text": key}, received_at=at
    )
    return written


class StoreStateClauses:
    """Mixed into :class:`~omnichannel.testing.store_contract.StoreContract`."""

    # -- statuses ------------------------------------------------------------------------------

    async def test_store_statuses_apply_by_precedence_and_all_are_kept(self, store: Any) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENT)
        await store.record_provider_messages(envelope_id, "fake", ["p-1"], "accepted")
        outcomes = []
        for status in ("delivered", "sent", "delivered", "failed", "read"):
            applied = await store.apply_status(make_status(provider_id="p-1", status=status))
            assert applied.envelope_id == envelope_id
            outcomes.append((applied.previous, applied.outcome, applied.transition.status))
        assert outcomes == [
            (DeliveryStatus.ACCEPTED, StatusOutcome.APPLIED, DeliveryStatus.DELIVERED),
            (DeliveryStatus.DELIVERED, StatusOutcome.STALE, DeliveryStatus.DELIVERED),
            (DeliveryStatus.DELIVERED, StatusOutcome.STALE, DeliveryStatus.DELIVERED),
            (DeliveryStatus.DELIVERED, StatusOutcome.ANOMALY, DeliveryStatus.DELIVERED),
            (DeliveryStatus.DELIVERED, StatusOutcome.APPLIED, DeliveryStatus.READ),
        ]
        assert await store.status_of(envelope_id) is DeliveryStatus.READ
        history = await store.status_history(envelope_id)
        assert [entry.update.status.value for entry in history] == [
            "delivered",
            "sent",
            "delivered",
            "failed",
            "read",
        ]
        assert [entry.outcome.value for entry in history] == [
            "applied",
            "stale",
            "stale",
            "anomaly",
            "applied",
        ]
        assert all(entry.update.envelope_id == envelope_id for entry in history)

    async def test_store_a_success_after_superseded_is_a_late_success(self, store: Any) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENT)
        await store.record_provider_messages(envelope_id, "fake", ["p-1"], "sent")
        await store.apply_status(make_status(provider_id="p-1", status="superseded"))
        late = await store.apply_status(make_status(provider_id="p-1", status="delivered"))
        assert late.outcome is StatusOutcome.LATE_SUCCESS
        assert await store.status_of(envelope_id) is DeliveryStatus.DELIVERED

    async def test_store_a_status_for_an_unknown_provider_id_is_kept_with_its_envelope(
        self, store: Any
    ) -> None:
        applied = await store.apply_status(
            make_status(provider_id="p-x", status="sent", envelope_id="env-x")
        )
        assert (applied.previous, applied.outcome) == (None, StatusOutcome.APPLIED)
        assert applied.envelope_id == "env-x"
        again = await store.apply_status(make_status(provider_id="p-x", status="delivered"))
        assert (again.previous, again.envelope_id) == (DeliveryStatus.SENT, "env-x")
        assert [entry.update.status for entry in await store.status_history("env-x")] == [
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
        ]
        orphan = await store.apply_status(make_status(provider_id="p-y", status="sent"))
        assert orphan.envelope_id is None

    async def test_store_a_callback_before_the_send_is_recorded_keeps_the_higher_status(
        self, store: Any
    ) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENDING)
        await store.apply_status(make_status(provider_id="p-1", status="delivered"))
        await store.record_provider_messages(envelope_id, "fake", ["p-1"], "accepted")
        assert await store.status_of(envelope_id) is DeliveryStatus.DELIVERED
        assert (await store.outbox_record(envelope_id)).provider_ids == ("p-1",)

    async def test_store_concurrent_statuses_for_one_message_end_at_the_highest(
        self, store: Any
    ) -> None:
        envelope_id = await put_in_state(store, OutboxState.SENT)
        await store.record_provider_messages(envelope_id, "fake", ["p-1"], "accepted")
        statuses = ["sent", "delivered", "read", "sent", "delivered"] * 4

        async with anyio.create_task_group() as group:
            for status in statuses:
                group.start_soon(store.apply_status, make_status(provider_id="p-1", status=status))
        assert await store.status_of(envelope_id) is DeliveryStatus.READ
        history = await store.status_history(envelope_id)
        assert len(history) == len(statuses)
        assert sum(entry.outcome is StatusOutcome.APPLIED for entry in history) <= 3

    # -- inbox ---------------------------------------------------------------------------------

    async def test_store_an_inbound_event_is_written_once_per_dedupe_key(self, store: Any) -> None:
        assert await _inbound(store, "wamid.1") is True
        assert await _inbound(store, "wamid.1", at=T0 + 3 * DAY) is False  # days later
        [record] = await store.list_inbox()
        assert (record.dedupe_key, record.state, record.payload) == (
            "wamid.1",
            InboxState.PENDING,
            {"text": "wamid.1"},
        )
        assert record.received_at == T0
        assert await store.inbox_record(record.id) == record
        assert await store.inbox_record(record.id + 1000) is None

    async def test_store_twenty_concurrent_writes_of_one_dedupe_key_insert_exactly_one(
        self, store: Any
    ) -> None:
        results: list[bool] = []

        async def write() -> None:
            results.append(await _inbound(store, "SM-concurrent"))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(write)
        assert sorted(results) == [False] * 19 + [True]
        assert len(await store.list_inbox()) == 1

    async def test_store_inbox_claims_lease_due_events_and_count_attempts(self, store: Any) -> None:
        await _inbound(store, "a")
        await _inbound(store, "b", at=T0 + LEASE)
        [claimed] = await store.claim_inbox(worker="w-1", now=T0, lease=LEASE, limit=5)
        assert (claimed.dedupe_key, claimed.state, claimed.attempts) == (
            "a",
            InboxState.HANDLING,
            1,
        )
        assert (claimed.lease_owner, claimed.lease_expires_at) == ("w-1", T0 + LEASE)
        assert await store.claim_inbox(worker="w-2", now=T0, lease=LEASE, limit=5) == []

    async def test_store_two_stores_claiming_inbound_events_never_get_the_same_one(
        self, store: Any, second_store: Any
    ) -> None:
        for number in range(40):
            await _inbound(store, f"event-{number}")
        claimed: list[int] = []

        async def drain(each: Any, name: str) -> None:
            while batch := await each.claim_inbox(worker=name, now=T0, lease=LEASE, limit=3):
                claimed.extend(record.id for record in batch)

        async with anyio.create_task_group() as group:
            group.start_soon(drain, store, "a")
            group.start_soon(drain, second_store, "b")
            group.start_soon(drain, store, "a")
            group.start_soon(drain, second_store, "b")
        assert len(claimed) == len(set(claimed)) == 40

    async def test_store_completed_handlers_are_recorded_once_each(self, store: Any) -> None:
        await _inbound(store, "a")
        [event] = await store.claim_inbox(worker="w", now=T0, lease=LEASE, limit=1)
        await store.handler_done(event.id, "crm")
        await store.handler_done(event.id, "crm")
        await store.handler_done(event.id, "audit")
        assert (await store.inbox_record(event.id)).handlers_done == {"crm", "audit"}

    async def test_store_inbox_settles_done_retry_or_dead_under_the_lease(self, store: Any) -> None:
        for key in ("done", "retry", "dead"):
            await _inbound(store, key)
        events = {
            event.dedupe_key: event
            for event in await store.claim_inbox(worker="w-1", now=T0, lease=LEASE, limit=3)
        }
        done, retry, dead = events["done"].id, events["retry"].id, events["dead"].id
        assert not await store.settle_inbox(done, to=InboxState.DONE, now=T0, worker="w-2")
        assert await store.settle_inbox(done, to=InboxState.DONE, now=T0, worker="w-1")
        assert await store.settle_inbox(
            retry, to=InboxState.PENDING, now=T0, due_at=T0 + LEASE, error="timeout", worker="w-1"
        )
        assert await store.settle_inbox(dead, to=InboxState.DEAD, now=T0, error="boom")
        assert not await store.settle_inbox(done, to=InboxState.DEAD, now=T0)  # done stays done
        retried = await store.inbox_record(retry)
        assert (retried.state, retried.due_at, retried.last_error, retried.lease_owner) == (
            InboxState.PENDING,
            T0 + LEASE,
            "timeout",
            None,
        )
        assert await store.claim_inbox(worker="w", now=T0, lease=LEASE, limit=5) == []
        [again] = await store.claim_inbox(worker="w", now=T0 + LEASE, lease=LEASE, limit=5)
        assert (again.id, again.attempts) == (retry, 2)
        # `omni inbox retry`: dead (and done) events go back to pending with fresh attempts.
        assert await store.settle_inbox(dead, to=InboxState.PENDING, now=T0)
        assert (await store.inbox_record(dead)).attempts == 0
        with pytest.raises(ValueError, match="claim_inbox"):
            await store.settle_inbox(dead, to=InboxState.HANDLING, now=T0)
        assert not await store.settle_inbox(10_000, to=InboxState.DONE, now=T0)

    async def test_store_expired_inbox_leases_go_back_to_pending(self, store: Any) -> None:
        await _inbound(store, "a")
        await store.claim_inbox(worker="w-dead", now=T0, lease=LEASE, limit=1)
        assert await store.expire_inbox_leases(now=T0 + LEASE) == 0
        assert await store.expire_inbox_leases(now=T0 + 2 * LEASE) == 1
        [record] = await store.list_inbox(states=[InboxState.PENDING])
        assert (record.lease_owner, record.due_at) == (None, T0 + 2 * LEASE)
        assert await store.list_inbox(states=[InboxState.HANDLING]) == []

    # -- session windows -----------------------------------------------------------------------

    async def test_store_windows_are_kept_per_business_address_latest_first(
        self, store: Any
    ) -> None:
        await store.record_window("chat", "number-1", "cust", T0)
        await store.record_window("chat", "number-1", "cust", T0 - DAY)  # older: ignored
        await store.record_window("chat", "number-2", "cust", T0 - DAY)
        await store.record_window("chat", None, "other", T0 - 2 * DAY)
        assert await store.last_inbound("chat", "number-1", "cust") == T0
        assert await store.last_inbound("chat", "number-2", "cust") == T0 - DAY
        assert await store.last_inbound("chat", "number-3", "cust") is None
        assert await store.last_inbound("chat", None, "cust") == T0
        assert await store.last_inbound("chat", None, "other") == T0 - 2 * DAY
        assert await store.last_inbound("sms", None, "cust") is None

    # -- cursors -------------------------------------------------------------------------------

    async def test_store_cursors_round_trip_and_serve_the_poller(self, store: Any) -> None:
        from omnichannel.polling import CursorStore

        assert await store.get_cursor("mail.pull:INBOX") is None
        await store.set_cursor("mail.pull:INBOX", "validity=7;last=41")
        await store.set_cursor("mail.pull:INBOX", "validity=7;last=42")
        assert await store.get_cursor("mail.pull:INBOX") == "validity=7;last=42"
        cursors: CursorStore = store.cursors
        await cursors.set("social.mentions", "1460323737035677698")
        assert await cursors.get("social.mentions") == "1460323737035677698"
        await cursors.set("social.mentions", None)
        assert await store.get_cursor("social.mentions") is None

    # -- timers --------------------------------------------------------------------------------

    async def test_store_timers_are_claimed_once_until_their_lease_expires(
        self, store: Any
    ) -> None:
        await store.set_timer(kind="chain", key="chain:e1:0", due_at=T0, payload={"step": 0})
        await store.set_timer(kind="send_at", key="send:e2", due_at=T0 + DAY, payload={})
        [timer] = await store.claim_timers(worker="w-1", now=T0, lease=LEASE, limit=5)
        assert (timer.key, timer.kind, timer.payload, timer.lease_owner) == (
            "chain:e1:0",
            "chain",
            {"step": 0},
            "w-1",
        )
        assert await store.claim_timers(worker="w-2", now=T0, lease=LEASE, limit=5) == []
        # The holder died: once its lease expired another worker takes it.
        [again] = await store.claim_timers(worker="w-2", now=T0 + 2 * LEASE, lease=LEASE, limit=1)
        assert again.lease_owner == "w-2"
        assert not await store.delete_timer("chain:e1:0", worker="w-1")
        assert await store.delete_timer("chain:e1:0", worker="w-2")
        assert await store.timer("chain:e1:0") is None
        assert (await store.timer("send:e2")).due_at == T0 + DAY

    async def test_store_setting_a_timer_again_moves_it_and_releases_its_lease(
        self, store: Any
    ) -> None:
        await store.set_timer(kind="retry", key="retry:e1", due_at=T0, payload={"n": 1})
        await store.claim_timers(worker="w-1", now=T0, lease=LEASE, limit=1)
        await store.set_timer(kind="retry", key="retry:e1", due_at=T0 + LEASE, payload={"n": 2})
        moved = await store.timer("retry:e1")
        assert (moved.due_at, moved.payload, moved.lease_owner) == (T0 + LEASE, {"n": 2}, None)
        assert await store.claim_timers(worker="w-2", now=T0, lease=LEASE, limit=1) == []
        [claimed] = await store.claim_timers(worker="w-2", now=T0 + LEASE, lease=LEASE, limit=1)
        assert claimed.payload == {"n": 2}
        assert await store.renew_leases(worker="w-2", until=T0 + DAY) == 1
        assert await store.delete_timer("retry:e1")

    async def test_store_two_stores_claiming_timers_at_once_never_get_the_same_one(
        self, store: Any, second_store: Any
    ) -> None:
        for number in range(30):
            await store.set_timer(kind="t", key=f"timer-{number}", due_at=T0, payload={})
        claimed: list[str] = []

        async def drain(each: Any, name: str) -> None:
            while batch := await each.claim_timers(worker=name, now=T0, lease=LEASE, limit=2):
                claimed.extend(timer.key for timer in batch)

        async with anyio.create_task_group() as group:
            group.start_soon(drain, store, "a")
            group.start_soon(drain, second_store, "b")
        assert len(claimed) == len(set(claimed)) == 30

    # -- wake-ups ------------------------------------------------------------------------------

    async def test_store_notify_wakes_a_waiter_on_its_topic_only(self, store: Any) -> None:
        async with store.wakeups("outbox") as outbox, store.wakeups("inbox") as inbox:
            assert not outbox.is_set()
            await store.notify("outbox")
            with anyio.fail_after(10):
                await outbox.wait()
            assert not inbox.is_set()
            outbox.clear()
            assert not outbox.is_set()

    async def test_store_notify_from_another_store_wakes_a_waiter_where_it_can(
        self, store: Any, second_store: Any
    ) -> None:
        if store.dialect != "postgresql":
            pytest.skip("SQLite serves one worker process: wake-ups stay in that process")
        async with store.wakeups("outbox") as waiter:
            await second_store.notify("outbox")
            with anyio.fail_after(10):
                await waiter.wait()
