"""The send path's writes: an envelope enqueued, many sends enqueued claimed, or settled sent,
in one transaction.

A router sending at concurrency 32 would otherwise run two transactions per send, one after
another on SQLite (one writer at a time), each paying SQLAlchemy's statement construction and
a commit. These write a batch with a few statements whatever its size: prebuilt statements
(:class:`~omnichannel.store.prepared.Prepared`) run as one ``executemany`` each, one commit.
The batch results are those of the one-row methods (:meth:`BatchQueries.enqueue` with
``claim_for``, :meth:`settle_send` to ``sent``), item by item; :meth:`BatchQueries.enqueue`
itself runs on the same statements (``router.send(wait=False)``, ``omni outbox enqueue``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Final

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from omnichannel.envelope import Envelope
from omnichannel.errors import DuplicateEnvelope
from omnichannel.store._base import aware
from omnichannel.store.outbox import OutboxQueries, _move, _record_in
from omnichannel.store.prepared import Prepared
from omnichannel.store.records import OutboxRecord, OutboxState, ProviderParts
from omnichannel.store.schema import outbox, provider_messages
from omnichannel.store.state import StateQueries

__all__ = ["BatchQueries", "ClaimedSend", "SentSend"]


@attrs.frozen(kw_only=True)
class ClaimedSend:
    """One envelope to enqueue already claimed (:meth:`BatchQueries.enqueue_claimed`)."""

    envelope: Envelope
    due_at: datetime
    max_attempts: int
    chain: str | None = None
    chain_step: int = 0


@attrs.frozen(kw_only=True)
class SentSend:
    """One send to settle ``sent`` (:meth:`BatchQueries.settle_sent`)."""

    envelope_id: str
    reason: str
    receipt: Mapping[str, Any]
    parts: Sequence[ProviderParts] = ()


# A row is written with no move since its creation: its moved_* columns are left out (NULL).
# Every None bound costs the sqlite3 driver a formatted AttributeError as it looks for an
# adapter, about 2k instructions: for these five that was 3% of the writer thread's work.
_OUTBOX_COLUMNS = [
    column.name for column in outbox.columns if column.name not in _move(None, None, "")
]
# The states' text, read once: an enum member's ``.value`` is a Python-level property in
# Python 3.11, and the send path would read it per row.
_SENDING: Final = OutboxState.SENDING.value
_PART_COLUMNS = ["channel", "provider_id", "envelope_id", "part_index", "status", "updated_at"]


class BatchQueries(OutboxQueries, StateQueries):
    """The batched send-path writes of :class:`~omnichannel.store.Store`."""

    @cached_property
    def _prepared(self) -> dict[str, Prepared]:
        dialect = self.engine.dialect
        outbox_types = {column.name: column.type for column in outbox.columns}
        part_types = {column.name: column.type for column in provider_messages.columns}
        sent_types = {
            "b_envelope_id": outbox.c.envelope_id.type,
            "b_worker": outbox.c.lease_owner.type,
            "b_receipt": outbox.c.receipt.type,
            "b_now": outbox.c.updated_at.type,
            "b_reason": outbox.c.moved_reason.type,
        }
        return {
            "outbox": Prepared(
                self._insert(outbox)
                .values({name: sa.bindparam(name) for name in _OUTBOX_COLUMNS})
                .on_conflict_do_nothing(index_elements=[outbox.c.envelope_id]),
                dialect,
                outbox_types,
            ),
            "sent": Prepared(
                sa.update(outbox)
                .where(
                    outbox.c.envelope_id == sa.bindparam("b_envelope_id"),
                    outbox.c.state == OutboxState.SENDING.value,
                    outbox.c.lease_owner == sa.bindparam("b_worker"),
                )
                .values(
                    state=OutboxState.SENT.value,
                    # NULL in the SQL, not a None bound per row (see _OUTBOX_COLUMNS).
                    lease_owner=sa.null(),
                    lease_expires_at=sa.null(),
                    receipt=sa.bindparam("b_receipt"),
                    updated_at=sa.bindparam("b_now"),
                    **_move(
                        sa.bindparam("b_now"),
                        OutboxState.SENDING,
                        OutboxState.SENT,
                        sa.bindparam("b_reason"),
                        sa.bindparam("b_worker"),
                    ),
                ),
                dialect,
                sent_types,
            ),
            "parts": Prepared(
                self._insert(provider_messages)
                .values({name: sa.bindparam(name) for name in _PART_COLUMNS})
                .on_conflict_do_nothing(
                    index_elements=[provider_messages.c.channel, provider_messages.c.provider_id]
                ),
                dialect,
                part_types,
            ),
        }

    @cached_property
    def _claimed_by(self) -> sa.Select[Any]:
        """The rows of ``ids`` a claim by ``worker`` at ``now`` created (built once: on the
        send path constructing the statement costs more than running it)."""
        return sa.select(outbox.c.envelope_id).where(
            outbox.c.envelope_id.in_(sa.bindparam("ids", expanding=True)),
            outbox.c.lease_owner == sa.bindparam("worker"),
            outbox.c.created_at == sa.bindparam("now", type_=outbox.c.created_at.type),
            outbox.c.attempts == 1,
        )

    @cached_property
    def _held_by(self) -> sa.Select[Any]:
        """The rows of ``ids`` that ``worker`` holds ``sending``, locked (built once)."""
        return self._locking(
            sa.select(outbox.c.envelope_id).where(
                outbox.c.envelope_id.in_(sa.bindparam("ids", expanding=True)),
                outbox.c.state == OutboxState.SENDING.value,
                outbox.c.lease_owner == sa.bindparam("worker"),
            )
        )

    async def enqueue(
        self,
        envelope: Envelope,
        *,
        due_at: datetime,
        max_attempts: int,
        chain: str | None = None,
        chain_step: int = 0,
        now: datetime | None = None,
        claim_for: str | None = None,
        lease: timedelta | None = None,
        connection: AsyncConnection | None = None,
    ) -> OutboxRecord:
        """Write ``envelope`` as ``queued``, due at ``due_at``.

        One row per envelope id: enqueueing the same id again raises
        :class:`~omnichannel.errors.DuplicateEnvelope` carrying the existing record, and
        writes nothing (inside the caller's transaction too, which stays usable).

        ``claim_for`` writes it claimed by that worker for ``lease`` (``sending``, one attempt
        used; its history reads ``queued``, then ``sending``), as :meth:`claim_outbox` would:
        the inline first attempt of ``router.send`` in one write instead of two.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if (claim_for is None) != (lease is None):
            raise ValueError("give claim_for and lease together")
        now = self._now(now)
        claimed = claim_for is not None and lease is not None
        state = OutboxState.SENDING if claimed else OutboxState.QUEUED
        values: dict[str, Any] = {
            "envelope_id": envelope.id,
            "channel": envelope.channel,
            "state": state.value,
            "envelope": envelope.to_dict(),
            "attempts": 1 if claimed else 0,
            "max_attempts": max_attempts,
            "due_at": aware(due_at, "due_at"),
            "lease_owner": claim_for,
            "lease_expires_at": now + lease if lease is not None else None,
            "chain": chain,
            "chain_step": chain_step,
            "last_error": None,
            "receipt": None,
            "created_at": now,
            "updated_at": now,
            "created_by": claim_for if claimed else None,
        }
        prepared = self._prepared

        def write(conn: Connection) -> None:
            if prepared["outbox"].run(conn, [values]) == 0:  # the id is in the outbox already
                existing = _record_in(conn, envelope.id)
                assert existing is not None
                raise DuplicateEnvelope(existing)

        await self._write(write, connection)
        return _written_record(values, envelope, state)

    async def enqueue_claimed(
        self, sends: Sequence[ClaimedSend], *, worker: str, lease: timedelta, now: datetime
    ) -> list[OutboxRecord | DuplicateEnvelope]:
        """Enqueue every send claimed by ``worker`` for ``lease`` (``sending``, one attempt
        used; their history reads ``queued``, then ``sending``), in one transaction. Each result
        is the new row, or the :class:`DuplicateEnvelope` (not raised) of an envelope id
        already in the outbox (or twice in ``sends``), which is left as it is."""
        return await self._write(
            self._claims_work(sends, worker=worker, lease=lease, now=now), lone=len(sends) == 1
        )

    def _claims_work(
        self, sends: Sequence[ClaimedSend], *, worker: str, lease: timedelta, now: datetime
    ) -> Callable[[Connection], list[OutboxRecord | DuplicateEnvelope]]:
        now = aware(now, "now")
        expires = now + lease
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for send in sends:
            if send.max_attempts < 1:
                raise ValueError("max_attempts must be at least 1")
            if send.envelope.id in seen:
                continue
            seen.add(send.envelope.id)
            rows.append(
                {
                    "envelope_id": send.envelope.id,
                    "channel": send.envelope.channel,
                    "state": _SENDING,
                    "envelope": send.envelope.to_dict(),
                    "attempts": 1,
                    "max_attempts": send.max_attempts,
                    "due_at": aware(send.due_at, "due_at"),
                    "lease_owner": worker,
                    "lease_expires_at": expires,
                    "chain": send.chain,
                    "chain_step": send.chain_step,
                    "last_error": None,
                    "receipt": None,
                    "created_at": now,
                    "updated_at": now,
                    "created_by": worker,
                }
            )
        prepared = self._prepared
        ids = [row["envelope_id"] for row in rows]

        def write(conn: Connection) -> list[OutboxRecord | DuplicateEnvelope]:
            if prepared["outbox"].run(conn, rows) == len(rows):
                inserted = set(ids)
            else:  # some were there already: the rows this write made are this claim's
                mine = {"ids": ids, "worker": worker, "now": now}
                inserted = set(conn.execute(self._claimed_by, mine).scalars())
            by_id = {row["envelope_id"]: row for row in rows}
            results: list[OutboxRecord | DuplicateEnvelope] = []
            written: set[str] = set()
            for send in sends:
                envelope_id = send.envelope.id
                if envelope_id in inserted and envelope_id not in written:
                    written.add(envelope_id)
                    results.append(
                        _written_record(by_id[envelope_id], send.envelope, OutboxState.SENDING)
                    )
                else:
                    existing = _record_in(conn, envelope_id)
                    assert existing is not None
                    results.append(DuplicateEnvelope(existing))
            return results

        return write

    async def settle_sent(
        self, sends: Sequence[SentSend], *, worker: str, now: datetime
    ) -> list[bool]:
        """Settle every send ``sent`` with its receipt and record its parts' provider ids, in
        one transaction: as :meth:`settle_send` to ``sent`` does for one (fenced by
        ``worker``'s lease; a row the sweep settled ``unknown`` meanwhile moves
        ``unknown -> sent``). Returns, per send, whether its row moved."""
        return await self._write(
            self._sent_work(sends, worker=worker, now=now), lone=len(sends) == 1
        )

    def _sent_work(
        self, sends: Sequence[SentSend], *, worker: str, now: datetime
    ) -> Callable[[Connection], list[bool]]:
        now = aware(now, "now")
        prepared = self._prepared
        sqlite = self.dialect == "sqlite"

        def write(conn: Connection) -> list[bool]:
            if sqlite:
                # The fenced UPDATE says per row whether the lease was still ours: SQLite
                # runs one statement per row at the cost of one, so no lookup first.
                counts = prepared["sent"].each(conn, [_sent_row(s, worker, now) for s in sends])
                owned = [send for send, count in zip(sends, counts, strict=True) if count == 1]
            else:
                # PostgreSQL: the lookup locks the held rows, and one executemany settles them.
                held = {"ids": [send.envelope_id for send in sends], "worker": worker}
                owned_ids = set(conn.execute(self._held_by, held).scalars())
                owned = [send for send in sends if send.envelope_id in owned_ids]
                if owned:
                    prepared["sent"].run(conn, [_sent_row(s, worker, now) for s in owned])
            moved = {send.envelope_id for send in owned}
            for send in sends:
                if send.envelope_id not in moved and self._late_sent(send, now)(conn):
                    moved.add(send.envelope_id)
            self._record_parts_batch(conn, sends, now)
            return [send.envelope_id in moved for send in sends]

        return write

    async def write_sends(
        self,
        claims: Sequence[ClaimedSend],
        sent: Sequence[SentSend],
        *,
        worker: str,
        lease: timedelta,
        now: datetime,
    ) -> tuple[list[OutboxRecord | DuplicateEnvelope], list[bool]]:
        """:meth:`settle_sent` and :meth:`enqueue_claimed` in one transaction (a router's
        sends starting and ending at the same moment share one commit)."""
        settling = self._sent_work(sent, worker=worker, now=now) if sent else None
        claiming = (
            self._claims_work(claims, worker=worker, lease=lease, now=now) if claims else None
        )

        def write(conn: Connection) -> tuple[list[OutboxRecord | DuplicateEnvelope], list[bool]]:
            moved = settling(conn) if settling is not None else []
            made = claiming(conn) if claiming is not None else []
            return made, moved

        return await self._write(write, lone=len(claims) + len(sent) == 1)

    def _late_sent(self, send: SentSend, now: datetime) -> Callable[[Connection], bool]:
        """The move ``unknown -> sent`` of a send the sweep settled before its answer."""
        return self._transition_work(
            send.envelope_id,
            to=OutboxState.SENT,
            now=now,
            reason=f"{send.reason}, answered after the lease expired",
            receipt=send.receipt,
            only_from=OutboxState.UNKNOWN,
        )

    def _record_parts_batch(
        self, conn: Connection, sends: Sequence[SentSend], now: datetime
    ) -> None:
        parts = [
            (part.envelope_id or send.envelope_id, part.channel, index, provider_id, part.status)
            for send in sends
            for part in send.parts
            for index, provider_id in enumerate(part.provider_ids)
        ]
        if not parts:
            return
        rows = [
            {
                "channel": channel,
                "provider_id": provider_id,
                "envelope_id": envelope_id,
                "part_index": index,
                "status": status._value_,
                "updated_at": now,
            }
            for envelope_id, channel, index, provider_id, status in parts
        ]
        if self._prepared["parts"].run(conn, rows) == len(rows):
            return
        # Some were known already: a status callback came before the send's answer.
        keys = sa.tuple_(provider_messages.c.channel, provider_messages.c.provider_id)
        recorded = conn.execute(
            sa.select(
                provider_messages.c.channel,
                provider_messages.c.provider_id,
                provider_messages.c.envelope_id,
                provider_messages.c.part_index,
            ).where(keys.in_([(row["channel"], row["provider_id"]) for row in rows]))
        )
        ours = {(envelope_id, index) for envelope_id, _, index, _, _ in parts}
        as_ours = {
            (row.channel, row.provider_id)
            for row in recorded
            if (row.envelope_id, row.part_index) in ours
        }
        for envelope_id, channel, index, provider_id, status in parts:
            if (channel, provider_id) not in as_ours:
                self._record_part(conn, envelope_id, channel, index, provider_id, status, now)


def _sent_row(send: SentSend, worker: str, now: datetime) -> dict[str, Any]:
    """The parameters of the fenced ``sending -> sent`` UPDATE for ``send``."""
    return {
        "b_envelope_id": send.envelope_id,
        "b_worker": worker,
        "b_receipt": dict(send.receipt),
        "b_now": now,
        "b_reason": send.reason,
    }


def _written_record(row: Mapping[str, Any], envelope: Envelope, state: OutboxState) -> OutboxRecord:
    """The record of a row just written in ``state``, with the envelope as given (not read
    back)."""
    return OutboxRecord(
        envelope_id=row["envelope_id"],
        channel=row["channel"],
        state=state,
        envelope=envelope,
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        due_at=row["due_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        chain=row["chain"],
        chain_step=row["chain_step"],
        provider_ids=(),
        last_error=None,
        receipt=None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
