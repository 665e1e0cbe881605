"""The router's durable paths: sends through the outbox, inbound events through the inbox,
status-driven chains on timers; what the durable store needs from the router and the worker.

:class:`StorePolicy` holds the numbers (attempts, leases, backoff). The modules here are the
router's own machinery; applications meet them through ``Router(store=...)``,
``router.send(..., wait=False | connection= | chain=)`` and :class:`omnichannel.worker.Worker`.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any, Final

import attrs

from omnichannel.envelope import Envelope
from omnichannel.errors import SendError
from omnichannel.events import StatusUpdate

__all__ = [
    "INBOX_TOPIC",
    "OUTBOX_TOPIC",
    "TIMER_TOPIC",
    "StorePolicy",
    "error_record",
    "message_key",
    "status_key",
    "worker_identity",
]

OUTBOX_TOPIC: Final = "omnichannel_outbox"
"""Notified when an envelope is queued (a worker wakes to send it)."""
INBOX_TOPIC: Final = "omnichannel_inbox"
"""Notified when inbound events are written for a worker to handle."""
TIMER_TOPIC: Final = "omnichannel_timers"
"""Notified when a timer is set."""


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be positive")


def _at_least_one(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1")


@attrs.frozen(kw_only=True)
class StorePolicy:
    """How the durable paths retry and lease.

    A send that failed in a way that says a retry is safe (never reached the provider, a rate
    limit) is queued again after an exponential backoff with jitter (the provider's
    ``Retry-After`` when it gave one), until ``max_attempts`` claims were used: then it ends
    ``dead``. A worker holds what it works on under a ``lease`` that its heartbeat renews; a
    lease that runs out while sending ends the send ``unknown``.
    """

    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    """Claims of one outbox row before it ends ``dead`` (each claim may retry inside, as the
    sender's own retry policy allows)."""
    lease: timedelta = attrs.field(default=timedelta(minutes=2), validator=_positive)
    retry_base: timedelta = attrs.field(default=timedelta(seconds=30), validator=_positive)
    retry_max: timedelta = attrs.field(default=timedelta(hours=1), validator=_positive)
    jitter: float = 0.25
    """Up to this fraction of a computed delay is added at random, so workers spread out."""
    handler_attempts: int = attrs.field(default=8, validator=_at_least_one)
    """Tries of an inbound event's handlers before it ends ``dead`` (``omni inbox retry``)."""
    handler_retry_base: timedelta = attrs.field(default=timedelta(seconds=5), validator=_positive)

    def retry_delay(self, attempt: int, retry_after: float | None, rand: float) -> timedelta:
        """The wait before the send's next claim, after ``attempt`` claims (1 for the first)."""
        if retry_after is not None and retry_after > 0:
            return min(timedelta(seconds=retry_after), self.retry_max)
        computed: timedelta = self.retry_base * 2 ** max(attempt - 1, 0)
        return min(self.retry_max, computed * (1 + self.jitter * rand))

    def handler_delay(self, attempt: int, rand: float) -> timedelta:
        """The wait before an inbound event's handlers run again, after ``attempt`` tries."""
        computed: timedelta = self.handler_retry_base * 2 ** max(attempt - 1, 0)
        return min(self.retry_max, computed * (1 + self.jitter * rand))


def worker_identity() -> str:
    """A name for this process's leases: host, pid and a random part (a restarted process
    with the same pid is another worker)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def message_key(message: Envelope) -> str:
    """The inbox dedupe key of an inbound message: its provider's id on its channel."""
    return f"message:{message.channel}:{message.provider_id or message.id}"


def status_key(update: StatusUpdate) -> str:
    """The inbox dedupe key of a status update: provider id, status and sequence."""
    sequence = "" if update.sequence is None else str(update.sequence)
    return f"status:{update.channel}:{update.provider_id}:{update.status.value}:{sequence}"


def error_record(error: BaseException) -> dict[str, Any]:
    """What the outbox keeps of a failed attempt (``last_error``): JSON, no secrets (errors
    never carry them)."""
    if isinstance(error, SendError):
        return {
            "type": type(error).__name__,
            "message": error.message,
            "reason": error.reason.value,
            "retryable": error.retryable,
            "retry_after": error.retry_after,
            "status_code": error.status_code,
            "provider_code": error.provider_code,
            "attempts": list(error.attempts),
        }
    return {"type": type(error).__name__, "message": str(error), "reason": "unknown"}
