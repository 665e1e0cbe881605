"""Content fitting: make content fit what a channel can carry, and report what changed.

The router applies :func:`fit` before every send, with the capability shape matching the
envelope's visibility. It never degrades content silently: every change adds a sentence to
the :class:`FittingReport`, which travels on the :class:`~omnichannel.SendReceipt`. Text
measures and splitting live in :mod:`omnichannel.lengths`, markup conversion in
:mod:`omnichannel.markup`.
"""

from __future__ import annotations

import enum
import functools
import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from omnichannel.capabilities import Capabilities, MediaRules
from omnichannel.content import Content, Interactive, Media, TextFormat
from omnichannel.errors import ContentTooLong, UnsupportedFeature
from omnichannel.lengths import contains_url, segment_info, sms_units, split_text, weighted_length

__all__ = [
    "FittedContent",
    "FittingPolicy",
    "FittingReport",
    "MediaPolicy",
    "fit",
    "numbered_menu",
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

    media: MediaPolicy = attrs.field(default=MediaPolicy.LINK, converter=MediaPolicy)
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
    interactive_as_text: bool = False
    """The menu went as numbered text; ``choices`` lists the option ids by number."""
    choices: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """One sentence per change (or cost to know about), for people."""

    @property
    def changed(self) -> bool:
        """Whether the content sent differs from the content given."""
        return bool(self.notes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        # Spelled out rather than attrs.asdict, which inspects the class on every call: a
        # report is serialised with every receipt the outbox keeps.
        return {
            "parts": self.parts,
            "encoding": self.encoding,
            "segments": self.segments,
            "media_as_links": self.media_as_links,
            "markup_dropped": self.markup_dropped,
            "subject_dropped": self.subject_dropped,
            "template_used": self.template_used,
            "interactive_as_text": self.interactive_as_text,
            "choices": list(self.choices),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittingReport:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        names = {field.name for field in attrs.fields(cls)}
        values = {key: value for key, value in data.items() if key in names}
        for key in ("notes", "choices"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


@attrs.frozen(kw_only=True)
class FittedContent:
    """The content to send, one element per provider message, and the report."""

    parts: tuple[Content, ...]
    report: FittingReport


def _changed(report: FittingReport, note: str, **fields: Any) -> FittingReport:
    return attrs.evolve(report, notes=(*report.notes, note), **fields)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _measure(capabilities: Capabilities) -> Callable[[str], int]:
    if capabilities.sms_segments:
        return sms_units
    rule = capabilities.weighted_length
    if rule is not None:
        return lambda text: weighted_length(text, rule)
    return len


def fit(
    content: Content, capabilities: Capabilities, policy: FittingPolicy | None = None
) -> FittedContent:
    """Fit ``content`` to ``capabilities``: one :class:`Content` per provider message, and a report.

    In order: a template the channel cannot send gives way to ``fallback_text`` (or the text),
    and one it can send is checked against its template rules; a menu the channel cannot
    render natively becomes numbered text; markup the channel cannot render becomes plain text
    (``plain_alternative`` when given); a subject the channel has no place for is dropped;
    media it cannot attach become links in the text, or raise
    :class:`~omnichannel.UnsupportedFeature` under :attr:`MediaPolicy.REJECT` (always for
    bytes, which have no link, and when a template is sent: it has no free text to carry
    them); text over ``max_text_length`` (SMS units on segmented channels, weighted characters
    where declared) is split into numbered parts where the channel and ``policy`` allow it, or
    raises :class:`~omnichannel.ContentTooLong`. Only the first part keeps the subject, media
    and menu. Every change adds a sentence to ``report.notes``; content that fits unchanged
    comes back as one part with no notes.
    """
    fitted = _fits_as_is(content, capabilities)
    if fitted is not None:
        return fitted
    policy = policy if policy is not None else FittingPolicy()
    content, report = _fit_template(content, capabilities)
    content, report = _fit_interactive(content, capabilities, report)
    if content.format not in capabilities.formats and content.format is not TextFormat.PLAIN:
        if content.plain_alternative is not None:
            text, how = content.plain_alternative, "its plain alternative was sent"
        else:
            # Imported on first use: the adapter contract imports this module for FittingReport,
            # and plugin discovery should not load an HTML parser.
            from omnichannel.markup import html_to_plain, markdown_to_plain

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
    if capabilities.url_note and any(contains_url(part.text) for part in parts):
        report = _changed(report, capabilities.url_note)
    return FittedContent(parts=parts, report=report)


_UNCHANGED: Final = FittingReport()


def _fits_as_is(content: Content, capabilities: Capabilities) -> FittedContent | None:
    """The common case, decided cheaply (it runs on every send): plain text the channel takes
    as it is. None when anything may need fitting; :func:`fit` then does the full work."""
    if content.template is not None or content.media or content.interactive is not None:
        return None
    if content.format is not TextFormat.PLAIN and content.format not in capabilities.formats:
        return None
    if content.subject and not capabilities.subject:
        return None
    if capabilities.url_note or capabilities.weighted_length is not None:
        return None
    limit = capabilities.max_text_length
    if not capabilities.sms_segments:
        if limit is not None and len(content.text) > limit:
            return None
        return FittedContent(parts=(content,), report=_UNCHANGED)
    info = segment_info(content.text)
    if limit is not None and info.units > limit:
        return None
    return FittedContent(parts=(content,), report=_segments_report(info.encoding, info.segments))


# Reports are values: the few an unchanged SMS can have are built once and shared.
@functools.lru_cache(maxsize=64)
def _segments_report(encoding: str, segments: int) -> FittingReport:
    return FittingReport(encoding=encoding, segments=segments)


# --- Templates and menus ----------------------------------------------------------------------


def _fit_template(content: Content, capabilities: Capabilities) -> tuple[Content, FittingReport]:
    template = content.template
    if template is None:
        return content, FittingReport()
    rules = capabilities.templates
    if rules is not None:
        problems = rules.problems_with(template)
        if problems:
            raise UnsupportedFeature(
                f"template {template.name!r} uses what this channel's templates cannot carry: "
                f"{', '.join(problems)}"
            )
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
        fallback = Content(
            text=content.fallback_text,
            media=content.media,
            subject=content.subject,
            interactive=content.interactive,
        )
        return fallback, FittingReport(notes=(note,))
    return attrs.evolve(content, template=None), FittingReport(notes=(note,))


def numbered_menu(text: str, interactive: Interactive) -> str:
    """``text`` followed by ``interactive``'s options as numbered text.

    Buttons become one line ("Reply 1 for Now, 2 for Later."); a list becomes one numbered
    line per row, under its section titles, and "Reply with a number.". The header and footer
    frame it.
    """
    lines = [interactive.header] if interactive.header else []
    if text:
        lines.append(text)
    if interactive.is_list:
        number = 0
        rows: list[str] = []
        for section in interactive.sections:
            if section.title:
                rows.append(section.title)
            for row in section.rows:
                number += 1
                detail = f" ({row.description})" if row.description else ""
                rows.append(f"{number}. {row.title}{detail}")
        lines.append("\n".join([*rows, "Reply with a number."]))
    else:
        offers = [f"{n} for {button.title}" for n, button in enumerate(interactive.buttons, 1)]
        lines.append(f"Reply {', '.join(offers)}.")
    if interactive.footer:
        lines.append(interactive.footer)
    return "\n\n".join(lines)


def _fit_interactive(
    content: Content, capabilities: Capabilities, report: FittingReport
) -> tuple[Content, FittingReport]:
    interactive = content.interactive
    if interactive is None:
        return content, report
    rules = capabilities.interactive
    problems = (
        ["the channel renders no menus"] if rules is None else rules.problems_with(interactive)
    )
    if not problems:
        return content, report
    if report.template_used:
        raise UnsupportedFeature(
            "a template message cannot also carry a menu the channel cannot render "
            f"({'; '.join(problems)})"
        )
    kind = "list" if interactive.is_list else "buttons"
    note = f"The {kind} went as numbered text ({'; '.join(problems)})."
    text = numbered_menu(content.plain_text, interactive)
    content = attrs.evolve(
        content, text=text, format=TextFormat.PLAIN, plain_alternative=None, interactive=None
    )
    choices = tuple(choice.id for choice in interactive.choices)
    return content, _changed(report, note, interactive_as_text=True, choices=choices)


# --- Media ------------------------------------------------------------------------------------


def _unfit_media(media: Sequence[Media], rules: MediaRules | None) -> dict[int, str]:
    unfit: dict[int, str] = {}
    attached = 0
    for index, item in enumerate(media):
        if rules is None:
            unfit[index] = "the channel carries no attachments"
        elif item.is_bytes and not rules.uploads:
            unfit[index] = "the channel attaches media by URL only"
        elif not item.is_bytes and not rules.links:
            unfit[index] = "the channel attaches uploaded bytes only"
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
    linkless = [content.media[index] for index in unfit if content.media[index].url is None]
    if policy is MediaPolicy.REJECT or report.template_used or linkless:
        advice = "use MediaPolicy.LINK to send them as links, or send supported media"
        if report.template_used:
            advice = "a template message has no free text to carry them as links"
        elif linkless:
            advice = "media given as bytes have no link to send instead; host them and pass a URL"
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
        lines = [
            f'<a href="{escape(m.url or "")}">{escape(m.caption or m.url or "")}</a>' for m in links
        ]
        return "<br>".join([text, *lines] if text else lines)
    lines = [f"{item.caption}: {item.url}" if item.caption else item.url or "" for item in links]
    return "\n".join([text, *lines] if text else lines)


# --- Length -----------------------------------------------------------------------------------


def _fit_length(
    content: Content, capabilities: Capabilities, policy: FittingPolicy, report: FittingReport
) -> tuple[tuple[Content, ...], FittingReport]:
    limit = capabilities.max_text_length
    measure = _measure(capabilities)
    if report.template_used or limit is None or measure(content.text) <= limit:
        return (content,), report
    size = f"{len(content.text)} characters"
    if capabilities.sms_segments:
        info = segment_info(content.text)
        size = f"{info.units} {info.encoding} units"
    elif capabilities.weighted_length is not None:
        size = f"{measure(content.text)} weighted characters"
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
    how = "into a reply chain of" if capabilities.reply_chain else "in"
    note = (
        f"The text is {size}, over the limit of {limit}, so it was split {how} {len(texts)} parts."
    )
    # Markup is split as text; a plain alternative no longer matches any one part.
    first = attrs.evolve(content, text=texts[0], plain_alternative=None)
    rest = (Content(text=text, format=content.format) for text in texts[1:])
    return (first, *rest), _changed(report, note)
