"""Inbound events through the inbox: written before the provider's 200, handled from there.

A verified webhook's messages and statuses are written in one transaction, each under its
unique dedupe key (a copy, concurrent or days later, writes nothing and is acknowledged),
with the session windows its messages open. Then the events are handled: at once by this
process (``handle_inline``, the default), else by a worker. A handler that fails is retried
with a backoff, only the handlers that did not complete, until the event ends ``dead``; a
status is applied by precedence once, in the transaction that records it was.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from omnichannel.dispatch import HandlerFailed
from omnichannel.durable import INBOX_TOPIC, StorePolicy, message_key, status_key
from omnichannel.durable.batching import Batcher
from omnichannel.envelope import Envelope
from omnichannel.events import FailureReason, StatusOutcome, StatusUpdate
from omnichannel.store.records import (
    InboundEvent,
    InboxFinish,
    InboxRecord,
    InboxState,
    WindowMark,
)

if TYPE_CHECKING:
    from omnichannel.durable.chains import Chains
    from omnichannel.router import Router
    from omnichannel.store import Store

__all__ = ["DurableInbound"]

logger = logging.getLogger("omnichannel.inbox")

MESSAGE: str = "message"
STATUS: str = "status"
_HANDED_ON = frozenset({StatusOutcome.APPLIED, StatusOutcome.LATE_SUCCESS})


@attrs.frozen
class _Arrival:
    """One webhook's (or poll's) events and the windows they open."""

    events: tuple[InboundEvent, ...]
    windows: tuple[WindowMark, ...]


def _name(index: int, handler: Callable[..., Any]) -> str:
    """A handler's name in the inbox: its position and qualified name (stable while the
    application registers its handlers in the same order)."""
    return f"{index}:{getattr(handler, '__qualname__', type(handler).__name__)}"[:255]


class DurableInbound:
    """The inbox half of a router with a store."""

    def __init__(
        self,
        router: Router,
        store: Store,
        *,
        worker: str,
        policy: StorePolicy,
        chains: Chains,
        handle_inline: bool,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.router = router
        self.store = store
        self.worker = worker
        self.policy = policy
        self.chains = chains
        self.handle_inline = handle_inline
        self._rand = rand
        # Concurrent webhooks share their writes: one transaction per batch of arrivals, and
        # one per batch of events settled after their handlers.
        self._arrivals: Batcher[_Arrival, list[InboxRecord]] = Batcher(self._write_arrivals)
        self._finishes: Batcher[InboxFinish, bool] = Batcher(self._write_finishes)

    async def _write_arrivals(self, arrivals: Sequence[_Arrival]) -> list[list[InboxRecord]]:
        inline = self.handle_inline
        written = await self.store.record_inbound_events(
            [event for arrival in arrivals for event in arrival.events],
            received_at=self.router.clock(),
            windows=[mark for arrival in arrivals for mark in arrival.windows],
            claim_for=self.worker if inline else None,
            lease=self.policy.lease if inline else None,
        )
        by_key = {record.dedupe_key: record for record in written}
        results: list[list[InboxRecord]] = []
        for arrival in arrivals:
            # A key written once belongs to the first arrival carrying it; later copies in
            # the same batch are duplicates, as copies in later batches are.
            mine = [
                by_key.pop(event.dedupe_key)
                for event in arrival.events
                if event.dedupe_key in by_key
            ]
            results.append(mine)
        return results

    async def _write_finishes(self, finishes: Sequence[InboxFinish]) -> list[bool]:
        return await self.store.finish_inbox(finishes, worker=self.worker, now=self.router.clock())

    async def receive(
        self, messages: Sequence[Envelope], statuses: Sequence[StatusUpdate]
    ) -> list[InboxRecord]:
        """Write the events (and windows), then handle the new ones here when inline.
        Returns the events written now (duplicates left out)."""
        dispatcher = self.router.dispatcher
        originals: dict[str, Envelope | StatusUpdate] = {}
        events: list[InboundEvent] = []
        windows: list[WindowMark] = []
        for message in messages:
            key = message_key(message)
            originals[key] = message
            events.append(
                InboundEvent(
                    dedupe_key=key, kind=MESSAGE, channel=message.channel, payload=message.to_dict()
                )
            )
            customer, business = dispatcher.customer_of(message)
            if customer is not None and self.router.has_session_window(message.channel):
                windows.append(
                    WindowMark(
                        channel=message.channel,
                        business=business,
                        customer=customer,
                        at=message.created_at,
                    )
                )
        for update in statuses:
            key = status_key(update)
            originals[key] = update
            events.append(
                InboundEvent(
                    dedupe_key=key, kind=STATUS, channel=update.channel, payload=update.to_dict()
                )
            )
        if not events:
            return []
        inline = self.handle_inline
        written = await self._arrivals.submit(
            _Arrival(events=tuple(events), windows=tuple(windows))
        )
        if len(written) < len(events):
            logger.debug("dropped %d duplicate inbound event(s)", len(events) - len(written))
        if not inline:
            if written:
                await self.store.notify(INBOX_TOPIC)
            return written
        for record in written:
            await self.handle(record, originals.get(record.dedupe_key))
        return written

    async def handle(
        self, record: InboxRecord, original: Envelope | StatusUpdate | None = None
    ) -> bool:
        """Run a claimed event's handlers (the ones not yet completed) and settle it: done,
        pending again after a backoff, or dead. ``original`` is the parsed event when this
        process received it (with its ``raw``). Returns whether it is done."""
        completed: list[str] = []
        try:
            if record.kind == MESSAGE:
                message = original if isinstance(original, Envelope) else None
                envelope = message or Envelope.from_dict(record.payload)
                await self._message(record, envelope, completed)
            elif record.kind == STATUS:
                update = original if isinstance(original, StatusUpdate) else None
                status = update or StatusUpdate.from_dict(record.payload)
                await self._status(record, status, completed)
            else:
                raise HandlerFailed(f"unknown inbox event kind {record.kind!r}")
        except Exception as error:
            await self._failed(record, error, tuple(completed))
            return False
        await self._finishes.submit(
            InboxFinish(inbox_id=record.id, handlers=tuple(completed), to=InboxState.DONE)
        )
        return True

    async def _failed(
        self, record: InboxRecord, error: Exception, completed: tuple[str, ...]
    ) -> None:
        now = self.router.clock()
        if isinstance(error, HandlerFailed):
            text = f"handler {error.handler} failed: {error.why}" if error.why else str(error)
        else:
            text = f"{type(error).__name__}: {error}"
            logger.exception("handling inbox event %d failed", record.id)
        if record.attempts >= self.policy.handler_attempts:
            await self._finishes.submit(
                InboxFinish(inbox_id=record.id, handlers=completed, to=InboxState.DEAD, error=text)
            )
            logger.error(
                "inbox event %d (%s) is dead after %d attempts: %s; `omni inbox retry %d` "
                "runs it again",
                record.id,
                record.dedupe_key,
                record.attempts,
                text,
                record.id,
            )
            return
        due = now + self.policy.handler_delay(record.attempts, self._rand())
        await self._finishes.submit(
            InboxFinish(
                inbox_id=record.id,
                handlers=completed,
                to=InboxState.PENDING,
                due_at=due,
                error=text,
            )
        )

    async def _message(self, record: InboxRecord, message: Envelope, completed: list[str]) -> None:
        envelope = self.router.dispatcher.first_sight(message, record_window=False)
        if envelope is None:
            return
        handlers = self.router.dispatcher.message_handlers
        await self._run_handlers(record, handlers, envelope, completed)

    async def _status(
        self, record: InboxRecord, update: StatusUpdate, completed: list[str]
    ) -> None:
        applied = await self.store.apply_status_once(update, inbox_id=record.id)
        if applied.outcome not in _HANDED_ON:
            return
        if applied.envelope_id is not None and update.envelope_id is None:
            update = attrs.evolve(update, envelope_id=applied.envelope_id)
        self.router.host.status_received(update)
        await self._run_handlers(record, self.router.dispatcher.status_handlers, update, completed)
        await self.chains.status(update, applied.envelope_id)
        if update.status.is_failure and update.reason is FailureReason.OUTSIDE_WINDOW:
            await self.router.outside_window_failure(update)

    async def _run_handlers(
        self,
        record: InboxRecord,
        handlers: Sequence[tuple[Callable[[Any], Any], bool]],
        item: object,
        completed: list[str],
    ) -> None:
        """Run the handlers not yet done for ``record``, adding each that completes to
        ``completed`` (recorded when the event is settled)."""
        failed: HandlerFailed | None = None
        for index, (handler, inline) in enumerate(handlers):
            name = _name(index, handler)
            if name in record.handlers_done:
                continue
            try:
                await self.router.dispatcher.run(handler, inline, item)
            except HandlerFailed as error:
                failed = failed or error
                continue
            completed.append(name)
        if failed is not None:
            raise failed
