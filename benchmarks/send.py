"""Send throughput: ``router.send`` against bare aiohttp and httpx's ``AsyncClient``.

N form POSTs at concurrency C to a local uvicorn server (a separate process, so the server does
not share the client's core), each variant run in turn for several rounds; prints the median
messages per second of each and its ratio to bare aiohttp. With ``omnichannel-twilio`` and
``benchmarks/requirements.txt`` installed, it also compares the ``sms.twilio`` adapter with the
official twilio client in its async and sync (thread pool) modes. Figures from one run on one
machine:
compare ratios, not absolute numbers.

    python benchmarks/send.py [--requests 2000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import aiohttp
import attrs
import httpx
from _harness import gather_rate, local_server

from omnichannel import Address, DeliveryStatus, Envelope, PluginHost, Router
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    ProviderRequest,
    ProviderResponse,
    Sender,
    SentMessage,
    setting,
)

FORM = {"To": "+14155550199", "From": "+14155550100", "Body": "Your order has shipped."}
Variant = Callable[[str, int, int], Awaitable[float]]


@attrs.frozen(kw_only=True)
class BenchSettings:
    base_url: str = setting(help="The benchmark server.")


class BenchFormAdapter(BaseAdapter[BenchSettings]):
    """A minimal adapter that POSTs a form, like the SMS adapters do."""

    info = AdapterInfo(name="bench.form", channel="bench", provider="form")
    capabilities = Capabilities(address_kind="opaque", max_text_length=1600)
    settings_class = BenchSettings

    def __init__(self, settings: BenchSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        # What a well-written adapter does: build the endpoint and the headers once.
        self.endpoint = f"{settings.base_url}/Messages.json"
        self.headers = self.auth_headers.merged(
            {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def build_auth_headers(self) -> dict[str, str]:
        return {"Authorization": "Basic YWNjb3VudDp0b2tlbg=="}

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        form = {**FORM, "To": envelope.recipient.value, "Body": envelope.content.text}
        body = urlencode(form).encode()
        return ProviderRequest(method="POST", url=self.endpoint, headers=self.headers, body=body)

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        return SentMessage(provider_id=response.json()["sid"], status=DeliveryStatus.QUEUED)


async def bare_aiohttp(url: str, count: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(f"{url}/Messages.json", data=FORM) as response:
                await response.read()

        return await gather_rate(count, concurrency, one)


async def httpx_async_client(url: str, count: int, concurrency: int) -> float:
    async with httpx.AsyncClient() as client:

        async def one() -> None:
            (await client.post(f"{url}/Messages.json", data=FORM)).raise_for_status()

        return await gather_rate(count, concurrency, one)


async def prebuilt_request_on_transport(url: str, count: int, concurrency: int) -> float:
    """The floor under the router: one prebuilt request sent again and again through the
    Sender's default transport, with no adapter, no router and no request building."""
    from omnichannel.transports import AiohttpTransport

    transport = AiohttpTransport()
    request = ProviderRequest.form("POST", f"{url}/Messages.json", FORM.items())

    async def one() -> None:
        await transport.send(request, 10.0)

    try:
        return await gather_rate(count, concurrency, one)
    finally:
        await transport.aclose()


async def omnichannel_router(url: str, count: int, concurrency: int) -> float:
    sender = Sender()
    adapter = BenchFormAdapter(BenchSettings(base_url=url), AdapterContext(sender=sender))
    async with Router([adapter], host=PluginHost(), sender=sender) as router:
        envelope = Envelope(
            channel="bench", recipient=Address(channel="bench", value="c"), content=FORM["Body"]
        )
        return await gather_rate(count, concurrency, lambda: router.send(envelope))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    variants: dict[str, Variant] = {
        "bare aiohttp": bare_aiohttp,
        "httpx AsyncClient": httpx_async_client,
        "prebuilt request, transport": prebuilt_request_on_transport,
        "omnichannel router.send": omnichannel_router,
    }
    if importlib.util.find_spec("omnichannel_twilio") and importlib.util.find_spec("twilio"):
        from _official_client import VARIANTS

        variants.update(VARIANTS)
    else:
        print(
            "(install omnichannel-twilio and benchmarks/requirements.txt to compare sms.twilio "
            "with the official twilio client)"
        )
    results: dict[str, list[float]] = {name: [] for name in variants}
    with local_server() as url:
        for variant in variants.values():  # imports, connection pools, the server's caches
            asyncio.run(variant(url, 100, args.concurrency))
        for _ in range(args.rounds):
            for name, variant in variants.items():
                results[name].append(asyncio.run(variant(url, args.requests, args.concurrency)))
    baseline = statistics.median(results["bare aiohttp"])
    print(
        f"{args.requests} form POSTs, concurrency {args.concurrency}, median of {args.rounds} "
        "interleaved rounds"
    )
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"  {name:<28} {median:>9,.0f} msg/s   {median / baseline:5.2f}x bare aiohttp")


if __name__ == "__main__":
    main()
