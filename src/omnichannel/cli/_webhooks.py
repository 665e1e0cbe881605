"""Posting webhook requests to a listener: what ``omni simulate`` and ``omni replay`` share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import click
import httpx

from omnichannel.adapter import WebhookRequest
from omnichannel.cli._events import printable
from omnichannel.http import ProviderRequest

__all__ = ["DEFAULT_LISTENER", "Answer", "http_url", "post", "redacted", "webhook_url"]

DEFAULT_LISTENER: Final = "http://127.0.0.1:8080"
"""Where ``omni listen`` listens by default."""
_REASON_CHARS: Final = 200
_POST_TIMEOUT_SECONDS: Final = 30.0


def http_url(url: str, option: str, example: str = DEFAULT_LISTENER) -> str:
    """``url`` when it is an http(s) URL with a host; else the usage error of ``option``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{url!r} is not an http(s) URL such as {example}", param_hint=f"'{option}'"
        )
    return url


def webhook_url(url: str, channel: str) -> str:
    """The webhook URL of ``channel`` from ``url``: a full webhook URL (its path names the
    ``/webhooks/`` route) is kept; a base URL gets ``/webhooks/CHANNEL`` appended."""
    if "/webhooks/" in urlsplit(http_url(url, "--url")).path:
        return url
    return f"{url.rstrip('/')}/webhooks/{channel}"


@attrs.frozen(kw_only=True)
class Answer:
    """What a listener answered."""

    status_code: int
    reason: str
    """The answer's body as text, on one line, escaped and cut short."""

    @property
    def ok(self) -> bool:
        """Whether the answer was 2xx."""
        return 200 <= self.status_code < 300


async def post(client: httpx.AsyncClient, request: WebhookRequest) -> Answer:
    """Send ``request`` as it is; :class:`click.ClickException` when nothing answered."""
    try:
        response = await client.request(
            request.method,
            request.url,
            headers=list(request.headers),
            content=request.body,
            timeout=_POST_TIMEOUT_SECONDS,
        )
    except httpx.TransportError as exc:
        raise click.ClickException(
            f"cannot reach {request.url}: {type(exc).__name__}; is omni listen running there?"
        ) from None
    text = " ".join(response.text.split())
    if len(text) > _REASON_CHARS:
        text = text[:_REASON_CHARS] + "…"
    return Answer(status_code=response.status_code, reason=printable(text))


def redacted(request: WebhookRequest, secret_values: Iterable[str]) -> dict[str, Any]:
    """``request`` for people and ``--json``: method, URL, headers and body, secrets hidden."""
    view = ProviderRequest(
        method=request.method, url=request.url, headers=dict(request.headers), body=request.body
    ).redacted(secret_values)
    view.pop("idempotent", None)
    return view
