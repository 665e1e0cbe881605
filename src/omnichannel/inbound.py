"""What reaches an adapter from a provider: a webhook request, the answer to give it, what
the adapter made of it, and what one poll of a pull channel found.

:class:`WebhookRequest` parses its headers, query and form once (verification and parsing
both read them); the values are re-exported from :mod:`omnichannel.adapter` and the
package's top level, where adapters import them from.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Self
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import attrs

from omnichannel.envelope import Envelope
from omnichannel.errors import WebhookError, WebhookParseError
from omnichannel.events import StatusUpdate

__all__ = ["PollResult", "WebhookRequest", "WebhookResponse", "WebhookResult"]


def _header_tuple(
    value: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    if not value:  # most responses carry none: no Mapping check, no generator
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(name), str(item)) for name, item in items)


def _unquote(text: str) -> str:
    """``unquote_plus(text)``, exactly, without its regex split for ASCII text (a provider's
    form escapes little more than the ``+`` of a phone number)."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.isascii():
        return unquote_to_bytes(text).decode("utf-8", "replace")
    return unquote(text)


def _form_pairs(text: str, *, strict: bool) -> tuple[tuple[str, str], ...] | None:
    """``parse_qsl(text, keep_blank_values=True)``, faster where nothing is escaped (provider
    forms carry dozens of plain fields). ``strict``: a field without ``=`` makes it None."""
    if not text:
        return ()
    pairs = []
    for name, equals, value in [field.partition("=") for field in text.split("&")]:
        if not equals:
            if strict:
                return None
            if not name:
                continue
        if "%" in name or "+" in name:
            name = _unquote(name)
        if "%" in value or "+" in value:
            value = _unquote(value)
        pairs.append((name, value))
    return tuple(pairs)


def _header_names(headers: tuple[tuple[str, str], ...]) -> str:
    return repr(tuple(name for name, _ in headers))


@attrs.frozen(kw_only=True)
class WebhookRequest:
    """An HTTP request from a provider, as received.

    ``url`` is the *public* URL the provider called (scheme, host, port, path and the query
    string exactly as sent): signatures are computed over it, so behind a proxy it is rebuilt
    from the configured public URL, never from the internal hop.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_header_tuple, repr=_header_names
    )
    """Names and values as received; repr shows only the names (a value may be a secret)."""
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return self._header_index.get(name.lower())

    @property
    def path(self) -> str:
        """The URL path."""
        return urlsplit(self.url).path

    # Verification and parsing both read the headers, the query and the form; the request is
    # frozen, so each is indexed or parsed once (a provider form can carry dozens of params).
    @functools.cached_property
    def _header_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for key, value in self.headers:
            index.setdefault(key.lower(), value)
        return index

    @functools.cached_property
    def _query_pairs(self) -> tuple[tuple[str, str], ...]:
        return _form_pairs(urlsplit(self.url).query, strict=False) or ()

    @functools.cached_property
    def _form_pairs(self) -> tuple[tuple[str, str], ...] | None:
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return _form_pairs(text, strict=True)

    def query(self) -> list[tuple[str, str]]:
        """The query parameters in order, blank values kept."""
        return list(self._query_pairs)

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        return next((value for key, value in self._query_pairs if key == name), None)

    def form(self) -> list[tuple[str, str]]:
        """The form-encoded body as (name, value) pairs in order, blank values kept.

        Raises :class:`WebhookParseError` when the body is not valid form encoding.
        """
        pairs = self._form_pairs
        if pairs is None:
            raise WebhookParseError("body is not valid form encoding")
        return list(pairs)

    def json(self) -> Any:
        """The JSON body. Raises :class:`WebhookParseError` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError):
            raise WebhookParseError("body is not valid JSON") from None


@attrs.frozen(kw_only=True)
class WebhookResponse:
    """The HTTP answer to give a provider."""

    status_code: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_header_tuple)

    @classmethod
    def text(cls, text: str, status_code: int = 200) -> Self:
        """A plain-text answer."""
        return cls(status_code=status_code, body=text.encode())

    @classmethod
    def json(cls, data: object, status_code: int = 200) -> Self:
        """A JSON answer."""
        return cls(
            status_code=status_code,
            body=json.dumps(data, separators=(",", ":")).encode(),
            content_type="application/json",
        )

    @classmethod
    def xml(cls, xml: str, status_code: int = 200) -> Self:
        """An XML answer (TwiML and the like)."""
        return cls(
            status_code=status_code, body=xml.encode(), content_type="text/xml; charset=utf-8"
        )

    @classmethod
    def for_error(cls, error: WebhookError) -> Self:
        """The answer to a refused request: 403 or 400 with a short reason, nothing else."""
        return cls.text(error.message, status_code=error.status_code)


def _envelope_tuple(values: Iterable[Envelope]) -> tuple[Envelope, ...]:
    return tuple(values)


def _status_tuple(values: Iterable[StatusUpdate]) -> tuple[StatusUpdate, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class WebhookResult:
    """What one provider request contained, and the answer to give it."""

    response: WebhookResponse = attrs.field(factory=WebhookResponse)
    messages: tuple[Envelope, ...] = attrs.field(default=(), converter=_envelope_tuple)
    statuses: tuple[StatusUpdate, ...] = attrs.field(default=(), converter=_status_tuple)


@attrs.frozen(kw_only=True)
class PollResult:
    """What one poll of a pull channel found.

    ``cursor`` is what to pass to the next ``poll`` (kept by the router's cursor store only
    after every message here was taken); ``next_poll_seconds`` is when to poll again (a rate
    limit's reset, a push wake-up), None for the poller's interval. ``commit`` runs once
    the router has taken every message (mark mail seen, move it to a folder): a crash before
    it leaves the messages to be found again, never lost.
    """

    messages: tuple[Envelope, ...] = attrs.field(default=(), converter=_envelope_tuple)
    statuses: tuple[StatusUpdate, ...] = attrs.field(default=(), converter=_status_tuple)
    cursor: str | None = None
    next_poll_seconds: float | None = None
    commit: Callable[[], Awaitable[None]] | None = attrs.field(default=None, eq=False)
