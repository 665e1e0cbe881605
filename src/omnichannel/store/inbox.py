"""The inbox: inbound events written under a unique dedupe key before the provider's 200.

The unique constraint decides duplicates, concurrent or days apart (never a read-then-write
race). Workers claim pending events with a lease, record each handler that completed (a
retry runs only the others), and settle them done, pending again (a retry), or dead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from omnichannel.store._base import StoreBase, aware
from omnichannel.store.prepared import Prepared
from omnichannel.store.records import INBOX_MOVES, InboxFinish, InboxRecord, InboxState
from omnichannel.store.schema import in_state, inbox, inbox_handlers

__all__ = ["InboxQueries"]


_INSERT_COLUMNS = (
    "dedupe_key", "kind", "channel", "payload", "state", "attempts", "due_at", "lease_owner",
    "lease_expires_at", "received_at", "updated_at",
)  # fmt: skip
_HANDLER_COLUMNS = ("inbox_id", "handler", "done_at")


class InboxQueries(StoreBase):
    """The inbox part of :class:`~omnichannel.store.Store`."""

    @cached_property
    def _inbox_statements(self) -> dict[str, Any]:
        """The webhook path's statements, built once with bind parameters (building one per
        call cost more than running it)."""
        dialect = self.engine.dialect
        return {
            "insert": Prepared(
                self._insert(inbox)
                .values({name: sa.bindparam(name) for name in _INSERT_COLUMNS})
                .on_conflict_do_nothing(index_elements=[inbox.c.dedupe_key])
                .returning(inbox.c.id),
                dialect,
                {name: inbox.c[name].type for name in _INSERT_COLUMNS},
            ),
            "handlers": Prepared(
                self._insert(inbox_handlers)
                .values({name: sa.bindparam(name) for name in _HANDLER_COLUMNS})
                .on_conflict_do_nothing(
                    index_elements=[inbox_handlers.c.inbox_id, inbox_handlers.c.handler]
                ),
                dialect,
                {name: inbox_handlers.c[name].type for name in _HANDLER_COLUMNS},
            ),
            "done": Prepared(
                sa.update(inbox)
                .where(
                    inbox.c.id == sa.bindparam("b_id"),
                    inbox.c.state == InboxState.HANDLING.value,
                    inbox.c.lease_owner == sa.bindparam("b_worker"),
                )
                .values(
                    state=InboxState.DONE.value,
                    updated_at=sa.bindparam("b_now"),
                    lease_owner=None,
                    lease_expires_at=None,
                ),
                dialect,
                {
                    "b_id": inbox.c.id.type,
                    "b_worker": inbox.c.lease_owner.type,
                    "b_now": inbox.c.updated_at.type,
                },
            ),
        }

    async def record_inbound(
        self,
        *,
        dedupe_key: str,
        kind: str,
        channel: str,
        payload: Mapping[str, Any],
        received_at: datetime,
        connection: AsyncConnection | None = None,
    ) -> bool:
        """Write an inbound event as ``pending``; True when written, False for a duplicate
        of ``dedupe_key`` (the caller acknowledges it and drops it)."""
        work = self._inbound_work(
            dedupe_key=dedupe_key,
            kind=kind,
            channel=channel,
            payload=payload,
            received_at=received_at,
        )
        return await self._write(lambda conn: work(conn) is not None, connection)

    def _inbound_work(
        self,
        *,
        dedupe_key: str,
        kind: str,
        channel: str,
        payload: Mapping[str, Any],
        received_at: datetime,
        claim_for: str | None = None,
        lease: timedelta | None = None,
    ) -> Callable[[Connection], int | None]:
        """:meth:`record_inbound` as a unit of work returning the new event's id (None for a
        duplicate); ``claim_for`` writes it ``handling`` under that worker's lease."""
        received_at = aware(received_at, "received_at")
        claimed = claim_for is not None and lease is not None
        values = {
            "dedupe_key": dedupe_key,
            "kind": kind,
            "channel": channel,
            "payload": dict(payload),
            "state": (InboxState.HANDLING if claimed else InboxState.PENDING).value,
            "attempts": 1 if claimed else 0,
            "due_at": received_at,
            "lease_owner": claim_for if claimed else None,
            "lease_expires_at": received_at + lease if lease is not None else None,
            "received_at": received_at,
            "updated_at": received_at,
        }
        statement = self._inbox_statements["insert"]

        def write(conn: Connection) -> int | None:
            found: int | None = statement.first(conn, values)
            return found

        return write

    @cached_property
    def _inbox_claim(self) -> sa.Update:
        """The claim statement, built once per store (constructing it, and SQLAlchemy's cache
        key for it, cost more than running it)."""
        when = inbox.c.due_at.type
        chosen = self._locking(
            sa.select(inbox.c.id)
            .where(
                in_state(inbox.c.state, InboxState.PENDING),
                inbox.c.due_at <= sa.bindparam("now", type_=when),
            )
            .order_by(inbox.c.due_at, inbox.c.id)
            .limit(sa.bindparam("limit", type_=sa.Integer())),
            skip_locked=True,
        ).cte("picked")
        return (
            sa.update(inbox)
            .where(inbox.c.id.in_(sa.select(chosen.c.id)))
            .values(
                state=InboxState.HANDLING.value,
                lease_owner=sa.bindparam("worker"),
                lease_expires_at=sa.bindparam("expires", type_=when),
                attempts=inbox.c.attempts + 1,
                updated_at=sa.bindparam("now", type_=when),
            )
            .returning(*inbox.c)
        )

    async def claim_inbox(
        self, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[InboxRecord]:
        """Claim up to ``limit`` due ``pending`` events, oldest due first: each moves to
        ``handling`` under ``worker``'s lease until ``now + lease``, one more attempt."""
        now = aware(now, "now")
        claim = self._inbox_claim
        parameters = {"now": now, "worker": worker, "expires": now + lease, "limit": limit}
        records = await self._write(
            lambda conn: inbox_records(conn, conn.execute(claim, parameters).all()), lone=limit == 1
        )
        return sorted(records, key=lambda record: (record.due_at, record.id))

    async def handler_done(
        self,
        inbox_id: int,
        handler: str,
        *,
        now: datetime | None = None,
        connection: AsyncConnection | None = None,
    ) -> None:
        """Record that ``handler`` completed for event ``inbox_id`` (once; again is a no-op)."""
        statement = (
            self._insert(inbox_handlers)
            .values(inbox_id=inbox_id, handler=handler, done_at=self._now(now))
            .on_conflict_do_nothing(
                index_elements=[inbox_handlers.c.inbox_id, inbox_handlers.c.handler]
            )
        )
        await self._write(lambda conn: conn.execute(statement), connection)

    async def settle_inbox(
        self,
        inbox_id: int,
        *,
        to: InboxState,
        now: datetime,
        due_at: datetime | None = None,
        error: str | None = None,
        worker: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> bool:
        """Move an event along :data:`~omnichannel.store.records.INBOX_MOVES`; False (and
        nothing changed) when the move is not allowed.

        ``handling -> done | pending | dead``: with ``worker`` the event must still be under
        its lease. ``pending`` is due at ``due_at`` (default ``now``); out of ``done`` or
        ``dead`` (``omni inbox retry``) it starts over with no attempts used. ``error`` is
        kept as the last error.
        """
        work = self._settle_work(
            inbox_id, to=to, now=now, due_at=due_at, error=error, worker=worker
        )
        return await self._write(work, connection)

    def _settle_work(
        self,
        inbox_id: int,
        *,
        to: InboxState,
        now: datetime,
        due_at: datetime | None = None,
        error: str | None = None,
        worker: str | None = None,
    ) -> Callable[[Connection], bool]:
        """:meth:`settle_inbox` as a unit of work, to combine in one write."""
        to = InboxState(to)
        if to is InboxState.HANDLING:
            raise ValueError("events move to handling only through claim_inbox, with a lease")
        now = aware(now, "now")
        due = now if due_at is None else aware(due_at, "due_at")
        locked = self._locking(
            sa.select(inbox.c.state, inbox.c.lease_owner).where(inbox.c.id == inbox_id)
        )

        def write(conn: Connection) -> bool:
            row = conn.execute(locked).first()
            if row is None:
                return False
            current = InboxState(row.state)
            if to not in INBOX_MOVES[current]:
                return False
            if worker is not None and (
                current is not InboxState.HANDLING or row.lease_owner != worker
            ):
                return False
            values: dict[str, Any] = {
                "state": to.value,
                "updated_at": now,
                "lease_owner": None,
                "lease_expires_at": None,
            }
            if to is InboxState.PENDING:
                values["due_at"] = due
                if current is not InboxState.HANDLING:
                    values["attempts"] = 0
            if error is not None:
                values["last_error"] = error
            conn.execute(sa.update(inbox).where(inbox.c.id == inbox_id).values(values))
            return True

        return write

    async def finish_inbox(
        self, finishes: Sequence[InboxFinish], *, worker: str, now: datetime
    ) -> list[bool]:
        """For each event: record the handlers that completed this time and settle it (done,
        pending again, dead) under ``worker``'s lease, all in one transaction. Returns, per
        event, whether it moved."""
        now = aware(now, "now")
        done_rows = [
            {"inbox_id": finish.inbox_id, "handler": handler, "done_at": now}
            for finish in finishes
            for handler in finish.handlers
        ]
        statements = self._inbox_statements
        done = statements["done"]
        settles = [
            None
            if finish.to is InboxState.DONE
            else self._settle_work(
                finish.inbox_id,
                to=finish.to,
                now=now,
                due_at=finish.due_at,
                error=finish.error,
                worker=worker,
            )
            for finish in finishes
        ]

        # handling -> done, under this worker's lease: one UPDATE each.
        done_params = [
            {"b_id": finish.inbox_id, "b_worker": worker, "b_now": now}
            for finish, settle in zip(finishes, settles, strict=True)
            if settle is None
        ]

        def write(conn: Connection) -> list[bool]:
            if done_rows:
                statements["handlers"].run(conn, done_rows)
            finished = iter(done.each(conn, done_params))
            return [next(finished) == 1 if settle is None else settle(conn) for settle in settles]

        return await self._write(write, lone=len(finishes) == 1)

    async def expire_inbox_leases(self, *, now: datetime) -> int:
        """Put events still ``handling`` after their lease expired back to ``pending``, due
        now (handlers are idempotent per event: completed ones are recorded). Returns how
        many."""
        now = aware(now, "now")
        expired = self._locking(
            sa.select(inbox.c.id).where(
                in_state(inbox.c.state, InboxState.HANDLING), inbox.c.lease_expires_at < now
            ),
            skip_locked=True,
        ).cte("expired")
        statement = (
            sa.update(inbox)
            .where(inbox.c.id.in_(sa.select(expired.c.id)))
            .values(
                state=InboxState.PENDING.value,
                lease_owner=None,
                lease_expires_at=None,
                due_at=now,
                updated_at=now,
            )
            .returning(inbox.c.id)
        )
        return await self._write(lambda conn: len(conn.execute(statement).all()))

    async def inbox_record(self, inbox_id: int) -> InboxRecord | None:
        """The event ``inbox_id``, or None."""
        statement = sa.select(inbox).where(inbox.c.id == inbox_id)
        records = await self._read(lambda conn: inbox_records(conn, conn.execute(statement).all()))
        return records[0] if records else None

    async def list_inbox(
        self, *, states: Collection[InboxState] | None = None, limit: int = 100
    ) -> list[InboxRecord]:
        """Up to ``limit`` events (in ``states`` when given), newest first."""
        statement = sa.select(inbox)
        if states is not None:
            statement = statement.where(inbox.c.state.in_([InboxState(s).value for s in states]))
        statement = statement.order_by(inbox.c.id.desc()).limit(limit)
        return await self._read(lambda conn: inbox_records(conn, conn.execute(statement).all()))

    async def count_inbox(self) -> Mapping[InboxState, int]:
        """How many events are in each state (every state listed, zeros included)."""
        statement = sa.select(inbox.c.state, sa.func.count()).group_by(inbox.c.state)
        rows = await self._read(lambda conn: conn.execute(statement).all())
        found = {state: count for state, count in rows}
        return {state: int(found.get(state.value, 0)) for state in InboxState}


def inbox_records(conn: Connection, rows: Sequence[Row[Any]]) -> list[InboxRecord]:
    if not rows:
        return []
    done: dict[int, set[str]] = {}
    handlers = sa.select(inbox_handlers.c.inbox_id, inbox_handlers.c.handler).where(
        inbox_handlers.c.inbox_id.in_([row.id for row in rows])
    )
    for entry in conn.execute(handlers):
        if not entry.handler.startswith("@"):  # the store's own marks (a status applied)
            done.setdefault(entry.inbox_id, set()).add(entry.handler)
    return [
        InboxRecord(
            id=row.id,
            dedupe_key=row.dedupe_key,
            kind=row.kind,
            channel=row.channel,
            payload=row.payload,
            state=row.state,
            attempts=row.attempts,
            handlers_done=frozenset(done.get(row.id, ())),
            due_at=row.due_at,
            lease_owner=row.lease_owner,
            lease_expires_at=row.lease_expires_at,
            last_error=row.last_error,
            received_at=row.received_at,
        )
        for row in rows
    ]
