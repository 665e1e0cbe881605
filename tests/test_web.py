from __future__ import annotations

import httpx
import pytest

from omnichannel import PluginHost, Router, WebhookRequest, WebhookResponse
from omnichannel.testing import FakeAdapter
from omnichannel.web import WebhookApp

pytestmark = pytest.mark.anyio


def _client(app: WebhookApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal:8000"
    )


async def test_healthz_lists_the_channels() -> None:
    router = Router([FakeAdapter()], host=PluginHost())
    async with _client(WebhookApp.for_router(router)) as client:
        response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "channels": ["fake"]}


async def test_the_request_url_is_rebuilt_from_the_public_url_with_the_raw_query() -> None:
    seen: list[tuple[str, WebhookRequest]] = []

    async def handler(channel: str, request: WebhookRequest) -> WebhookResponse:
        seen.append((channel, request))
        return WebhookResponse.xml("<Response />")

    app = WebhookApp(handler, public_url="https://support.example.com")
    async with _client(app) as client:
        response = await client.post(
            "/webhooks/sms?envelope_id=01AB&x=%2B1%20&empty=",
            content=b"A=1&B=",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    channel, request = seen[0]
    assert channel == "sms"
    assert (
        request.url == "https://support.example.com/webhooks/sms?envelope_id=01AB&x=%2B1%20&empty="
    )
    assert request.form() == [("A", "1"), ("B", "")]
    assert request.header("content-type") == "application/x-www-form-urlencoded"


async def test_without_a_public_url_the_host_header_is_used() -> None:
    seen: list[WebhookRequest] = []

    async def handler(channel: str, request: WebhookRequest) -> WebhookResponse:
        seen.append(request)
        return WebhookResponse()

    async with _client(WebhookApp(handler)) as client:
        await client.get("/webhooks/x?a=1")
    assert seen[0].url == "http://internal:8000/webhooks/x?a=1"


async def test_bad_signature_is_403_and_malformed_body_is_400_through_the_app() -> None:
    adapter = FakeAdapter()
    router = Router([adapter], host=PluginHost())
    app = WebhookApp.for_router(router, public_url="https://support.example.com")
    url = "https://support.example.com/webhooks/fake"
    good = adapter.simulate(sender="c", text="hi", url=url)
    malformed = adapter.signed_request(url, {"type": "message"})
    async with _client(app) as client:
        forged = await client.post(
            "/webhooks/fake", content=good.body, headers={"X-Fake-Signature": "00" * 32}
        )
        unsigned = await client.post("/webhooks/fake", content=good.body)
        bad = await client.post(
            "/webhooks/fake", content=malformed.body, headers=dict(malformed.headers)
        )
        ok = await client.post("/webhooks/fake", content=good.body, headers=dict(good.headers))
    assert (forged.status_code, unsigned.status_code, bad.status_code, ok.status_code) == (
        403,
        403,
        400,
        204,
    )
    assert b"Traceback" not in bad.content


async def test_unknown_paths_and_methods_are_404() -> None:
    router = Router([FakeAdapter()], host=PluginHost())
    async with _client(WebhookApp.for_router(router)) as client:
        assert (await client.get("/elsewhere")).status_code == 404
        assert (await client.delete("/webhooks/fake")).status_code == 404


async def test_a_crashing_handler_is_a_500_without_a_traceback() -> None:
    async def handler(channel: str, request: WebhookRequest) -> WebhookResponse:
        raise RuntimeError("bug")

    async with _client(WebhookApp(handler)) as client:
        response = await client.post("/webhooks/x", content=b"{}")
    assert response.status_code == 500
    assert response.text == "internal error"
