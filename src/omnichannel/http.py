"""Provider calls as small values of ours, and the Sender that sends them with safe retries.

Adapters build each provider call as a frozen :class:`ProviderRequest` (method, URL, headers,
body bytes, whether it is idempotent, a timeout) in pure functions that test as tables, and
read the :class:`ProviderResponse` (status, headers, body bytes) that comes back (both defined
in :mod:`omnichannel.provider_requests`, and imported from here). The
:class:`Sender` owns one transport (:mod:`omnichannel.transports`): by default one aiohttp
session that sends the values directly; any httpx transport (``httpx.MockTransport`` for
respx, ``httpx.ASGITransport`` for the in-process sandbox) can be given instead.

The retry rules are one taxonomy, whatever the transport (:meth:`Sender.run` applies them to
non-HTTP deliveries too):

* **never sent** (a refused connection, DNS, the TLS handshake: no byte was written): retried;
* **not processed** by the provider's own word (429, or an error the adapter maps to
  :class:`~omnichannel.RateLimited`): retried after the wait it asked for;
* **ambiguous** (the connection closed or timed out after the request was written, or a 5xx
  answer): the message may exist. Retried only when the request is idempotent (a read, or a
  create carrying an idempotency key the provider honours); otherwise
  :class:`~omnichannel.OutcomeUnknown`, never resent.

``Retry-After`` (seconds or an HTTP date) and ``x-rate-limit-reset`` are honoured; a wait
longer than the policy allows is raised for the caller (or an outbox) to schedule.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final, Protocol, TypeVar, cast

import attrs

from omnichannel.errors import (
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    SendError,
    TransportError,
)
from omnichannel.events import FailureReason
from omnichannel.provider_requests import (
    REDACTED,
    Headers,
    ProviderRequest,
    ProviderResponse,
    SecretHeaders,
    answer_too_large,
    basic_auth,
    bearer_auth,
    header_value,
    urlencode_form,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "ProviderRequest",
    "ProviderResponse",
    "RetryPolicy",
    "SecretHeaders",
    "Sender",
    "Transport",
    "answer_too_large",
    "basic_auth",
    "bearer_auth",
    "default_error_for_response",
    "retry_after_seconds",
    "urlencode_form",
]

logger = logging.getLogger("omnichannel.http")

DEFAULT_TIMEOUT_SECONDS: Final = 10.0
"""The longest a provider call may take, connecting included, unless the request says."""
DEFAULT_CONNECT_TIMEOUT_SECONDS: Final = 5.0

T = TypeVar("T")


class Transport(Protocol):
    """What carries provider requests. Raise :class:`~omnichannel.TransportError` with
    ``request_sent`` saying whether any byte of the request was written, and
    :func:`answer_too_large` for an answer over the request's ``max_response_bytes``."""

    async def send(self, request: ProviderRequest, time_limit: float) -> ProviderResponse:
        """Send ``request``; the whole exchange must end within ``time_limit`` seconds."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


def retry_after_seconds(headers: Headers, *, now: float | None = None) -> float | None:
    """How long the provider asks us to wait, from ``Retry-After`` (seconds or an HTTP date)
    or ``x-rate-limit-reset`` (epoch seconds); None when it did not say."""
    current = time.time() if now is None else now
    value = header_value(headers, "retry-after")
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
    reset = header_value(headers, "x-rate-limit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - current)
        except ValueError:
            return None
    return None


def default_error_for_response(response: ProviderResponse) -> SendError:
    """The generic mapping from an HTTP error answer to a typed error, by status code only.

    429, and 503 with a ``Retry-After`` (HTTP's "not now, try then"), say the request was not
    processed: :class:`RateLimited`. Other 5xx answers are retryable provider errors, which
    the sender resends only for idempotent requests (for the others the outcome is unknown).
    Adapters refine this with the provider's own error codes.
    """
    status = response.status_code
    retry_after = retry_after_seconds(response.headers)
    if status == 429 or (status == 503 and retry_after is not None):
        return RateLimited(
            f"provider rate limit (HTTP {status})", status_code=status, retry_after=retry_after
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
            retry_after=retry_after,
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


ErrorForResponse = Callable[[ProviderResponse], SendError]
SignRequest = Callable[[ProviderRequest], ProviderRequest]


def _ambiguous_answer(error: SendError, response: ProviderResponse) -> OutcomeUnknown:
    unknown = OutcomeUnknown(
        f"{error.message}; the provider may have created the message before failing, so it "
        "is not resent",
        provider_code=error.provider_code,
        provider_message=error.provider_message,
        status_code=response.status_code,
    )
    unknown.__cause__ = error
    return unknown


class Sender:
    """Sends provider requests through one transport, with retries where they are safe.

    One sender per router; every adapter of that router shares it (and its connection pool).
    ``transport`` is a :class:`Transport`, or any ``httpx`` async transport (wrapped: respx's
    ``MockTransport`` and ``ASGITransport`` work as they are); by default an aiohttp session
    opened on first use.
    """

    def __init__(
        self,
        transport: Transport | httpx.AsyncBaseTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._transport = _as_transport(transport) if transport is not None else None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        self._rand = rand

    @property
    def transport(self) -> Transport:
        """The transport requests go through (the default one is created on first use)."""
        if self._transport is None:
            from omnichannel.transports import AiohttpTransport

            self._transport = AiohttpTransport()
        return self._transport

    async def send(
        self,
        request: ProviderRequest,
        *,
        error_for: ErrorForResponse = default_error_for_response,
        sign: SignRequest | None = None,
        secret_values: Callable[[], Iterable[str]] | None = None,
    ) -> ProviderResponse:
        """Send ``request``; return the 2xx response or raise a :class:`SendError`.

        ``error_for`` turns a non-2xx answer into a typed error (the adapter's own mapping);
        ``sign`` is applied before every attempt (a per-request signature with a fresh nonce
        and timestamp, such as OAuth 1.0a). ``secret_values`` gives the values the log lines
        must hide (the adapter's secrets); it is called only when logging is on.

        Each exchange is logged on ``omnichannel.http``: at INFO one line (method, host, path
        without query, status, milliseconds), at DEBUG the headers and bodies too, redacted.
        """
        exchange = _Exchange(
            self.transport, request, request.timeout or self.timeout, error_for, sign, secret_values
        )
        # The host is only for the log line of a retry: not parsed out of the URL every send.
        return await self._run(exchange, request.idempotent, exchange.host)

    async def run(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool, what: str) -> T:
        """Call ``attempt`` until it succeeds or raises an error that must not be retried.

        The one place the retry rules live, so an adapter that delivers over its own protocol
        (a mail server) retries exactly as HTTP adapters do: ``attempt`` raises
        :class:`TransportError` (with ``request_sent``), :class:`OutcomeUnknown` or another
        :class:`SendError`. ``what`` names the destination in log lines (a host, never a URL).
        """
        return await self._run(attempt, idempotent, lambda: what)

    async def _run(
        self, attempt: Callable[[], Awaitable[T]], idempotent: bool, what: Callable[[], str]
    ) -> T:
        tries = 0
        while True:
            try:
                return await attempt()
            except TransportError as error:
                if error.request_sent and not idempotent:
                    unknown = OutcomeUnknown(
                        f"{error.message}; the message may have been created, so it is not resent",
                        reason=FailureReason.UNKNOWN,
                    )
                    raise unknown from error
                failure: SendError = error
            except OutcomeUnknown:
                raise
            except SendError as error:
                failure = error
            wait = (
                self.retry.delay(tries, failure.retry_after, self._rand())
                if failure.retryable
                else None
            )
            if wait is None:
                raise failure
            logger.info(
                "retrying %s in %.2fs after attempt %d: %s",
                what(),
                wait,
                tries + 1,
                failure.message,
            )
            await self._pause(wait)
            tries += 1

    async def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        import anyio

        await anyio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the transport and its connections."""
        if self._transport is not None:
            await self._transport.aclose()


class _Exchange:
    """One request's attempt, made again by :meth:`Sender._run` on a retry.

    An object rather than a closure: a send in flight holds it until its answer, and the
    closure held a cell per name it used (eight tracked objects where this is two, with the
    bound :meth:`host`). Sends a group commit resumes together allocate theirs at once, and
    each one more per send brought on young collections of the garbage collector sooner.
    """

    __slots__ = ("error_for", "request", "secret_values", "sign", "timeout", "transport")

    def __init__(
        self,
        transport: Transport,
        request: ProviderRequest,
        timeout: float,
        error_for: ErrorForResponse,
        sign: SignRequest | None,
        secret_values: Callable[[], Iterable[str]] | None,
    ) -> None:
        self.transport = transport
        self.request = request
        self.timeout = timeout
        self.error_for = error_for
        self.sign = sign
        self.secret_values = secret_values

    async def __call__(self) -> ProviderResponse:
        request = self.request
        signed = self.sign(request) if self.sign is not None else request
        if logger.isEnabledFor(logging.INFO):
            secret_values = self.secret_values
            hidden = [value for value in secret_values() if value] if secret_values else []
            response = await _logged_exchange(self.transport, signed, self.timeout, hidden)
        else:
            response = await self.transport.send(signed, self.timeout)
        if response.is_success:
            return response
        error = self.error_for(response)
        if (
            response.status_code >= 500
            and not request.idempotent
            and not isinstance(error, RateLimited)
        ):
            raise _ambiguous_answer(error, response)
        raise error

    def host(self) -> str:
        """The request's host, for a retry's log line."""
        return self.request.host


_SECRET_RESPONSE_HEADERS: Final = frozenset({"set-cookie", "authorization", "www-authenticate"})


def _scrub(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        text = text.replace(value, REDACTED)
    return text


async def _logged_exchange(
    transport: Transport, request: ProviderRequest, time_limit: float, hidden: list[str]
) -> ProviderResponse:
    """``transport.send`` with its log lines: one per exchange (the path without its query,
    where a credential may sit), and the headers and bodies at DEBUG, redacted as
    :meth:`ProviderRequest.redacted` redacts previews."""
    path = request.url.split("?", 1)[0].split("#", 1)[0].partition("//")[2].partition("/")[2]
    line = f"{request.method} {request.host} /{_scrub(path, hidden)}"
    debug = logger.isEnabledFor(logging.DEBUG)
    if debug:
        view = request.redacted(hidden)
        logger.debug("%s > headers %s", line, json.dumps(view["headers"], ensure_ascii=False))
        logger.debug("%s > body %s", line, view["body"] or "(empty)")
    started = time.perf_counter()
    try:
        response = await transport.send(request, time_limit)
    except SendError as error:
        elapsed = (time.perf_counter() - started) * 1000
        logger.info(
            "%s -> %s after %.0f ms: %s", line, type(error).__name__, elapsed, error.message
        )
        raise
    logger.info(
        "%s -> %d in %.0f ms", line, response.status_code, (time.perf_counter() - started) * 1000
    )
    if debug:
        headers = {
            name: REDACTED if name.lower() in _SECRET_RESPONSE_HEADERS else _scrub(value, hidden)
            for name, value in response.headers.items()
        }
        body = ProviderRequest(method="", url="", body=response.body).redacted(hidden)["body"]
        logger.debug("%s < headers %s", line, json.dumps(headers, ensure_ascii=False))
        logger.debug("%s < body %s", line, body or "(empty)")
    return response


def _as_transport(transport: Transport | httpx.AsyncBaseTransport) -> Transport:
    # Told apart by their method rather than isinstance, so httpx is imported only by those
    # who pass an httpx transport.
    if hasattr(transport, "handle_async_request"):
        from omnichannel.transports import HttpxTransport

        return HttpxTransport(cast("httpx.AsyncBaseTransport", transport))
    return transport
