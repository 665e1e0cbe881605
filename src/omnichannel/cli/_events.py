"""How ``omni`` prints what providers send: inbound messages, status updates and refused
webhooks, each on one line for people or as one JSON object per line for machines.

What a customer or a provider sent is escaped (:func:`printable`), so it cannot forge a line
or drive the terminal.
"""

from __future__ import annotations

from typing import Final

from omnichannel.cli._output import style
from omnichannel.envelope import Envelope
from omnichannel.events import DeliveryStatus, StatusUpdate

__all__ = [
    "DEFAULT_TEXT_LIMIT",
    "printable",
    "render_message",
    "render_rejected",
    "render_status",
    "shorten",
    "status_word",
]

DEFAULT_TEXT_LIMIT: Final = 200
"""Characters of a message's text shown by ``omni listen`` unless ``--full``."""

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional controls
# (a right-to-left override can make a line read as something else).
_UNPRINTABLE = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPES = {
    code: _NAMED_ESCAPES.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _UNPRINTABLE
}


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so what a customer
    or provider sent cannot forge a line or drive the terminal."""
    return text.translate(_ESCAPES)


def shorten(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out (None: whole)."""
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters; --full shows them)"


def status_word(status: DeliveryStatus) -> str:
    """The status's value, green when it reached the recipient and red when it failed."""
    if status.is_failure:
        return style(status.value, fg="red")
    if status.reached(DeliveryStatus.DELIVERED) or status.reached(DeliveryStatus.ANSWERED):
        return style(status.value, fg="green")
    return status.value


def render_message(envelope: Envelope, *, limit: int | None = None) -> str:
    """The human form of an inbound message, on one line whatever the message holds."""
    sender = envelope.sender.value if envelope.sender else "?"
    flags = "".join(f" [{key}={value}]" for key, value in envelope.metadata.items())
    text = shorten(envelope.content.text or "", limit)
    return printable(f"message {envelope.channel} from {sender}: {text}{flags}")


def render_status(update: StatusUpdate) -> str:
    """The human form of a status update, on one line whatever the provider sent."""
    reason = f" ({update.reason.value}: {update.provider_code})" if update.reason else ""
    about = update.envelope_id or "unknown envelope"
    head = printable(f"status {update.channel} {update.provider_id} -> ")
    return f"{head}{status_word(update.status)}{printable(f'{reason} [{about}]')}"


def render_rejected(channel: str, status_code: int, reason: str) -> str:
    """The human form of a refused webhook request."""
    label = style(f"rejected {status_code}", fg="red")
    return f"{label} {printable(f'{channel} webhook: {reason}')}"
