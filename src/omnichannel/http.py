"""Provider calls as small values of ours, and the Sender that sends them with safe retries.

Adapters build each provider call as a frozen :class:`ProviderRequest` (method, URL, headers,
body bytes, whether it is idempotent, a timeout) in pure functions that test as tables, and
read the :class:`ProviderResponse` (status, headers, body bytes) that comes back. The
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

import base64
import functools
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import attrs

from omnichannel.errors import (
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    ResponseTooLarge,
    SendError,
    TransportError,
)
from omnichannel.events import FailureReason

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

Headers = Mapping[str, str]

_REDACTED: Final = "<redacted>"
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def basic_auth(username: str, password: str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic auth."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def bearer_auth(token: str) -> str:
    """The value of an ``Authorization`` header for a bearer token."""
    return f"Bearer {token}"


class SecretHeaders(Mapping[str, str]):
    """Headers that carry credentials: a read-only mapping whose repr shows the names only.

    Adapters keep their auth headers (and the per-adapter request headers built from them)
    in one, so printing an adapter, a request or a traceback's locals never shows a token.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._headers = dict(headers)

    def __getitem__(self, name: str) -> str:
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def __repr__(self) -> str:
        return f"SecretHeaders({', '.join(self._headers)})"

    __str__ = __repr__

    def merged(self, extra: Mapping[str, str]) -> SecretHeaders:
        """These headers with ``extra`` added (later names win)."""
        return SecretHeaders({**self._headers, **extra})


_UNRESERVED: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_NEEDS_QUOTING: Final = re.compile(r"[^A-Za-z0-9_.\-~]")
_TO_ESCAPE: Final = re.compile(r"([^A-Za-z0-9_.\-~]+)")
_BYTE_FORMS: Final = tuple(
    chr(byte) if chr(byte) in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}"
    for byte in range(256)
)


def _quote_form_value(text: str) -> str:
    # urllib's quote_plus walks the UTF-8 bytes in Python, about 3 us a field: plain values are
    # kept as they are, and only the runs of characters to escape are escaped, the short ones
    # (":/", "?", "=", a space, a "+") remembered.
    if _NEEDS_QUOTING.search(text) is None:
        return text
    parts = _TO_ESCAPE.split(text)
    parts[1::2] = map(_quote_run, parts[1::2])
    return "".join(parts)


def _quote_run(run: str) -> str:
    return _quote_short_run(run) if len(run) <= 16 else _quote_bytes(run)


def _quote_bytes(text: str) -> str:
    return "".join(map(_BYTE_FORMS.__getitem__, text.encode("utf-8")))


_quote_short_run = functools.lru_cache(maxsize=1024)(_quote_bytes)


def urlencode_form(pairs: Iterable[tuple[str, object]]) -> str:
    """``urllib.parse.urlencode(pairs)`` for (name, value) pairs, exactly, and several times
    faster: names and values are ``str()``-ed, unreserved characters kept, spaces as ``+``,
    everything else percent-encoded as UTF-8 (``+`` as ``%2B``), in order, repeats kept.

    For provider form bodies built on every send (``ProviderRequest.form`` uses it)."""
    return "&".join(
        [f"{_quote_form_value(str(name))}={_quote_form_value(str(value))}" for name, value in pairs]
    )


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((item for key, item in headers.items() if key.lower() == wanted), None)


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _with_content_type(headers: Headers | None, content_type: str) -> Headers:
    merged = {**(headers or {}), "Content-Type": content_type}
    return SecretHeaders(merged) if isinstance(headers, SecretHeaders) else merged


@attrs.frozen(kw_only=True, eq=True, hash=False)
class ProviderRequest:
    """One provider API call, as an adapter builds it (pure data, no I/O).

    ``headers`` is a mapping the adapter may share between requests (build it once per
    adapter); ``body`` is the exact bytes to send. ``idempotent`` says whether sending it twice
    has the effect of sending it once (a read, or a create carrying an idempotency key the
    provider honours): only then is an ambiguous failure retried. ``timeout`` is the longest
    the whole exchange may take, in seconds (None: the sender's default).

    The repr shows the method, the host and the header names only: a URL path may hold a
    credential (a bot token) and headers hold auth.
    """

    method: str
    url: str
    headers: Headers = attrs.field(factory=dict)
    body: bytes = b""
    idempotent: bool = False
    timeout: float | None = None
    max_response_bytes: int | None = None
    """The largest answer to read (a media download); a bigger one is refused part-way."""

    @classmethod
    def json(
        cls,
        method: str,
        url: str,
        data: object,
        *,
        headers: Headers | None = None,
        idempotent: bool = False,
        timeout: float | None = None,
    ) -> ProviderRequest:
        """A request with ``data`` as a compact UTF-8 JSON body (and its content type)."""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(
            method=method,
            url=url,
            headers=_with_content_type(headers, "application/json"),
            body=body,
            idempotent=idempotent,
            timeout=timeout,
        )

    @classmethod
    def form(
        cls,
        method: str,
        url: str,
        pairs: Iterable[tuple[str, str]],
        *,
        headers: Headers | None = None,
        idempotent: bool = False,
        timeout: float | None = None,
    ) -> ProviderRequest:
        """A request with ``pairs`` form-encoded in order (repeated names kept; ``+`` as
        ``%2B``), with the form content type."""
        return cls(
            method=method,
            url=url,
            headers=_with_content_type(headers, "application/x-www-form-urlencoded"),
            body=urlencode_form(pairs).encode("ascii"),
            idempotent=idempotent,
            timeout=timeout,
        )

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name)

    @property
    def host(self) -> str:
        """The host the request goes to (what logs show of the URL)."""
        return _host_of(self.url)

    def with_headers(self, extra: Headers) -> ProviderRequest:
        """This request with ``extra`` headers added (a per-request signature)."""
        return attrs.evolve(self, headers=SecretHeaders({**self.headers, **extra}))

    def redacted(self, secret_values: Iterable[str] = ()) -> dict[str, Any]:
        """A JSON-ready view for people (``omni send --dry-run``): auth headers and every
        value in ``secret_values`` replaced by ``<redacted>``, in the URL, headers and body."""
        hidden = [value for value in secret_values if value]

        def scrub(text: str) -> str:
            for value in hidden:
                text = text.replace(value, _REDACTED)
            return text

        headers = {
            name: _REDACTED if name.lower() in _SECRET_HEADERS else scrub(value)
            for name, value in self.headers.items()
        }
        try:
            body: str = self.body.decode("utf-8")
        except UnicodeDecodeError:
            body = f"<{len(self.body)} bytes>"
        return {
            "method": self.method,
            "url": scrub(self.url),
            "headers": headers,
            "body": scrub(body),
            "idempotent": self.idempotent,
        }

    def __repr__(self) -> str:
        names = ", ".join(self.headers)
        return f"<ProviderRequest {self.method} {self.host} headers=[{names}] {len(self.body)}B>"


@attrs.frozen(kw_only=True, eq=True, hash=False)
class ProviderResponse:
    """A provider's answer: status, headers (case-insensitive lookups through :meth:`header`)
    and the body bytes, read whole."""

    status_code: int
    headers: Headers = attrs.field(factory=dict)
    body: bytes = b""

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name)

    def json(self) -> Any:
        """The body parsed as JSON; :class:`ValueError` when it is not JSON."""
        try:
            return json.loads(self.body)
        except UnicodeDecodeError as exc:
            raise ValueError("the body is not UTF-8 JSON") from exc

    def __repr__(self) -> str:
        return f"<ProviderResponse {self.status_code} {len(self.body)}B>"


def answer_too_large(request: ProviderRequest, limit: int) -> ResponseTooLarge:
    """The error for an answer over ``request.max_response_bytes``."""
    return ResponseTooLarge(
        f"the answer from {request.host} is over the limit of {limit} bytes; it was not read",
        retryable=False,
    )


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
    value = _header(headers, "retry-after")
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
    reset = _header(headers, "x-rate-limit-reset")
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
        transport = self.transport
        timeout = request.timeout or self.timeout

        async def attempt() -> ProviderResponse:
            signed = sign(request) if sign is not None else request
            if logger.isEnabledFor(logging.INFO):
                hidden = [value for value in secret_values() if value] if secret_values else []
                response = await _logged_exchange(transport, signed, timeout, hidden)
            else:
                response = await transport.send(signed, timeout)
            if response.is_success:
                return response
            error = error_for(response)
            if (
                response.status_code >= 500
                and not request.idempotent
                and not isinstance(error, RateLimited)
            ):
                raise _ambiguous_answer(error, response)
            raise error

        # The host is only for the log line of a retry: not parsed out of the URL every send.
        return await self._run(attempt, request.idempotent, lambda: request.host)

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


_SECRET_RESPONSE_HEADERS: Final = frozenset({"set-cookie", "authorization", "www-authenticate"})


def _scrub(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        text = text.replace(value, _REDACTED)
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
            name: _REDACTED if name.lower() in _SECRET_RESPONSE_HEADERS else _scrub(value, hidden)
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
