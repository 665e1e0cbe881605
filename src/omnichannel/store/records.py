"""The store's value types: states, the moves allowed between them, and the records it returns.

Nothing here imports SQLAlchemy, so code that only reads records (the CLI's renderers, the
errors) works without the ``store`` extra installed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from omnichannel.envelope import Envelope
from omnichannel.events import DeliveryStatus, StatusOutcome, StatusTransition, StatusUpdate
from omnichannel.mappings import FrozenMap

__all__ = [
    "INBOX_MOVES",
    "OUTBOX_MOVES",
    "SUPERSEDED",
    "AppliedStatus",
    "HistoryEntry",
    "InboundEvent",
    "InboxFinish",
    "InboxRecord",
    "InboxState",
    "OutboxRecord",
    "OutboxState",
    "ProviderParts",
    "StatusHistoryEntry",
    "TimerRecord",
    "WindowMark",
]


class OutboxState(enum.StrEnum):
    """Where an outbound envelope stands in the outbox."""

    QUEUED = "queued"
    """Waiting for its due time and a worker."""
    SENDING = "sending"
    """Claimed by a worker (``lease_owner``) until ``lease_expires_at``."""
    SENT = "sent"
    """The provider accepted it (its provider ids are recorded)."""
    FAILED = "failed"
    """Definitely not sent; an operator may retry it."""
    UNKNOWN = "unknown"
    """The request may have been processed: never resent unless reconcile shows otherwise."""
    DEAD = "dead"
    """Out of attempts."""
    CANCELED = "canceled"
    """Withdrawn before it was sent."""
    EXPIRED = "expired"
    """Its ``expires_at`` passed before it could be sent."""


OUTBOX_MOVES: Final[Mapping[OutboxState, frozenset[OutboxState]]] = {
    OutboxState.QUEUED: frozenset({OutboxState.SENDING, OutboxState.CANCELED, OutboxState.EXPIRED}),
    OutboxState.SENDING: frozenset(
        {
            OutboxState.SENT,
            OutboxState.FAILED,
            OutboxState.UNKNOWN,
            OutboxState.QUEUED,
            OutboxState.DEAD,
            # A worker that claimed it and found its expires_at passed, before any provider call.
            OutboxState.EXPIRED,
        }
    ),
    # A later status or a reconcile settles an unknown outcome; an operator may also retry it.
    OutboxState.UNKNOWN: frozenset({OutboxState.SENT, OutboxState.QUEUED, OutboxState.FAILED}),
    OutboxState.FAILED: frozenset({OutboxState.QUEUED}),
    OutboxState.DEAD: frozenset({OutboxState.QUEUED}),
    OutboxState.SENT: frozenset(),
    OutboxState.CANCELED: frozenset(),
    OutboxState.EXPIRED: frozenset(),
}
"""The moves :meth:`Store.transition` allows, from each state. ``queued -> sending`` happens
only through :meth:`Store.claim_outbox`, which also takes the lease."""

SUPERSEDED: Final = "superseded"
"""The history entry a failover chain appends when it moves past a sent step (the state stays
``sent``: the message may still arrive, which is then recorded as a late success)."""


class InboxState(enum.StrEnum):
    """Where an inbound event stands in the inbox."""

    PENDING = "pending"
    """Written, waiting for its handlers (or for a retry's due time)."""
    HANDLING = "handling"
    """Claimed by a worker (``lease_owner``) until ``lease_expires_at``."""
    DONE = "done"
    """Every handler completed."""
    DEAD = "dead"
    """Out of attempts; ``omni inbox retry`` puts it back."""


INBOX_MOVES: Final[Mapping[InboxState, frozenset[InboxState]]] = {
    InboxState.PENDING: frozenset({InboxState.HANDLING}),
    InboxState.HANDLING: frozenset({InboxState.DONE, InboxState.PENDING, InboxState.DEAD}),
    InboxState.DONE: frozenset({InboxState.PENDING}),
    InboxState.DEAD: frozenset({InboxState.PENDING}),
}
"""The moves :meth:`Store.settle_inbox` allows; ``pending -> handling`` happens only through
:meth:`Store.claim_inbox`."""


def _frozen(value: Mapping[str, Any] | None) -> FrozenMap | None:
    if value is None:
        return None
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _frozen_required(value: Mapping[str, Any]) -> FrozenMap:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _outbox_state(value: OutboxState | str) -> OutboxState:
    # A member as it is: the Enum call would take two Python-level calls to return it.
    return value if type(value) is OutboxState else OutboxState(value)


@attrs.frozen(kw_only=True)
class OutboxRecord:
    """One outbound envelope in the outbox."""

    envelope_id: str
    channel: str
    state: OutboxState = attrs.field(converter=_outbox_state)
    envelope: Envelope
    """The envelope as enqueued (read back with :meth:`Envelope.from_dict`)."""
    attempts: int
    """Claims so far (each claim is one attempt)."""
    max_attempts: int
    due_at: datetime
    """When it may next be claimed."""
    lease_owner: str | None
    lease_expires_at: datetime | None
    chain: str | None
    """The failover chain it belongs to, when it was sent with one."""
    chain_step: int
    provider_ids: tuple[str, ...]
    """The provider ids recorded for it, by part index."""
    last_error: FrozenMap | None = attrs.field(converter=_frozen)
    receipt: FrozenMap | None = attrs.field(converter=_frozen)
    """The receipt recorded when it was sent (``SendReceipt.to_dict``), if any."""
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class HistoryEntry:
    """One move of an outbox row, appended when it happened."""

    envelope_id: str
    at: datetime
    from_state: OutboxState | None
    """None for the entry that created the row."""
    to_state: str
    """An :class:`OutboxState` value, or :data:`SUPERSEDED` (a chain note; the state stays)."""
    reason: str | None
    worker: str | None


@attrs.frozen(kw_only=True)
class AppliedStatus:
    """What :meth:`Store.apply_status` did with one status update."""

    transition: StatusTransition
    """The outcome (applied, stale, anomaly, late success) and the status after it."""
    previous: DeliveryStatus | None
    """The message's status before the update (None when it was unknown to the store)."""
    envelope_id: str | None
    """The envelope the provider message belongs to, when known."""

    @property
    def outcome(self) -> StatusOutcome:
        """Shorthand for ``transition.outcome``."""
        return self.transition.outcome


@attrs.frozen(kw_only=True)
class StatusHistoryEntry:
    """One status update as it was received, with what applying it did."""

    update: StatusUpdate
    outcome: StatusOutcome = attrs.field(converter=StatusOutcome)
    status_after: DeliveryStatus = attrs.field(converter=DeliveryStatus)
    recorded_at: datetime


@attrs.frozen(kw_only=True)
class InboxRecord:
    """One inbound event in the inbox."""

    id: int
    dedupe_key: str
    kind: str
    """What the payload holds (a message, a status), as the caller named it."""
    channel: str
    payload: FrozenMap = attrs.field(converter=_frozen_required)
    state: InboxState = attrs.field(converter=InboxState)
    attempts: int
    handlers_done: frozenset[str]
    """The handlers that completed for this event (a retry runs only the others); names
    starting with ``@`` are the store's own and are not listed."""
    due_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    received_at: datetime


@attrs.frozen(kw_only=True)
class TimerRecord:
    """A timer: due at ``due_at``, claimed by one worker at a time."""

    key: str
    kind: str
    due_at: datetime
    payload: FrozenMap = attrs.field(converter=_frozen_required)
    lease_owner: str | None
    lease_expires_at: datetime | None


@attrs.frozen(kw_only=True)
class InboundEvent:
    """An inbound event to write to the inbox (:meth:`Store.record_inbound_events`)."""

    dedupe_key: str
    kind: str
    channel: str
    payload: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class WindowMark:
    """A customer's message opening a session window (:meth:`Store.record_window`)."""

    channel: str
    business: str | None
    customer: str
    at: datetime


@attrs.frozen(kw_only=True)
class ProviderParts:
    """The provider ids of a send's parts, to record with its settlement."""

    channel: str
    provider_ids: tuple[str, ...]
    status: DeliveryStatus
    envelope_id: str | None = None
    """The envelope the parts belong to, when not the one settled (a public signpost)."""


@attrs.frozen(kw_only=True)
class InboxFinish:
    """How one handling of an inbox event ended (:meth:`Store.finish_inbox`)."""

    inbox_id: int
    handlers: tuple[str, ...]
    """The handlers that completed this time."""
    to: InboxState = attrs.field(converter=InboxState)
    due_at: datetime | None = None
    error: str | None = None
