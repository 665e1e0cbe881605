"""Warm send and webhook loops leave no reference cycles behind (flat memory, no GC work).

A cycle created per message is freed only by the cyclic collector: memory grows between
collections and every collection pays for it. After a warm-up (caches, pools and lazy imports
filled), a loop of sends or webhooks must leave ``gc.collect()`` nothing to find.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import attrs
import pytest

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
from omnichannel.testing import FakeAdapter
from omnichannel.testing.servers import serve_on_loopback

pytestmark = pytest.mark.anyio

WARM, LOOP = 50, 300


@pytest.fixture
def collector_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@attrs.frozen(kw_only=True)
class _Settings:
    base_url: str = setting(help="Where requests go.")


class _FormAdapter(BaseAdapter[_Settings]):
    info = AdapterInfo(name="cycles.form", channel="cycles", provider="form")
    capabilities = Capabilities(address_kind="phone", max_text_length=1600, sms_segments=True)
    settings_class = _Settings

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        pairs = [("To", envelope.recipient.value), ("Body", envelope.content.text)]
        return ProviderRequest.form("POST", f"{self.settings.base_url}/messages", pairs)

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        return SentMessage(provider_id=response.json()["id"], status=DeliveryStatus.QUEUED)


class _Answering:
    """A transport answering every request at once, with a new message id each time."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, request: ProviderRequest, time_limit: float) -> ProviderResponse:
        self.count += 1
        return ProviderResponse(status_code=201, body=b'{"id": "m%d"}' % self.count)

    async def aclose(self) -> None:
        pass


def _envelope(index: int) -> Envelope:
    recipient = Address(channel="cycles", value=f"+1415{2_000_000 + index:07d}")
    return Envelope(channel="cycles", recipient=recipient, content="Your order has shipped.")


async def _send_loop(router: Router) -> int:
    for index in range(WARM):
        await router.send(_envelope(index))
    gc.collect()
    for index in range(WARM, WARM + LOOP):
        await router.send(_envelope(index))
    return gc.collect()


async def test_a_warm_send_loop_through_the_base_adapter_leaves_no_cycles(
    collector_paused: None,
) -> None:
    sender = Sender(_Answering())
    adapter = _FormAdapter(
        _Settings(base_url="https://api.example.test"), AdapterContext(sender=sender)
    )
    async with Router([adapter], host=PluginHost(), sender=sender) as router:
        assert await _send_loop(router) == 0


async def test_a_warm_send_loop_through_the_default_transport_leaves_no_cycles(
    collector_paused: None,
) -> None:
    async def provider(scope: dict[str, object], receive: object, send: object) -> None:
        more = True
        while more:
            message = await receive()  # type: ignore[operator]
            more = message.get("more_body", False)
        await send(  # type: ignore[operator]
            {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"11")]}
        )
        await send({"type": "http.response.body", "body": b'{"id":"m1"}'})  # type: ignore[operator]

    async with serve_on_loopback(provider) as url:
        sender = Sender()
        adapter = _FormAdapter(_Settings(base_url=url), AdapterContext(sender=sender))
        async with Router([adapter], host=PluginHost(), sender=sender) as router:
            assert await _send_loop(router) == 0


async def test_a_warm_webhook_loop_leaves_no_cycles(collector_paused: None) -> None:
    adapter = FakeAdapter()
    router = Router([adapter], host=PluginHost())
    seen: list[int] = [0]

    def count(message: Envelope) -> None:
        seen[0] += 1

    router.on_message(count, inline=True)
    url = "https://hooks.example.test/webhooks/fake"
    requests = [
        adapter.simulate(sender=f"customer-{index}", text=f"message {index}", url=url)
        for index in range(WARM + LOOP)
    ]
    for request in requests[:WARM]:
        await router.handle_webhook("fake", request)
    gc.collect()
    for request in requests[WARM:]:
        assert (await router.handle_webhook("fake", request)).status_code < 300
    assert gc.collect() == 0
    assert seen[0] == WARM + LOOP
