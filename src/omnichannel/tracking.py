"""Status tracking: what the router knows about every message it sent.

Providers report statuses at least once and in no particular order. :class:`StatusTracker`
maps provider ids back to envelopes, puts numbered updates (a call's progress) back in the
provider's order, applies them by precedence (:func:`~omnichannel.apply_status`) and keeps the
contradictions as :class:`StatusAnomaly` records. It does no I/O: the router dispatches what it
returns.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import attrs

from omnichannel.adapter import SendReceipt
from omnichannel.events import DeliveryStatus, StatusOutcome, StatusUpdate, apply_status
from omnichannel.mappings import BoundedDict

__all__ = ["DEFAULT_REORDER_WINDOW", "StatusAnomaly", "StatusTracker"]

logger = logging.getLogger("omnichannel.tracking")

DEFAULT_REORDER_WINDOW: Final = timedelta(seconds=30)
DEFAULT_LIMIT: Final = 100_000
"""Messages tracked at once; the oldest are forgotten beyond it (the store keeps them all)."""
ANOMALY_LIMIT: Final = 1_000

_Key = tuple[str, str]  # (channel, provider id)


@attrs.frozen(kw_only=True)
class StatusAnomaly:
    """A status that contradicts what we know (a failure after delivery): kept, not applied."""

    update: StatusUpdate
    current: DeliveryStatus


class StatusTracker:
    """Statuses by provider message, applied by precedence, in the provider's sequence order.

    An update numbered ahead of its predecessors (``StatusUpdate.sequence``) is held until they
    arrive, or until it has waited ``reorder_window``: a lost callback must not hold the rest
    back forever.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        reorder_window: timedelta = DEFAULT_REORDER_WINDOW,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.clock = clock
        self.reorder_window = reorder_window
        self._anomalies: deque[StatusAnomaly] = deque(maxlen=ANOMALY_LIMIT)
        self._statuses: BoundedDict[_Key, DeliveryStatus] = BoundedDict(limit)
        self._envelope_of: BoundedDict[_Key, str] = BoundedDict(limit)
        self._provider_ids_of: BoundedDict[str, tuple[str, tuple[str, ...]]] = BoundedDict(limit)
        # Envelopes whose send ended without a provider id: UNKNOWN, EXPIRED, FAILED.
        self._outcomes: BoundedDict[str, DeliveryStatus] = BoundedDict(limit)
        self._next_sequence: BoundedDict[_Key, int] = BoundedDict(limit)
        self._held: dict[_Key, dict[int, tuple[StatusUpdate, datetime]]] = {}

    @property
    def anomalies(self) -> list[StatusAnomaly]:
        """The most recent contradicting updates (kept, not applied)."""
        return list(self._anomalies)

    def sent(self, receipt: SendReceipt) -> None:
        """Remember a send: its provider ids belong to the receipt's envelope."""
        self._outcomes.pop(receipt.envelope_id, None)
        self._provider_ids_of[receipt.envelope_id] = (receipt.channel, receipt.provider_ids)
        for provider_id in receipt.provider_ids:
            key = (receipt.channel, provider_id)
            self._envelope_of[key] = receipt.envelope_id
            if key not in self._statuses or self._statuses[key] is DeliveryStatus.UNKNOWN:
                self._statuses[key] = receipt.status

    def ended(self, envelope_id: str, status: DeliveryStatus) -> None:
        """Remember a send that ended without a provider id (UNKNOWN, EXPIRED, FAILED)."""
        if envelope_id not in self._provider_ids_of:
            self._outcomes[envelope_id] = status

    def forget(self, envelope_id: str) -> None:
        """Drop what is known of an envelope that never reached the provider."""
        self._outcomes.pop(envelope_id, None)

    def status_of(self, envelope_id: str) -> DeliveryStatus | None:
        """The latest status of a sent envelope (of its first part, when it was split)."""
        sent = self._provider_ids_of.get(envelope_id)
        if not sent or not sent[1]:
            return self._outcomes.get(envelope_id)
        channel, provider_ids = sent
        return self._statuses.get((channel, provider_ids[0]))

    def receive(self, update: StatusUpdate) -> list[StatusUpdate]:
        """Take one update; return the updates to pass on now, in order, with envelope ids."""
        if update.sequence is None:
            return self._applied([update])
        key = (update.channel, update.provider_id)
        if update.sequence < self._next_sequence.get(key, 0):
            return self._applied([update])
        self._held.setdefault(key, {})[update.sequence] = (update, self.clock())
        return self._applied(self._release(key))

    def release_held(self) -> list[StatusUpdate]:
        """The held updates whose wait for a missing predecessor has run out, applied."""
        released = [update for key in list(self._held) for update in self._release(key)]
        return self._applied(released)

    def _release(self, key: _Key) -> list[StatusUpdate]:
        held = self._held.get(key, {})
        expected = self._next_sequence.get(key, 0)
        released = []
        while held:
            if expected in held:
                released.append(held.pop(expected)[0])
                expected += 1
            elif self.clock() - min(arrived for _, arrived in held.values()) >= self.reorder_window:
                expected = min(held)
            else:
                break
        self._next_sequence[key] = expected
        if not held:
            self._held.pop(key, None)
        return released

    def _applied(self, updates: list[StatusUpdate]) -> list[StatusUpdate]:
        return [applied for update in updates if (applied := self._apply(update)) is not None]

    def _apply(self, update: StatusUpdate) -> StatusUpdate | None:
        key = (update.channel, update.provider_id)
        envelope_id = update.envelope_id or self._envelope_of.get(key)
        if envelope_id is not None:
            if update.envelope_id is None:
                update = attrs.evolve(update, envelope_id=envelope_id)
            if key not in self._envelope_of:
                self._envelope_of[key] = envelope_id
            if envelope_id not in self._provider_ids_of:
                # An UNKNOWN send settled by its first status: the message exists after all.
                self._outcomes.pop(envelope_id, None)
                self._provider_ids_of[envelope_id] = (update.channel, (update.provider_id,))
        current = self._statuses.get(key)
        transition = apply_status(current, update.status)
        if transition.outcome is StatusOutcome.STALE:
            return None
        if transition.outcome is StatusOutcome.ANOMALY and current is not None:
            logger.warning(
                "status %s for %s %s contradicts %s; recorded, not applied",
                update.status,
                update.channel,
                update.provider_id,
                current,
            )
            self._anomalies.append(StatusAnomaly(update=update, current=current))
            return None
        self._statuses[key] = transition.status
        return update
