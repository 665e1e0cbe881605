"""Status-driven failover chains, run from the store.

``router.send(envelope, chain="urgent")`` sends step 0; each step is its own outbox row
(envelope id ``<root id>.<step>`` after the first, so a step is enqueued once however many
workers decide to move on), all sharing the ``chain`` column ``"<name>:<root id>"``. A step
whose provider accepted it gets a timer (``within``); then:

* a status that reaches the step's ``until`` ends the chain (history note ``chain_done``);
* a terminal failure status, or a definite send failure, moves on at once;
* the timer running out notes the step ``superseded`` and moves on;
* an ambiguous outcome stops the chain (``chain_stopped``): the message may exist;
* a step reaching ``until`` after it was superseded is noted ``late_success``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import attrs

from omnichannel.adapter import SendReceipt
from omnichannel.durable import OUTBOX_TOPIC
from omnichannel.errors import DuplicateEnvelope
from omnichannel.events import StatusUpdate
from omnichannel.policy import Chain, ChainStep
from omnichannel.store.records import SUPERSEDED, OutboxRecord, TimerRecord

if TYPE_CHECKING:
    from omnichannel.router import Router
    from omnichannel.store import Store

__all__ = ["CHAIN_TIMER", "Chains"]

logger = logging.getLogger("omnichannel.chains")

CHAIN_TIMER: Final = "chain"
"""The kind of the timers that move a chain on."""


def _timer_key(envelope_id: str) -> str:
    return f"chain:{envelope_id}"


class Chains:
    """Moves chains along as their steps are accepted, fail, reach their goal or time out."""

    def __init__(self, router: Router, store: Store, *, worker: str) -> None:
        self.router = router
        self.store = store
        self.worker = worker

    def _chain_of(self, record: OutboxRecord) -> tuple[Chain, ChainStep, str] | None:
        if record.chain is None:
            return None
        name, _, root = record.chain.partition(":")
        chain = self.router.policy.chains.get(name)
        if chain is None or record.chain_step >= len(chain.steps):
            logger.warning(
                "%s belongs to chain %r, which is no longer configured; it stops here",
                record.envelope_id,
                name,
            )
            return None
        return chain, chain.steps[record.chain_step], root

    async def accepted(self, record: OutboxRecord, receipt: SendReceipt) -> None:
        """A step's provider accepted it: start its timer."""
        found = self._chain_of(record)
        if found is None:
            return
        chain, step, _ = found
        if step.within is None:
            await self._note(record, "chain_last", f"the last step of chain {chain.name} was sent")
            return
        due = self.router.clock() + step.within
        await self.store.set_timer(
            kind=CHAIN_TIMER,
            key=_timer_key(record.envelope_id),
            due_at=due,
            payload={"envelope_id": record.envelope_id},
        )

    async def failed(self, record: OutboxRecord, reason: str) -> None:
        """A step's send failed definitely: move on at once."""
        if self._chain_of(record) is not None:
            await self._advance(record, f"step {record.chain_step} failed: {reason}")

    async def stopped(self, record: OutboxRecord, reason: str) -> None:
        """A step's outcome is ambiguous (or part went out): the chain stops, as the message
        may have reached the customer."""
        found = self._chain_of(record)
        if found is None:
            return
        await self._note(record, "chain_stopped", f"chain {found[0].name} stopped: {reason}")

    async def status(self, update: StatusUpdate, envelope_id: str | None) -> None:
        """An applied status of ``envelope_id``: end, move on, or note a late success."""
        if envelope_id is None:
            return
        record = await self.store.outbox_record(envelope_id)
        if record is None:
            return
        found = self._chain_of(record)
        if found is None:
            return
        chain, step, _ = found
        if step.until is not None and update.status.reached(step.until):
            if await self.store.delete_timer(_timer_key(envelope_id)):
                await self._note(
                    record,
                    "chain_done",
                    f"reached {update.status.value}: chain {chain.name} ends here",
                )
            elif await self._superseded(envelope_id):
                await self._note(
                    record,
                    "late_success",
                    f"reached {update.status.value} after chain {chain.name} moved on",
                )
            return
        ends_badly = update.status.is_terminal and update.status.is_failure
        if ends_badly and (
            step.within is None or await self.store.delete_timer(_timer_key(envelope_id))
        ):
            await self._advance(record, f"step {record.chain_step} {update.status.value}")

    async def fire(self, timer: TimerRecord) -> None:
        """A step's timer ran out (claimed by this worker): supersede it and move on, unless
        its status reached the goal meanwhile."""
        envelope_id = str(timer.payload.get("envelope_id", ""))
        record = await self.store.outbox_record(envelope_id)
        found = None if record is None else self._chain_of(record)
        if record is None or found is None:
            await self.store.delete_timer(timer.key, worker=self.worker)
            return
        _, step, _ = found
        current = await self.store.status_of(envelope_id)
        if step.until is not None and current is not None and current.reached(step.until):
            await self.store.delete_timer(timer.key, worker=self.worker)
            return
        within = step.within.total_seconds() if step.within else 0
        reason = (
            f"not {step.until.value if step.until else 'done'} within {within:g}s "
            f"(it is {current.value if current else 'unknown'})"
        )
        await self.store.supersede(
            envelope_id, now=self.router.clock(), reason=reason, worker=self.worker
        )
        await self._advance(record, f"step {record.chain_step} {reason}")
        await self.store.delete_timer(timer.key, worker=self.worker)

    async def _superseded(self, envelope_id: str) -> bool:
        return any(entry.to_state == SUPERSEDED for entry in await self.store.history(envelope_id))

    async def _advance(self, record: OutboxRecord, reason: str) -> None:
        found = self._chain_of(record)
        if found is None:
            return
        chain, _, root = found
        index = record.chain_step + 1
        if index >= len(chain.steps):
            await self._note(record, "chain_failed", f"chain {chain.name} ran out of steps")
            return
        step = chain.steps[index]
        envelope = attrs.evolve(record.envelope, id=f"{root}.{index}")
        try:
            envelope = self.router.moved(envelope, step.channel)
            await self.store.enqueue(
                envelope,
                due_at=self.router.clock(),
                max_attempts=record.max_attempts,
                chain=record.chain,
                chain_step=index,
            )
        except DuplicateEnvelope:
            return  # another worker moved it on first
        except Exception as error:
            await self._note(record, "chain_stopped", f"cannot move to {step.channel}: {error}")
            logger.warning("chain %s cannot move to %s: %s", chain.name, step.channel, error)
            return
        await self._note(
            record, "chain_next", f"{reason}; chain {chain.name} moves to {step.channel}"
        )
        await self.store.notify(OUTBOX_TOPIC)

    async def _note(self, record: OutboxRecord, note: str, reason: str) -> None:
        await self.store.note(
            record.envelope_id, note, now=self.router.clock(), reason=reason, worker=self.worker
        )
