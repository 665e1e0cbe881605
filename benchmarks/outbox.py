"""What durability costs: sends and webhooks with the store against the in-memory router.

``python benchmarks/outbox.py [--requests N] [--rounds R] [--concurrency C...] [--postgres URL]``

Sends: ``router.send`` of N envelopes (distinct recipients, concurrency C) through a minimal
form adapter to the local stand-in (``_server.py``, its own process), in memory and with the
store (SQLite file, the default; PostgreSQL when a server answers): every send written to the
outbox before the request and settled after it. Worker sends: N envelopes queued
(``wait=False``, not timed), then the time 1 and 4 workers take to send them all. Webhooks: N
signed inbound messages through ``handle_webhook`` with and without the inbox. Variants run in
turn, round after round, beside in-memory rounds; the medians are printed with their ratio to
the in-memory path. Every SQLite comparison runs before the first PostgreSQL one.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _harness import (
    Meter,
    Sample,
    gather_sample,
    interleaved,
    local_server,
    pin_client,
    print_paired,
    print_table,
    summaries,
)
from send import BODY, PUBLIC_URL, BenchFormAdapter, BenchSettings, numbers

from omnichannel import Address, Envelope, PluginHost, Router
from omnichannel.plugin import AdapterContext, Sender
from omnichannel.testing import FakeAdapter
from omnichannel.testing.store_contract import DEFAULT_POSTGRES_URL, empty_store
from omnichannel.worker import Worker

StoreFactory = Callable[[], Awaitable[Any]]


def _envelopes(count: int) -> list[Envelope]:
    return [
        Envelope(channel="bench", recipient=Address(channel="bench", value=to), content=BODY)
        for to in numbers(count)
    ]


async def _sqlite_store() -> Any:
    from omnichannel.store import Store

    directory = tempfile.mkdtemp(prefix="omnichannel-bench-")
    return await Store.open(f"sqlite:///{Path(directory) / 'omnichannel.db'}", create=True)


async def _emptied(store: Any) -> None:
    """Empty the store's tables: TRUNCATE on PostgreSQL, where DELETE would leave dead rows
    that slow every later round (and later runs, until autovacuum has caught up)."""
    if store.dialect != "postgresql":
        await empty_store(store)
        return
    from omnichannel.store.schema import metadata

    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with store.transaction() as connection:
        await connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")


def _postgres(url: str) -> StoreFactory:
    async def open_store() -> Any:
        from omnichannel.store import Store

        store = await Store.open(url, create=True)
        await _emptied(store)
        return store

    return open_store


async def _sends(url: str, count: int, concurrency: int, store_for: StoreFactory | None) -> Sample:
    sender = Sender()
    adapter = BenchFormAdapter(
        BenchSettings(base_url=url), AdapterContext(sender=sender, public_url=PUBLIC_URL)
    )
    store = await store_for() if store_for else None
    envelopes = _envelopes(count)
    try:
        async with Router([adapter], host=PluginHost(), sender=sender, store=store) as router:

            async def one(index: int) -> None:
                await router.send(envelopes[index])

            return await gather_sample(count, concurrency, one)
    finally:
        if store is not None:
            await store.close()


async def _worker_sends(url: str, count: int, workers: int, store_url: str | None) -> Sample:
    """Queue ``count`` sends, then time ``workers`` workers (each with its own store
    connections, in this process) sending them all."""
    from omnichannel.store import Store

    if store_url is None:  # a fresh SQLite file
        store_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='omnichannel-bench-')) / 'o.db'}"
    stores = [await Store.open(store_url, create=True)]
    await _emptied(stores[0])
    stores += [await Store.open(store_url, worker=False) for _ in range(workers - 1)]
    routers = []
    for store in stores:
        sender = Sender()
        adapter = BenchFormAdapter(
            BenchSettings(base_url=url), AdapterContext(sender=sender, public_url=PUBLIC_URL)
        )
        routers.append(Router([adapter], host=PluginHost(), sender=sender, store=store))
    try:
        for envelope in _envelopes(count):
            await routers[0].send(envelope, wait=False)
        runners = [Worker(router, concurrency=32, poll=False) for router in routers]

        async def drain(runner: Worker) -> None:
            while (await runner.run_once()).sent:
                pass

        with Meter() as meter:
            await asyncio.gather(*(drain(runner) for runner in runners))
        return meter.sample(count)
    finally:
        for router in routers:
            await router.aclose()
        for store in stores:
            await store.close()


async def _webhooks(count: int, store_for: StoreFactory | None) -> Sample:
    adapter = FakeAdapter(channel="fake")
    store = await store_for() if store_for else None
    url = "https://hooks.example.test/webhooks/fake"
    requests = [adapter.simulate(sender=f"c-{n}", text="hi", url=url) for n in range(count)]
    try:
        router = Router([adapter], host=PluginHost(), store=store)
        router.on_message(lambda message: None, inline=True)

        async def one(index: int) -> None:
            await router.handle_webhook("fake", requests[index])

        return await gather_sample(count, 1, one)
    finally:
        if store is not None:
            await store.close()


async def _postgres_answers(url: str) -> bool:
    try:
        store = await _postgres(url)()
    except Exception as error:
        print(f"(no PostgreSQL at {url}: {type(error).__name__}; its variants are left out)")
        return False
    await store.close()
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("OMNICHANNEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL database the benchmark may empty (default: the test server's)",
    )
    args = parser.parse_args()
    where = pin_client()
    postgres = _postgres(args.postgres) if asyncio.run(_postgres_answers(args.postgres)) else None
    n = args.requests
    print(f"{n} operations per round, {where}")
    with local_server() as url:
        # Every SQLite comparison first, then every PostgreSQL one in rounds of its own: the
        # server's work after its rounds (its WAL writer and checkpoints, autovacuum after
        # the TRUNCATEs, on the same two cores and disk) ran on into what came next. Mixed
        # in, the SQLite file measured 0.40x one send at a time in one run and 0.50x in the
        # run after without PostgreSQL; run after PostgreSQL's rounds at concurrency 1, the
        # SQLite file's at 32 measured 0.49x, and 0.65x in a run without them.
        for engine in ("sqlite", "postgresql"):
            if engine == "postgresql" and postgres is None:
                break
            _comparisons(url, n, args.concurrency, args.rounds, engine, postgres, args.postgres)


def _comparisons(
    url: str,
    n: int,
    concurrency: list[int],
    rounds: int,
    engine: str,
    postgres: StoreFactory | None,
    postgres_url: str,
) -> None:
    """The sends, worker and webhook comparisons of one engine (``sqlite`` or ``postgresql``)."""

    def pick(
        sqlite: dict[str, Callable[[], Sample]], postgresql: dict[str, Callable[[], Sample]]
    ) -> dict[str, Callable[[], Sample]]:
        return sqlite if engine == "sqlite" else postgresql

    prefix = "" if engine == "sqlite" else "PostgreSQL rounds of their own: "
    for c in concurrency:
        _compare(
            f"{prefix}router.send, concurrency {c}",
            "in memory",
            functools.partial(_run_sends, url, n, c, None),
            pick(
                {"SQLite file": functools.partial(_run_sends, url, n, c, _sqlite_store)},
                {"PostgreSQL": functools.partial(_run_sends, url, n, c, postgres)},
            ),
            rounds,
            "msg",
        )
    pg = postgres_url
    _compare(
        f"{prefix}queued sends drained by workers (concurrency 32 each)",
        "in memory (router.send)",
        lambda: asyncio.run(_sends(url, n, 32, None)),
        pick(
            {"SQLite file, 1 worker": lambda: asyncio.run(_worker_sends(url, n, 1, None))},
            {
                "PostgreSQL, 1 worker": lambda: asyncio.run(_worker_sends(url, n, 1, pg)),
                "PostgreSQL, 4 workers": lambda: asyncio.run(_worker_sends(url, n, 4, pg)),
            },
        ),
        rounds,
        "msg",
    )
    _compare(
        f"{prefix}handle_webhook, one at a time (written, then handled)",
        "in memory",
        lambda: asyncio.run(_webhooks(n, None)),
        pick(
            {"inbox, SQLite file": lambda: asyncio.run(_webhooks(n, _sqlite_store))},
            {"inbox, PostgreSQL": lambda: asyncio.run(_webhooks(n, postgres))},
        ),
        rounds,
        "webhook",
    )


def _run_sends(url: str, count: int, concurrency: int, store_for: StoreFactory | None) -> Sample:
    return asyncio.run(_sends(url, count, concurrency, store_for))


def _compare(
    title: str,
    baseline_name: str,
    baseline: Callable[[], Sample],
    variants: dict[str, Callable[[], Sample]],
    rounds: int,
    unit: str,
) -> None:
    """``variants`` in rounds interleaved with the in-memory baseline; the medians and each
    round's ratio to the baseline round beside it."""
    print()
    results = interleaved({baseline_name: baseline, **variants}, rounds)
    print_table(
        f"{title}, median of {rounds} interleaved rounds",
        summaries(results),
        baseline_name,
        unit,
    )
    print_paired(results, baseline_name)


if __name__ == "__main__":
    main()
