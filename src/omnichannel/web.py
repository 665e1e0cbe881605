"""The webhook app: an ASGI application serving ``/webhooks/{channel}`` and ``/healthz``.

Mount it in any ASGI server or framework (``omni listen`` serves it with uvicorn). Every
request is turned into a :class:`~omnichannel.WebhookRequest` whose URL is rebuilt from the
configured public URL, because providers sign the URL *they* called, not the one a reverse
proxy forwards to us. Without a public URL it is rebuilt from the socket's own address, or
from forwarded headers sent by a trusted proxy (see :mod:`omnichannel.forwarding`); never
from a Host header a client chose. The path and query string are kept exactly as sent.

Requests are refused cheaply before any signature is checked: a body over the channel's
``webhook_body_limit`` is answered 413 (before it is read when ``Content-Length`` says so),
and a body that does not arrive within ``read_timeout`` seconds is answered 408.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Final

from omnichannel.adapter import WebhookRequest, WebhookResponse
from omnichannel.errors import UnknownChannel
from omnichannel.forwarding import parse_networks, request_base_url

__all__ = ["ASGIApp", "WebhookApp", "read_request", "send_response"]

logger = logging.getLogger("omnichannel.web")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES: Final = 5 * 1024 * 1024
"""The body limit of :func:`read_request` when none is given (the sandbox's API requests)."""
DEFAULT_BODY_LIMIT: Final = 65_536
"""The body limit of a channel no adapter serves (it is answered 404 once read)."""
DEFAULT_READ_TIMEOUT: Final = 10.0
"""Seconds a webhook body may take to arrive."""

_CLOSE: Final = (("connection", "close"),)


class BodyTooLarge(Exception):
    """The request body is over the limit it is read with."""


class ClientDisconnected(Exception):
    """The client went away before its request body was complete."""


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def read_body(scope: Scope, receive: Receive, *, limit: int) -> bytes:
    """The request body, or :class:`BodyTooLarge` as soon as it is known to be over ``limit``
    bytes: before reading when ``Content-Length`` says so, and otherwise at the first chunk
    past it (the rest is never read)."""
    declared = _declared_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_request(
    scope: Scope,
    receive: Receive,
    base_url: str | None = None,
    *,
    limit: int = MAX_BODY_BYTES,
) -> WebhookRequest:
    """Read an ASGI HTTP request into a :class:`WebhookRequest`.

    ``base_url`` (the public URL) replaces the scheme, host and port the request arrived on
    (without it, the socket's own address is used); the path (undecoded, ``%2F`` stays
    ``%2F``) and the raw query string are kept exactly as sent. Raises :class:`BodyTooLarge`
    for a body over ``limit`` bytes and :class:`ClientDisconnected` when the client leaves.
    """
    body = await read_body(scope, receive, limit=limit)
    root = (base_url or request_base_url(scope)).rstrip("/")
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{root}{path}{'?' + query if query else ''}"
    headers = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in scope["headers"]]
    return WebhookRequest(method=scope["method"], url=url, headers=headers, body=body)


async def send_response(send: Send, response: WebhookResponse) -> None:
    """Write a :class:`WebhookResponse` to an ASGI connection."""
    headers = [(b"content-type", response.content_type.encode("latin-1"))]
    headers += [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


WebhookHandler = Callable[[str, WebhookRequest], Awaitable[WebhookResponse]]
RejectedHandler = Callable[[str, int, str], Awaitable[None] | None]
"""Called as ``(channel, status_code, reason)`` for a request the app refuses itself."""


class WebhookApp:
    """The ASGI app: ``GET|POST /webhooks/{channel}`` goes to ``handler`` (normally
    :meth:`Router.handle_webhook`); ``GET /healthz`` answers ``{"status": "ok"}``.

    ``public_url`` is the URL providers call, which signatures are checked against. Without
    it the URL is rebuilt from the socket's address, or from the forwarded headers of a
    request coming from ``trusted_proxies`` (addresses or networks such as ``10.0.0.0/8``).
    ``body_limit`` gives each channel's largest body in bytes (default: 64 KiB for every
    channel); ``read_timeout`` is how long a body may take to arrive, in seconds.
    ``on_rejected`` (sync or async) hears of the requests the app refuses itself before the
    handler sees them (413 too large, 408 too slow), as ``(channel, status_code, reason)``.
    """

    def __init__(
        self,
        handler: WebhookHandler,
        *,
        public_url: str | None = None,
        channels: Callable[[], list[str]] | None = None,
        prefix: str = "/webhooks/",
        body_limit: Callable[[str], int] | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        trusted_proxies: Iterable[str] = (),
        on_rejected: RejectedHandler | None = None,
    ) -> None:
        self.handler = handler
        self.on_rejected = on_rejected
        self.public_url = public_url.rstrip("/") if public_url else None
        self._channels = channels
        self.prefix = prefix
        self._body_limit = body_limit or (lambda channel: DEFAULT_BODY_LIMIT)
        self.read_timeout = read_timeout
        self.trusted_proxies = parse_networks(trusted_proxies)

    @classmethod
    def for_router(
        cls,
        router: Any,
        *,
        trusted_proxies: Iterable[str] = (),
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        on_rejected: RejectedHandler | None = None,
    ) -> WebhookApp:
        """The app for a :class:`~omnichannel.Router`: signatures are checked against the
        router's ``public_url`` (the one its adapters give providers for callbacks), and each
        channel's body limit is its adapter's ``capabilities.webhook_body_limit``."""

        def body_limit(channel: str) -> int:
            try:
                limit: int = router.adapter(channel).capabilities.webhook_body_limit
            except UnknownChannel:
                return DEFAULT_BODY_LIMIT
            return limit

        return cls(
            router.handle_webhook,
            public_url=router.public_url,
            channels=lambda: router.channels,
            body_limit=body_limit,
            read_timeout=read_timeout,
            trusted_proxies=trusted_proxies,
            on_rejected=on_rejected,
        )

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
        limit = self._body_limit(channel)
        try:
            async with _deadline(self.read_timeout):
                base_url = self.public_url or request_base_url(scope, self.trusted_proxies)
                request = await read_request(scope, receive, base_url, limit=limit)
        except BodyTooLarge:
            await self._refuse(send, channel, 413, f"body over the limit of {limit} bytes")
            return
        except TimeoutError:
            await self._refuse(send, channel, 408, "body not received in time")
            return
        except ClientDisconnected:
            return
        try:
            response = await self.handler(channel, request)
        except Exception:
            logger.exception("webhook for channel %r failed", channel)
            response = WebhookResponse.text("internal error", status_code=500)
        await send_response(send, response)

    async def _refuse(self, send: Send, channel: str, status_code: int, reason: str) -> None:
        if self.on_rejected is not None:
            try:
                result = self.on_rejected(channel, status_code, reason)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("the on_rejected callback raised; ignored")
        await send_response(send, _refusal(status_code, reason))


def _deadline(seconds: float) -> AbstractAsyncContextManager[object]:
    """A block that raises TimeoutError after ``seconds``: asyncio's own timeout on asyncio
    (the servers the SDK starts; half the cost of a cancel scope, on every request), anyio's
    elsewhere. Imported here: plugins import this module, through the sandbox, when they are
    discovered, which must not import an event loop."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import anyio

        return _SyncBlock(anyio.fail_after(seconds))
    return asyncio.timeout(seconds)


class _SyncBlock:
    """A synchronous context manager used with ``async with``."""

    def __init__(self, inner: AbstractContextManager[object]) -> None:
        self._inner = inner

    async def __aenter__(self) -> object:
        return self._inner.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self._inner.__exit__(*exc_info)


def _refusal(status_code: int, text: str) -> WebhookResponse:
    # Closing the connection spares reading (and discarding) the rest of a refused body.
    return WebhookResponse(status_code=status_code, body=text.encode(), headers=_CLOSE)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
