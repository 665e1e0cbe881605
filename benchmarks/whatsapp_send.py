"""WhatsApp send throughput: ``router.send`` through ``whatsapp.meta`` against bare aiohttp
posting the same JSON to the same local server, in the same run.

Meta ships no official Python client for the Cloud API, so the baseline is the floor any client
stands on: aiohttp posting the exact body the adapter builds (bearer token, JSON) to a local
uvicorn server that answers as Meta does (200 and a ``messages`` list). The router's variant
pays for everything a send does: the session-window check (opened once by a signed inbound
message), fitting, the body built per envelope, the sender's retry wrapper and reading the
wamid. Each variant runs in turn for several rounds; medians and ratios to bare aiohttp are
printed. Figures from one run on one machine: compare ratios, not absolute numbers.

    python benchmarks/whatsapp_send.py [--requests 2000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from _harness import Answer, gather_rate, local_server
from omnichannel_whatsapp import MetaWhatsappAdapter, MetaWhatsappSettings
from omnichannel_whatsapp.payloads import message_body

from omnichannel import Address, Envelope, PluginHost, Router
from omnichannel.plugin import AdapterContext, Sender, build_settings

PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAbenchmark0access0token"
CUSTOMER = "+14155550199"
TEXT = "Your order has shipped."
ANSWER = json.dumps(
    {
        "messaging_product": "whatsapp",
        "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER[1:]}],
        "messages": [{"id": "wamid.HBgLMTQxNTU1NTAxOTkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"}],
    },
    separators=(",", ":"),
)

Variant = Callable[[str, int, int], Coroutine[Any, Any, float]]


def _envelope() -> Envelope:
    return Envelope(
        channel="whatsapp", recipient=Address(channel="whatsapp", value=CUSTOMER), content=TEXT
    )


def _settings(url: str) -> MetaWhatsappSettings:
    values = {
        "access_token": TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "app_secret": "benchmark-app-secret",
        "verify_token": "benchmark-verify-token",
        "base_url": url,
    }
    return build_settings(MetaWhatsappSettings, values, where="benchmark")


async def bare_aiohttp(url: str, count: int, concurrency: int) -> float:
    endpoint = f"{url}/v25.0/{PHONE_NUMBER_ID}/messages"
    body = json.dumps(message_body(_envelope()), separators=(",", ":")).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(endpoint, data=body, headers=headers) as response:
                json.loads(await response.read())

        return await gather_rate(count, concurrency, one)


async def omnichannel_router(url: str, count: int, concurrency: int) -> float:
    sender = Sender()
    adapter = MetaWhatsappAdapter(_settings(url), AdapterContext(sender=sender))
    async with Router([adapter], host=PluginHost(), sender=sender) as router:
        inbound = adapter.simulate(sender=CUSTOMER, text="hi", url=f"{url}/webhooks/whatsapp")
        await router.handle_webhook("whatsapp", inbound)

        async def one() -> None:
            await router.send(_envelope())

        return await gather_rate(count, concurrency, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    variants: dict[str, Variant] = {
        "bare aiohttp (same JSON)": bare_aiohttp,
        "router.send, whatsapp.meta": omnichannel_router,
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    with local_server(
        {"/": Answer(status=200, content_type="application/json", body=ANSWER)}
    ) as url:
        for variant in variants.values():  # imports, connection pools, the server's caches
            asyncio.run(variant(url, 100, args.concurrency))
        for _ in range(args.rounds):
            for name, variant in variants.items():
                results[name].append(asyncio.run(variant(url, args.requests, args.concurrency)))
    baseline = statistics.median(results["bare aiohttp (same JSON)"])
    print(
        f"{args.requests} WhatsApp text sends, concurrency {args.concurrency}, median of "
        f"{args.rounds} interleaved rounds"
    )
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"  {name:<28} {median:>9,.0f} msg/s   {median / baseline:5.2f}x bare aiohttp")


if __name__ == "__main__":
    main()
