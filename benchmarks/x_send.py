"""DM send throughput of ``twitter.x`` through ``router.send``, against tweepy's
``AsyncClient.create_direct_message``, both against the same local server in the same run.

N DM sends at concurrency C to a local uvicorn server (a separate process) answering every POST
as X answers a DM send (``201 {"data": {"dm_conversation_id", "dm_event_id"}}``), each variant
run in turn for several rounds; prints the median sends per second of each and its ratio to
bare aiohttp and to tweepy with the same auth. With an OAuth 2.0 user token both send a fixed
bearer header; with OAuth 1.0a both sign every request (ours with its own HMAC-SHA1 signer,
tweepy with oauthlib). tweepy is pointed at the server by rewriting its fixed API host in the
session it is given. Needs ``omnichannel-x`` and ``benchmarks/requirements.txt`` (tweepy, MIT).
Figures from one run on one machine: compare ratios, not absolute numbers.

    python benchmarks/x_send.py [--requests 2000] [--concurrency 32] [--rounds 3]
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

from omnichannel import Address, Envelope, PluginHost, Router
from omnichannel.plugin import AdapterContext, Sender, build_settings

ACCOUNT = "1234567890"
CUSTOMER = "2244994945"
TEXT = "Your order has shipped."
ANSWER = json.dumps(
    {"data": {"dm_conversation_id": f"{ACCOUNT}-{CUSTOMER}", "dm_event_id": "1582838499983564806"}}
)
TWEEPY_HOST = "https://api.twitter.com"
BEARER = {"bearer_token": "oauth2-user-access-token"}
OAUTH1 = {
    "consumer_key": "xvz1evFS4wEEPTGEFPHBog",
    "consumer_secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    "access_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    "access_token_secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}
Variant = Callable[[str, int, int], Coroutine[Any, Any, float]]


async def bare_aiohttp(url: str, count: int, concurrency: int) -> float:
    endpoint = f"{url}/2/dm_conversations/with/{CUSTOMER}/messages"
    headers = {"Authorization": f"Bearer {BEARER['bearer_token']}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def one() -> None:
            async with session.post(endpoint, json={"text": TEXT}, headers=headers) as response:
                await response.read()

        return await gather_rate(count, concurrency, one)


async def prebuilt_request_on_transport(url: str, count: int, concurrency: int) -> float:
    """The floor under the router: one prebuilt DM request sent again and again through the
    Sender's default transport, with no adapter, no router and no request building."""
    from omnichannel.plugin import ProviderRequest
    from omnichannel.transports import AiohttpTransport

    transport = AiohttpTransport()
    request = ProviderRequest.json(
        "POST",
        f"{url}/2/dm_conversations/with/{CUSTOMER}/messages",
        {"text": TEXT},
        headers={"Authorization": f"Bearer {BEARER['bearer_token']}"},
    )

    async def one() -> None:
        await transport.send(request, 10.0)

    try:
        return await gather_rate(count, concurrency, one)
    finally:
        await transport.aclose()


def x_router(credentials: dict[str, str]) -> Variant:
    async def run(url: str, count: int, concurrency: int) -> float:
        from omnichannel_x import XTwitterAdapter, XTwitterSettings

        values = {"user_id": ACCOUNT, "base_url": url, **credentials}
        settings = build_settings(XTwitterSettings, values, where="benchmark")
        sender = Sender()
        adapter = XTwitterAdapter(settings, AdapterContext(sender=sender))
        async with Router([adapter], host=PluginHost(), sender=sender) as router:
            envelope = Envelope(
                channel="twitter",
                recipient=Address(channel="twitter", value=CUSTOMER),
                content=TEXT,
            )
            return await gather_rate(count, concurrency, lambda: router.send(envelope))

    return run


class _LocalSession:
    """What tweepy's AsyncClient uses of an aiohttp session, sending to the local server."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:
        return self._session.request(method, str(url).replace(TWEEPY_HOST, self._url), **kwargs)

    async def close(self) -> None:
        await self._session.close()


def tweepy_client(credentials: dict[str, str]) -> Variant:
    async def run(url: str, count: int, concurrency: int) -> float:
        from tweepy.asynchronous import AsyncClient

        session = _LocalSession(url)
        client = AsyncClient(**credentials)
        client.session = session
        user_auth = "access_token" in credentials
        try:
            return await gather_rate(
                count,
                concurrency,
                lambda: client.create_direct_message(
                    participant_id=CUSTOMER, text=TEXT, user_auth=user_auth
                ),
            )
        finally:
            await session.close()

    return run


VARIANTS: dict[str, Variant] = {
    "bare aiohttp": bare_aiohttp,
    "prebuilt request, transport": prebuilt_request_on_transport,
    "twitter.x router.send, bearer": x_router(BEARER),
    "tweepy AsyncClient, bearer": tweepy_client(BEARER),
    "twitter.x router.send, OAuth 1.0a": x_router(OAUTH1),
    "tweepy AsyncClient, OAuth 1.0a": tweepy_client(OAUTH1),
}
_PAIRS = {
    "twitter.x router.send, bearer": "tweepy AsyncClient, bearer",
    "twitter.x router.send, OAuth 1.0a": "tweepy AsyncClient, OAuth 1.0a",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with local_server(
        {"/": Answer(status=201, content_type="application/json", body=ANSWER)}
    ) as url:
        for variant in VARIANTS.values():  # imports, connection pools, the server's caches
            asyncio.run(variant(url, 100, args.concurrency))
        for _ in range(args.rounds):
            for name, variant in VARIANTS.items():
                results[name].append(asyncio.run(variant(url, args.requests, args.concurrency)))
    medians = {name: statistics.median(rates) for name, rates in results.items()}
    baseline = medians["bare aiohttp"]
    print(
        f"{args.requests} DM sends, concurrency {args.concurrency}, median of {args.rounds} "
        "interleaved rounds"
    )
    for name, median in medians.items():
        versus = _PAIRS.get(name)
        against = f"   {median / medians[versus]:5.2f}x tweepy" if versus else ""
        print(
            f"  {name:<36} {median:>9,.0f} msg/s   {median / baseline:5.2f}x bare aiohttp{against}"
        )


if __name__ == "__main__":
    main()
