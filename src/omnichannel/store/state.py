"""Provider messages and statuses by precedence, session windows, poll cursors and timers.

A provider message maps (channel, provider id) to an envelope and its part (envelope id +
part index is the idempotency key of a part: recorded once). A status update is applied in
one transaction with its history row: the provider message's row is locked (``SELECT ...
FOR UPDATE`` on PostgreSQL), :func:`omnichannel.events.apply_status` decides, and the history
keeps every update, stale and contradicting ones included. Timers are rows with a due time
that any worker claims, so no timer belongs to one machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from omnichannel.errors import StoreError
from omnichannel.events import DeliveryStatus, StatusOutcome, StatusUpdate, apply_status
from omnichannel.store._base import StoreBase, aware
from omnichannel.store.records import AppliedStatus, OutboxState, StatusHistoryEntry, TimerRecord
from omnichannel.store.schema import (
    NO_BUSINESS,
    cursors,
    outbox,
    provider_messages,
    status_history,
    timers,
    windows,
)

__all__ = ["StateQueries", "StoreCursors"]

_MESSAGE_KEY = [provider_messages.c.channel, provider_messages.c.provider_id]
# The status an envelope that never reached the provider stands at, by outbox state.
_STATUS_OF_STATE: Mapping[OutboxState, DeliveryStatus] = {
    OutboxState.QUEUED: DeliveryStatus.QUEUED,
    OutboxState.SENDING: DeliveryStatus.QUEUED,
    OutboxState.FAILED: DeliveryStatus.FAILED,
    OutboxState.DEAD: DeliveryStatus.FAILED,
    OutboxState.UNKNOWN: DeliveryStatus.UNKNOWN,
    OutboxState.CANCELED: DeliveryStatus.CANCELED,
    OutboxState.EXPIRED: DeliveryStatus.EXPIRED,
}
_CHANGES_STATUS = frozenset({StatusOutcome.APPLIED, StatusOutcome.LATE_SUCCESS})


class StateQueries(StoreBase):
    """Statuses, windows, cursors and timers: that part of :class:`~omnichannel.store.Store`."""

    # -- provider messages ---------------------------------------------------------------------

    async def record_provider_messages(
        self,
        envelope_id: str,
        channel: str,
        provider_ids: Sequence[str],
        status: DeliveryStatus,
        *,
        now: datetime | None = None,
        connection: AsyncConnection | None = None,
    ) -> None:
        """Record the provider ids of an envelope's parts (part index = position), at
        ``status``.

        A status callback can arrive before the send's answer is recorded: a provider id
        already known keeps the higher of the two statuses by precedence. Recording a part
        again with the same id changes nothing; with another id it is a
        :class:`~omnichannel.errors.StoreError` (a part is sent once).
        """
        work = self._parts_work(envelope_id, channel, provider_ids, status, self._now(now))
        await self._write(work, connection)

    def _parts_work(
        self,
        envelope_id: str,
        channel: str,
        provider_ids: Sequence[str],
        status: DeliveryStatus,
        now: datetime,
    ) -> Callable[[Connection], None]:
        """:meth:`record_provider_messages` as a unit of work, to combine in one write."""
        status = DeliveryStatus(status)
        parts = sa.select(provider_messages.c.part_index, provider_messages.c.provider_id).where(
            provider_messages.c.envelope_id == envelope_id
        )

        def write(conn: Connection) -> None:
            recorded = {row.part_index: row.provider_id for row in conn.execute(parts)}
            for index, provider_id in enumerate(provider_ids):
                if index not in recorded:
                    self._record_part(conn, envelope_id, channel, index, provider_id, status, now)
                elif recorded[index] != provider_id:
                    raise StoreError(
                        f"part {index} is already recorded as provider message "
                        f"{recorded[index]}, not {provider_id}",
                        channel=channel,
                        envelope_id=envelope_id,
                    )

        return write

    def _record_part(
        self,
        conn: Connection,
        envelope_id: str,
        channel: str,
        index: int,
        provider_id: str,
        status: DeliveryStatus,
        now: datetime,
    ) -> None:
        key = (provider_messages.c.channel == channel) & (
            provider_messages.c.provider_id == provider_id
        )
        inserted = conn.execute(
            self._insert(provider_messages)
            .values(
                channel=channel,
                provider_id=provider_id,
                envelope_id=envelope_id,
                part_index=index,
                status=status.value,
                updated_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=[provider_messages.c.channel, provider_messages.c.provider_id]
            )
            .returning(provider_messages.c.provider_id)
        )
        if inserted.first() is not None:
            return
        existing = conn.execute(self._locking(sa.select(provider_messages).where(key))).one()
        if existing.envelope_id not in (None, envelope_id):
            raise StoreError(
                f"provider message {provider_id} already belongs to envelope "
                f"{existing.envelope_id}",
                channel=channel,
                envelope_id=envelope_id,
            )
        current = None if existing.status is None else DeliveryStatus(existing.status)
        merged = apply_status(current, status)
        keep = merged.outcome in (StatusOutcome.STALE, StatusOutcome.ANOMALY)
        conn.execute(
            sa.update(provider_messages)
            .where(key)
            .values(
                envelope_id=envelope_id,
                part_index=index,
                status=existing.status if keep else merged.status.value,
                updated_at=now,
            )
        )

    async def status_of(self, envelope_id: str) -> DeliveryStatus | None:
        """The envelope's status: its first part's, once the provider has it; before that,
        what its outbox state means (queued, failed, unknown, ...); None when unknown."""
        first_part = (
            sa.select(provider_messages.c.status)
            .where(
                provider_messages.c.envelope_id == envelope_id,
                provider_messages.c.status.is_not(None),
            )
            .order_by(provider_messages.c.part_index.asc().nulls_last())
            .limit(1)
        )
        state = sa.select(outbox.c.state).where(outbox.c.envelope_id == envelope_id)

        def read(conn: Connection) -> DeliveryStatus | None:
            status = conn.execute(first_part).scalar()
            if status is not None:
                return DeliveryStatus(status)
            found = conn.execute(state).scalar()
            return None if found is None else _STATUS_OF_STATE.get(OutboxState(found))

        return await self._read(read)

    # -- statuses ------------------------------------------------------------------------------

    async def apply_status(
        self,
        update: StatusUpdate,
        *,
        now: datetime | None = None,
        connection: AsyncConnection | None = None,
    ) -> AppliedStatus:
        """Apply ``update`` to its provider message by precedence and append it to the status
        history (kept, stale, anomaly or late success), in one transaction.

        A provider id the store has not seen (a callback faster than the send's answer) is
        stored with the update's envelope id when it has one; a later
        :meth:`record_provider_messages` keeps whichever status ranks higher.
        """
        return await self._write(self._status_work(update, self._now(now)), connection)

    def _status_work(
        self, update: StatusUpdate, now: datetime
    ) -> Callable[[Connection], AppliedStatus]:
        """:meth:`apply_status` as a unit of work, to combine in one write."""
        key = (provider_messages.c.channel == update.channel) & (
            provider_messages.c.provider_id == update.provider_id
        )
        locked = self._locking(
            sa.select(provider_messages.c.envelope_id, provider_messages.c.status).where(key)
        )

        def write(conn: Connection) -> AppliedStatus:
            row = conn.execute(locked).first()
            if row is None:
                conn.execute(
                    self._insert(provider_messages)
                    .values(
                        channel=update.channel,
                        provider_id=update.provider_id,
                        envelope_id=update.envelope_id,
                        part_index=None,
                        status=None,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(
                        index_elements=[
                            provider_messages.c.channel,
                            provider_messages.c.provider_id,
                        ]
                    )
                )
                row = conn.execute(locked).one()
            previous = None if row.status is None else DeliveryStatus(row.status)
            envelope_id = row.envelope_id or update.envelope_id
            transition = apply_status(previous, update.status)
            changes: dict[str, Any] = {}
            if transition.outcome in _CHANGES_STATUS and transition.status is not previous:
                changes["status"] = transition.status.value
            if row.envelope_id is None and envelope_id is not None:
                changes["envelope_id"] = envelope_id
            if changes:
                conn.execute(
                    sa.update(provider_messages).where(key).values(updated_at=now, **changes)
                )
            recorded = update.to_dict()
            recorded["envelope_id"] = envelope_id
            conn.execute(
                status_history.insert().values(
                    channel=update.channel,
                    provider_id=update.provider_id,
                    envelope_id=envelope_id,
                    status=update.status.value,
                    outcome=transition.outcome.value,
                    status_after=transition.status.value,
                    occurred_at=update.timestamp,
                    recorded_at=now,
                    update=recorded,
                )
            )
            return AppliedStatus(transition=transition, previous=previous, envelope_id=envelope_id)

        return write

    async def status_history(self, envelope_id: str) -> list[StatusHistoryEntry]:
        """Every status update recorded for ``envelope_id``'s provider messages, in the order
        they were received."""
        statement = (
            sa.select(status_history)
            .where(status_history.c.envelope_id == envelope_id)
            .order_by(status_history.c.id)
        )
        rows = await self._read(lambda conn: conn.execute(statement).all())
        return [
            StatusHistoryEntry(
                update=StatusUpdate.from_dict(row.update),
                outcome=row.outcome,
                status_after=row.status_after,
                recorded_at=row.recorded_at,
            )
            for row in rows
        ]

    # -- session windows -----------------------------------------------------------------------

    async def record_window(
        self,
        channel: str,
        business: str | None,
        customer: str,
        at: datetime,
        *,
        connection: AsyncConnection | None = None,
    ) -> None:
        """Note that ``customer`` wrote to ``business`` on ``channel`` at ``at`` (the latest
        time is kept, whatever the order of the calls)."""
        await self._write(self._window_work(channel, business, customer, at), connection)

    def _window_work(
        self, channel: str, business: str | None, customer: str, at: datetime
    ) -> Callable[[Connection], None]:
        """:meth:`record_window` as a unit of work, to combine in one write."""
        statement = self._window_upsert
        values = {
            "channel": channel,
            "business": NO_BUSINESS if business is None else business,
            "customer": customer,
            "last_inbound_at": aware(at, "at"),
        }

        def write(conn: Connection) -> None:
            conn.execute(statement, values)

        return write

    @cached_property
    def _window_upsert(self) -> Any:
        """The window upsert, built once: the latest time is kept, whatever the order."""
        statement = self._insert(windows).values(
            {name: sa.bindparam(name) for name in ("channel", "business", "customer")}
            | {"last_inbound_at": sa.bindparam("last_inbound_at")}
        )
        later = sa.case(
            (
                statement.excluded.last_inbound_at > windows.c.last_inbound_at,
                statement.excluded.last_inbound_at,
            ),
            else_=windows.c.last_inbound_at,
        )
        return statement.on_conflict_do_update(
            index_elements=[windows.c.channel, windows.c.business, windows.c.customer],
            set_={"last_inbound_at": later},
        )

    async def last_inbound(
        self, channel: str, business: str | None, customer: str
    ) -> datetime | None:
        """When ``customer`` last wrote to ``business`` on ``channel``; with ``business``
        None, the latest to any business address of the channel."""
        statement = sa.select(sa.func.max(windows.c.last_inbound_at)).where(
            windows.c.channel == channel, windows.c.customer == customer
        )
        if business is not None:
            statement = statement.where(windows.c.business == business)
        found: datetime | None = await self._read(lambda conn: conn.execute(statement).scalar())
        return found

    # -- poll cursors --------------------------------------------------------------------------

    async def get_cursor(self, key: str) -> str | None:
        """The cursor stored under ``key``, or None."""
        statement = sa.select(cursors.c.cursor).where(cursors.c.key == key)
        found: str | None = await self._read(lambda conn: conn.execute(statement).scalar())
        return found

    async def set_cursor(
        self, key: str, cursor: str | None, *, connection: AsyncConnection | None = None
    ) -> None:
        """Store ``cursor`` under ``key`` (None clears it)."""
        now = self._now()
        statement = self._insert(cursors).values(key=key, cursor=cursor, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[cursors.c.key], set_={"cursor": cursor, "updated_at": now}
        )
        await self._write(lambda conn: conn.execute(statement), connection)

    @property
    def cursors(self) -> StoreCursors:
        """This store as a :class:`omnichannel.polling.CursorStore` (for the Poller)."""
        return StoreCursors(self)

    # -- timers --------------------------------------------------------------------------------

    async def set_timer(
        self,
        *,
        kind: str,
        key: str,
        due_at: datetime,
        payload: Mapping[str, Any],
        connection: AsyncConnection | None = None,
    ) -> None:
        """Create the timer ``key``, or move it to ``due_at`` with ``payload`` (releasing any
        lease on it): one timer per key."""
        values = {
            "kind": kind,
            "due_at": aware(due_at, "due_at"),
            "payload": dict(payload),
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": self._now(),
        }
        statement = self._insert(timers).values(key=key, **values)
        statement = statement.on_conflict_do_update(index_elements=[timers.c.key], set_=values)
        await self._write(lambda conn: conn.execute(statement), connection)

    @cached_property
    def _timer_claim(self) -> sa.Update:
        """The claim statement, built once per store (constructing it, and SQLAlchemy's cache
        key for it, cost more than running it)."""
        when = timers.c.due_at.type
        now = sa.bindparam("now", type_=when)
        chosen = self._locking(
            sa.select(timers.c.key)
            .where(
                timers.c.due_at <= now,
                sa.or_(timers.c.lease_expires_at.is_(None), timers.c.lease_expires_at < now),
            )
            .order_by(timers.c.due_at, timers.c.key)
            .limit(sa.bindparam("limit", type_=sa.Integer())),
            skip_locked=True,
        ).cte("picked")
        return (
            sa.update(timers)
            .where(timers.c.key.in_(sa.select(chosen.c.key)))
            .values(
                lease_owner=sa.bindparam("worker"),
                lease_expires_at=sa.bindparam("expires", type_=when),
                updated_at=now,
            )
            .returning(*timers.c)
        )

    async def claim_timers(
        self, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[TimerRecord]:
        """Claim up to ``limit`` due timers no live lease holds, earliest first, for
        ``worker`` until ``now + lease``. A timer whose holder died is claimed again once its
        lease expires; delete it when done."""
        now = aware(now, "now")
        claim = self._timer_claim
        parameters = {"now": now, "worker": worker, "expires": now + lease, "limit": limit}
        rows = await self._write(
            lambda conn: conn.execute(claim, parameters).all(), lone=limit == 1
        )
        records = [_timer(row) for row in rows]
        return sorted(records, key=lambda record: (record.due_at, record.key))

    async def timer(self, key: str) -> TimerRecord | None:
        """The timer ``key``, or None."""
        statement = sa.select(timers).where(timers.c.key == key)
        row = await self._read(lambda conn: conn.execute(statement).first())
        return None if row is None else _timer(row)

    async def delete_timer(
        self,
        key: str,
        *,
        worker: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> bool:
        """Delete the timer ``key``; with ``worker``, only while that worker holds its lease
        (a timer moved by :meth:`set_timer` since the claim stays). True when deleted."""
        statement = sa.delete(timers).where(timers.c.key == key)
        if worker is not None:
            statement = statement.where(timers.c.lease_owner == worker)
        deleting = statement.returning(timers.c.key)
        return await self._write(
            lambda conn: conn.execute(deleting).first() is not None, connection
        )


def _timer(row: Row[Any]) -> TimerRecord:
    return TimerRecord(
        key=row.key,
        kind=row.kind,
        due_at=row.due_at,
        payload=row.payload,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
    )


class StoreCursors:
    """A store's poll cursors behind the :class:`omnichannel.polling.CursorStore` interface."""

    def __init__(self, store: StateQueries) -> None:
        self._store = store

    async def get(self, key: str) -> str | None:
        """The cursor stored under ``key``, or None."""
        return await self._store.get_cursor(key)

    async def set(self, key: str, cursor: str | None) -> None:
        """Store ``cursor`` under ``key``."""
        await self._store.set_cursor(key, cursor)
