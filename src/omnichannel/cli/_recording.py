"""Webhook recordings: what ``omni listen --record FILE`` writes and ``omni replay`` reads.

One JSON object per line, one line per request the listener accepted (it passed the
adapter's verification and parsing)::

    {"v": 1, "channel": "sms", "received_at": "2026-01-01T12:00:00+00:00", "method": "POST",
     "url": "https://hooks.example.com/webhooks/sms", "headers": [["X-Signature", "..."]],
     "body_base64": "...", "redacted_headers": []}

``url`` is the public URL the provider called (what its signature covers). A header whose
value is one of the adapter's secrets (a shared-secret token some providers send instead of
a signature) is written as ``<redacted>`` and named in ``redacted_headers``: a recording is
not a place for credentials. It still holds what customers wrote: keep it as private as the
messages themselves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import attrs

from omnichannel.adapter import WebhookRequest
from omnichannel.errors import ConfigurationError

__all__ = ["RECORD_VERSION", "RecordedRequest", "Recorder", "read_records"]

RECORD_VERSION: Final = 1
REDACTED: Final = "<redacted>"


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One recorded webhook request."""

    channel: str
    received_at: str
    request: WebhookRequest
    redacted_headers: tuple[str, ...] = ()
    """Headers whose value was a secret and is not in the recording."""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON line of this record."""
        return {
            "v": RECORD_VERSION,
            "channel": self.channel,
            "received_at": self.received_at,
            "method": self.request.method,
            "url": self.request.url,
            "headers": [list(pair) for pair in self.request.headers],
            "body_base64": base64.b64encode(self.request.body).decode("ascii"),
            "redacted_headers": list(self.redacted_headers),
        }

    @classmethod
    def from_dict(cls, data: Any, *, line: int = 0) -> RecordedRequest:
        """Read one line's object; ValueError says what is wrong with it."""
        if not isinstance(data, dict) or data.get("v") != RECORD_VERSION:
            raise ValueError(f"not a version {RECORD_VERSION} webhook record")
        try:
            headers = [(str(name), str(value)) for name, value in data["headers"]]
            request = WebhookRequest(
                method=str(data["method"]),
                url=str(data["url"]),
                headers=headers,
                body=base64.b64decode(data["body_base64"], validate=True),
            )
            return cls(
                channel=str(data["channel"]),
                received_at=str(data.get("received_at", "")),
                request=request,
                redacted_headers=tuple(str(name) for name in data.get("redacted_headers", [])),
                line=line,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a webhook record ({type(exc).__name__}: {exc})") from None


class Recorder:
    """Appends accepted requests to a recording file, one JSON line each, flushed at once."""

    def __init__(self, path: Path, *, secrets_of: Callable[[str], Iterable[str]]) -> None:
        try:
            self._file: IO[str] = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"--record: cannot write {path}: {exc.strerror or exc}"
            ) from None
        self.path = path
        self._secrets_of = secrets_of

    def write(self, channel: str, request: WebhookRequest) -> None:
        """Record ``request`` (received on ``channel``) now."""
        hidden = {value for value in self._secrets_of(channel) if value}
        headers: list[tuple[str, str]] = []
        redacted: list[str] = []
        for name, value in request.headers:
            if value in hidden or any(secret in value for secret in hidden):
                headers.append((name, REDACTED))
                redacted.append(name)
            else:
                headers.append((name, value))
        record = RecordedRequest(
            channel=channel,
            received_at=datetime.now(UTC).isoformat(),
            request=attrs.evolve(request, headers=headers),
            redacted_headers=tuple(redacted),
        )
        self._file.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_records(path: Path) -> Iterator[RecordedRequest]:
    """The records of a recording file, in order; a line that is not one is a
    :class:`ConfigurationError` naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the recording {path}: {exc}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield RecordedRequest.from_dict(json.loads(raw), line=number)
        except ValueError as exc:
            raise ConfigurationError(f"{path} line {number}: {exc}") from None
