"""Group commit: concurrent submits share a batch; a lone one is written at once; a failed
batch fails every caller in it and the next batch still runs."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest

from omnichannel.durable.batching import GATHER_TURNS, Batcher

pytestmark = pytest.mark.anyio


async def test_concurrent_items_are_written_in_few_batches_each_getting_its_result() -> None:
    batches: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await anyio.lowlevel.checkpoint()  # a write yields, as a database call does
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(write)
    results: dict[int, int] = {}

    async def submit(item: int) -> None:
        results[item] = await batcher.submit(item)

    async with anyio.create_task_group() as group:
        for item in range(20):
            group.start_soon(submit, item)
    assert results == {item: item * 10 for item in range(20)}
    assert sorted(item for batch in batches for item in batch) == list(range(20))
    assert len(batches) < 20 / 2  # they shared writes


async def test_a_lone_item_is_written_at_once_alone() -> None:
    batches: list[list[str]] = []

    async def write(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        return [item.upper() for item in items]

    batcher: Batcher[str, str] = Batcher(write)
    assert await batcher.submit("a") == "A"
    assert await batcher.submit("b") == "B"
    assert batches == [["a"], ["b"]]


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs() -> None:
    first_write = anyio.Event()
    later_submitted = anyio.Event()

    async def write(items: Sequence[int]) -> list[int]:
        if not first_write.is_set():
            first_write.set()
            await later_submitted.wait()  # the others queue while this batch is written
            raise RuntimeError("the database went away")
        return list(items)

    batcher: Batcher[int, int] = Batcher(write)
    outcomes: dict[int, object] = {}

    async def submit(item: int) -> None:
        try:
            outcomes[item] = await batcher.submit(item)
        except RuntimeError as error:
            outcomes[item] = str(error)

    async with anyio.create_task_group() as group:
        group.start_soon(submit, 0)
        await first_write.wait()
        for item in (1, 2, 3):
            group.start_soon(submit, item)
        await anyio.lowlevel.checkpoint()
        later_submitted.set()
    assert outcomes == {0: "the database went away", 1: 1, 2: 2, 3: 3}
    assert await batcher.submit(9) == 9


async def test_a_caller_cancelled_while_waiting_takes_its_item_back() -> None:
    writing, release = anyio.Event(), anyio.Event()
    batches: list[list[str]] = []

    async def write(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        if not writing.is_set():
            writing.set()
            await release.wait()
        return [item.upper() for item in items]

    batcher: Batcher[str, str] = Batcher(write)
    results: dict[str, str] = {}

    async def submit(item: str) -> None:
        results[item] = await batcher.submit(item)

    async with anyio.create_task_group() as group:
        group.start_soon(submit, "first")
        await writing.wait()
        with anyio.CancelScope() as waiting:
            waiting.cancel()
            await batcher.submit("abandoned")
        group.start_soon(submit, "later")
        await anyio.lowlevel.checkpoint()
        release.set()
    assert results == {"first": "FIRST", "later": "LATER"}
    assert batches == [["first"], ["later"]]  # the abandoned item was never written


async def test_a_caller_cancelled_as_it_is_handed_the_next_batch_hands_it_on() -> None:
    writing, release = anyio.Event(), anyio.Event()
    batches: list[list[str]] = []
    scopes: dict[str, anyio.CancelScope] = {}

    async def write(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        if len(batches) == 1:
            writing.set()
            await release.wait()
            scopes["next"].cancel()  # cancelled just as it becomes the next leader
        return [item.upper() for item in items]

    batcher: Batcher[str, str] = Batcher(write)
    results: dict[str, str] = {}

    async def submit(item: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[item] = scope
            results[item] = await batcher.submit(item)

    async with anyio.create_task_group() as group:
        group.start_soon(submit, "first")
        await writing.wait()
        group.start_soon(submit, "next")
        group.start_soon(submit, "last")
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert results == {"first": "FIRST", "last": "LAST"}
    assert batches == [["first"], ["last"]]
    assert await batcher.submit("again") == "AGAIN"  # nothing is left leading


async def test_a_leader_cancelled_mid_write_finishes_it_and_hands_on() -> None:
    writing, release = anyio.Event(), anyio.Event()
    batches: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            writing.set()
            await release.wait()
        return [item + 1 for item in items]

    batcher: Batcher[int, int] = Batcher(write)
    results: dict[int, int] = {}
    leader = anyio.CancelScope()

    async def lead() -> None:
        with leader:
            results[0] = await batcher.submit(0)

    async def follow(item: int) -> None:
        results[item] = await batcher.submit(item)

    async with anyio.create_task_group() as group:
        group.start_soon(lead)
        await writing.wait()
        group.start_soon(follow, 1)
        group.start_soon(follow, 2)
        await anyio.wait_all_tasks_blocked()
        leader.cancel()
        release.set()
    assert batches == [[0], [1, 2]]
    # The shielded write ended before the cancellation reached the leader.
    assert results == {0: 1, 1: 2, 2: 3}


async def test_a_caller_alone_writes_before_the_loop_turns_and_others_after_it() -> None:
    ran: list[str] = []

    async def write(items: Sequence[str]) -> list[str]:
        ran.append(f"write {','.join(items)}")
        return list(items)

    batcher: Batcher[str, str] = Batcher(write)

    async def other() -> None:
        ran.append("other task")

    async with anyio.create_task_group() as group:
        group.start_soon(other)
        assert await batcher.submit("alone", alone=True) == "alone"
    assert ran == ["write alone", "other task"]
    ran.clear()
    async with anyio.create_task_group() as group:
        group.start_soon(other)
        assert await batcher.submit("gathering") == "gathering"
    assert ran == ["other task", "write gathering"]  # the loop turned first


def _echoing() -> tuple[Batcher[str, str], list[list[str]]]:
    """A batcher whose write returns its items, and the batches it wrote."""
    batches: list[list[str]] = []

    async def write(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        return list(items)

    return Batcher(write), batches


async def _submit_after(batcher: Batcher[str, str], turns: int, item: str) -> None:
    for _ in range(turns):
        await anyio.lowlevel.checkpoint()
    await batcher.submit(item)


async def test_a_leader_gathers_items_arriving_over_turns_and_stops_when_none_come() -> None:
    batcher, batches = _echoing()
    async with anyio.create_task_group() as group:
        for turn in range(1, 4):  # one more item on each of the next three turns
            group.start_soon(_submit_after, batcher, turn, f"turn {turn}")
        group.start_soon(_submit_after, batcher, 8, "late")  # after a turn without items
        group.start_soon(batcher.submit, "leader")
    assert batches == [["leader", "turn 1", "turn 2", "turn 3"], ["late"]]


async def test_a_leader_gathers_for_at_most_gather_turns_turns() -> None:
    batcher, batches = _echoing()
    async with anyio.create_task_group() as group:
        for turn in range(1, GATHER_TURNS + 3):  # an item on every turn, past the bound
            group.start_soon(_submit_after, batcher, turn, str(turn))
        group.start_soon(batcher.submit, "0")
    assert batches[0] == [str(turn) for turn in range(GATHER_TURNS + 1)]


async def test_a_caller_alone_still_waits_for_a_batch_under_way() -> None:
    writing, release = anyio.Event(), anyio.Event()
    batches: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            writing.set()
            await release.wait()
        return [item * 2 for item in items]

    batcher: Batcher[int, int] = Batcher(write)
    results: dict[int, int] = {}

    async def submit(item: int) -> None:
        results[item] = await batcher.submit(item, alone=True)

    async with anyio.create_task_group() as group:
        group.start_soon(submit, 1)
        await writing.wait()
        group.start_soon(submit, 2)
        group.start_soon(submit, 3)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert batches == [[1], [2, 3]]
    assert results == {1: 2, 2: 4, 3: 6}


async def test_unshielded_a_lone_leader_is_cancelled_in_its_write_and_hands_on() -> None:
    writing = anyio.Event()
    cancelled_in_write: list[int] = []

    async def write(items: Sequence[int]) -> list[int]:
        if items == [0]:
            writing.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled_in_write.append(0)
                raise
        return [item + 1 for item in items]

    batcher: Batcher[int, int] = Batcher(write, shield_lone=False)
    leader = anyio.CancelScope()

    async def lead() -> None:
        with leader:
            await batcher.submit(0)

    async with anyio.create_task_group() as group:
        group.start_soon(lead)
        await writing.wait()
        leader.cancel()
    assert cancelled_in_write == [0]  # its own write, as if the caller had made it
    assert await batcher.submit(1) == 2  # nothing is left leading
