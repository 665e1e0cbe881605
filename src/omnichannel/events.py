"""Delivery statuses, their precedence, and the status updates providers report.

Inbound messages are :class:`~omnichannel.envelope.Envelope` values; everything else a provider
tells us about a message we sent is a :class:`StatusUpdate`. Providers deliver status callbacks
at least once and in no particular order (``delivered`` can arrive before ``sent``), so statuses
are applied by rank with :func:`apply_status`, never by arrival.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from omnichannel.mappings import FrozenMap

__all__ = [
    "DeliveryStatus",
    "FailureReason",
    "StatusOutcome",
    "StatusTransition",
    "StatusUpdate",
    "apply_status",
]


class DeliveryStatus(enum.StrEnum):
    """Where a message (or a call) stands.

    Messages climb QUEUED < ACCEPTED < SENT < DELIVERED < READ; calls climb
    INITIATED < RINGING < ANSWERED < COMPLETED. The other values are terminal negatives,
    except UNKNOWN: the process died between sending a request and reading the answer, so the
    message may or may not exist. UNKNOWN is never resent blindly; a later status resolves it.
    """

    QUEUED = "queued"
    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    CANCELED = "canceled"
    SUPERSEDED = "superseded"
    UNKNOWN = "unknown"
    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"

    @property
    def is_terminal(self) -> bool:
        """True when no later status can follow in the normal course of events."""
        return self in _TERMINAL_NEGATIVE or self in (DeliveryStatus.READ, DeliveryStatus.COMPLETED)

    @property
    def is_failure(self) -> bool:
        """True for the terminal negatives (FAILED, UNDELIVERED, BUSY, ...)."""
        return self in _TERMINAL_NEGATIVE

    def reached(self, target: DeliveryStatus) -> bool:
        """Whether this status means ``target`` happened (READ implies DELIVERED, and so on)."""
        mine, theirs = _LADDER_RANK.get(self), _LADDER_RANK.get(target)
        if mine is None or theirs is None:
            return self is target
        return mine[0] == theirs[0] and mine[1] >= theirs[1]


_MESSAGE_LADDER = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.ACCEPTED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
)
_CALL_LADDER = (
    DeliveryStatus.INITIATED,
    DeliveryStatus.RINGING,
    DeliveryStatus.ANSWERED,
    DeliveryStatus.COMPLETED,
)
_LADDER_RANK: dict[DeliveryStatus, tuple[str, int]] = {
    **{status: ("message", rank) for rank, status in enumerate(_MESSAGE_LADDER)},
    **{status: ("call", rank) for rank, status in enumerate(_CALL_LADDER)},
}
_TERMINAL_NEGATIVE = frozenset(
    {
        DeliveryStatus.FAILED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.CANCELED,
        DeliveryStatus.SUPERSEDED,
        DeliveryStatus.BUSY,
        DeliveryStatus.NO_ANSWER,
    }
)
# A negative arriving after one of these contradicts it: the recipient already had the message.
_DELIVERED_OR_BEYOND = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.ANSWERED,
        DeliveryStatus.COMPLETED,
    }
)


class FailureReason(enum.StrEnum):
    """Why a message failed, normalised across providers."""

    INVALID_RECIPIENT = "invalid_recipient"
    OPTED_OUT = "opted_out"
    OUTSIDE_WINDOW = "outside_window"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    CONTENT_REJECTED = "content_rejected"
    UNREACHABLE = "unreachable"
    POLICY = "policy"
    EXPIRED = "expired"
    PROVIDER_ERROR = "provider_error"
    UNKNOWN = "unknown"


class StatusOutcome(enum.StrEnum):
    """What :func:`apply_status` did with an update."""

    APPLIED = "applied"
    STALE = "stale"
    """A duplicate, or lower than what we already know: ignored."""
    ANOMALY = "anomaly"
    """Contradicts what we know (a failure after delivery): recorded, not applied."""
    LATE_SUCCESS = "late_success"
    """A success for a step that failover had already superseded: applied and recorded."""


@attrs.frozen
class StatusTransition:
    """The result of applying one status on top of another."""

    outcome: StatusOutcome
    status: DeliveryStatus
    """The status after the update (unchanged unless the outcome is APPLIED or LATE_SUCCESS)."""


def apply_status(current: DeliveryStatus | None, new: DeliveryStatus) -> StatusTransition:
    """Apply ``new`` on top of ``current`` by precedence, never by arrival order.

    A lower rung never overwrites a higher one; a negative after delivery is an anomaly; the
    first terminal negative wins; a success after SUPERSEDED is a late success.
    """
    if current is None or current is DeliveryStatus.UNKNOWN:
        return StatusTransition(StatusOutcome.APPLIED, new)
    if new is current or new is DeliveryStatus.UNKNOWN:
        return StatusTransition(StatusOutcome.STALE, current)
    current_rank, new_rank = _LADDER_RANK.get(current), _LADDER_RANK.get(new)
    if current_rank is not None and new_rank is not None:
        if current_rank[0] != new_rank[0]:
            return StatusTransition(StatusOutcome.ANOMALY, current)
        if new_rank[1] > current_rank[1]:
            return StatusTransition(StatusOutcome.APPLIED, new)
        return StatusTransition(StatusOutcome.STALE, current)
    if current_rank is not None:  # new is a terminal negative
        if current in _DELIVERED_OR_BEYOND:
            return StatusTransition(StatusOutcome.ANOMALY, current)
        return StatusTransition(StatusOutcome.APPLIED, new)
    # current is a terminal negative
    if current is DeliveryStatus.SUPERSEDED and new_rank is not None:
        return StatusTransition(StatusOutcome.LATE_SUCCESS, new)
    if new in _DELIVERED_OR_BEYOND:
        return StatusTransition(StatusOutcome.ANOMALY, current)
    return StatusTransition(StatusOutcome.STALE, current)


def _utc(value: datetime) -> datetime:
    # A naive time from a provider is taken as UTC; an aware one is kept as the same instant.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _frozen(value: Mapping[str, Any] | None) -> FrozenMap:
    return value if isinstance(value, FrozenMap) else FrozenMap(value or {})


def _reason(value: FailureReason | str | None) -> FailureReason | None:
    return None if value is None else FailureReason(value)


@attrs.frozen(kw_only=True)
class StatusUpdate:
    """What a provider reported about a message we sent (or a call we placed)."""

    channel: str
    provider_id: str
    """The provider's id of the message or call (a message SID, a message id, a call id)."""
    status: DeliveryStatus = attrs.field(converter=DeliveryStatus)
    timestamp: datetime = attrs.field(converter=_utc)
    """When the provider says it happened (not when we heard about it), in UTC."""
    envelope_id: str | None = None
    """Our envelope id, when the provider echoed it back or we can map it."""
    recipient: str | None = None
    reason: FailureReason | None = attrs.field(default=None, converter=_reason)
    retryable: bool = False
    provider_code: str | None = None
    provider_message: str | None = None
    answered_by_machine: bool | None = None
    """Calls only: whether answering-machine detection said a machine answered."""
    duration_seconds: int | None = None
    """Calls only: the call's length once it completed."""
    sequence: int | None = None
    """The provider's ordering number within one message or call, when it sends one."""
    metadata: FrozenMap = attrs.field(factory=FrozenMap, converter=_frozen, eq=False, hash=False)
    """Provider extras worth keeping (pricing, the raw status name), immutable."""
    raw: object = attrs.field(default=None, eq=False, hash=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``raw`` left out), the shape ``omni listen --json`` prints."""
        return {
            "channel": self.channel,
            "provider_id": self.provider_id,
            "envelope_id": self.envelope_id,
            "status": self.status.value,
            "timestamp": self.timestamp.isoformat(),
            "recipient": self.recipient,
            "reason": self.reason.value if self.reason else None,
            "retryable": self.retryable,
            "provider_code": self.provider_code,
            "provider_message": self.provider_message,
            "answered_by_machine": self.answered_by_machine,
            "duration_seconds": self.duration_seconds,
            "sequence": self.sequence,
            "metadata": self.metadata.thaw(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatusUpdate:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            channel=data["channel"],
            provider_id=data["provider_id"],
            envelope_id=data.get("envelope_id"),
            status=data["status"],
            timestamp=datetime.fromisoformat(data["timestamp"]),
            recipient=data.get("recipient"),
            reason=data.get("reason"),
            retryable=bool(data.get("retryable", False)),
            provider_code=data.get("provider_code"),
            provider_message=data.get("provider_message"),
            answered_by_machine=data.get("answered_by_machine"),
            duration_seconds=data.get("duration_seconds"),
            sequence=data.get("sequence"),
            metadata=data.get("metadata") or {},
        )
