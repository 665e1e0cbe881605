"""What a message says: :class:`Content` and its parts (media, templates, interactive menus).

Content is provider-neutral and may ask for more than a channel carries: the router fits it
to each channel (:mod:`omnichannel.fitting`) and says what it changed. Every value here is a
frozen attrs class that serialises to JSON and back (``to_dict``/``from_dict``); readers ignore
keys they do not know.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final, Self

import attrs

from omnichannel.errors import InvalidEnvelope
from omnichannel.mappings import FrozenMap

__all__ = [
    "Choice",
    "ChoiceSection",
    "Content",
    "Interactive",
    "Media",
    "Template",
    "TemplateButton",
    "TemplateButtonKind",
    "TemplateHeader",
    "TextFormat",
]


class TextFormat(enum.StrEnum):
    """The markup of :attr:`Content.text`."""

    PLAIN = "plain"
    MARKDOWN = "markdown"
    HTML = "html"


def _non_empty(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or not value.strip():
        raise InvalidEnvelope(f"{attribute.name} must not be empty")


def _to_frozen_map(value: Mapping[str, Any] | None) -> FrozenMap:
    return value if isinstance(value, FrozenMap) else FrozenMap(value or {})


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return value if type(value) is tuple else tuple(value)


def _optional_bytes(value: bytes | bytearray | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


# --- Media ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Media:
    """One attachment: by ``url`` (the provider fetches it) or as ``data`` bytes (uploaded, or
    attached to an email).

    Exactly one of ``url`` and ``data`` is given. ``size`` defaults to the length of
    ``data``; ``content_id`` names an inline part that HTML refers to as ``cid:<content_id>``.
    Inbound attachments arrive as bytes (or as a URL the provider serves them at). The repr
    never shows the bytes.
    """

    url: str | None = None
    data: bytes | None = attrs.field(default=None, converter=_optional_bytes, repr=False)
    content_type: str | None = None
    filename: str | None = None
    size: int | None = None
    """In bytes, when known; used to check the channel's media limits."""
    caption: str | None = None
    content_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidEnvelope("a media item needs exactly one of url and data")
        if self.url is not None and not self.url.strip():
            raise InvalidEnvelope("media url must not be empty")
        if self.data is not None and self.size is None:
            object.__setattr__(self, "size", len(self.data))
        if self.content_id is not None and not self.content_id.strip("<> "):
            raise InvalidEnvelope("media content_id must not be empty")

    @property
    def is_bytes(self) -> bool:
        """Whether the item carries its bytes (rather than a URL)."""
        return self.data is not None

    @property
    def label(self) -> str:
        """How people refer to the item: its filename, else its URL, else its type."""
        return self.filename or self.url or self.content_type or "attachment"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as base64 under ``data_base64``)."""
        return {
            "url": self.url,
            "data_base64": base64.b64encode(self.data).decode("ascii") if self.data else None,
            "content_type": self.content_type,
            "filename": self.filename,
            "size": self.size,
            "caption": self.caption,
            "content_id": self.content_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        encoded = data.get("data_base64")
        try:
            raw = base64.b64decode(encoded, validate=True) if encoded else None
        except (binascii.Error, ValueError):
            raise InvalidEnvelope("media data_base64 is not valid base64") from None
        return cls(
            url=data.get("url"),
            data=raw,
            content_type=data.get("content_type"),
            filename=data.get("filename"),
            size=data.get("size"),
            caption=data.get("caption"),
            content_id=data.get("content_id"),
        )


# --- Templates ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TemplateHeader:
    """A template's header: text, or one media item (an image, a document)."""

    text: str | None = None
    media: Media | None = None

    def __attrs_post_init__(self) -> None:
        if (self.text is None) == (self.media is None):
            raise InvalidEnvelope("a template header is either text or media")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"text": self.text, "media": self.media.to_dict() if self.media else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`."""
        media = data.get("media")
        return cls(text=data.get("text"), media=Media.from_dict(media) if media else None)


class TemplateButtonKind(enum.StrEnum):
    """What a template button's parameter fills in."""

    QUICK_REPLY = "quick_reply"
    """The payload that comes back when the customer taps the button."""
    URL = "url"
    """The variable suffix of the button's URL."""


@attrs.frozen(kw_only=True)
class TemplateButton:
    """The parameter of one of a template's buttons, by the button's position."""

    index: int
    kind: TemplateButtonKind = attrs.field(converter=TemplateButtonKind)
    value: str = attrs.field(validator=_non_empty)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"index": self.index, "kind": self.kind.value, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`."""
        return cls(index=int(data["index"]), kind=data["kind"], value=data["value"])


@attrs.frozen(kw_only=True)
class Template:
    """A provider-approved message template (what windowed channels require outside the
    window), with the values of its components.

    Body parameters are positional (``parameters``) or named (``named_parameters``), as the
    template was registered; ``header`` fills a text or media header; ``buttons`` fill the
    quick-reply payloads and URL suffixes. The channel's template rules
    (``Capabilities.templates``) say which of these it can carry.
    """

    name: str = attrs.field(validator=_non_empty)
    language: str | None = None
    parameters: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    named_parameters: FrozenMap = attrs.field(factory=FrozenMap, converter=_to_frozen_map)
    header: TemplateHeader | None = None
    buttons: tuple[TemplateButton, ...] = attrs.field(default=(), converter=_tuple)

    def __attrs_post_init__(self) -> None:
        if self.parameters and self.named_parameters:
            raise InvalidEnvelope(
                f"template {self.name!r}: give positional parameters or named_parameters, not both"
            )
        indexes = [button.index for button in self.buttons]
        if len(set(indexes)) != len(indexes):
            raise InvalidEnvelope(f"template {self.name!r}: two buttons share an index")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "language": self.language,
            "parameters": list(self.parameters),
            "named_parameters": self.named_parameters.thaw(),
            "header": self.header.to_dict() if self.header else None,
            "buttons": [button.to_dict() for button in self.buttons],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        header = data.get("header")
        return cls(
            name=data["name"],
            language=data.get("language"),
            parameters=[str(item) for item in data.get("parameters") or ()],
            named_parameters=data.get("named_parameters") or {},
            header=TemplateHeader.from_dict(header) if header else None,
            buttons=[TemplateButton.from_dict(item) for item in data.get("buttons") or ()],
        )


# --- Interactive menus ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Choice:
    """One option of a menu: a reply button, or a row of a list. ``id`` comes back as the
    inbound message's :attr:`Content.choice` when the customer picks it."""

    id: str = attrs.field(validator=_non_empty)
    title: str = attrs.field(validator=_non_empty)
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"id": self.id, "title": self.title, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`."""
        return cls(id=data["id"], title=data["title"], description=data.get("description"))


@attrs.frozen(kw_only=True)
class ChoiceSection:
    """A titled group of a list's rows."""

    rows: tuple[Choice, ...] = attrs.field(converter=_tuple)
    title: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.rows:
            raise InvalidEnvelope("a list section needs at least one row")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"title": self.title, "rows": [row.to_dict() for row in self.rows]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`."""
        return cls(
            title=data.get("title"), rows=[Choice.from_dict(row) for row in data.get("rows", ())]
        )


@attrs.frozen(kw_only=True)
class Interactive:
    """A menu the customer answers by picking: reply ``buttons``, or a list of ``sections``.

    The body is the content's text; ``header`` and ``footer`` frame it; ``button_label`` is
    the label of the button that opens a list. Channels that render menus natively get them
    as they are; others get numbered text ("Reply 1 for ..., 2 for ...") and a numbered reply
    maps back to the option's id.
    """

    buttons: tuple[Choice, ...] = attrs.field(default=(), converter=_tuple)
    sections: tuple[ChoiceSection, ...] = attrs.field(default=(), converter=_tuple)
    button_label: str | None = None
    header: str | None = None
    footer: str | None = None

    def __attrs_post_init__(self) -> None:
        if bool(self.buttons) == bool(self.sections):
            raise InvalidEnvelope("an interactive part has either buttons or list sections")
        ids = [choice.id for choice in self.choices]
        if len(set(ids)) != len(ids):
            raise InvalidEnvelope("the options of an interactive part need distinct ids")

    @property
    def is_list(self) -> bool:
        """Whether this is a list (sections of rows) rather than reply buttons."""
        return bool(self.sections)

    @property
    def choices(self) -> tuple[Choice, ...]:
        """Every option, in the order the customer sees them."""
        if self.buttons:
            return self.buttons
        return tuple(row for section in self.sections for row in section.rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "buttons": [button.to_dict() for button in self.buttons],
            "sections": [section.to_dict() for section in self.sections],
            "button_label": self.button_label,
            "header": self.header,
            "footer": self.footer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`."""
        return cls(
            buttons=[Choice.from_dict(item) for item in data.get("buttons") or ()],
            sections=[ChoiceSection.from_dict(item) for item in data.get("sections") or ()],
            button_label=data.get("button_label"),
            header=data.get("header"),
            footer=data.get("footer"),
        )


# --- Content --------------------------------------------------------------------------------

_EMPTY: Final = "content is empty: give text, media, a template or an interactive part"


def _as_format(value: TextFormat | str) -> TextFormat:
    # Content is built for every message: the common case costs no enum lookup.
    return value if type(value) is TextFormat else TextFormat(value)


@attrs.frozen(kw_only=True)
class Content:
    """What a message says: text in a format, an optional subject, media, a template, an
    interactive menu; and for inbound answers to a menu, the option picked (``choice``)."""

    text: str = ""
    format: TextFormat = attrs.field(default=TextFormat.PLAIN, converter=_as_format)
    subject: str | None = None
    plain_alternative: str | None = None
    """A plain-text rendering of ``text`` when ``format`` is markdown or HTML."""
    media: tuple[Media, ...] = attrs.field(default=(), converter=_tuple)
    template: Template | None = None
    interactive: Interactive | None = None
    choice: str | None = None
    """Inbound: the id of the button, list row or numbered option the customer picked."""
    fallback_text: str | None = None
    """What to show where a part cannot be rendered (a card on SMS, a template on email)."""

    def __attrs_post_init__(self) -> None:
        if not (self.text or self.media or self.template or self.interactive or self.choice):
            raise InvalidEnvelope(_EMPTY)

    @property
    def plain_text(self) -> str:
        """The best plain-text form of the text that the content itself provides."""
        if self.format is TextFormat.PLAIN:
            return self.text
        return self.plain_alternative if self.plain_alternative is not None else self.text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "text": self.text,
            "format": self.format._value_,
            "subject": self.subject,
            "plain_alternative": self.plain_alternative,
            "media": [item.to_dict() for item in self.media],
            "template": self.template.to_dict() if self.template else None,
            "interactive": self.interactive.to_dict() if self.interactive else None,
            "choice": self.choice,
            "fallback_text": self.fallback_text,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        template, interactive = data.get("template"), data.get("interactive")
        return cls(
            text=data.get("text", ""),
            format=data.get("format", "plain"),
            subject=data.get("subject"),
            plain_alternative=data.get("plain_alternative"),
            media=[Media.from_dict(item) for item in data.get("media") or ()],
            template=Template.from_dict(template) if template else None,
            interactive=Interactive.from_dict(interactive) if interactive else None,
            choice=data.get("choice"),
            fallback_text=data.get("fallback_text"),
        )
