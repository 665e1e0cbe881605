"""Content fitting: make content fit what a channel can carry, and report what changed.

The router applies :func:`fit` before every send. It never degrades content silently: every
change adds a sentence to the :class:`FittingReport`, which travels on the
:class:`~omnichannel.SendReceipt`. The building blocks are pure functions usable on their own:
:func:`segment_info` (SMS encoding and segments) and :func:`split_text` (numbered parts split
at word boundaries); markup conversion lives in :mod:`omnichannel.markup`.
"""

from __future__ import annotations

import enum
import html
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs

from omnichannel.capabilities import Capabilities, MediaRules
from omnichannel.envelope import Content, Media, TextFormat
from omnichannel.errors import ContentTooLong, UnsupportedFeature
from omnichannel.markup import html_to_plain, markdown_to_plain

__all__ = [
    "FittedContent",
    "FittingPolicy",
    "FittingReport",
    "MediaPolicy",
    "SegmentInfo",
    "fit",
    "segment_info",
    "split_text",
]


class MediaPolicy(enum.StrEnum):
    """What to do with media a channel cannot carry."""

    LINK = "link"
    """Append each item's URL to the text."""
    REJECT = "reject"
    """Raise :class:`~omnichannel.UnsupportedFeature`."""


@attrs.frozen(kw_only=True)
class FittingPolicy:
    """The choices fitting may make on the sender's behalf."""

    media: MediaPolicy = MediaPolicy.LINK
    split: bool = True
    """Split long text into numbered parts where the channel allows it."""


@attrs.frozen(kw_only=True)
class FittingReport:
    """What fitting changed, so nothing is degraded silently."""

    parts: int = 1
    encoding: str | None = None
    """``GSM-7`` or ``UCS-2`` on segmented (SMS) channels; ``UCS-2`` if any part needs it."""
    segments: int | None = None
    """Billable segments across all parts, on segmented channels."""
    media_as_links: int = 0
    markup_dropped: bool = False
    subject_dropped: bool = False
    template_used: str | None = None
    notes: tuple[str, ...] = ()
    """One sentence per change, for people."""

    @property
    def changed(self) -> bool:
        """Whether the content sent differs from the content given."""
        return bool(self.notes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = attrs.asdict(self)
        data["notes"] = list(self.notes)
        return data


@attrs.frozen(kw_only=True)
class FittedContent:
    """The content to send, one element per provider message, and the report."""

    parts: tuple[Content, ...]
    report: FittingReport


# --- SMS segments -----------------------------------------------------------------------------

# GSM 03.38 default alphabet (one septet each; 0x1B is the escape, not a character) and its
# extension table (escape plus one septet, so two each). Greek capitals spelled as escapes.
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039eÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
_SINGLE_LIMIT: Final = {"GSM-7": 160, "UCS-2": 70}
_CONCATENATED_LIMIT: Final = {"GSM-7": 153, "UCS-2": 67}


@attrs.frozen(kw_only=True)
class SegmentInfo:
    """How an SMS text is encoded and how many segments it travels (and is billed) as."""

    encoding: str
    """``GSM-7``, or ``UCS-2`` when any character is outside the GSM 03.38 tables."""
    units: int
    """Septets for GSM-7 (extension characters count two); UTF-16 code units for UCS-2."""
    segments: int


_GSM_ANY: Final = _GSM_BASIC | _GSM_EXTENSION


def _encoding_and_units(text: str) -> tuple[str, int]:
    # Set and str methods run in C: this is on every segmented send.
    if _GSM_ANY.issuperset(text):
        return "GSM-7", len(text) + sum(map(text.count, _GSM_EXTENSION))
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def _unit_costs(text: str) -> tuple[str, list[int]]:
    if _GSM_ANY.issuperset(text):
        return "GSM-7", [2 if char in _GSM_EXTENSION else 1 for char in text]
    return "UCS-2", [2 if ord(char) > 0xFFFF else 1 for char in text]


def _sms_units(text: str) -> int:
    return _encoding_and_units(text)[1]


def segment_info(text: str) -> SegmentInfo:
    """The encoding, length in units and segment count of ``text`` sent as one SMS.

    One message carries 160 GSM-7 septets or 70 UCS-2 units; a longer text is concatenated
    in segments of 153 or 67 (the rest is the concatenation header). A character is never
    split across segments (an extension character's escape pair, an emoji's surrogate pair),
    so a segment may carry one unit less. Empty text still travels as one message (a
    media-only message), so it counts one segment of zero units.
    """
    encoding, units = _encoding_and_units(text)
    if units <= _SINGLE_LIMIT[encoding]:
        return SegmentInfo(encoding=encoding, units=units, segments=1)
    size = _CONCATENATED_LIMIT[encoding]
    if units == len(text):  # every character costs one unit: plain arithmetic
        return SegmentInfo(encoding=encoding, units=units, segments=-(-units // size))
    _, costs = _unit_costs(text)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > size:
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding=encoding, units=units, segments=segments)


# --- Splitting --------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*\S+")


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (as ``measure`` counts), numbered ``(1/3) ``.

    The numbering counts inside the limit. Parts break between words and keep the whitespace
    inside them; only a word longer than a whole part is cut. Text that fits is returned whole
    and unnumbered. Raises :class:`ValueError` when ``limit`` leaves no room beside the
    numbering.
    """
    if measure(text) <= limit:
        return [text]
    if not text.strip():
        return [""]
    digits = 1
    while True:
        bodies = _fill(text, limit, f"({'9' * digits}/{'9' * digits}) ", measure)
        total = len(bodies)
        if len(str(total)) <= digits:
            return [f"({index}/{total}) {body}" for index, body in enumerate(bodies, 1)]
        digits += 1


def _fill(text: str, limit: int, prefix: str, measure: Callable[[str], int]) -> list[str]:
    # The prefix is the widest numbering of this digit count; real numbers are never wider.
    bodies: list[str] = []
    current = ""
    for token in _TOKEN.findall(text):
        candidate = current + token if current else token.lstrip()
        if measure(prefix + candidate) <= limit:
            current = candidate
            continue
        if current:
            bodies.append(current)
        word = token.lstrip()
        while measure(prefix + word) > limit:
            # Every character costs at least one unit (SMS units too): start at the most that
            # could fit and cut back.
            cut = min(len(word) - 1, limit - len(prefix))
            while cut > 0 and measure(prefix + word[:cut]) > limit:
                cut -= 1
            if cut <= 0:
                raise ValueError(f"a limit of {limit} leaves no room for text beside {prefix!r}")
            bodies.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        bodies.append(current)
    return bodies


# --- Fitting ----------------------------------------------------------------------------------


def _changed(report: FittingReport, note: str, **fields: Any) -> FittingReport:
    return attrs.evolve(report, notes=(*report.notes, note), **fields)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def fit(
    content: Content, capabilities: Capabilities, policy: FittingPolicy | None = None
) -> FittedContent:
    """Fit ``content`` to ``capabilities``: one :class:`Content` per provider message, and a report.

    In order: a template the channel cannot send gives way to ``fallback_text`` (or the text);
    markup the channel cannot render becomes plain text (``plain_alternative`` when given); a
    subject the channel has no place for is dropped; media it cannot attach become links in the
    text, or raise :class:`~omnichannel.UnsupportedFeature` under :attr:`MediaPolicy.REJECT`
    (always, when a template is sent: it has no free text to carry them); text over
    ``max_text_length`` (SMS units on segmented channels) is split into numbered parts where the
    channel and ``policy`` allow it, or raises :class:`~omnichannel.ContentTooLong`. Only the
    first part keeps the subject and media. Every change adds a sentence to ``report.notes``;
    content that fits unchanged comes back as one part with no notes.
    """
    fitted = _fits_as_is(content, capabilities)
    if fitted is not None:
        return fitted
    policy = policy if policy is not None else FittingPolicy()
    content, report = _fit_template(content, capabilities.templates)
    if content.format not in capabilities.formats and content.format is not TextFormat.PLAIN:
        if content.plain_alternative is not None:
            text, how = content.plain_alternative, "its plain alternative was sent"
        else:
            to_plain = markdown_to_plain if content.format is TextFormat.MARKDOWN else html_to_plain
            text, how = to_plain(content.text), "the markup was removed"
        note = f"The channel does not render {content.format.value}, so {how}."
        report = _changed(report, note, markup_dropped=True)
        content = attrs.evolve(content, text=text, format=TextFormat.PLAIN, plain_alternative=None)
    if content.subject and not capabilities.subject:
        note = "The channel has no subject line, so the subject was dropped."
        report = _changed(report, note, subject_dropped=True)
        content = attrs.evolve(content, subject=None)
    content, report = _fit_media(content, capabilities.media, policy.media, report)
    parts, report = _fit_length(content, capabilities, policy, report)
    report = attrs.evolve(report, parts=len(parts))
    if capabilities.sms_segments:
        infos = [segment_info(part.text) for part in parts]
        encoding = "UCS-2" if any(info.encoding == "UCS-2" for info in infos) else "GSM-7"
        report = attrs.evolve(report, encoding=encoding, segments=sum(i.segments for i in infos))
    return FittedContent(parts=parts, report=report)


_UNCHANGED: Final = FittingReport()


def _fits_as_is(content: Content, capabilities: Capabilities) -> FittedContent | None:
    """The common case, decided cheaply (it runs on every send): plain text the channel takes
    as it is. None when anything may need fitting; :func:`fit` then does the full work."""
    if content.template is not None or content.media:
        return None
    if content.format is not TextFormat.PLAIN and content.format not in capabilities.formats:
        return None
    if content.subject and not capabilities.subject:
        return None
    limit = capabilities.max_text_length
    if not capabilities.sms_segments:
        if limit is not None and len(content.text) > limit:
            return None
        return FittedContent(parts=(content,), report=_UNCHANGED)
    info = segment_info(content.text)
    if limit is not None and info.units > limit:
        return None
    report = FittingReport(encoding=info.encoding, segments=info.segments)
    return FittedContent(parts=(content,), report=report)


def _fit_template(content: Content, templates: bool) -> tuple[Content, FittingReport]:
    template = content.template
    if template is None:
        return content, FittingReport()
    if templates:
        return content, FittingReport(template_used=template.name)
    if not (content.fallback_text or content.text):
        raise UnsupportedFeature(
            f"the channel cannot send templates and the content has neither fallback_text nor "
            f"text to send instead of template {template.name!r}; add fallback_text"
        )
    which = "fallback text" if content.fallback_text else "text"
    note = (
        f"The channel cannot send templates, so the {which} was sent instead of {template.name!r}."
    )
    if content.fallback_text:
        fallback = Content(text=content.fallback_text, media=content.media, subject=content.subject)
        return fallback, FittingReport(notes=(note,))
    return attrs.evolve(content, template=None), FittingReport(notes=(note,))


def _unfit_media(media: Sequence[Media], rules: MediaRules | None) -> dict[int, str]:
    unfit: dict[int, str] = {}
    attached = 0
    for index, item in enumerate(media):
        if rules is None:
            unfit[index] = "the channel carries no attachments"
        elif not rules.accepts(item.content_type):
            unfit[index] = f"type {item.content_type} is not accepted"
        elif rules.max_bytes is not None and item.size is not None and item.size > rules.max_bytes:
            unfit[index] = f"{item.size} bytes is over the limit of {rules.max_bytes}"
        elif attached >= rules.max_items:
            unfit[index] = f"the channel attaches at most {_count(rules.max_items, 'item')}"
        else:
            attached += 1
    return unfit


def _fit_media(
    content: Content, rules: MediaRules | None, policy: MediaPolicy, report: FittingReport
) -> tuple[Content, FittingReport]:
    unfit = _unfit_media(content.media, rules)
    if not unfit:
        return content, report
    reasons = "; ".join(
        f"{content.media[index].filename or f'item {index + 1}'}: {reason}"
        for index, reason in unfit.items()
    )
    if policy is MediaPolicy.REJECT or report.template_used:
        advice = "use MediaPolicy.LINK to send them as links, or send supported media"
        if report.template_used:
            advice = "a template message has no free text to carry them as links"
        raise UnsupportedFeature(
            f"{len(unfit)} of {_count(len(content.media), 'media item')} cannot be attached "
            f"on this channel ({reasons}); {advice}"
        )
    links = [content.media[index] for index in unfit]
    alternative = content.plain_alternative
    note = f"{_count(len(links), 'media item')} went as links in the text ({reasons})."
    return attrs.evolve(
        content,
        text=_append_links(content.text, links, content.format),
        plain_alternative=alternative and _append_links(alternative, links, TextFormat.PLAIN),
        media=tuple(item for index, item in enumerate(content.media) if index not in unfit),
    ), _changed(report, note, media_as_links=len(links))


def _append_links(text: str, links: Sequence[Media], format: TextFormat) -> str:
    if format is TextFormat.HTML:
        escape = html.escape
        lines = [f'<a href="{escape(m.url)}">{escape(m.caption or m.url)}</a>' for m in links]
        return "<br>".join([text, *lines] if text else lines)
    lines = [f"{item.caption}: {item.url}" if item.caption else item.url for item in links]
    return "\n".join([text, *lines] if text else lines)


def _fit_length(
    content: Content, capabilities: Capabilities, policy: FittingPolicy, report: FittingReport
) -> tuple[tuple[Content, ...], FittingReport]:
    limit = capabilities.max_text_length
    measure = _sms_units if capabilities.sms_segments else len
    if report.template_used or limit is None or measure(content.text) <= limit:
        return (content,), report
    size = f"{len(content.text)} characters"
    if capabilities.sms_segments:
        info = segment_info(content.text)
        size = f"{info.units} {info.encoding} units"
    if not (capabilities.split_long_text and policy.split):
        refusal = "the fitting policy" if capabilities.split_long_text else "the channel"
        raise ContentTooLong(
            f"the text is {size} but the channel carries at most {limit} in one message, and "
            f"{refusal} does not allow splitting; shorten the text"
        )
    try:
        texts = split_text(content.text, limit, measure=measure)
    except ValueError as exc:
        raise ContentTooLong(f"the text is {size} and cannot be split: {exc}") from None
    note = f"The text is {size}, over the limit of {limit}, so it was split in {len(texts)} parts."
    # Markup is split as text; a plain alternative no longer matches any one part.
    first = attrs.evolve(content, text=texts[0], plain_alternative=None)
    rest = (Content(text=text, format=content.format) for text in texts[1:])
    return (first, *rest), _changed(report, note)
