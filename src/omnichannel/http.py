"""The Sender: prebuilt ``httpx.Request`` values sent straight through one httpx transport.

Adapters build provider calls as ``httpx.Request`` values in pure functions and hand them to
the router's :class:`Sender`. The sender skips httpx's client layer (auth flows, cookies,
redirects, URL merging: provider APIs need none of it and it is what costs), puts the timeouts
in the request extensions, and retries where a retry is safe, honouring ``Retry-After`` and
``x-rate-limit-reset``.

The default transport is ``httpx-aiohttp``'s ``AiohttpTransport``. Tests inject
``httpx.MockTransport(respx_router.async_handler)``; the sandbox can use
``httpx.ASGITransport``.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final

import anyio
import attrs
import httpx

from omnichannel.errors import ProviderError, RateLimited, SendError, TransportError
from omnichannel.events import FailureReason

__all__ = [
    "RetryPolicy",
    "Sender",
    "basic_auth",
    "bearer_auth",
    "default_error_for_response",
    "retry_after_seconds",
]

logger = logging.getLogger("omnichannel.http")

DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)

ErrorForResponse = Callable[[httpx.Response], SendError]


def basic_auth(username: str, password: str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic auth."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def bearer_auth(token: str) -> str:
    """The value of an ``Authorization`` header for a bearer token."""
    return f"Bearer {token}"


def retry_after_seconds(
    headers: Mapping[str, str] | httpx.Headers, *, now: float | None = None
) -> float | None:
    """How long the provider asks us to wait, from ``Retry-After`` (seconds or an HTTP date)
    or ``x-rate-limit-reset`` (epoch seconds); None when it did not say."""
    current = time.time() if now is None else now
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            moment: datetime = parsedate_to_datetime(value)
            return max(0.0, moment.timestamp() - current)
        except (TypeError, ValueError, IndexError):
            pass
    reset = lowered.get("x-rate-limit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - current)
        except ValueError:
            return None
    return None


def default_error_for_response(response: httpx.Response) -> SendError:
    """The generic mapping from an HTTP error answer to a typed error, by status code only.

    Adapters refine it with the provider's own error codes; this is the fallback.
    """
    status = response.status_code
    if status == 429:
        return RateLimited(
            f"provider rate limit (HTTP {status})",
            status_code=status,
            retry_after=retry_after_seconds(response.headers),
        )
    if status in (401, 403):
        return ProviderError(
            f"provider refused our credentials (HTTP {status}); check the adapter settings",
            reason=FailureReason.AUTH,
            status_code=status,
        )
    if status >= 500:
        return ProviderError(
            f"provider error (HTTP {status})",
            retryable=True,
            status_code=status,
            retry_after=retry_after_seconds(response.headers),
        )
    return ProviderError(f"provider refused the request (HTTP {status})", status_code=status)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the sender retries errors that say a retry is safe.

    Exponential backoff with jitter; a provider's ``Retry-After`` replaces the computed delay.
    A wait longer than ``max_delay`` is not slept: the error is raised with its
    ``retry_after`` so the caller (or an outbox) can schedule the retry.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    """Up to this fraction of the delay is added at random, so clients do not retry in step."""

    def delay(self, attempt: int, retry_after: float | None, rand: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up now."""
        if attempt + 1 >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        computed: float = self.base_delay * 2.0**attempt
        return min(self.max_delay, computed * (1 + self.jitter * rand))


_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


class Sender:
    """Sends prebuilt requests through one transport, with retries where they are safe.

    One sender per router; every adapter of that router shares it (and its connection pool).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._transport = transport
        self.retry = retry or RetryPolicy()
        self._timeout = timeout.as_dict()
        self._sleep = sleep
        self._rand = rand

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The transport requests go through (created on first use)."""
        if self._transport is None:
            from httpx_aiohttp import AiohttpTransport

            self._transport = AiohttpTransport()
        return self._transport

    async def send(
        self,
        request: httpx.Request,
        *,
        error_for: ErrorForResponse = default_error_for_response,
        idempotent: bool = False,
    ) -> httpx.Response:
        """Send ``request``; return the 2xx response or raise a :class:`SendError`.

        ``error_for`` turns a non-2xx answer into a typed error (the adapter's own mapping);
        ``idempotent`` says whether resending after an ambiguous failure (a timeout once the
        request was written) is safe, as it is when the provider honours an idempotency key.
        """
        request.extensions.setdefault("timeout", self._timeout)
        attempt = 0
        while True:
            error = await self._attempt(request, error_for, idempotent)
            if isinstance(error, httpx.Response):
                return error
            wait = (
                self.retry.delay(attempt, error.retry_after, self._rand())
                if error.retryable
                else None
            )
            if wait is None:
                raise error
            # The host only: some providers put a credential in the URL path (a bot token).
            logger.info(
                "retrying %s %s in %.2fs after attempt %d: %s",
                request.method,
                request.url.host,
                wait,
                attempt + 1,
                error.message,
            )
            await self._sleep(wait)
            attempt += 1

    async def _attempt(
        self, request: httpx.Request, error_for: ErrorForResponse, idempotent: bool
    ) -> httpx.Response | SendError:
        try:
            response = await self.transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except _NEVER_SENT as exc:
            return TransportError(
                f"could not reach {request.url.host}: {type(exc).__name__}", retryable=True
            )
        except httpx.TransportError as exc:
            return TransportError(
                f"lost the answer from {request.url.host}: {type(exc).__name__}; the provider "
                "may have processed the request",
                retryable=idempotent,
            )
        response.request = request
        if response.is_success:
            return response
        return error_for(response)

    async def aclose(self) -> None:
        """Close the transport and its connections."""
        if self._transport is not None:
            await self._transport.aclose()
