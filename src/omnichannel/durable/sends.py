"""Sends through the outbox: written before any provider call, settled by what happened.

``router.send`` on a router with a store writes the envelope's outbox row (its id is the
idempotency key: the same envelope is never enqueued twice) and, by default, makes the first
attempt at once, holding the row under this process's lease. A worker makes every later
attempt. How an attempt ends decides the row's state:

=============================================  =============================================
the attempt                                    the row
=============================================  =============================================
accepted by the provider                       ``sent``, with the receipt and provider ids
failed, a retry is safe, attempts left         ``queued`` again after a backoff
failed, a retry is safe, no attempts left      ``dead``
failed definitely                              ``failed`` (failover already tried inline)
its ``expires_at`` passed                      ``expired``
ambiguous (:class:`~omnichannel.OutcomeUnknown`)  ``unknown``: never resent blindly
=============================================  =============================================
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from omnichannel.adapter import SendReceipt
from omnichannel.durable import OUTBOX_TOPIC, StorePolicy, error_record
from omnichannel.durable.batching import Batcher
from omnichannel.envelope import Envelope
from omnichannel.errors import (
    ConfigurationError,
    DuplicateEnvelope,
    EnvelopeExpired,
    OutcomeUnknown,
    SendError,
)
from omnichannel.events import DeliveryStatus
from omnichannel.policy import Chain
from omnichannel.store.batches import ClaimedSend, SentSend
from omnichannel.store.records import OutboxRecord, OutboxState, ProviderParts

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

    from omnichannel.durable.chains import Chains
    from omnichannel.router import Router
    from omnichannel.store import Store

__all__ = ["DurableSends"]

logger = logging.getLogger("omnichannel.outbox")


def _parts_of(receipt: SendReceipt | None) -> list[ProviderParts]:
    parts: list[ProviderParts] = []
    while receipt is not None:
        if receipt.provider_ids:
            parts.append(
                ProviderParts(
                    channel=receipt.channel,
                    provider_ids=tuple(receipt.provider_ids),
                    status=receipt.status,
                    envelope_id=receipt.envelope_id,
                )
            )
        receipt = receipt.public_signpost
    return parts


class DurableSends:
    """The outbox half of a router with a store (``router.outbox``)."""

    def __init__(
        self,
        router: Router,
        store: Store,
        *,
        worker: str,
        policy: StorePolicy,
        chains: Chains,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.router = router
        self.store = store
        self.worker = worker
        self.policy = policy
        self.chains = chains
        self._rand = rand
        # Concurrent sends share their outbox writes: sends starting (claimed as they are
        # enqueued) and sends ending (settled sent) go in one transaction per batch.
        self._journal: Batcher[ClaimedSend | SentSend, OutboxRecord | DuplicateEnvelope | bool] = (
            Batcher(self._write_journal, shield_lone=not store.writes_outlast_cancellation)
        )
        # Sends between their claim and their settling, each writing to the journal: with
        # one alone, its writes have nobody to wait for.
        self._under_way = 0

    async def _write_journal(
        self, items: Sequence[ClaimedSend | SentSend]
    ) -> list[OutboxRecord | DuplicateEnvelope | bool]:
        now = self.router.clock()
        if len(items) == 1:  # one send at a time: its own write, without the sorting below
            (item,) = items
            if isinstance(item, ClaimedSend):
                claimed = await self.store.enqueue_claimed(
                    [item], worker=self.worker, lease=self.policy.lease, now=now
                )
                return list(claimed)
            return list(await self.store.settle_sent([item], worker=self.worker, now=now))
        claims = [item for item in items if isinstance(item, ClaimedSend)]
        sent = [item for item in items if isinstance(item, SentSend)]
        made, moved = await self.store.write_sends(
            claims, sent, worker=self.worker, lease=self.policy.lease, now=now
        )
        results: dict[int, OutboxRecord | DuplicateEnvelope | bool] = {
            id(claim): result for claim, result in zip(claims, made, strict=True)
        }
        results.update({id(item): result for item, result in zip(sent, moved, strict=True)})
        return [results[id(item)] for item in items]

    async def send(
        self,
        envelope: Envelope,
        *,
        channel: str | None,
        wait: bool,
        connection: AsyncConnection | None,
        chain: str | None,
    ) -> SendReceipt:
        """Enqueue ``envelope`` and, unless told not to wait, make its first attempt now."""
        router = self.router
        chain_key = None
        if chain is not None:
            steps = self._chain(chain).steps
            if channel is not None and channel != steps[0].channel:
                raise ConfigurationError(
                    f"chain {chain!r} starts on {steps[0].channel}; leave out channel= or "
                    "send without the chain"
                )
            channel = steps[0].channel
            chain_key = f"{chain}:{envelope.id}"
        target = router.resolve_channel(envelope, channel)
        envelope = router.moved(envelope, target)
        # Refuse a recipient the channel cannot reach before anything is written.
        recipient = router.adapter(target).capabilities.recipient(envelope.recipient)
        if recipient is not envelope.recipient:
            envelope = attrs.evolve(envelope, recipient=recipient)
        now = router.clock()
        due = envelope.send_at if envelope.send_at is not None and envelope.send_at > now else now
        inline = wait and connection is None and due <= now
        if not inline:
            await self.store.enqueue(
                envelope,
                due_at=due,
                max_attempts=self.policy.max_attempts,
                chain=chain_key,
                now=now,
                connection=connection,
            )
            await self.store.notify(OUTBOX_TOPIC, connection=connection)
            return self._queued(envelope)
        self._under_way += 1
        try:
            claimed = await self._journal.submit(
                ClaimedSend(
                    envelope=envelope,
                    due_at=due,
                    max_attempts=self.policy.max_attempts,
                    chain=chain_key,
                ),
                alone=self._under_way == 1,
            )
            if isinstance(claimed, DuplicateEnvelope):
                raise claimed
            assert isinstance(claimed, OutboxRecord)
            receipt = await self._attempt(claimed, inline=True)
        finally:
            self._under_way -= 1
        assert receipt is not None  # an inline attempt returns or raises
        return receipt

    def _chain(self, name: str) -> Chain:
        chains = self.router.policy.chains
        if name not in chains:
            known = ", ".join(sorted(chains)) or "none"
            raise ConfigurationError(f"no chain {name!r} in routing.chains; configured: {known}")
        return chains[name]

    def _queued(self, envelope: Envelope, note: str | None = None) -> SendReceipt:
        return SendReceipt(
            envelope_id=envelope.id,
            channel=envelope.channel,
            adapter=self.router.adapter(envelope.channel).info.name,
            provider_ids=(),
            status=DeliveryStatus.QUEUED,
            conversation_id=envelope.conversation_id,
            attempts=(note,) if note else (),
        )

    async def attempt(self, record: OutboxRecord, *, inline: bool) -> SendReceipt | None:
        """Make one attempt of a claimed row and settle it. Inline (``router.send``), errors
        are raised after the row is settled; in a worker they are logged and None returned."""
        self._under_way += 1
        try:
            return await self._attempt(record, inline=inline)
        finally:
            self._under_way -= 1

    async def _attempt(self, record: OutboxRecord, *, inline: bool) -> SendReceipt | None:
        envelope = record.envelope
        try:
            receipt = await self.router.send_now(envelope)
        except OutcomeUnknown as error:
            await self._settle(record, OutboxState.UNKNOWN, error, str(error), error.receipt)
            await self.chains.stopped(record, f"the outcome of step {record.chain_step} is unknown")
            return self._raised(error, inline, record)
        except EnvelopeExpired as error:
            await self._settle(record, OutboxState.EXPIRED, error, error.message)
            return self._raised(error, inline, record)
        except SendError as error:
            if error.receipt is not None:  # part of it went out: never again
                await self._settle(record, OutboxState.FAILED, error, str(error), error.receipt)
                await self.chains.stopped(record, "part of the message went out")
                return self._raised(error, inline, record)
            if error.retryable and record.attempts < record.max_attempts:
                delay = self.policy.retry_delay(record.attempts, error.retry_after, self._rand())
                due = self.router.clock() + delay
                note = (
                    f"attempt {record.attempts} of {record.max_attempts} failed ({error.message}); "
                    f"queued again for {due.isoformat(timespec='seconds')}"
                )
                await self._settle(record, OutboxState.QUEUED, error, note, due_at=due)
                logger.info("%s: %s", envelope.id, note)
                return self._queued(envelope, note) if inline else None
            state = OutboxState.DEAD if error.retryable else OutboxState.FAILED
            reason = str(error)
            if state is OutboxState.DEAD:
                reason = f"out of attempts ({record.attempts}): {reason}"
            await self._settle(record, state, error, reason)
            await self.chains.failed(record, reason)
            return self._raised(error, inline, record)
        except Exception as error:
            # A fault past the checks (an adapter's bug): the request may have gone out.
            await self._settle(
                record, OutboxState.UNKNOWN, error, f"unexpected {type(error).__name__}: {error}"
            )
            await self.chains.stopped(record, "an unexpected error")
            if inline:
                raise
            logger.exception("sending %s failed unexpectedly; it is unknown now", envelope.id)
            return None
        reason = "sent"
        if receipt.attempts:
            reason = f"sent on {receipt.channel} after {'; '.join(receipt.attempts)}"
        moved = await self._journal.submit(
            SentSend(
                envelope_id=envelope.id,
                reason=reason,
                receipt=receipt.to_dict(),
                parts=_parts_of(receipt),
            ),
            alone=self._under_way == 1,
        )
        if not moved:
            logger.warning("%s was sent, but its row had been settled otherwise", envelope.id)
        await self.chains.accepted(record, receipt)
        return receipt

    async def _settle(
        self,
        record: OutboxRecord,
        to: OutboxState,
        error: BaseException,
        reason: str,
        receipt: SendReceipt | None = None,
        *,
        due_at: datetime | None = None,
    ) -> None:
        moved = await self.store.settle_send(
            record.envelope_id,
            to=to,
            now=self.router.clock(),
            worker=self.worker,
            reason=reason,
            due_at=due_at,
            receipt=receipt.to_dict() if receipt is not None else None,
            error=error_record(error),
            parts=_parts_of(receipt),
        )
        if not moved:
            logger.warning(
                "%s: could not record %s (the lease was lost: another worker or the sweep "
                "settled it)",
                record.envelope_id,
                to,
            )

    @staticmethod
    def _raised(error: BaseException, inline: bool, record: OutboxRecord) -> None:
        if inline:
            raise error
        logger.warning("sending %s: %s", record.envelope_id, error)

    async def reconcile_unknown(self, record: OutboxRecord) -> None:
        """After the sweep settled ``record`` unknown: ask the provider (where the adapter
        can look messages up). Found: ``sent``. Shown absent: ``queued`` again, as resending
        is then safe. Otherwise it stays ``unknown`` for an operator."""
        adapter = self.router.adapter(record.channel)
        if not adapter.capabilities.reconcile:
            return
        try:
            receipt = await self.router.reconcile(record.envelope, attempted_at=record.created_at)
        except SendError as error:
            logger.warning("reconciling %s failed: %s; it stays unknown", record.envelope_id, error)
            return
        now = self.router.clock()
        if receipt is None:
            await self.store.transition(
                record.envelope_id,
                to=OutboxState.QUEUED,
                now=now,
                reason="reconcile: the provider has no such message, so sending again is safe",
            )
            await self.store.notify(OUTBOX_TOPIC)
            return
        await self.store.settle_send(
            record.envelope_id,
            to=OutboxState.SENT,
            now=now,
            worker=None,
            reason="reconcile: the provider has the message",
            receipt=receipt.to_dict(),
            parts=_parts_of(receipt),
        )
        await self.chains.accepted(attrs.evolve(record, state=OutboxState.SENT), receipt)
