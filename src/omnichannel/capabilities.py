"""Capabilities: what a channel can carry and what it can report, declared as data.

Every adapter class declares one :class:`Capabilities` value. The router reads it to normalise
addresses, fit content and check session windows; ``omni channels --json`` prints it; and the
configuration is checked against it (a failover step waiting for ``read`` on a channel that
never reports ``read`` is a configuration error, not a message that waits forever).
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import attrs

from omnichannel.content import Interactive, Template, TextFormat
from omnichannel.envelope import Address, AddressKind, Visibility
from omnichannel.errors import InvalidAddress
from omnichannel.events import DeliveryStatus

__all__ = [
    "Capabilities",
    "InboundMode",
    "InteractiveRules",
    "MediaRules",
    "TemplateRules",
    "WeightedLength",
]


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
    links: bool = True
    """Items given by URL can be attached (the provider fetches them)."""
    uploads: bool = False
    """Items given as bytes can be attached (uploaded first, or carried inline as in email)."""

    def accepts(self, content_type: str | None) -> bool:
        """Whether an item of this MIME type may be attached (unknown types are accepted)."""
        if content_type is None:
            return True
        return any(fnmatch.fnmatch(content_type, pattern) for pattern in self.content_types)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "content_types": sorted(self.content_types),
            "max_items": self.max_items,
            "max_bytes": self.max_bytes,
            "links": self.links,
            "uploads": self.uploads,
        }


@attrs.frozen(kw_only=True)
class TemplateRules:
    """What the channel's templates can carry: header kinds, parameter styles, buttons."""

    header_text: bool = True
    header_media: bool = True
    positional_parameters: bool = True
    named_parameters: bool = True
    button_kinds: frozenset[str] = attrs.field(
        default=frozenset({"quick_reply", "url"}), converter=_strings
    )
    max_buttons: int = 10

    def problems_with(self, template: Template) -> list[str]:
        """What ``template`` asks for that this channel cannot carry; empty when it fits."""
        found: list[str] = []
        header = template.header
        if header is not None and header.text is not None and not self.header_text:
            found.append("a text header")
        if header is not None and header.media is not None and not self.header_media:
            found.append("a media header")
        if template.parameters and not self.positional_parameters:
            found.append("positional body parameters")
        if template.named_parameters and not self.named_parameters:
            found.append("named body parameters")
        kinds = sorted({button.kind.value for button in template.buttons} - self.button_kinds)
        found.extend(f"{kind} buttons" for kind in kinds)
        if len(template.buttons) > self.max_buttons:
            found.append(f"{len(template.buttons)} buttons (at most {self.max_buttons})")
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = attrs.asdict(self)
        data["button_kinds"] = sorted(self.button_kinds)
        return data


@attrs.frozen(kw_only=True)
class InteractiveRules:
    """Which menus the channel renders natively, and their limits (characters and counts).

    A menu over a limit is not cut: the fitter sends it as numbered text instead, and says so.
    """

    buttons: bool = True
    max_buttons: int = 3
    max_button_title: int = 20
    lists: bool = True
    max_rows: int = 10
    """Rows across every section of a list."""
    max_sections: int = 10
    max_row_title: int = 24
    max_row_description: int = 72
    max_section_title: int = 24
    max_button_label: int = 20
    max_header: int = 60
    max_footer: int = 60
    max_id: int = 200

    def problems_with(self, interactive: Interactive) -> list[str]:
        """Why ``interactive`` cannot be rendered natively; empty when it can."""
        found: list[str] = []
        if interactive.is_list:
            if not self.lists:
                return ["the channel has no lists"]
            rows = interactive.choices
            if len(rows) > self.max_rows:
                found.append(f"{len(rows)} rows (at most {self.max_rows})")
            if len(interactive.sections) > self.max_sections:
                found.append(f"{len(interactive.sections)} sections (at most {self.max_sections})")
            found += [
                f"section title {section.title!r} is over {self.max_section_title} characters"
                for section in interactive.sections
                if section.title and len(section.title) > self.max_section_title
            ]
            found += [
                f"row title {row.title!r} is over {self.max_row_title} characters"
                for row in rows
                if len(row.title) > self.max_row_title
            ]
            found += [
                f"the description of {row.id!r} is over {self.max_row_description} characters"
                for row in rows
                if row.description and len(row.description) > self.max_row_description
            ]
            label = interactive.button_label or ""
            if len(label) > self.max_button_label:
                found.append(f"button label is over {self.max_button_label} characters")
        else:
            if not self.buttons:
                return ["the channel has no reply buttons"]
            if len(interactive.buttons) > self.max_buttons:
                found.append(f"{len(interactive.buttons)} buttons (at most {self.max_buttons})")
            found += [
                f"button title {button.title!r} is over {self.max_button_title} characters"
                for button in interactive.buttons
                if len(button.title) > self.max_button_title
            ]
        found += [
            f"option id {choice.id[:20]!r} is over {self.max_id} characters"
            for choice in interactive.choices
            if len(choice.id) > self.max_id
        ]
        if interactive.header and len(interactive.header) > self.max_header:
            found.append(f"header is over {self.max_header} characters")
        if interactive.footer and len(interactive.footer) > self.max_footer:
            found.append(f"footer is over {self.max_footer} characters")
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


def _ranges(values: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(low), int(high)) for low, high in values)


@attrs.frozen(kw_only=True)
class WeightedLength:
    """A length counted in weighted characters, as some public channels count posts.

    Code points inside ``light_ranges`` weigh 1, every other code point ``default_weight``;
    each URL (``http://``/``https://`` up to the next space) counts ``url_weight`` whatever
    its length; an emoji sequence (joined by ZWJ, with variation selectors and skin tones)
    counts ``emoji_weight`` once.
    """

    default_weight: int = 2
    light_ranges: tuple[tuple[int, int], ...] = attrs.field(
        default=((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037)),
        converter=_ranges,
    )
    url_weight: int = 23
    emoji_weight: int = 2

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "default_weight": self.default_weight,
            "light_ranges": [list(pair) for pair in self.light_ranges],
            "url_weight": self.url_weight,
            "emoji_weight": self.emoji_weight,
        }


def _template_rules(value: TemplateRules | bool | None) -> TemplateRules | None:
    if isinstance(value, TemplateRules) or value is None:
        return value
    return TemplateRules() if value else None


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a channel can carry and report. Every field has a conservative default."""

    address_kind: AddressKind = attrs.field(converter=AddressKind)
    """What an address is on this channel; recipients are normalised to it before sending."""
    scoped_ids: str | None = None
    """A regular expression of provider-scoped user ids the channel also takes as recipients,
    kept as given (a user known by an id instead of a phone number). Such an id belongs to
    this channel: it never moves to another one."""
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
    weighted_length: WeightedLength | None = None
    """Text is measured in weighted characters (``max_text_length`` counts them)."""
    templates: TemplateRules | None = attrs.field(default=None, converter=_template_rules)
    """The template components the channel carries; None when it has no templates
    (``True`` is shorthand for every component)."""
    interactive: InteractiveRules | None = None
    """The menus rendered natively; None sends every menu as numbered text."""
    session_window: timedelta | None = None
    """Free-form messages are allowed only this long after the customer's last message."""
    threading: bool = False
    reply_chain: bool = False
    """Parts of a split text are posted as a chain, each answering the one before."""
    public_posting: bool = False
    """The channel can post PUBLIC messages (a public reply)."""
    public: Capabilities | None = None
    """The shape of PUBLIC messages when it differs from the private one (a public post's
    length and media), used by the router and the fitter for PUBLIC envelopes."""
    url_note: str | None = None
    """A sentence the fitting report carries when the text holds a URL (a price surcharge)."""
    reconcile: bool = False
    """The adapter can look a message up after an ambiguous send (``reconcile()``)."""
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

    def recipient(self, address: Address) -> Address:
        """``address`` in this channel's canonical form, or :class:`InvalidAddress`: the
        declared address kind, else a provider-scoped id matching :attr:`scoped_ids`."""
        try:
            return address.normalized(self.address_kind)
        except InvalidAddress:
            if self.is_scoped_id(address.value):
                return address
            raise

    def is_scoped_id(self, value: str) -> bool:
        """Whether ``value`` is one of the channel's provider-scoped user ids."""
        return self.scoped_ids is not None and re.fullmatch(self.scoped_ids, value) is not None

    def for_visibility(self, visibility: Visibility) -> Capabilities:
        """The shape that carries an envelope of ``visibility``: the public one for PUBLIC
        envelopes when the channel declares it, else this one."""
        if visibility is Visibility.PUBLIC and self.public is not None:
            return self.public
        return self

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
        if self.scoped_ids is not None:
            try:
                re.compile(self.scoped_ids)
            except re.error as exc:
                found.append(f"scoped_ids is not a regular expression: {exc}")
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
        if self.reply_chain and not self.split_long_text:
            found.append("reply_chain needs split_long_text")
        if self.sms_segments and self.weighted_length is not None:
            found.append("text is measured in SMS segments or in weighted characters, not both")
        if self.public is not None:
            if not self.public_posting:
                found.append("a public shape needs public_posting=True")
            if self.public.public is not None:
                found.append("the public shape cannot have a public shape of its own")
            found.extend(f"public shape: {problem}" for problem in self.public.problems())
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, as ``omni channels --json`` prints it."""
        return {
            "address_kind": self.address_kind.value,
            "scoped_ids": self.scoped_ids,
            "max_text_length": self.max_text_length,
            "sms_segments": self.sms_segments,
            "split_long_text": self.split_long_text,
            "formats": sorted(fmt.value for fmt in self.formats),
            "subject": self.subject,
            "weighted_length": self.weighted_length.to_dict() if self.weighted_length else None,
            "media": self.media.to_dict() if self.media else None,
            "templates": self.templates.to_dict() if self.templates else None,
            "interactive": self.interactive.to_dict() if self.interactive else None,
            "session_window_seconds": (
                int(self.session_window.total_seconds()) if self.session_window else None
            ),
            "threading": self.threading,
            "reply_chain": self.reply_chain,
            "public_posting": self.public_posting,
            "public": self.public.to_dict() if self.public else None,
            "url_note": self.url_note,
            "reconcile": self.reconcile,
            "calls": self.calls,
            "statuses": sorted(status.value for status in self.statuses),
            "inbound": sorted(mode.value for mode in self.inbound),
            "webhook_body_limit": self.webhook_body_limit,
        }
