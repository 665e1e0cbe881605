"""The envelope: one message shape for every channel, inbound and outbound.

An :class:`Envelope` is a frozen value. Change it with :func:`attrs.evolve` or the helpers
here (:meth:`Envelope.reply`); serialise it with :meth:`Envelope.to_dict` and read it back with
:meth:`Envelope.from_dict`, losslessly, so envelopes can be logged, queued and replayed.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from omnichannel.addresses import Address, AddressKind, non_empty
from omnichannel.content import Content
from omnichannel.errors import InvalidEnvelope
from omnichannel.mappings import FrozenMap

__all__ = [
    "Address",
    "AddressKind",
    "Direction",
    "Envelope",
    "Sensitivity",
    "Visibility",
    "new_envelope_id",
]

SCHEMA_VERSION: Final = 1
METADATA_MAX_KEYS: Final = 64
METADATA_MAX_BYTES: Final = 4096


class Direction(enum.StrEnum):
    """Whether the customer sent the message (INBOUND) or we did (OUTBOUND)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Visibility(enum.StrEnum):
    """PRIVATE (a DM, an SMS, an email) or PUBLIC (a public reply anyone can read)."""

    PRIVATE = "private"
    PUBLIC = "public"


class Sensitivity(enum.StrEnum):
    """RESTRICTED content never goes out PUBLIC; the router enforces it before sending."""

    NORMAL = "normal"
    RESTRICTED = "restricted"


# Envelopes are built on every send and every inbound message, so their converters take the
# common case (a value already of the field's type, nothing given) without any work: the empty
# map is one shared immutable value.
_NO_MAP: Final = FrozenMap()


def _to_frozen_map(value: Mapping[str, Any] | None) -> FrozenMap:
    if isinstance(value, FrozenMap):
        return value
    return FrozenMap(value) if value else _NO_MAP


def _as_direction(value: Direction | str) -> Direction:
    return value if type(value) is Direction else Direction(value)


def _as_visibility(value: Visibility | str) -> Visibility:
    return value if type(value) is Visibility else Visibility(value)


def _as_sensitivity(value: Sensitivity | str) -> Sensitivity:
    return value if type(value) is Sensitivity else Sensitivity(value)


def _check_metadata(_instance: object, _attribute: object, value: FrozenMap) -> None:
    if not value:
        return
    if len(value) > METADATA_MAX_KEYS:
        raise InvalidEnvelope(f"metadata has {len(value)} keys; at most {METADATA_MAX_KEYS}")
    size = 0
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) or item is None:
            raise InvalidEnvelope(
                f"metadata[{key!r}] is a {type(item).__name__}; metadata values are flat "
                "str, int, float or bool (put structured data in provider_options)"
            )
        size += len(key) + len(str(item))
    if size > METADATA_MAX_BYTES:
        raise InvalidEnvelope(f"metadata is {size} characters; at most {METADATA_MAX_BYTES}")


_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# The id's 130 bits (2 leading zero bits, then 128) are written 10 bits at a time, two
# characters per lookup.
_CHARACTER_PAIRS: Final = tuple(first + second for first in _CROCKFORD for second in _CROCKFORD)
_PAIR_SHIFTS: Final = tuple(range(120, -1, -10))
_RANDOM_CHUNK: Final = 10 * 512


class _RandomBytes:
    """os.urandom read in chunks (one system call per 512 ids instead of one each), and thrown
    away in a forked child, whose ids must not repeat its parent's."""

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        if self._offset + count > len(self._buffer):
            self._buffer, self._offset = os.urandom(_RANDOM_CHUNK), 0
        start = self._offset
        self._offset = start + count
        return self._buffer[start : start + count]

    def forget(self) -> None:
        self._buffer, self._offset = b"", 0


_random = _RandomBytes()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_random.forget)


def new_envelope_id() -> str:
    """A new unique, time-sortable id: 48 bits of milliseconds and 80 random bits (ULID layout)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(_random.take(10), "big")
    return "".join([_CHARACTER_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _require_aware(
    _instance: object, attribute: attrs.Attribute[Any], value: datetime | None
) -> None:
    if value is not None and value.tzinfo is None:
        raise InvalidEnvelope(f"{attribute.name} must be timezone-aware (use datetime.now(UTC))")


def _in_utc(value: datetime | None) -> datetime | None:
    # Naive values are refused by the validator; aware ones are kept as the same instant in UTC.
    if value is None or value.tzinfo is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def _in_utc_required(value: datetime) -> datetime:
    converted = _in_utc(value)
    assert converted is not None
    return converted


class _Unset:
    """The type of :data:`_UNSET`: "not given", where None is a meaningful value."""


_UNSET = _Unset()


def _content_from(value: Content | str) -> Content:
    return Content(text=value) if isinstance(value, str) else value


def _datetime_or_none(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@attrs.frozen(kw_only=True)
class Envelope:
    """One message on one channel, in either direction.

    ``content`` accepts a plain string as a shorthand for ``Content(text=...)``. ``raw`` holds
    the provider's payload for inbound messages and takes no part in equality, hashing or repr.
    """

    channel: str = attrs.field(validator=non_empty)
    sender: Address | None = None
    """Who sent it; for outbound envelopes the router fills in the business address."""
    recipient: Address
    content: Content = attrs.field(converter=_content_from)
    direction: Direction = attrs.field(default=Direction.OUTBOUND, converter=_as_direction)
    id: str = attrs.field(factory=new_envelope_id, validator=non_empty)
    """Ours: unique and time-sortable; also the default idempotency key."""
    business_address: Address | None = None
    """Our side of the exchange: the number, account or mailbox the customer wrote to."""
    thread: str | None = None
    in_reply_to: str | None = None
    provider_id: str | None = None
    conversation_id: str | None = None
    visibility: Visibility = attrs.field(default=Visibility.PRIVATE, converter=_as_visibility)
    sensitivity: Sensitivity = attrs.field(default=Sensitivity.NORMAL, converter=_as_sensitivity)
    expires_at: datetime | None = attrs.field(
        default=None, converter=_in_utc, validator=_require_aware
    )
    send_at: datetime | None = attrs.field(
        default=None, converter=_in_utc, validator=_require_aware
    )
    """Do not send before this time (a callback booked for later)."""
    created_at: datetime = attrs.field(
        factory=_utc_now, converter=_in_utc_required, validator=_require_aware
    )
    metadata: FrozenMap = attrs.field(
        default=_NO_MAP, converter=_to_frozen_map, validator=_check_metadata
    )
    """Application data: flat values, size-capped, echoed back on status updates."""
    provider_options: FrozenMap = attrs.field(default=_NO_MAP, converter=_to_frozen_map)
    """Native options keyed by adapter name (``{"sms.example": {...}}``), ignored by others."""
    raw: object = attrs.field(default=None, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.recipient.channel != self.channel:
            raise InvalidEnvelope(
                f"recipient is on channel {self.recipient.channel!r} but the envelope is on "
                f"{self.channel!r}; use Address.on({self.channel!r})"
            )

    def options_for(self, adapter_name: str) -> Mapping[str, Any]:
        """The native options addressed to one adapter (empty when none)."""
        options = self.provider_options.get(adapter_name)
        return options if isinstance(options, Mapping) else FrozenMap()

    def reply(
        self,
        content: Content | str,
        *,
        channel: str | None = None,
        recipient: Address | None = None,
        thread: str | _Unset | None = _UNSET,
        visibility: Visibility | str | None = None,
        sensitivity: Sensitivity | str = Sensitivity.NORMAL,
        metadata: Mapping[str, Any] | None = None,
        provider_options: Mapping[str, Any] | None = None,
        expires_at: datetime | None = None,
        send_at: datetime | None = None,
    ) -> Envelope:
        """Build the answer to this (inbound) envelope.

        Same channel, addresses swapped, the business address kept, the thread carried over
        (unless ``thread`` is given) and ``in_reply_to`` set to this message's provider id;
        ``visibility`` defaults to this message's. ``channel`` moves the reply elsewhere
        (:meth:`moved_to`: the customer's address value moves, the channel-specific fields do
        not) unless a ``recipient`` is given.
        """
        customer = self.sender if self.direction is Direction.INBOUND else self.recipient
        if customer is None:
            raise InvalidEnvelope("cannot reply: the envelope has no sender")
        answer = Envelope(
            channel=self.channel,
            direction=Direction.OUTBOUND,
            sender=self.business_address,
            recipient=customer,
            business_address=self.business_address,
            content=content,
            thread=self.thread if isinstance(thread, _Unset) else thread,
            in_reply_to=self.provider_id,
            conversation_id=self.conversation_id,
            visibility=visibility or self.visibility,
            sensitivity=sensitivity,
            metadata=metadata or {},
            provider_options=provider_options or {},
            expires_at=expires_at,
            send_at=send_at,
        )
        target = channel or self.channel
        if target != self.channel:
            answer = answer.moved_to(target)
            if visibility is None:
                answer = attrs.evolve(answer, visibility=Visibility.PRIVATE)
        if recipient is not None:
            answer = attrs.evolve(answer, recipient=recipient)
        return answer

    def moved_to(self, channel: str) -> Envelope:
        """This envelope on another ``channel``: the recipient's value moves with it; the
        sender, business address, thread and ``in_reply_to`` belong to the old channel and are
        cleared, never carried over.

        The router checks that the value can exist on the new channel (a phone number cannot
        become an email address) before it sends a moved envelope.
        """
        if channel == self.channel:
            return self
        return attrs.evolve(
            self,
            channel=channel,
            recipient=self.recipient.on(channel),
            sender=None,
            business_address=None,
            thread=None,
            in_reply_to=None,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a ``"v"`` schema marker; ``raw`` is not included."""
        # ``_value_``: the member's text without ``.value``, a Python-level property on
        # Python 3.11; a durable send writes its envelope's dict (and its receipt's).
        return {
            "v": SCHEMA_VERSION,
            "id": self.id,
            "channel": self.channel,
            "direction": self.direction._value_,
            "sender": self.sender.to_dict() if self.sender else None,
            "recipient": self.recipient.to_dict(),
            "business_address": self.business_address.to_dict() if self.business_address else None,
            "content": self.content.to_dict(),
            "thread": self.thread,
            "in_reply_to": self.in_reply_to,
            "provider_id": self.provider_id,
            "conversation_id": self.conversation_id,
            "visibility": self.visibility._value_,
            "sensitivity": self.sensitivity._value_,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "created_at": self.created_at.isoformat(),
            "metadata": self.metadata.thaw(),
            "provider_options": self.provider_options.thaw(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Read the output of :meth:`to_dict`.

        Unknown fields are ignored, so a reader keeps working when a newer writer adds some;
        a schema version newer than this reader understands is refused.
        """
        version = data.get("v", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise InvalidEnvelope(
                f"envelope schema version {version!r} is newer than this reader "
                f"({SCHEMA_VERSION}); upgrade omnichannel"
            )
        try:
            sender, business = data.get("sender"), data.get("business_address")
            return cls(
                id=data["id"],
                channel=data["channel"],
                direction=data.get("direction", "outbound"),
                sender=Address.from_dict(sender) if sender else None,
                recipient=Address.from_dict(data["recipient"]),
                business_address=Address.from_dict(business) if business else None,
                content=Content.from_dict(data["content"]),
                thread=data.get("thread"),
                in_reply_to=data.get("in_reply_to"),
                provider_id=data.get("provider_id"),
                conversation_id=data.get("conversation_id"),
                visibility=data.get("visibility", "private"),
                sensitivity=data.get("sensitivity", "normal"),
                expires_at=_datetime_or_none(data.get("expires_at")),
                send_at=_datetime_or_none(data.get("send_at")),
                created_at=datetime.fromisoformat(data["created_at"]),
                metadata=data.get("metadata") or {},
                provider_options=data.get("provider_options") or {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidEnvelope):
                raise
            raise InvalidEnvelope(f"not a serialised envelope: {exc!r}") from None
