"""The durable store: what omnichannel keeps so that a restart, a crash or a second worker
loses and doubles nothing (needs ``pip install 'omnichannel[store]'``; PostgreSQL also
``omnichannel[postgres]``).

One SQLAlchemy Core schema and one implementation on two engines: SQLite (the embedded
default, one worker process) and PostgreSQL (any number of workers). It keeps

* the **outbox**: every outbound envelope, written before any provider call, in one of the
  states ``queued -> sending -> sent``, or ``failed``, ``unknown`` (the request may have been
  processed: never resent blindly), ``dead`` (out of attempts), ``canceled``, ``expired``;
  every move is appended to its history;
* **provider messages** (channel + provider id -> envelope and part, current status) and the
  **status history**, statuses applied by precedence;
* the **inbox**: inbound events under a unique dedupe key, ``pending -> handling -> done`` or
  ``dead``, with the handlers that completed;
* **session windows**, **poll cursors** and **timers** (a due time any worker claims).

Workers claim rows with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL); see
:class:`Store` for the methods, ``omni store upgrade`` for the migrations, and
:class:`omnichannel.testing.store_contract.StoreContract` for the behaviour every engine passes.
The value types import without SQLAlchemy; :class:`Store` needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnichannel._lazy import lazy_module

if TYPE_CHECKING:
    from omnichannel.errors import (
        DuplicateEnvelope,
        StoreError,
        StoreLocked,
        StoreSchemaOutdated,
    )
    from omnichannel.store.engine import (
        configured_url,
    )
    from omnichannel.store.records import (
        INBOX_MOVES,
        OUTBOX_MOVES,
        SUPERSEDED,
        AppliedStatus,
        HistoryEntry,
        InboxRecord,
        InboxState,
        OutboxRecord,
        OutboxState,
        StatusHistoryEntry,
        TimerRecord,
    )
    from omnichannel.store.schema import (
        SCHEMA_VERSION,
    )
    from omnichannel.store.store import (
        Store,
    )
    from omnichannel.store.wakeups import (
        Wakeup,
    )

_EXPORTS_BY_MODULE: dict[str, tuple[str, ...]] = {
    "omnichannel.errors": (
        "DuplicateEnvelope",
        "StoreError",
        "StoreLocked",
        "StoreSchemaOutdated",
    ),
    "omnichannel.store.engine": ("configured_url",),
    "omnichannel.store.records": (
        "INBOX_MOVES",
        "OUTBOX_MOVES",
        "SUPERSEDED",
        "AppliedStatus",
        "HistoryEntry",
        "InboxRecord",
        "InboxState",
        "OutboxRecord",
        "OutboxState",
        "StatusHistoryEntry",
        "TimerRecord",
    ),
    "omnichannel.store.schema": ("SCHEMA_VERSION",),
    "omnichannel.store.store": ("Store",),
    "omnichannel.store.wakeups": ("Wakeup",),
}

__getattr__, __dir__ = lazy_module(__name__, _EXPORTS_BY_MODULE)

__all__ = [
    "INBOX_MOVES",
    "OUTBOX_MOVES",
    "SCHEMA_VERSION",
    "SUPERSEDED",
    "AppliedStatus",
    "DuplicateEnvelope",
    "HistoryEntry",
    "InboxRecord",
    "InboxState",
    "OutboxRecord",
    "OutboxState",
    "StatusHistoryEntry",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreSchemaOutdated",
    "TimerRecord",
    "Wakeup",
    "configured_url",
]
