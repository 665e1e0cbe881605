from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnichannel import DeliveryStatus, SendReceipt, StatusUpdate
from omnichannel.tracking import StatusTracker


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _update(status: str, *, provider_id: str = "P1", sequence: int | None = None) -> StatusUpdate:
    return StatusUpdate(
        channel="sms",
        provider_id=provider_id,
        status=DeliveryStatus(status),
        timestamp=datetime(2026, 11, 3, tzinfo=UTC),
        sequence=sequence,
    )


def _tracker_with_a_send(clock: Clock, *provider_ids: str) -> StatusTracker:
    tracker = StatusTracker(clock=clock)
    tracker.sent(
        SendReceipt(
            envelope_id="E1",
            channel="sms",
            adapter="sms.fake",
            provider_ids=provider_ids or ("P1",),
            status=DeliveryStatus.ACCEPTED,
        )
    )
    return tracker


def test_updates_are_mapped_back_to_the_envelope_that_was_sent() -> None:
    tracker = _tracker_with_a_send(Clock())
    (passed,) = tracker.receive(_update("delivered"))
    assert passed.envelope_id == "E1"
    assert tracker.status_of("E1") is DeliveryStatus.DELIVERED


def test_stale_and_duplicate_updates_are_not_passed_on() -> None:
    tracker = _tracker_with_a_send(Clock())
    assert tracker.receive(_update("delivered"))
    assert tracker.receive(_update("sent")) == []
    assert tracker.receive(_update("delivered")) == []


def test_a_contradiction_is_kept_as_an_anomaly() -> None:
    tracker = _tracker_with_a_send(Clock())
    tracker.receive(_update("delivered"))
    assert tracker.receive(_update("failed")) == []
    (anomaly,) = tracker.anomalies
    assert (anomaly.update.status, anomaly.current) == (
        DeliveryStatus.FAILED,
        DeliveryStatus.DELIVERED,
    )


def test_an_unknown_provider_id_is_tracked_without_an_envelope() -> None:
    tracker = StatusTracker(clock=Clock())
    (passed,) = tracker.receive(_update("sent", provider_id="elsewhere"))
    assert passed.envelope_id is None


def test_numbered_updates_are_released_in_sequence_order() -> None:
    tracker = _tracker_with_a_send(Clock())
    assert tracker.receive(_update("delivered", sequence=2)) == []
    assert tracker.receive(_update("sent", sequence=1)) == []
    released = tracker.receive(_update("accepted", sequence=0))
    assert [update.sequence for update in released] == [1, 2]  # 0 was already known: stale


def test_a_gap_is_skipped_once_the_reorder_window_has_passed() -> None:
    clock = Clock()
    tracker = _tracker_with_a_send(clock)
    assert tracker.receive(_update("delivered", sequence=1)) == []
    assert tracker.release_held() == []
    clock.now += timedelta(seconds=29)
    assert tracker.release_held() == []
    clock.now += timedelta(seconds=1)
    assert [update.status for update in tracker.release_held()] == [DeliveryStatus.DELIVERED]


def test_a_split_message_reports_the_status_of_its_first_part() -> None:
    tracker = _tracker_with_a_send(Clock(), "P1", "P2")
    tracker.receive(_update("delivered", provider_id="P2"))
    assert tracker.status_of("E1") is DeliveryStatus.ACCEPTED
    tracker.receive(_update("sent", provider_id="P1"))
    assert tracker.status_of("E1") is DeliveryStatus.SENT
