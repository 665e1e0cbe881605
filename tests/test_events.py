from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnichannel import DeliveryStatus
from omnichannel.events import StatusOutcome, apply_status

S = DeliveryStatus


def _final(sequence: list[DeliveryStatus]) -> DeliveryStatus | None:
    current: DeliveryStatus | None = None
    for status in sequence:
        current = apply_status(current, status).status
    return current


def test_delivered_sent_read_sent_in_any_order_and_duplicated_ends_as_read() -> None:
    statuses = [S.DELIVERED, S.SENT, S.READ, S.SENT]
    for order in itertools.permutations(statuses):
        assert _final([*order, *order]) is S.READ


@given(st.lists(st.sampled_from([S.QUEUED, S.ACCEPTED, S.SENT, S.DELIVERED, S.READ]), min_size=1))
def test_the_positive_ladder_keeps_its_highest_rung_whatever_the_arrival_order(
    sequence: list[DeliveryStatus],
) -> None:
    ladder = [S.QUEUED, S.ACCEPTED, S.SENT, S.DELIVERED, S.READ]
    assert _final(sequence) is max(sequence, key=ladder.index)


def test_failed_after_delivered_is_an_anomaly_and_not_applied() -> None:
    transition = apply_status(S.DELIVERED, S.FAILED)
    assert transition.outcome is StatusOutcome.ANOMALY
    assert transition.status is S.DELIVERED


def test_a_failure_before_delivery_is_applied_and_wins_over_later_rungs() -> None:
    assert apply_status(S.SENT, S.UNDELIVERED).outcome is StatusOutcome.APPLIED
    assert apply_status(S.UNDELIVERED, S.SENT).outcome is StatusOutcome.STALE
    assert apply_status(S.FAILED, S.DELIVERED).outcome is StatusOutcome.ANOMALY


def test_the_first_terminal_negative_wins() -> None:
    assert apply_status(S.FAILED, S.EXPIRED).status is S.FAILED


def test_a_success_after_superseded_is_recorded_as_a_late_success() -> None:
    transition = apply_status(S.SUPERSEDED, S.DELIVERED)
    assert transition.outcome is StatusOutcome.LATE_SUCCESS
    assert transition.status is S.DELIVERED


def test_unknown_is_resolved_by_any_later_status_and_never_overwrites() -> None:
    assert apply_status(S.UNKNOWN, S.SENT).status is S.SENT
    assert apply_status(S.SENT, S.UNKNOWN).outcome is StatusOutcome.STALE


def test_duplicates_are_stale() -> None:
    assert apply_status(S.SENT, S.SENT).outcome is StatusOutcome.STALE


def test_call_statuses_climb_their_own_ladder() -> None:
    order = [S.COMPLETED, S.RINGING, S.ANSWERED, S.INITIATED]
    assert _final(order) is S.COMPLETED
    assert apply_status(S.RINGING, S.NO_ANSWER).outcome is StatusOutcome.APPLIED
    assert apply_status(S.ANSWERED, S.BUSY).outcome is StatusOutcome.ANOMALY


def test_mixing_message_and_call_ladders_is_an_anomaly() -> None:
    assert apply_status(S.SENT, S.RINGING).outcome is StatusOutcome.ANOMALY


@pytest.mark.parametrize(
    ("status", "target", "expected"),
    [
        (S.READ, S.DELIVERED, True),
        (S.DELIVERED, S.READ, False),
        (S.SENT, S.ACCEPTED, True),
        (S.COMPLETED, S.ANSWERED, True),
        (S.FAILED, S.DELIVERED, False),
        (S.FAILED, S.FAILED, True),
    ],
)
def test_reached_says_read_implies_delivered(
    status: DeliveryStatus, target: DeliveryStatus, expected: bool
) -> None:
    assert status.reached(target) is expected


def test_shuffled_real_world_sequences_end_where_precedence_says() -> None:
    rng = random.Random(7)
    for _ in range(200):
        sequence = [S.ACCEPTED, S.SENT, S.DELIVERED] * 2
        rng.shuffle(sequence)
        assert _final(sequence) is S.DELIVERED


def test_a_status_update_round_trips_through_a_dict_with_frozen_metadata_in_utc() -> None:
    from datetime import timedelta, timezone

    from omnichannel import FailureReason, StatusUpdate

    paris = timezone(timedelta(hours=1))
    update = StatusUpdate(
        channel="whatsapp",
        provider_id="wamid.1",
        status="failed",
        timestamp=datetime(2026, 11, 3, 19, 0, tzinfo=paris),
        reason="outside_window",
        provider_code="131047",
        metadata={"pricing": {"billable": False, "category": "service"}},
    )
    assert update.timestamp.tzinfo is UTC
    assert update.timestamp.hour == 18
    assert update.reason is FailureReason.OUTSIDE_WINDOW
    with pytest.raises(TypeError):
        update.metadata["pricing"] = {}  # type: ignore[index]
    again = StatusUpdate.from_dict(update.to_dict())
    assert again == update
    assert again.metadata == update.metadata


def test_a_naive_provider_timestamp_is_taken_as_utc() -> None:
    from omnichannel import StatusUpdate

    update = StatusUpdate(
        channel="sms", provider_id="SM1", status="sent", timestamp=datetime(2026, 1, 1, 12, 0)
    )
    assert update.timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
