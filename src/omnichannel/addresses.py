"""Addresses: somebody on a channel, and the canonical forms of phones, emails and handles.

A phone number is checked with libphonenumber (imported on the first parse) and kept in
E.164; a number a provider gave already in strict E.164 is taken as it is
(:meth:`AddressKind.normalize_provided`). Re-exported from :mod:`omnichannel.envelope` and
the package's top level.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import re
from collections.abc import Mapping
from typing import Any, Final, Self

import attrs

from omnichannel.errors import InvalidAddress, InvalidEnvelope
from omnichannel.mappings import BoundedDict

__all__ = ["Address", "AddressKind"]


_EMAIL_PATTERN = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


class AddressKind(enum.StrEnum):
    """What an address value is on a channel; a channel's capabilities declare it."""

    PHONE = "phone"
    """An E.164 phone number (``+14155550199``)."""
    EMAIL = "email"
    """An email address; the domain is lower-cased."""
    HANDLE = "handle"
    """A user name or handle, kept as given."""
    OPAQUE = "opaque"
    """A provider id (a chat id, a user id), kept as given."""

    def normalize(self, value: str, *, channel: str | None = None) -> str:
        """Return the canonical form of ``value``, or raise :class:`InvalidAddress`.

        Phone numbers must be in international form (``+`` and country code): a support
        application talks to customers in many countries, so no default region is guessed.
        """
        stripped = value.strip()
        if not stripped:
            raise InvalidAddress(value, self.value, "it is empty", channel=channel)
        if self is AddressKind.PHONE:
            return _normalize_phone(stripped, channel)
        if self is AddressKind.EMAIL:
            if not _EMAIL_PATTERN.match(stripped):
                raise InvalidAddress(value, "email", "expected local@domain", channel=channel)
            local, _, domain = stripped.rpartition("@")
            return f"{local}@{domain.lower()}"
        return stripped

    def normalize_provided(self, value: str, *, channel: str | None = None) -> str:
        """:meth:`normalize` for a value a provider gave (a webhook's sender, the number
        written to), with a fast exact path: a phone number already in strict E.164 (``+``, a
        country code without a leading zero, 7 to 15 digits in all, nothing else) is the
        canonical form the provider normalised it to, and is taken as it is, with no
        libphonenumber parse (about 50 us for each new number). Anything else goes through
        :meth:`normalize`, and may raise :class:`InvalidAddress`.

        For values from the provider only: what an application or a customer typed goes
        through :meth:`normalize`, which also checks the number can exist.
        """
        if self is AddressKind.PHONE and _STRICT_E164.fullmatch(value):
            return value
        return self.normalize(value, channel=channel)


_STRICT_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")


def _normalize_phone(value: str, channel: str | None) -> str:
    if value in _KNOWN_E164:
        return value
    try:
        normalized = _e164(value)
    except InvalidAddress as error:
        error.channel = channel
        raise
    _KNOWN_E164[normalized] = None
    return normalized


# What _e164 returned: a normalised number given again (the durable path checks a recipient
# before it writes the outbox, and the send checks it again) needs no second parse.
_KNOWN_E164: Final[BoundedDict[str, None]] = BoundedDict(8192)


# Parsing with libphonenumber costs ~50-130 us; support traffic repeats the same customers,
# and the cache is bounded. phonenumbers (and its metadata) is imported on the first parse, so
# commands and processes that never parse a number do not pay for it.
@functools.lru_cache(maxsize=8192)
def _e164(value: str) -> str:
    if not value.startswith("+"):
        raise InvalidAddress(value, "phone", "use international E.164 form, e.g. +14155550199")
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(value, "phone", str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidAddress(value, "phone", "not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def non_empty(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """The attrs validator of a required text field (an address's, an envelope's)."""
    if not value or not value.strip():
        raise InvalidEnvelope(f"{attribute.name} must not be empty")


@attrs.frozen(kw_only=True)
class Address:
    """Somebody on a channel: a phone number, an email address, a handle or an opaque id.

    Build addresses freely; the router normalises them with the channel's declared
    :class:`AddressKind` (E.164 for phones, lower-cased domain for email) before any network
    call, and rejects impossible ones with :class:`~omnichannel.InvalidAddress`.
    """

    channel: str = attrs.field(validator=non_empty)
    value: str = attrs.field(validator=non_empty)
    name: str | None = None
    """A display name, when the channel carries one."""

    def normalized(self, kind: AddressKind) -> Self:
        """This address with its value in canonical form for ``kind``."""
        value = kind.normalize(self.value, channel=self.channel)
        return self if value == self.value else attrs.evolve(self, value=value)

    @classmethod
    def from_provider(
        cls, channel: str, value: str, kind: AddressKind, *, name: str | None = None
    ) -> Self:
        """An address a provider gave in a webhook (a sender, the number written to), for
        the envelopes adapters build from it: in canonical form for ``kind`` by
        :meth:`AddressKind.normalize_provided` (E.164 as sent is taken without parsing), or
        kept exactly as sent when it is not a valid ``kind`` address (a short code, an
        alphanumeric sender id, a withheld caller id such as ``anonymous``)."""
        with contextlib.suppress(InvalidAddress):
            value = kind.normalize_provided(value, channel=channel)
        return cls(channel=channel, value=value, name=name)

    def on(self, channel: str) -> Self:
        """The same value on another channel (a phone on SMS, then on voice)."""
        return attrs.evolve(self, channel=channel)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"channel": self.channel, "value": self.value, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        return cls(channel=data["channel"], value=data["value"], name=data.get("name"))
