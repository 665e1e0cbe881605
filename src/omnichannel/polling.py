"""The poller: runs every pull channel's ``poll`` on its interval and hands what it finds to the
router.

Some channels have no webhooks for some accounts (a mailbox; mentions and brand
searches). Their adapters declare ``InboundMode.POLL`` and implement ``poll(cursor)``; the
:class:`Poller` calls each one in turn, hands the messages and statuses to
:meth:`Router.receive` (the same claims, hooks and handlers as webhooks), then runs the
result's ``commit`` and stores its cursor, in that order: a crash between the two finds the
same messages again, and the claims drop them, so nothing is lost or handled twice.

A poll that fails is retried with exponential backoff (``interval`` doubling up to
``max_backoff``); a result may ask for its next poll sooner or later (a rate limit's reset).
Cursors live behind the small :class:`CursorStore` interface: in memory here (no restart
safety), in the durable store once one is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Final, Protocol

import anyio

from omnichannel.adapter import ChannelAdapter, polls

if TYPE_CHECKING:
    from omnichannel.router import Router

__all__ = ["DEFAULT_POLL_INTERVAL", "CursorStore", "MemoryCursorStore", "Poller"]

logger = logging.getLogger("omnichannel.polling")

DEFAULT_POLL_INTERVAL: Final = 60.0
DEFAULT_MAX_BACKOFF: Final = 900.0


class CursorStore(Protocol):
    """Where each pull channel's cursor is kept between polls."""

    async def get(self, key: str) -> str | None:
        """The cursor stored under ``key``, or None."""
        ...

    async def set(self, key: str, cursor: str | None) -> None:
        """Store ``cursor`` under ``key``."""
        ...


class MemoryCursorStore:
    """Cursors in this process's memory: lost on restart (the durable store keeps them)."""

    def __init__(self, cursors: Mapping[str, str] | None = None) -> None:
        self._cursors: dict[str, str | None] = dict(cursors or {})

    async def get(self, key: str) -> str | None:
        """The cursor stored under ``key``, or None."""
        return self._cursors.get(key)

    async def set(self, key: str, cursor: str | None) -> None:
        """Store ``cursor`` under ``key``."""
        self._cursors[key] = cursor


class Poller:
    """Polls every adapter of ``router`` whose capabilities include ``InboundMode.POLL``."""

    def __init__(
        self,
        router: Router,
        *,
        cursors: CursorStore | None = None,
        interval: float = DEFAULT_POLL_INTERVAL,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.router = router
        self.cursors: CursorStore = cursors if cursors is not None else MemoryCursorStore()
        self.interval = interval
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._failures: dict[str, int] = {}

    @property
    def channels(self) -> list[str]:
        """The channels this poller polls."""
        return [
            channel
            for channel in self.router.channels
            if polls(self.router.adapter(channel).capabilities)
        ]

    async def poll_once(self, channel: str) -> float:
        """Poll ``channel`` once; return the seconds to wait before polling it again.

        Errors are logged, never raised: a failing provider backs off instead of stopping the
        poller (or the webhooks served next to it).
        """
        adapter: ChannelAdapter = self.router.adapter(channel)
        key = f"{channel}:{adapter.info.name}"
        try:
            result = await adapter.poll(await self.cursors.get(key))
            await self.router.receive(result.messages, result.statuses)
            if result.commit is not None:
                await result.commit()
            await self.cursors.set(key, result.cursor)
        except Exception as exc:
            failures = self._failures.get(channel, 0) + 1
            self._failures[channel] = failures
            wait = min(self.max_backoff, self.interval * 2.0 ** (failures - 1))
            logger.warning(
                "polling %s failed (%s: %s); next try in %.0fs",
                channel,
                type(exc).__name__,
                exc,
                wait,
            )
            return wait
        self._failures.pop(channel, None)
        if result.next_poll_seconds is not None:
            return max(0.0, result.next_poll_seconds)
        return self.interval

    async def run(self) -> None:
        """Poll every polling channel until cancelled, each on its own schedule."""
        async with anyio.create_task_group() as group:
            for channel in self.channels:
                group.start_soon(self._loop, channel)

    async def _loop(self, channel: str) -> None:
        while True:
            await self._sleep(await self.poll_once(channel))
