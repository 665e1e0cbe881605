from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode

import anyio
import attrs
import httpx
import pytest

from omnichannel import PluginHost, Router, WebhookRequest, WebhookResponse
from omnichannel.plugin import WebhookResult
from omnichannel.signing import sign_url_params, verify_url_params_request
from omnichannel.testing import FakeAdapter
from omnichannel.testing.fake import DEFAULT_CAPABILITIES
from omnichannel.web import DEFAULT_BODY_LIMIT, Receive, WebhookApp

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


async def test_without_a_public_url_the_socket_address_is_used_not_the_host_header() -> None:
    seen: list[WebhookRequest] = []

    async def handler(channel: str, request: WebhookRequest) -> WebhookResponse:
        seen.append(request)
        return WebhookResponse()

    async with _client(WebhookApp(handler)) as client:
        await client.get("/webhooks/x?a=1", headers={"Host": "forged.example.net"})
    assert seen[0].url == "http://internal:8000/webhooks/x?a=1"


async def test_bad_signature_is_403_and_malformed_body_is_400_through_the_app() -> None:
    adapter = FakeAdapter()
    router = Router([adapter], host=PluginHost(), public_url="https://support.example.com")
    app = WebhookApp.for_router(router)
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


# --- body limits and timeouts ---------------------------------------------------------------


def _scope(path: str, *, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }


async def _call(app: WebhookApp, scope: dict[str, Any], receive: Receive) -> dict[str, Any]:
    """Run one request through ``app``; return the status, headers and body it sent."""
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return {}
    return {
        "status": sent[0]["status"],
        "headers": dict(sent[0]["headers"]),
        "body": b"".join(message.get("body", b"") for message in sent[1:]),
    }


def _limited_router(limit: int) -> tuple[Router, list[WebhookRequest]]:
    adapter = FakeAdapter(capabilities=attrs.evolve(DEFAULT_CAPABILITIES, webhook_body_limit=limit))
    router = Router([adapter], host=PluginHost())
    seen: list[WebhookRequest] = []
    original = router.handle_webhook

    async def recording(channel: str, request: WebhookRequest) -> WebhookResponse:
        seen.append(request)
        return await original(channel, request)

    router.handle_webhook = recording  # type: ignore[method-assign]
    return router, seen


async def test_a_body_over_the_channel_limit_is_refused_with_413_before_it_is_read() -> None:
    router, seen = _limited_router(100)

    async def receive() -> MutableMapping[str, Any]:
        raise AssertionError("a body declared too big must not be read")

    scope = _scope("/webhooks/fake", headers=[(b"content-length", b"101")])
    answer = await _call(WebhookApp.for_router(router), scope, receive)
    assert answer["status"] == 413
    assert answer["headers"][b"connection"] == b"close"
    assert answer["body"] == b"body over the limit of 100 bytes"
    assert seen == []


async def test_a_body_without_a_length_stops_being_read_once_past_the_limit() -> None:
    router, seen = _limited_router(100)
    reads = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal reads
        reads += 1
        assert reads < 10, "the body kept being read past the limit"
        return {"type": "http.request", "body": b"x" * 60, "more_body": True}

    answer = await _call(WebhookApp.for_router(router), _scope("/webhooks/fake"), receive)
    assert answer["status"] == 413
    assert reads == 2
    assert seen == []


async def test_a_body_at_the_channel_limit_reaches_the_router() -> None:
    router, seen = _limited_router(100)
    async with _client(WebhookApp.for_router(router)) as client:
        response = await client.post("/webhooks/fake", content=b"x" * 100)
    assert response.status_code == 403  # unsigned, but read and judged by the adapter
    assert len(seen[0].body) == 100


async def test_an_unknown_channel_is_read_with_a_small_default_limit_and_answers_404() -> None:
    router, _ = _limited_router(10_000_000)
    async with _client(WebhookApp.for_router(router)) as client:
        small = await client.post("/webhooks/fax", content=b"x" * 100)
        big = await client.post("/webhooks/fax", content=b"x" * (DEFAULT_BODY_LIMIT + 1))
    assert (small.status_code, big.status_code) == (404, 413)


async def test_a_body_that_does_not_arrive_in_time_is_answered_408() -> None:
    router, seen = _limited_router(100)

    async def receive() -> MutableMapping[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    app = WebhookApp.for_router(router, read_timeout=0.02)
    with anyio.fail_after(5):
        answer = await _call(app, _scope("/webhooks/fake"), receive)
    assert answer["status"] == 408
    assert answer["headers"][b"connection"] == b"close"
    assert seen == []


async def test_a_client_that_leaves_mid_body_reaches_no_handler_and_gets_no_answer() -> None:
    router, seen = _limited_router(100)
    messages = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    assert await _call(WebhookApp.for_router(router), _scope("/webhooks/fake"), receive) == {}
    assert seen == []


# --- the URL signatures are checked against ------------------------------------------------

URL_SIGNATURE = "X-Url-Signature"
SECRET = "url-signing-secret"
PUBLIC = "https://support.example.com"


class UrlSignedAdapter(FakeAdapter):
    """Signs the URL plus the sorted form params, as URL-signing providers do."""

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        verify_url_params_request(request, [SECRET], header=URL_SIGNATURE)
        return WebhookResult(response=WebhookResponse(status_code=204))


def _url_signed(url: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    signature = sign_url_params(SECRET, url, form.items())
    headers = {URL_SIGNATURE: signature, "Content-Type": "application/x-www-form-urlencoded"}
    return urlencode(form).encode(), headers


def _url_signed_router(public_url: str | None) -> Router:
    return Router([UrlSignedAdapter(channel="signed")], host=PluginHost(), public_url=public_url)


@pytest.mark.parametrize("host", ["internal:8000", "10.0.0.7:8080", "forged.example.net"])
async def test_a_request_signed_for_the_configured_public_url_is_accepted_with_any_host(
    host: str,
) -> None:
    body, headers = _url_signed(f"{PUBLIC}/webhooks/signed?id=1", {"Body": "hi"})
    async with _client(WebhookApp.for_router(_url_signed_router(PUBLIC))) as client:
        response = await client.post(
            "/webhooks/signed?id=1", content=body, headers={**headers, "Host": host}
        )
    assert response.status_code == 204


@pytest.mark.parametrize("public_url", [PUBLIC, None])
async def test_a_request_signed_for_another_url_with_a_forged_host_is_refused(
    public_url: str | None,
) -> None:
    body, headers = _url_signed("http://forged.example.net/webhooks/signed", {"Body": "hi"})
    async with _client(WebhookApp.for_router(_url_signed_router(public_url))) as client:
        response = await client.post(
            "/webhooks/signed", content=body, headers={**headers, "Host": "forged.example.net"}
        )
    assert response.status_code == 403


async def test_forwarded_headers_are_ignored_unless_the_client_is_a_trusted_proxy() -> None:
    body, headers = _url_signed(f"{PUBLIC}/webhooks/signed", {"Body": "hi"})
    forwarded = [
        *headers.items(),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "support.example.com"),
        ("content-length", str(len(body))),
    ]
    scope = {
        **_scope("/webhooks/signed"),
        "headers": [(key.lower().encode(), value.encode()) for key, value in forwarded],
    }

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    router = _url_signed_router(None)
    untrusted = WebhookApp.for_router(router, trusted_proxies=["10.0.0.0/8"])
    trusted = WebhookApp.for_router(router, trusted_proxies=["127.0.0.1"])
    assert (await _call(untrusted, scope, receive))["status"] == 403
    assert (await _call(trusted, scope, receive))["status"] == 204


async def test_the_path_is_kept_as_sent_not_as_decoded() -> None:
    seen: list[WebhookRequest] = []

    async def handler(channel: str, request: WebhookRequest) -> WebhookResponse:
        seen.append(request)
        return WebhookResponse()

    scope = {
        **_scope("/webhooks/files/a/b"),
        "raw_path": b"/webhooks/files/a%2Fb",
        "query_string": b"name=x%2Fy",
    }

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await _call(WebhookApp(handler, public_url=PUBLIC), scope, receive)
    assert seen[0].url == f"{PUBLIC}/webhooks/files/a%2Fb?name=x%2Fy"


async def test_the_app_reports_the_requests_it_refuses_itself_to_on_rejected() -> None:
    router, _ = _limited_router(100)
    refused: list[tuple[str, int, str]] = []

    async def never() -> MutableMapping[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    app = WebhookApp.for_router(
        router, read_timeout=0.02, on_rejected=lambda *event: refused.append(event)
    )
    too_big = _scope("/webhooks/fake", headers=[(b"content-length", b"101")])
    with anyio.fail_after(5):
        await _call(app, too_big, never)
        await _call(app, _scope("/webhooks/fake"), never)
    assert refused == [
        ("fake", 413, "body over the limit of 100 bytes"),
        ("fake", 408, "body not received in time"),
    ]


async def test_a_raising_on_rejected_callback_does_not_change_the_answer() -> None:
    router, _ = _limited_router(100)

    async def boom(channel: str, status_code: int, reason: str) -> None:
        raise RuntimeError("printer broke")

    async def receive() -> MutableMapping[str, Any]:
        raise AssertionError("a body declared too big must not be read")

    app = WebhookApp.for_router(router, on_rejected=boom)
    scope = _scope("/webhooks/fake", headers=[(b"content-length", b"101")])
    assert (await _call(app, scope, receive))["status"] == 413
