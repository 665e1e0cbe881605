"""Store throughput: enqueue + claim + transition to sent, per second, on each engine.

One cycle is what a durable send costs the store before and after the provider call: the
outbox row written (``enqueue``), claimed with a lease (``claim_outbox`` by envelope id) and
settled (``transition`` to ``sent`` by the worker holding the lease). Each variant runs N
cycles, C at a time, for several rounds; the script prints the median cycles per second and
the ratio to the embedded default (a SQLite file, one task) measured in the same run.
PostgreSQL runs in a throwaway database on ``$OMNICHANNEL_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and is left out when no server answers.
Figures from one run on one machine: compare ratios, not absolute numbers.

    python benchmarks/store_ops.py [--cycles 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import gather_rate

from omnichannel import Address, Envelope
from omnichannel.store import OutboxState, Store

LEASE = timedelta(seconds=60)
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def envelope() -> Envelope:
    return Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="Your order has shipped.",
    )


async def cycles_per_second(store: Store, cycles: int, concurrency: int) -> float:
    async def one() -> None:
        item = envelope()
        now = datetime.now(UTC)
        await store.enqueue(item, due_at=now, max_attempts=3)
        [claimed] = await store.claim_outbox(
            worker="bench", now=now, lease=LEASE, limit=1, envelope_id=item.id
        )
        assert await store.transition(
            claimed.envelope_id, to=OutboxState.SENT, now=now, worker="bench"
        )

    return await gather_rate(cycles, concurrency, one)


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError:
        yield None
        return
    base = make_url(os.environ.get("OMNICHANNEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"omnichannel_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        yield None
        return
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(url: str, cycles: int, concurrency: int, rounds: int) -> float:
    if url != "sqlite://":
        await Store.upgrade(url)
    async with await Store.open(url) as store:
        await cycles_per_second(store, min(cycles, 100), concurrency)  # warm the pool and caches
        rates = [await cycles_per_second(store, cycles, concurrency) for _ in range(rounds)]
    return statistics.median(rates)


async def main(cycles: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as postgres:
        files = Path(tmp)
        variants: list[tuple[str, str, int]] = [
            ("sqlite file, the default (baseline)", f"sqlite:///{files / 'normal.db'}", 1),
            ("sqlite in memory", "sqlite://", 1),
            ("sqlite file, 4 tasks", f"sqlite:///{files / 'normal4.db'}", 4),
            ("sqlite file, synchronous=full", f"sqlite:///{files / 'full.db'}?synchronous=full", 1),
        ]
        if postgres is not None:
            variants += [
                ("postgresql, 1 task", postgres, 1),
                ("postgresql, 4 tasks", postgres, 4),
                ("postgresql, 16 tasks", postgres, 16),
            ]
        results = [
            (label, await measure(url, cycles, concurrency, rounds))
            for label, url, concurrency in variants
        ]
    baseline = results[0][1]
    print(f"{cycles} enqueue+claim+sent cycles, median of {rounds} rounds")
    print(f"{'variant':<34} {'cycles/s':>9} {'vs baseline':>12}")
    for label, rate in results:
        print(f"{label:<34} {rate:>9,.0f} {rate / baseline:>11.2f}x")
    if postgres is None:
        print("(no PostgreSQL answered: set OMNICHANNEL_TEST_POSTGRES_URL to include it)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.cycles, arguments.rounds))
