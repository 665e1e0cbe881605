"""A provider call and its answer as small values: what adapters build and read.

Adapters build each provider call as a frozen :class:`ProviderRequest` (method, URL, headers,
body bytes, whether it is idempotent, a timeout) in pure functions that test as tables, and
read the :class:`ProviderResponse` (status, headers, body bytes) that comes back. Headers
that carry credentials live in :class:`SecretHeaders`, whose repr shows only their names.
:class:`~omnichannel.http.Sender` sends them; these are re-exported from
:mod:`omnichannel.http`, where adapters import them from.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from omnichannel.errors import ResponseTooLarge

__all__ = [
    "ProviderRequest",
    "ProviderResponse",
    "SecretHeaders",
    "answer_too_large",
    "basic_auth",
    "bearer_auth",
    "header_value",
    "urlencode_form",
]

Headers = Mapping[str, str]

REDACTED: Final = "<redacted>"
"""What stands in for a secret in previews and log lines."""
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


def header_value(headers: Headers, name: str) -> str | None:
    """The value of header ``name`` in ``headers``, looked up case-insensitively, or None."""
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
        return header_value(self.headers, name)

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
                text = text.replace(value, REDACTED)
            return text

        headers = {
            name: REDACTED if name.lower() in _SECRET_HEADERS else scrub(value)
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
        return header_value(self.headers, name)

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
