"""Transports: what carries a :class:`~omnichannel.http.ProviderRequest` to the provider.

:class:`AiohttpTransport` is the default: one ``aiohttp.ClientSession`` (one connection pool)
sends the request values directly, with no intermediate request or response objects (the
send path's cost is mostly object building; see docs/architecture.md). :class:`HttpxTransport`
wraps any httpx async transport, so ``httpx.MockTransport`` (respx) and
``httpx.ASGITransport`` (the in-process sandbox) keep working in tests, and users can inject
any httpx transport they already have.

Both classify failures by what actually happened, which decides whether a retry is safe:
a failure before any byte of the request was written (connection refused, DNS, the TLS
handshake, no free connection in time) has ``request_sent=False``; everything after is
``request_sent=True``: the provider may have processed the request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from omnichannel.errors import TransportError
from omnichannel.http import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    ProviderRequest,
    ProviderResponse,
    answer_too_large,
)

if TYPE_CHECKING:
    import aiohttp
    import httpx

__all__ = ["AiohttpTransport", "HttpxTransport"]


def _endpoint(request: ProviderRequest) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(request.url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    except ValueError:
        return request.host
    return f"{parts.hostname}:{port}"


def _after_sending(request: ProviderRequest, what: str) -> TransportError:
    # Retryable only for an idempotent request: the Sender turns it into OutcomeUnknown
    # for the others.
    return TransportError(f"{what} ({request.method} to {_endpoint(request)})", request_sent=True)


async def _read_capped(
    response: aiohttp.ClientResponse, request: ProviderRequest, limit: int
) -> bytes:
    if response.content_length is not None and response.content_length > limit:
        raise answer_too_large(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise answer_too_large(request, limit)
        chunks.append(chunk)
    return b"".join(chunks)


class AiohttpTransport:
    """Sends requests through one aiohttp session, opened in the running event loop on first
    use. ``limit`` caps open connections (all hosts); ``ssl`` is passed to aiohttp (None: the
    default verified context, built only when a first HTTPS request needs it)."""

    def __init__(self, *, limit: int = 100, ssl: Any = True) -> None:
        self._limit = limit
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl)
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Provider APIs set no cookies we want, and we never follow redirects on a send.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = aiohttp.ClientTimeout(
                total=seconds, connect=min(seconds, DEFAULT_CONNECT_TIMEOUT_SECONDS)
            )
            self._timeouts[seconds] = timeout
        return timeout

    async def send(self, request: ProviderRequest, time_limit: float) -> ProviderResponse:
        """Send ``request`` and read the whole answer."""
        import aiohttp

        session = self._session or self._open()
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body or None,
                timeout=self._timeout(time_limit),
                allow_redirects=False,
            ) as response:
                limit = request.max_response_bytes
                if limit is None:
                    body = await response.read()
                else:
                    body = await _read_capped(response, request, limit)
                return ProviderResponse(
                    status_code=response.status, headers=response.headers, body=body
                )
        except aiohttp.ClientConnectorDNSError:
            raise TransportError(
                f"cannot resolve {request.host} (DNS); nothing was sent", request_sent=False
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise TransportError(
                f"the TLS handshake with {_endpoint(request)} failed "
                f"({type(exc).__name__}); nothing was sent",
                request_sent=False,
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                f"connection refused by {_endpoint(request)} "
                f"({exc.os_error.strerror or type(exc.os_error).__name__}); nothing was sent",
                request_sent=False,
            ) from None
        except aiohttp.ConnectionTimeoutError:
            raise TransportError(
                f"could not connect to {_endpoint(request)} within "
                f"{min(time_limit, DEFAULT_CONNECT_TIMEOUT_SECONDS):g}s; nothing was sent",
                request_sent=False,
            ) from None
        except aiohttp.InvalidURL:
            raise TransportError(
                f"{request.method} to {request.host}: the URL is not valid; nothing was sent",
                request_sent=False,
                retryable=False,
            ) from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise _after_sending(
                request, f"no answer within {time_limit:g}s after the request was sent"
            ) from None
        except aiohttp.ServerDisconnectedError:
            raise _after_sending(
                request, "the connection closed after the request was sent"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _after_sending(
                request, f"the connection failed after the request was sent ({type(exc).__name__})"
            ) from None

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def _aread_capped(response: httpx.Response, request: ProviderRequest, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise answer_too_large(request, limit)
        chunks.append(chunk)
    return b"".join(chunks)


class HttpxTransport:
    """Adapts an httpx async transport (``MockTransport``, ``ASGITransport``, a custom one)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.inner = transport

    async def send(self, request: ProviderRequest, time_limit: float) -> ProviderResponse:
        """Send ``request`` through the wrapped transport and read the whole answer."""
        import httpx

        outgoing = httpx.Request(
            request.method, request.url, headers=dict(request.headers), content=request.body
        )
        outgoing.extensions["timeout"] = httpx.Timeout(
            time_limit, connect=min(time_limit, DEFAULT_CONNECT_TIMEOUT_SECONDS)
        ).as_dict()
        limit = request.max_response_bytes
        try:
            response = await self.inner.handle_async_request(outgoing)
            try:
                if limit is None:
                    body = await response.aread()
                else:
                    body = await _aread_capped(response, request, limit)
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportError(
                f"could not connect to {_endpoint(request)} ({type(exc).__name__}); nothing was "
                "sent",
                request_sent=False,
            ) from None
        except httpx.UnsupportedProtocol:
            raise TransportError(
                f"{request.method} to {request.host}: unsupported URL scheme; nothing was sent",
                request_sent=False,
                retryable=False,
            ) from None
        except httpx.TimeoutException:
            raise _after_sending(
                request, f"no answer within {time_limit:g}s after the request was sent"
            ) from None
        except (httpx.TransportError, asyncio.IncompleteReadError, OSError) as exc:
            raise _after_sending(
                request, f"the connection failed after the request was sent ({type(exc).__name__})"
            ) from None
        return ProviderResponse(
            status_code=response.status_code, headers=response.headers, body=body
        )

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()
