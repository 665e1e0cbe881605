"""Capabilities: what a channel can carry and what it can report, declared as data.

Every adapter class declares one :class:`Capabilities` value. The router reads it to normalise
addresses, fit content and check session windows; ``omni channels --json`` prints it; and the
configuration is checked against it (a failover step waiting for ``read`` on a channel that
never reports ``read`` is a configuration error, not a message that waits forever).
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import attrs

from omnichannel.envelope import AddressKind, TextFormat
from omnichannel.events import DeliveryStatus

__all__ = ["Capabilities", "InboundMode", "MediaRules"]


class InboundMode(enum.StrEnum):
    """How inbound messages reach us: the provider calls a webhook, or we poll."""

    WEBHOOK = "webhook"
    POLL = "poll"


def _strings(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _formats(values: Iterable[str]) -> frozenset[TextFormat]:
    return frozenset(TextFormat(value) for value in values)


def _statuses(values: Iterable[str]) -> frozenset[DeliveryStatus]:
    return frozenset(DeliveryStatus(value) for value in values)


def _inbound_modes(values: Iterable[str]) -> frozenset[InboundMode]:
    return frozenset(InboundMode(value) for value in values)


@attrs.frozen(kw_only=True)
class MediaRules:
    """What attachments a channel accepts."""

    content_types: frozenset[str] = attrs.field(default=frozenset({"*/*"}), converter=_strings)
    """Accepted MIME types; ``image/*`` style patterns allowed."""
    max_items: int = 1
    max_bytes: int | None = None
    """The largest single item, when the channel has a limit."""

    def accepts(self, content_type: str | None) -> bool:
        """Whether an item of this MIME type may be attached (unknown types are accepted)."""
        if content_type is None:
            return True
        return any(fnmatch.fnmatch(content_type, pattern) for pattern in self.content_types)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a channel can carry and report. Every field has a conservative default."""

    address_kind: AddressKind = attrs.field(converter=AddressKind)
    """What an address is on this channel; recipients are normalised to it before sending."""
    max_text_length: int | None = None
    """The longest text one provider message carries, in characters; None for no limit."""
    sms_segments: bool = False
    """Text is billed and split in GSM-7/UCS-2 segments; the fitting report counts them."""
    split_long_text: bool = False
    """Text over ``max_text_length`` may be split into numbered parts sent one after another."""
    formats: frozenset[TextFormat] = attrs.field(
        default=frozenset({TextFormat.PLAIN}), converter=_formats
    )
    subject: bool = False
    media: MediaRules | None = None
    """None when the channel carries no attachments (they are then sent as links)."""
    templates: bool = False
    session_window: timedelta | None = None
    """Free-form messages are allowed only this long after the customer's last message."""
    threading: bool = False
    public_posting: bool = False
    """The channel can post PUBLIC messages (a public reply)."""
    calls: bool = False
    """The channel places calls rather than delivering messages."""
    statuses: frozenset[DeliveryStatus] = attrs.field(
        default=frozenset({DeliveryStatus.ACCEPTED, DeliveryStatus.FAILED}),
        converter=_statuses,
    )
    """Every status the channel can ever report; any other is "not observable"."""
    inbound: frozenset[InboundMode] = attrs.field(
        default=frozenset({InboundMode.WEBHOOK}), converter=_inbound_modes
    )
    webhook_body_limit: int = 65_536
    """The largest webhook body, in bytes, the webhook app reads for this channel; a bigger
    one is refused with 413 before it is read, so unsigned junk stays cheap to turn away."""

    def reports(self, status: DeliveryStatus) -> bool:
        """Whether this channel can ever report ``status``."""
        return status in self.statuses

    def problems(self) -> list[str]:
        """Contradictions inside this declaration; empty when it is self-consistent."""
        found: list[str] = []
        if self.max_text_length is not None and self.max_text_length <= 0:
            found.append("max_text_length must be positive or None")
        if self.split_long_text and self.max_text_length is None:
            found.append("split_long_text needs a max_text_length")
        if self.sms_segments and self.max_text_length is None:
            found.append("sms_segments needs a max_text_length")
        if TextFormat.PLAIN not in self.formats:
            found.append("every channel must accept plain text (the fitter's last resort)")
        if self.media is not None and self.media.max_items < 1:
            found.append("media.max_items must be at least 1 (or set media=None)")
        if self.session_window is not None and self.session_window <= timedelta(0):
            found.append("session_window must be positive")
        if not self.statuses:
            found.append("statuses must name at least one status the channel reports")
        if not self.inbound:
            found.append("inbound must name at least one inbound mode")
        if self.webhook_body_limit <= 0:
            found.append("webhook_body_limit must be a positive number of bytes")
        call_statuses = {
            DeliveryStatus.INITIATED,
            DeliveryStatus.RINGING,
            DeliveryStatus.ANSWERED,
            DeliveryStatus.COMPLETED,
        }
        if self.calls and not self.statuses & call_statuses:
            found.append("a calling channel must report call statuses")
        if not self.calls and self.statuses & call_statuses:
            found.append("call statuses declared on a channel with calls=False")
        if DeliveryStatus.READ in self.statuses and DeliveryStatus.DELIVERED not in self.statuses:
            found.append("a channel that reports read must also report delivered")
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, as ``omni channels --json`` prints it."""
        return {
            "address_kind": self.address_kind.value,
            "max_text_length": self.max_text_length,
            "sms_segments": self.sms_segments,
            "split_long_text": self.split_long_text,
            "formats": sorted(fmt.value for fmt in self.formats),
            "subject": self.subject,
            "media": (
                {
                    "content_types": sorted(self.media.content_types),
                    "max_items": self.media.max_items,
                    "max_bytes": self.media.max_bytes,
                }
                if self.media
                else None
            ),
            "templates": self.templates,
            "session_window_seconds": (
                int(self.session_window.total_seconds()) if self.session_window else None
            ),
            "threading": self.threading,
            "public_posting": self.public_posting,
            "calls": self.calls,
            "statuses": sorted(status.value for status in self.statuses),
            "inbound": sorted(mode.value for mode in self.inbound),
            "webhook_body_limit": self.webhook_body_limit,
        }
