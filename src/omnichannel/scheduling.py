"""Scheduled sends of a router without a store, held in this process's memory.

An envelope whose ``send_at`` is still to come waits here, soonest first, until
:meth:`Router.send_due` sends it (``omni listen`` calls that). Nothing here survives the
process: with a durable store the outbox holds scheduled envelopes instead.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from typing import TYPE_CHECKING

import attrs

from omnichannel.adapter import SendReceipt
from omnichannel.envelope import Envelope
from omnichannel.errors import SendError
from omnichannel.events import DeliveryStatus

if TYPE_CHECKING:
    from datetime import datetime

    from omnichannel.router import Router

__all__ = ["MemorySchedule"]

# The router's logger: a scheduled send that fails is the router's failure to an operator.
logger = logging.getLogger("omnichannel.router")


class MemorySchedule:
    """The envelopes a router holds for their ``send_at`` time."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._scheduled: list[tuple[datetime, int, Envelope]] = []
        self._order = itertools.count()

    def hold(self, envelope: Envelope, channel: str) -> SendReceipt:
        """Keep ``envelope`` (already on ``channel``) until its ``send_at``; its receipt says
        ``queued``."""
        assert envelope.send_at is not None
        heapq.heappush(self._scheduled, (envelope.send_at, next(self._order), envelope))
        return SendReceipt(
            envelope_id=envelope.id,
            channel=channel,
            adapter=self.router.adapter(channel).info.name,
            provider_ids=(),
            status=DeliveryStatus.QUEUED,
            conversation_id=envelope.conversation_id,
        )

    async def send_due(self) -> list[SendReceipt]:
        """Send the envelopes whose ``send_at`` has come; one that fails is logged."""
        now = self.router.clock()
        receipts = []
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, envelope = heapq.heappop(self._scheduled)
            try:
                receipts.append(await self.router.send(attrs.evolve(envelope, send_at=None)))
            except SendError:
                logger.exception("scheduled envelope %s could not be sent", envelope.id)
        return receipts

    @property
    def scheduled(self) -> list[Envelope]:
        """The envelopes held, soonest first."""
        return [envelope for _, _, envelope in sorted(self._scheduled)]
