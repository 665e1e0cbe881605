"""The long-running commands keep their start-up heap out of the collector's passes while they
serve, and give it back when they end."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import omnichannel.cli.listen as listen_command
import omnichannel.cli.worker as worker_command
from omnichannel.cli._shared import start_up_heap_frozen


@pytest.fixture(autouse=True)
def nothing_frozen_around() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_heap_is_frozen_inside_and_given_back_after_even_on_an_error() -> None:
    made_before = [[] for _ in range(10)]  # lists, which the collector tracks
    with start_up_heap_frozen():
        assert gc.get_freeze_count() > len(made_before)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), start_up_heap_frozen():
        raise RuntimeError("the command failed")
    assert gc.get_freeze_count() == 0


def test_garbage_made_at_start_up_is_collected_not_frozen() -> None:
    class Cycle:
        partner: Any = None

    first, second = Cycle(), Cycle()
    first.partner, second.partner = second, first
    watched = weakref.ref(first)
    del first, second  # unreachable, but only a collection frees a cycle
    with start_up_heap_frozen():
        assert watched() is None


def test_omni_worker_runs_its_worker_with_the_start_up_heap_frozen(
    sandbox: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    async def run_worker(router: Any, worker: Any, *, announce: bool = True) -> None:
        seen.append(gc.get_freeze_count())

    monkeypatch.setattr(worker_command, "run_worker", run_worker)
    ran = cli.run("worker")
    assert ran.code == 0, ran.err
    assert len(seen) == 1
    assert seen[0] > 1000  # the modules and classes imported at start
    assert gc.get_freeze_count() == 0


def test_omni_listen_serves_with_the_start_up_heap_frozen(
    sandbox: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    async def serve(router: Any, server: Any, sock: Any, *, no_worker: bool) -> None:
        seen.append(gc.get_freeze_count())
        sock.close()  # as the server does when it stops

    monkeypatch.setattr(listen_command, "_serve", serve)
    ran = cli.run("listen", "--port", "0")
    assert ran.code == 0, ran.err
    assert len(seen) == 1
    assert seen[0] > 1000
    assert gc.get_freeze_count() == 0
