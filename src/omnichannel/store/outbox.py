"""The outbox: outbound envelopes, their leases and moves, and their history.

An envelope is one row (its id is the key), written before any provider call. Workers claim
due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers never claim one row; on
SQLite the one writer at a time gives the same guarantee) with a lease; a worker settles its
row only while it still holds the lease, and a lease that expires while ``sending`` ends
``unknown``, never resent blindly. Every move is kept in the row's history (see
:data:`~omnichannel.store.schema.outbox_history`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from omnichannel.envelope import Envelope
from omnichannel.store._base import StoreBase, aware
from omnichannel.store.records import (
    OUTBOX_MOVES,
    SUPERSEDED,
    HistoryEntry,
    InboxState,
    OutboxRecord,
    OutboxState,
)
from omnichannel.store.schema import (
    in_state,
    inbox,
    outbox,
    outbox_history,
    provider_messages,
    timers,
)

__all__ = ["OutboxQueries"]

_TERMINAL_RETRY = frozenset({OutboxState.FAILED, OutboxState.DEAD})


def _move(
    at: Any,
    from_state: str | None,
    to_state: str,
    reason: Any = None,
    worker: Any = None,
) -> dict[str, Any]:
    """The ``moved_*`` values of a row's newest move (see :data:`~omnichannel.store.schema.
    outbox_history`): set in the UPDATE that makes the move, whose trigger appends the move it
    replaces to the history table. ``at``, ``reason`` and ``worker`` may be SQL expressions
    (bound parameters, the lease's owner)."""
    return {
        "moved_at": at,
        "moved_from": None if from_state is None else str(from_state),
        "moved_to": str(to_state),
        "moved_reason": reason,
        "moved_by": worker,
    }


def _entries(envelope_id: str, row: Any, moves: Sequence[Row[Any]]) -> list[HistoryEntry]:
    """A row's history, oldest first: its creation (``enqueued``, to ``queued``, and for a row
    written claimed, to ``sending`` under ``created_by``), the moves in the history table,
    then its newest move."""

    def entry(
        at: datetime, from_state: str | None, to_state: str, reason: str | None, worker: str | None
    ) -> HistoryEntry:
        return HistoryEntry(
            envelope_id=envelope_id,
            at=at,
            from_state=None if from_state is None else OutboxState(from_state),
            to_state=to_state,
            reason=reason,
            worker=worker,
        )

    queued, sending, created = OutboxState.QUEUED.value, OutboxState.SENDING.value, row.created_at
    entries = [entry(created, None, queued, "enqueued", None)]
    if row.created_by is not None:  # written claimed: its first claim came with it
        entries.append(entry(created, queued, sending, None, row.created_by))
    entries += [
        entry(move.at, move.from_state, move.to_state, move.reason, move.worker) for move in moves
    ]
    if row.moved_at is not None:
        entries.append(
            entry(row.moved_at, row.moved_from, row.moved_to, row.moved_reason, row.moved_by)
        )
    return entries


def _record(row: Row[Any] | Mapping[str, Any], provider_ids: Sequence[str]) -> OutboxRecord:
    values = row._mapping if isinstance(row, Row) else row
    return OutboxRecord(
        envelope_id=values["envelope_id"],
        channel=values["channel"],
        state=values["state"],
        envelope=Envelope.from_dict(values["envelope"]),
        attempts=values["attempts"],
        max_attempts=values["max_attempts"],
        due_at=values["due_at"],
        lease_owner=values["lease_owner"],
        lease_expires_at=values["lease_expires_at"],
        chain=values["chain"],
        chain_step=values["chain_step"],
        provider_ids=tuple(provider_ids),
        last_error=values["last_error"],
        receipt=values["receipt"],
        created_at=values["created_at"],
        updated_at=values["updated_at"],
    )


class OutboxQueries(StoreBase):
    """The outbox half of :class:`~omnichannel.store.Store`."""

    @cached_property
    def _claims(self) -> dict[bool, sa.Update]:
        """The claim statement, built once per store (constructing it, and SQLAlchemy's cache
        key for it, cost more than running it); ``True``: the one of a given envelope id."""
        statements: dict[bool, sa.Update] = {}
        for one in (False, True):
            picked = sa.select(outbox.c.envelope_id).where(
                in_state(outbox.c.state, OutboxState.QUEUED),
                outbox.c.due_at <= sa.bindparam("now", type_=outbox.c.due_at.type),
            )
            if one:
                picked = picked.where(outbox.c.envelope_id == sa.bindparam("b_envelope_id"))
            chosen = self._locking(
                picked.order_by(outbox.c.due_at, outbox.c.envelope_id).limit(
                    sa.bindparam("limit", type_=sa.Integer())
                ),
                skip_locked=True,
            ).cte("picked")
            statements[one] = (
                sa.update(outbox)
                .where(outbox.c.envelope_id.in_(sa.select(chosen.c.envelope_id)))
                .values(
                    state=OutboxState.SENDING.value,
                    lease_owner=sa.bindparam("worker"),
                    lease_expires_at=sa.bindparam("expires", type_=outbox.c.due_at.type),
                    attempts=outbox.c.attempts + 1,
                    updated_at=sa.bindparam("now", type_=outbox.c.due_at.type),
                    **_move(
                        sa.bindparam("now", type_=outbox.c.due_at.type),
                        OutboxState.QUEUED,
                        OutboxState.SENDING,
                        worker=sa.bindparam("worker"),
                    ),
                )
                .returning(*outbox.c)
            )
        return statements

    async def claim_outbox(
        self,
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        envelope_id: str | None = None,
    ) -> list[OutboxRecord]:
        """Claim up to ``limit`` due ``queued`` rows, oldest due first, for ``worker``.

        Each moves to ``sending`` with ``lease_owner=worker`` and ``lease_expires_at=now +
        lease``, one more attempt and a history entry. ``envelope_id`` claims that one row only
        (the inline first attempt of ``router.send``).
        """
        now = aware(now, "now")
        claim = self._claims[envelope_id is not None]
        parameters = {
            "now": now,
            "worker": worker,
            "expires": now + lease,
            "limit": limit,
            "b_envelope_id": envelope_id,
        }

        def write(conn: Connection) -> list[OutboxRecord]:
            rows = conn.execute(claim, parameters).all()
            if not rows:
                return []
            # A first attempt has no provider message yet: the lookup is for retries.
            return _records(conn, rows, lookup=any(row.attempts > 1 for row in rows))

        records = await self._write(write, lone=limit == 1)
        return sorted(records, key=lambda record: (record.due_at, record.envelope_id))

    async def renew_leases(self, *, worker: str, until: datetime) -> int:
        """Extend every lease ``worker`` holds (outbox rows sending, inbox events handling,
        timers) to ``until``: the heartbeat. Returns how many were renewed."""
        until = aware(until, "until")
        statements = []
        for table, state in (
            (outbox, OutboxState.SENDING),
            (inbox, InboxState.HANDLING),
            (timers, None),
        ):
            statement = sa.update(table).where(table.c.lease_owner == worker)
            if state is not None:
                statement = statement.where(in_state(table.c.state, state))
            statements.append(statement.values(lease_expires_at=until))

        def write(conn: Connection) -> int:
            return sum(conn.execute(statement).rowcount for statement in statements)

        return await self._write(write)

    async def transition(
        self,
        envelope_id: str,
        *,
        to: OutboxState,
        now: datetime,
        reason: str | None = None,
        worker: str | None = None,
        due_at: datetime | None = None,
        receipt: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
        connection: AsyncConnection | None = None,
    ) -> bool:
        """Move a row to ``to`` if :data:`~omnichannel.store.records.OUTBOX_MOVES` allows it
        from where it is; return False (and change nothing) when it does not.

        With ``worker``, the row must still be ``sending`` under that worker's lease
        (fencing: after the sweep settled it ``unknown``, or another worker claimed it again,
        the old worker cannot settle it). Leaving ``sending`` releases the lease. A move to
        ``queued`` is due at ``due_at`` (default ``now``); out of ``failed`` or ``dead`` (an
        operator's retry) it starts over with no attempts used. ``receipt`` and ``error``
        are stored on the row. Every move is kept in the history.
        """
        work = self._transition_work(
            envelope_id,
            to=to,
            now=now,
            reason=reason,
            worker=worker,
            due_at=due_at,
            receipt=receipt,
            error=error,
        )
        return await self._write(work, connection)

    def _transition_work(
        self,
        envelope_id: str,
        *,
        to: OutboxState,
        now: datetime,
        reason: str | None = None,
        worker: str | None = None,
        due_at: datetime | None = None,
        receipt: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
        only_from: OutboxState | None = None,
    ) -> Callable[[Connection], bool]:
        """:meth:`transition` as a unit of work, to combine with others in one write;
        ``only_from`` refuses the move from any other state."""
        to = OutboxState(to)
        if to is OutboxState.SENDING:
            raise ValueError("rows move to sending only through claim_outbox, with a lease")
        now = aware(now, "now")
        due = now if due_at is None else aware(due_at, "due_at")
        locked = self._locking(
            sa.select(outbox.c.state, outbox.c.lease_owner).where(
                outbox.c.envelope_id == envelope_id
            )
        )

        def write(conn: Connection) -> bool:
            found = conn.execute(locked).first()
            if found is None:
                return False
            current = OutboxState(found.state)
            if to not in OUTBOX_MOVES[current] or only_from not in (None, current):
                return False
            if worker is not None and (
                current is not OutboxState.SENDING or found.lease_owner != worker
            ):
                return False
            values: dict[str, Any] = {"state": to.value, "updated_at": now}
            if current is OutboxState.SENDING:
                values.update(lease_owner=None, lease_expires_at=None)
            if to is OutboxState.QUEUED:
                values["due_at"] = due
                if current in _TERMINAL_RETRY:
                    values["attempts"] = 0
            if receipt is not None:
                values["receipt"] = dict(receipt)
            if error is not None:
                values["last_error"] = dict(error)
            values.update(_move(now, current, to, reason, worker))
            conn.execute(
                sa.update(outbox).where(outbox.c.envelope_id == envelope_id).values(values)
            )
            return True

        return write

    async def note(
        self,
        envelope_id: str,
        note: str,
        *,
        now: datetime,
        reason: str | None = None,
        worker: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> bool:
        """Append a history entry ``note`` (at most 16 characters: ``late_success``,
        ``chain_done``, ...) from the row's current state, which stays as it is. False when
        there is no such row."""
        if not note or len(note) > 16:
            raise ValueError("a note is 1 to 16 characters")
        now = aware(now, "now")
        noted = (
            sa.update(outbox)
            .where(outbox.c.envelope_id == envelope_id)
            .values(_move(now, None, note, reason, worker) | {"moved_from": outbox.c.state})
        )

        def write(conn: Connection) -> bool:
            return bool(conn.execute(noted).rowcount)

        return await self._write(write, connection)

    async def supersede(
        self,
        envelope_id: str,
        *,
        now: datetime,
        reason: str | None = None,
        worker: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> bool:
        """Note that a failover chain moved past this sent step: a history entry
        ``sent -> superseded``; the state stays ``sent``. False when the row is not sent."""
        now = aware(now, "now")
        superseded = (
            sa.update(outbox)
            .where(outbox.c.envelope_id == envelope_id, outbox.c.state == OutboxState.SENT.value)
            .values(_move(now, OutboxState.SENT, SUPERSEDED, reason, worker))
        )

        def write(conn: Connection) -> bool:
            return bool(conn.execute(superseded).rowcount)

        return await self._write(write, connection)

    async def expire_leases(self, *, now: datetime) -> list[OutboxRecord]:
        """Settle rows still ``sending`` after their lease expired (the worker died
        mid-request) as ``unknown``, with a history entry; return them, to reconcile."""
        now = aware(now, "now")
        expired = self._locking(
            sa.select(outbox.c.envelope_id).where(
                in_state(outbox.c.state, OutboxState.SENDING), outbox.c.lease_expires_at < now
            ),
            skip_locked=True,
        )

        def write(conn: Connection) -> list[OutboxRecord]:
            ids = list(conn.execute(expired).scalars())
            if not ids:
                return []
            rows = conn.execute(
                sa.update(outbox)
                .where(outbox.c.envelope_id.in_(ids))
                .values(
                    state=OutboxState.UNKNOWN.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    # SET reads the row as it was: the move names the lease's last owner.
                    **_move(
                        now,
                        OutboxState.SENDING,
                        OutboxState.UNKNOWN,
                        "lease expired while sending",
                        outbox.c.lease_owner,
                    ),
                )
                .returning(*outbox.c)
            ).all()
            return _records(conn, rows)

        records = await self._write(write)
        return sorted(records, key=lambda record: record.envelope_id)

    async def outbox_record(self, envelope_id: str) -> OutboxRecord | None:
        """The row of ``envelope_id``, or None."""
        return await self._read(lambda conn: _record_in(conn, envelope_id))

    async def list_outbox(
        self,
        *,
        states: Collection[OutboxState] | None = None,
        chain: str | None = None,
        limit: int = 100,
    ) -> list[OutboxRecord]:
        """Up to ``limit`` rows, newest first: those in ``states`` when given, and those of
        the failover ``chain`` when given (its ``chain`` column, ``"<name>:<root envelope
        id>"``: every hop of one send)."""
        statement = sa.select(outbox)
        if states is not None:
            statement = statement.where(outbox.c.state.in_([OutboxState(s).value for s in states]))
        if chain is not None:
            statement = statement.where(outbox.c.chain == chain)
        statement = statement.order_by(
            outbox.c.created_at.desc(), outbox.c.envelope_id.desc()
        ).limit(limit)
        return await self._read(lambda conn: _records(conn, conn.execute(statement).all()))

    async def history(self, envelope_id: str) -> list[HistoryEntry]:
        """Every move of ``envelope_id``'s row, oldest first (none when there is no row)."""
        on_the_row = sa.select(
            outbox.c.created_at,
            outbox.c.created_by,
            outbox.c.moved_at,
            outbox.c.moved_from,
            outbox.c.moved_to,
            outbox.c.moved_reason,
            outbox.c.moved_by,
        ).where(outbox.c.envelope_id == envelope_id)
        in_the_table = (
            sa.select(outbox_history)
            .where(outbox_history.c.envelope_id == envelope_id)
            .order_by(outbox_history.c.id)
        )

        def read(conn: Connection) -> list[HistoryEntry]:
            row = conn.execute(on_the_row).first()
            if row is None:
                return []
            return _entries(envelope_id, row, conn.execute(in_the_table).all())

        return await self._read(read)

    async def count_outbox(self) -> Mapping[OutboxState, int]:
        """How many rows are in each state (every state listed, zeros included)."""
        statement = sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
        rows = await self._read(lambda conn: conn.execute(statement).all())
        found = {state: count for state, count in rows}
        return {state: int(found.get(state.value, 0)) for state in OutboxState}


def _record_in(conn: Connection, envelope_id: str) -> OutboxRecord | None:
    row = conn.execute(sa.select(outbox).where(outbox.c.envelope_id == envelope_id)).first()
    return None if row is None else _records(conn, [row])[0]


def _records(
    conn: Connection, rows: Sequence[Row[Any]], *, lookup: bool = True
) -> list[OutboxRecord]:
    """The records of outbox ``rows``, with their provider ids (``lookup=False``: known to
    have none)."""
    parts: dict[str, list[str]] = {}
    if rows and lookup:
        statement = (
            sa.select(provider_messages.c.envelope_id, provider_messages.c.provider_id)
            .where(
                provider_messages.c.envelope_id.in_([row.envelope_id for row in rows]),
                provider_messages.c.part_index.is_not(None),
            )
            .order_by(provider_messages.c.envelope_id, provider_messages.c.part_index)
        )
        for part in conn.execute(statement):
            parts.setdefault(part.envelope_id, []).append(part.provider_id)
    return [_record(row, parts.get(row.envelope_id, ())) for row in rows]
