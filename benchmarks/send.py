"""Send throughput and CPU: ``router.send`` against bare aiohttp, httpx and the official client.

N sends at concurrency 1, 32 and 256, one distinct recipient per message, to a local provider
stand-in (``_server.py``, its own process pinned to its own core; this process on the other).
Variants run in turn, round after round, and the medians are printed: messages per second
(wall) and CPU microseconds per message of this process, each also as a ratio to bare aiohttp
POSTing the same form.

Variants: bare aiohttp; httpx ``AsyncClient``; one prebuilt request sent again and again through
the default transport (the floor under the router); ``router.send`` with a minimal form adapter;
``router.send`` through every installed adapter whose plugin ships a simulator (the stand-in
replays the answer that simulator gave the adapter's real request, recorded in process at the
start); and with ``benchmarks/requirements.txt`` installed, the official twilio client, async
and sync (a thread pool). The variants that are no adapter of their own get the answer the
official client's API gives (the Twilio Messaging simulator's), so every SMS variant reads
the same bytes. Compare ratios, not absolute figures: the host is shared.

    python benchmarks/send.py [--requests 2000] [--concurrency 1 32 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import attrs
import httpx
from _harness import (
    Answer,
    Sample,
    gather_sample,
    interleaved,
    local_server,
    phone_numbers,
    pin_client,
    print_table,
    ratio_line,
    summaries,
)

from omnichannel import Address, AddressKind, DeliveryStatus, Envelope, PluginHost, Router
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    ProviderRequest,
    ProviderResponse,
    Sender,
    SentMessage,
    build_settings,
    setting,
)
from omnichannel.sandbox import Sandbox, SimulatorContext, simulator_classes
from omnichannel.transports import AiohttpTransport, HttpxTransport

FROM, BODY = "+14155550100", "Your order has shipped."
PUBLIC_URL = "https://hooks.example.test"
OFFICIAL_PREFIX = "/twilio-messaging"
"""Where the simulator of the adapter the official client stands for is mounted."""
"""Adapters are given a public URL, as in production: some add a status-callback URL."""

Variant = Callable[[str, int, int], Awaitable[Sample]]


def form(recipient: str) -> dict[str, str]:
    """The form every HTTP variant POSTs."""
    return {"To": recipient, "From": FROM, "Body": BODY}


@attrs.frozen(kw_only=True)
class BenchSettings:
    base_url: str = setting(help="The benchmark server.")


class BenchFormAdapter(BaseAdapter[BenchSettings]):
    """A minimal adapter that POSTs a form, like the SMS adapters do."""

    info = AdapterInfo(name="bench.form", channel="bench", provider="form")
    capabilities = Capabilities(address_kind=AddressKind.PHONE, max_text_length=1600)
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
        body = urlencode(form(envelope.recipient.value)).encode()
        return ProviderRequest(method="POST", url=self.endpoint, headers=self.headers, body=body)

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        return SentMessage(provider_id=response.json()["sid"], status=DeliveryStatus.QUEUED)


def numbers(count: int) -> list[str]:
    return phone_numbers(count, start=300_000)


async def bare_aiohttp(url: str, count: int, concurrency: int) -> Sample:
    recipients = numbers(count)
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int) -> None:
            async with session.post(f"{url}/Messages.json", data=form(recipients[index])) as r:
                await r.read()

        return await gather_sample(count, concurrency, one)


async def httpx_async_client(url: str, count: int, concurrency: int) -> Sample:
    recipients = numbers(count)
    async with httpx.AsyncClient() as client:

        async def one(index: int) -> None:
            response = await client.post(f"{url}/Messages.json", data=form(recipients[index]))
            response.raise_for_status()

        return await gather_sample(count, concurrency, one)


async def prebuilt_request(url: str, count: int, concurrency: int) -> Sample:
    """The floor under the router: one prebuilt request sent again and again through the
    Sender's default transport, with no adapter, no router and no request building."""
    transport = AiohttpTransport()
    request = ProviderRequest.form("POST", f"{url}/Messages.json", form(FROM).items())

    async def one(_: int) -> None:
        await transport.send(request, 10.0)

    try:
        return await gather_sample(count, concurrency, one)
    finally:
        await transport.aclose()


async def _through_router(
    adapter_for: Callable[[AdapterContext], Any],
    recipients: list[str],
    concurrency: int,
) -> Sample:
    sender = Sender()
    adapter = adapter_for(AdapterContext(sender=sender, public_url=PUBLIC_URL))
    channel = adapter.info.channel
    async with Router([adapter], host=PluginHost(), sender=sender) as router:

        async def one(index: int) -> None:
            recipient = Address(channel=channel, value=recipients[index])
            await router.send(Envelope(channel=channel, recipient=recipient, content=BODY))

        return await gather_sample(len(recipients), concurrency, one)


async def form_router(url: str, count: int, concurrency: int) -> Sample:
    return await _through_router(
        lambda context: BenchFormAdapter(BenchSettings(base_url=url), context),
        numbers(count),
        concurrency,
    )


class _Recording:
    """A transport that keeps the last answer it carried."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.answer: ProviderResponse | None = None

    async def send(self, request: ProviderRequest, time_limit: float) -> ProviderResponse:
        self.answer = await self.inner.send(request, time_limit)
        return self.answer

    async def aclose(self) -> None:
        await self.inner.aclose()


def _recipients(kind: AddressKind, count: int) -> list[str]:
    if kind is AddressKind.PHONE:
        return numbers(count)
    if kind is AddressKind.EMAIL:
        return [f"customer{index}@example.com" for index in range(count)]
    return [str(100_000_000 + index) for index in range(count)]


async def _record(name: str, entry: Any, simulator_class: Any) -> Answer | None:
    """The answer ``simulator_class`` gives the adapter's real request, sent in process
    (None for an adapter that does not send over HTTP, such as SMTP)."""
    base = f"http://sandbox.test/{simulator_class.prefix}"
    settings = build_settings(
        entry.adapter_class.settings_class, simulator_class.sample_settings(base), where=name
    )
    context = SimulatorContext(public_url=None)
    sandbox = Sandbox([simulator_class(settings, context)], context)
    recording = _Recording(HttpxTransport(httpx.ASGITransport(app=sandbox)))
    sender = Sender(recording)
    adapter = entry.adapter_class(settings, AdapterContext(sender=sender))
    channel = adapter.info.channel
    async with Router([adapter], host=PluginHost(), sender=sender) as router:
        recipient = Address(channel=channel, value=simulator_class.sample_recipient)
        receipt = await router.send(Envelope(channel=channel, recipient=recipient, content=BODY))
    await sandbox.aclose()
    answer = recording.answer
    if answer is None:
        return None
    assert receipt.provider_id is not None
    body = answer.body.decode()
    tail = receipt.provider_id[-32:]
    if len(tail) == 32 and all(c in "0123456789abcdef" for c in tail):
        # A 32-hex-digit id (a SID): the stand-in answers each request with a new one.
        body = body.replace(receipt.provider_id, receipt.provider_id[:-32] + "{hex}")
    return Answer(
        status=answer.status_code,
        content_type=answer.header("content-type") or "application/json",
        body=body,
    )


def adapter_variants() -> tuple[dict[str, Variant], dict[str, Answer]]:
    """A ``router.send`` variant for every installed adapter with a simulator, and the
    recorded answers the stand-in gives each one's requests (by path prefix)."""
    host = PluginHost.from_entry_points()
    simulators = simulator_classes(host)
    variants: dict[str, Variant] = {}
    answers: dict[str, Answer] = {}
    for name, entry in host.adapters().items():
        simulator_class = simulators.get(name)
        if simulator_class is None:
            continue
        if entry.adapter_class.capabilities.session_window is not None:
            # Free text needs the customer to have written first: benchmarks/whatsapp_send.py.
            print(f"({name} has a session window: left out here)")
            continue
        recorded = asyncio.run(_record(name, entry, simulator_class))
        if recorded is None:
            print(f"({name} does not send over HTTP: left out)")
            continue
        answers[f"/{simulator_class.prefix}"] = recorded

        def variant(
            url: str, count: int, concurrency: int, entry: Any = entry, sim: Any = simulator_class
        ) -> Awaitable[Sample]:
            settings = build_settings(
                entry.adapter_class.settings_class,
                sim.sample_settings(f"{url}/{sim.prefix}"),
                where=entry.info.name,
            )
            kind = entry.adapter_class.capabilities.address_kind
            return _through_router(
                lambda context: entry.adapter_class(settings, context),
                _recipients(kind, count),
                concurrency,
            )

        variants[f"router.send, {name}"] = variant
    return variants, answers


def official_variants() -> dict[str, Variant]:
    """The official twilio client, when it is installed."""
    if not importlib.util.find_spec("twilio"):
        print("(pip install -r benchmarks/requirements.txt to compare the official client)")
        return {}
    from _official_client import official_async, official_sync

    return {
        "twilio client, async": lambda url, n, c: official_async(url, numbers(n), c),
        "twilio client, sync (threads)": lambda url, n, c: official_sync(url, numbers(n), c),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    where = pin_client()
    by_adapter, answers = adapter_variants()
    # Every variant that is not an adapter of its own (bare aiohttp, httpx, the official
    # client) gets the answer the official client's API gives: the same bytes to read.
    official = next((a for prefix, a in answers.items() if prefix == OFFICIAL_PREFIX), None)
    if official is not None:
        answers[""] = official
    variants: dict[str, Variant] = {
        "bare aiohttp": bare_aiohttp,
        "httpx AsyncClient": httpx_async_client,
        "prebuilt request, default transport": prebuilt_request,
        "router.send, minimal form adapter": form_router,
        **by_adapter,
        **official_variants(),
    }
    print(f"{args.requests} sends per round, distinct recipients, {where}")
    with local_server(answers) as url:
        for concurrency in args.concurrency:
            runs = {
                name: (lambda v=variant, c=concurrency: asyncio.run(v(url, args.requests, c)))
                for name, variant in variants.items()
            }
            figures = summaries(interleaved(runs, args.rounds))
            print()
            print_table(
                f"concurrency {concurrency}, median of {args.rounds} interleaved rounds",
                figures,
                "bare aiohttp",
                "msg",
            )
            ours = figures.get("router.send, sms.twilio")
            if ours is not None:
                print("  goals:")
                print(
                    ratio_line(
                        "sms.twilio router.send vs bare aiohttp",
                        ours,
                        figures["bare aiohttp"],
                        0.85 if concurrency == 32 else None,
                    )
                )
                official_figures = figures.get("twilio client, async")
                if official_figures is not None:
                    print(
                        ratio_line(
                            "sms.twilio router.send vs twilio client, async",
                            ours,
                            official_figures,
                            1.0 if concurrency == 32 else None,
                        )
                    )


if __name__ == "__main__":
    main()
