"""Memory over many sends and webhooks: this process's RSS after warm-up and as the loop goes on.

Sends: ``router.send`` through the ``sms.twilio`` adapter (else a minimal form adapter) to the
local stand-in (its own process and core), one distinct recipient per message and a new
provider message id in every answer, next to bare aiohttp POSTing the same form. Webhooks:
``Router.handle_webhook`` with signed inbound messages from distinct senders, through the same
adapter's simulator. Each runs a warm-up first: by default as many messages as the router's
in-memory state keeps (its bounded maps fill, then forget their oldest entries), then the
measured loop; RSS is read after a collection at every checkpoint. Goal: within 5 MB of the
warm-up figure over 50,000 sends or webhooks.

    python benchmarks/memory.py [--messages 50000] [--warmup N] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _harness import local_server, phone_numbers, pin_client, rss_bytes
from send import BenchFormAdapter, BenchSettings, form

from omnichannel import Address, Envelope, PluginHost, Router
from omnichannel.dispatch import DEFAULT_LEDGER_LIMIT
from omnichannel.plugin import AdapterContext, Sender, build_settings
from omnichannel.sessions import DEFAULT_LIMIT as WINDOW_LIMIT
from omnichannel.tracking import DEFAULT_LIMIT as TRACKER_LIMIT

GOAL_MB = 5.0
CHECKPOINTS = 5
PUBLIC_URL = "https://hooks.example.test"
BODY = "Your order has shipped."
ADAPTER = "sms.twilio"


def _mb(value: int) -> float:
    return value / (1024 * 1024)


async def _loop(
    one: Callable[[int], Awaitable[object]], start: int, count: int, concurrency: int
) -> None:
    indexes = iter(range(start, start + count))

    async def worker() -> None:
        for index in indexes:
            await one(index)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _measure(
    label: str,
    one: Callable[[int], Awaitable[object]],
    warmup: int,
    count: int,
    concurrency: int,
) -> None:
    gc.collect()
    before = rss_bytes()
    await _loop(one, 0, warmup, concurrency)
    gc.collect()
    warm = rss_bytes()
    figures = []
    step = count // CHECKPOINTS
    for checkpoint in range(CHECKPOINTS):
        await _loop(one, warmup + checkpoint * step, step, concurrency)
        gc.collect()
        figures.append(rss_bytes())
    growth = _mb(figures[-1] - warm)
    verdict = "met" if growth <= GOAL_MB else "NOT met"
    print(f"  {label}")
    print(
        f"    RSS {_mb(before):.1f} MB at start, {_mb(warm):.1f} MB after {warmup:,} warm-up; "
        f"then every {step:,}: " + ", ".join(f"{_mb(f):.1f}" for f in figures) + " MB"
    )
    print(
        f"    growth over {count:,} after warm-up: {growth:+.1f} MB "
        f"(goal within {GOAL_MB:g} MB: {verdict})"
    )


def _sms_entry() -> tuple[Any, Any] | None:
    if not importlib.util.find_spec("omnichannel_twilio"):
        return None
    from omnichannel.sandbox import simulator_classes

    host = PluginHost.from_entry_points()
    entry = host.adapters().get(ADAPTER)
    simulator = simulator_classes(host).get(ADAPTER)
    return (entry, simulator) if entry is not None and simulator is not None else None


async def sends(url: str, warmup: int, count: int, concurrency: int) -> None:
    found = _sms_entry()
    sender = Sender()
    context = AdapterContext(sender=sender, public_url=PUBLIC_URL)
    if found is not None:
        entry, simulator = found
        values = simulator.sample_settings(url)  # the stand-in answers any path
        settings = build_settings(entry.adapter_class.settings_class, values, where=ADAPTER)
        adapter = entry.adapter_class(settings, context)
    else:
        adapter = BenchFormAdapter(BenchSettings(base_url=url), context)
    channel = adapter.info.channel
    numbers = phone_numbers(warmup + count)
    async with Router([adapter], host=PluginHost(), sender=sender) as router:

        async def one(index: int) -> None:
            recipient = Address(channel=channel, value=numbers[index])
            await router.send(Envelope(channel=channel, recipient=recipient, content=BODY))

        await _measure(f"router.send, {adapter.info.name}", one, warmup, count, concurrency)


async def bare_aiohttp(url: str, warmup: int, count: int, concurrency: int) -> None:
    numbers = phone_numbers(warmup + count)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def one(index: int) -> None:
            async with session.post(f"{url}/Messages.json", data=form(numbers[index])) as r:
                await r.read()

        await _measure("bare aiohttp", one, warmup, count, concurrency)


async def webhooks(warmup: int, count: int) -> None:
    found = _sms_entry()
    if found is None:
        print("  (webhooks: install omnichannel-twilio)")
        return
    entry, simulator = found
    values = simulator.sample_settings("http://127.0.0.1:1/unused")
    settings = build_settings(entry.adapter_class.settings_class, values, where=ADAPTER)
    adapter = entry.adapter_class(settings, AdapterContext(public_url=PUBLIC_URL))
    channel = adapter.info.channel
    router = Router([adapter], host=PluginHost())
    router.on_message(lambda message: None, inline=True)
    url = f"{PUBLIC_URL}/webhooks/{channel}"

    async def one(index: int) -> None:
        # Built as it arrives, as a server would: the requests are not kept.
        sender = phone_numbers(1, 500_000 + index)[0]
        request = adapter.simulate(sender=sender, text=f"message {index}", url=url)
        response = await router.handle_webhook(channel, request)
        if response.status_code >= 300:
            raise SystemExit(f"a webhook was refused ({response.status_code})")

    await _measure(f"handle_webhook, {adapter.info.name}", one, warmup, count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    default_warmup = max(TRACKER_LIMIT, WINDOW_LIMIT, DEFAULT_LEDGER_LIMIT)
    parser.add_argument(
        "--warmup",
        type=int,
        default=default_warmup,
        help=f"messages before the measured loop (default {default_warmup:,}: the bounds)",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(pin_client())
    print(
        f"bounds of the router's in-memory state: statuses {TRACKER_LIMIT:,}, session windows "
        f"{WINDOW_LIMIT:,}, inbound claims {DEFAULT_LEDGER_LIMIT:,} entries"
    )
    with local_server() as url:
        asyncio.run(bare_aiohttp(url, args.warmup, args.messages, args.concurrency))
        asyncio.run(sends(url, args.warmup, args.messages, args.concurrency))
    asyncio.run(webhooks(args.warmup, args.messages))


if __name__ == "__main__":
    main()
