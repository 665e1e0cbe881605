"""The webhook app: an ASGI application serving ``/webhooks/{channel}`` and ``/healthz``.

Mount it in any ASGI server or framework (``omni listen`` serves it with uvicorn). Every
request is turned into a :class:`~omnichannel.WebhookRequest` whose URL is rebuilt from the
configured public URL, because providers sign the URL *they* called, not the one a reverse
proxy forwards to us.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from omnichannel.adapter import WebhookRequest, WebhookResponse

__all__ = ["ASGIApp", "WebhookApp", "read_request", "send_response"]

logger = logging.getLogger("omnichannel.web")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 5 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is over :data:`MAX_BODY_BYTES`."""


def request_base_url(scope: Scope) -> str:
    """``scheme://host[:port]`` as the client addressed us (from the Host header)."""
    headers = {
        key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]
    }
    host = headers.get("host")
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def read_request(
    scope: Scope, receive: Receive, base_url: str | None = None
) -> WebhookRequest:
    """Read an ASGI HTTP request into a :class:`WebhookRequest`.

    ``base_url`` (the public URL) replaces the scheme, host and port the request arrived on;
    the path and the raw query string are kept exactly as sent.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    root = (base_url or request_base_url(scope)).rstrip("/")
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{root}{path}{'?' + query if query else ''}"
    headers = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in scope["headers"]]
    return WebhookRequest(method=scope["method"], url=url, headers=headers, body=b"".join(chunks))


async def send_response(send: Send, response: WebhookResponse) -> None:
    """Write a :class:`WebhookResponse` to an ASGI connection."""
    headers = [(b"content-type", response.content_type.encode("latin-1"))]
    headers += [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


WebhookHandler = Callable[[str, WebhookRequest], Awaitable[WebhookResponse]]


class WebhookApp:
    """The ASGI app: ``GET|POST /webhooks/{channel}`` goes to ``handler`` (normally
    :meth:`Router.handle_webhook`); ``GET /healthz`` answers ``{"status": "ok"}``."""

    def __init__(
        self,
        handler: WebhookHandler,
        *,
        public_url: str | None = None,
        channels: Callable[[], list[str]] | None = None,
        prefix: str = "/webhooks/",
    ) -> None:
        self.handler = handler
        self.public_url = public_url
        self._channels = channels
        self.prefix = prefix

    @classmethod
    def for_router(cls, router: Any, *, public_url: str | None = None) -> WebhookApp:
        """The app for a :class:`~omnichannel.Router`."""
        return cls(router.handle_webhook, public_url=public_url, channels=lambda: router.channels)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/healthz":
            channels = self._channels() if self._channels else []
            await send_response(send, WebhookResponse.json({"status": "ok", "channels": channels}))
            return
        if not path.startswith(self.prefix) or scope["method"] not in ("GET", "POST"):
            await send_response(send, WebhookResponse.text("not found", status_code=404))
            return
        channel = path[len(self.prefix) :].strip("/")
        try:
            request = await read_request(scope, receive, self.public_url)
        except BodyTooLarge:
            await send_response(send, WebhookResponse.text("body too large", status_code=413))
            return
        try:
            response = await self.handler(channel, request)
        except Exception:
            logger.exception("webhook for channel %r failed", channel)
            response = WebhookResponse.text("internal error", status_code=500)
        await send_response(send, response)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
