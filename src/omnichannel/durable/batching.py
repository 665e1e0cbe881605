"""Group commit: concurrent callers' writes of one kind, made as one batch.

The first caller to find the lock free writes every item waiting at that moment, its own
among them, in one call; callers that arrive meanwhile wait for the lock and find their item
written by the next holder, or write the next batch themselves. A lone caller writes at once,
alone; under concurrency the batches grow with the wait. No background task is involved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

__all__ = ["Batcher"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class _Slot(Generic[ItemT, ResultT]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: ItemT) -> None:
        self.item = item
        self.done = False
        self.result: ResultT | None = None
        self.error: BaseException | None = None

    def finished(self) -> bool:
        return self.done


class Batcher(Generic[ItemT, ResultT]):
    """Runs ``write(items) -> results`` (one result per item, in order) on batches of the
    items :meth:`submit` is given concurrently."""

    def __init__(
        self, write: Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT]]], *, limit: int = 256
    ) -> None:
        self._write = write
        self._limit = limit
        self._waiting: list[_Slot[ItemT, ResultT]] = []
        self._lock = anyio.Lock()

    async def submit(self, item: ItemT) -> ResultT:
        """Write ``item`` (with whatever else is waiting) and return its result; the batch's
        error, when the write failed, is raised to every caller in it."""
        slot: _Slot[ItemT, ResultT] = _Slot(item)
        self._waiting.append(slot)
        while not slot.done:
            async with self._lock:
                if slot.finished():  # written by the holder before us
                    break
                # One turn of the loop first: callers already running add their items.
                await anyio.lowlevel.checkpoint()
                batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
                try:
                    # Shielded: the batch holds other callers' items; a cancelled leader
                    # must neither leave them unwritten nor hand them its cancellation.
                    with anyio.CancelScope(shield=True):
                        results = await self._write([waiting.item for waiting in batch])
                except Exception as error:
                    for waiting in batch:
                        waiting.error, waiting.done = error, True
                    raise
                for waiting, result in zip(batch, results, strict=True):
                    waiting.result, waiting.done = result, True
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]
