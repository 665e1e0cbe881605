"""MIME both ways, with the standard library's :mod:`email` package: the message an envelope
becomes, and what an inbound message says (text, html, quoted history, attachments, whether
it is an auto-reply, and for a bounce which message did not arrive).

Pure functions: bytes or values in, values out, so they test as tables over the fixtures in
``tests/payloads/``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING, Final

import attrs

from omnichannel import Content, Media, TextFormat, UnsupportedFeature
from omnichannel.plugin import html_to_plain, markdown_to_plain

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = [
    "AUTO_REPLY_HEADERS",
    "Bounce",
    "InboundMail",
    "auto_reply_reason",
    "build_message",
    "mail_from_fields",
    "message_ids",
    "parse_message",
    "render_markdown",
    "reply_subject",
    "split_quoted",
]


@functools.cache
def _markdown() -> MarkdownIt:
    """The renderer, built on first use (markdown-it loads in ~20 ms: not at plugin discovery).
    Raw HTML in markdown is not passed through: text that reached a reply from a customer
    must not become markup in the mail we send."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv)\s*:\s*", re.IGNORECASE)


def message_ids(value: str | None) -> tuple[str, ...]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References header, in order."""
    return tuple(_MESSAGE_ID.findall(value or ""))


def reply_subject(subject: str | None) -> str:
    """``subject`` with exactly one ``Re: `` in front (RFC 5322 3.6.5)."""
    rest = subject or ""
    while (stripped := _REPLY_PREFIX.sub("", rest, count=1)) != rest:
        rest = stripped
    return f"Re: {rest}".rstrip()


def render_markdown(text: str) -> str:
    """Markdown (CommonMark with tables) as HTML."""
    return str(_markdown().render(text))


def _bodies(content: Content) -> tuple[str, str | None]:
    """The plain body and, when the content has markup, the HTML alternative."""
    if content.format is TextFormat.MARKDOWN:
        plain = content.plain_alternative or markdown_to_plain(content.text)
        return plain, render_markdown(content.text)
    if content.format is TextFormat.HTML:
        return content.plain_alternative or html_to_plain(content.text), content.text
    return content.text, None


def _set_text(part: EmailMessage, text: str, subtype: str = "plain") -> None:
    # Quoted-printable whenever the text is not ASCII: the result is 7-bit clean, so it needs
    # no 8BITMIME from the server and survives every relay.
    cte = None if text.isascii() else "quoted-printable"
    part.set_content(text, subtype=subtype, charset="utf-8", cte=cte)


def _media_type(item: Media) -> tuple[str, str]:
    maintype, _, subtype = (item.content_type or "application/octet-stream").partition("/")
    return maintype, subtype or "octet-stream"


def build_message(
    content: Content,
    *,
    sender: HeaderAddress,
    recipient: HeaderAddress,
    message_id: str,
    date: datetime,
    subject: str | None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    cc: Sequence[HeaderAddress] = (),
    extra_headers: Iterable[tuple[str, str]] = (),
) -> EmailMessage:
    """The message for ``content``: text, an HTML alternative where the content has markup
    (markdown rendered), bytes media as attachments, and those with a ``content_id`` as
    inline parts the HTML refers to as ``cid:``.

    Headers are set as values; serialising with ``email.policy.SMTP`` encodes non-ASCII ones
    (RFC 2047), with ``email.policy.SMTPUTF8`` keeps them UTF-8 (servers offering SMTPUTF8).
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    if cc:
        message["Cc"] = list(cc)
    if subject:
        message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    if reply_to:
        message["Reply-To"] = reply_to
    for name, value in extra_headers:
        message[name] = value
    plain, html = _bodies(content)
    _set_text(message, plain)
    inline = [item for item in content.media if item.content_id and html is not None]
    attached = [item for item in content.media if item not in inline]
    if html is not None:
        message.add_alternative("", subtype="html")
        parts = message.get_payload()
        assert isinstance(parts, list)
        html_part = parts[-1]
        assert isinstance(html_part, EmailMessage)
        _set_text(html_part, html, "html")
        for item in inline:
            maintype, subtype = _media_type(item)
            assert item.data is not None
            assert item.content_id is not None
            html_part.add_related(
                item.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{item.content_id.strip('<>')}>",
                filename=item.filename,
                disposition="inline",
            )
    for item in attached:
        if item.data is None:
            raise UnsupportedFeature(
                f"media {item.label!r} is a URL: email attaches bytes (the router turns URLs "
                "into links in the text)"
            )
        maintype, subtype = _media_type(item)
        message.add_attachment(
            item.data,
            maintype=maintype,
            subtype=subtype,
            filename=item.filename or "attachment",
        )
    return message


# --- inbound -------------------------------------------------------------------------------


AUTO_REPLY_HEADERS: Final[tuple[tuple[str, re.Pattern[str], str], ...]] = (
    ("Auto-Submitted", re.compile(r"^(?!\s*no\s*$).+", re.I), "auto-submitted"),  # RFC 3834
    ("X-Autoreply", re.compile(r".*"), "x-autoreply"),
    ("X-Autorespond", re.compile(r".*"), "x-autorespond"),
    ("Precedence", re.compile(r"^\s*(bulk|junk|list|auto_reply)\s*$", re.I), "precedence"),
    ("X-Auto-Response-Suppress", re.compile(r"^\s*(all|oof|autoreply)\b", re.I), "suppress"),
)
"""(header, value pattern, reason): a message matching any of these was sent by a machine, so
routers must not answer it (answering auto-replies makes mail loops)."""


@attrs.frozen(kw_only=True)
class Bounce:
    """A delivery status notification (RFC 3464) about a message we sent."""

    original_message_id: str
    recipients: tuple[str, ...] = ()
    action: str = "failed"
    status: str | None = None
    """The enhanced status code (``5.1.1``)."""
    diagnostic: str | None = None

    @property
    def permanent(self) -> bool:
        """Whether the failure is final (``failed``, or a 5.x.x status)."""
        return self.action == "failed" or (self.status or "").startswith("5")


@attrs.frozen(kw_only=True)
class InboundMail:
    """What an inbound message says, whichever way it arrived (IMAP, raw MIME, a parse API)."""

    message_id: str | None
    sender: str
    sender_name: str | None = None
    recipients: tuple[str, ...] = ()
    """To, Cc and Delivered-To addresses (where a plus-address tag can be found)."""
    subject: str | None = None
    date: datetime | None = None
    text: str = ""
    """The whole plain text (or the HTML as plain text when there is no plain part)."""
    html: str | None = None
    visible_text: str = ""
    """The reply itself: ``text`` without the quoted history."""
    quoted_text: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[Media, ...] = ()
    dropped_attachments: tuple[str, ...] = ()
    """Names of attachments left out for being over the size cap."""
    auto_reply: str | None = None
    """Why the message counts as machine-sent (see :data:`AUTO_REPLY_HEADERS`), or None."""
    bounce: Bounce | None = None
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)


_QUOTE_HEADERS: Final = (
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.S),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.S),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,80}:\s*$", re.S),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.I),  # Outlook, plain
    re.compile(r"^\s*_{20,}\s*$"),  # Outlook's rule before "From: ... Sent: ..."
    re.compile(r"^\s*From:\s.+$"),  # a forwarded or Outlook-quoted header block
)


def split_quoted(text: str) -> tuple[str, str]:
    """``text`` split into the visible reply and the quoted history below it.

    The history starts at an attribution line ("On ... wrote:", possibly wrapped over two
    lines), an "Original Message" separator, or the ``>``-quoted block that runs to the end.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        joined = line if index + 1 >= len(lines) else f"{line} {lines[index + 1]}"
        candidates = (line, joined)
        header = any(p.match(c) for p in _QUOTE_HEADERS for c in candidates)
        if header and index > 0 and any(rest.strip() for rest in lines[index + 1 :]):
            return "\n".join(lines[:index]).rstrip(), "\n".join(lines[index:]).strip()
    cut = len(lines)
    while cut > 0 and (lines[cut - 1].startswith(">") or not lines[cut - 1].strip()):
        cut -= 1
    if cut < len(lines) and cut > 0 and any(line.startswith(">") for line in lines[cut:]):
        return "\n".join(lines[:cut]).rstrip(), "\n".join(lines[cut:]).strip()
    return text.strip(), ""


def auto_reply_reason(headers: Iterable[tuple[str, str]]) -> str | None:
    """Why these headers mark a machine-sent message, or None."""
    for name, value in headers:
        for header, pattern, reason in AUTO_REPLY_HEADERS:
            if name.lower() == header.lower() and pattern.match(value or ""):
                return reason
    return None


def _text_of(part: Message) -> str:
    try:
        payload = part.get_content() if isinstance(part, EmailMessage) else part.get_payload()
    except (LookupError, ValueError):  # an unknown charset: decode as well as we can
        raw = part.get_payload(decode=True)
        payload = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    return payload if isinstance(payload, str) else ""


def _bounce(message: EmailMessage) -> Bounce | None:
    if message.get_content_type() != "multipart/report":
        return None
    recipients: list[str] = []
    action, status, diagnostic = "failed", None, None
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else ():
                if not isinstance(block, Message):
                    continue
                if block.get("Final-Recipient"):
                    recipients.append(str(block["Final-Recipient"]).split(";")[-1].strip())
                    action = str(block.get("Action", action)).strip().lower()
                    status = str(block.get("Status", "")).strip() or status
                    diagnostic = str(block.get("Diagnostic-Code", "")).strip() or diagnostic
        elif kind in ("message/rfc822", "message/global", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = next(iter(message_ids(inner[0].get("Message-ID"))), None)
            else:
                parsed = message_from_bytes(_text_of(part).encode(), policy=policy.default)
                original = next(iter(message_ids(parsed.get("Message-ID"))), None)
    if original is None:
        return None
    return Bounce(
        original_message_id=original,
        recipients=tuple(recipients),
        action=action,
        status=status,
        diagnostic=diagnostic,
    )


def _attachments(message: EmailMessage, max_bytes: int) -> tuple[list[Media], list[str]]:
    kept: list[Media] = []
    dropped: list[str] = []
    for part in message.iter_attachments():
        if (
            part.get_content_maintype() == "message"
            or part.get_content_type() == "text/rfc822-headers"
        ):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        name = part.get_filename() or "attachment"
        if len(data) > max_bytes:
            dropped.append(name)
            continue
        content_id = part.get("Content-ID")
        kept.append(
            Media(
                data=data,
                content_type=part.get_content_type(),
                filename=name,
                content_id=str(content_id).strip("<> ") if content_id else None,
            )
        )
    return kept, dropped


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def mail_from_fields(
    *,
    headers: Sequence[tuple[str, str]],
    text: str | None,
    html: str | None,
    attachments: Sequence[Media] = (),
    dropped: Sequence[str] = (),
    visible_text: str | None = None,
) -> InboundMail:
    """An :class:`InboundMail` from a parse API's fields (a header list, the text and html
    bodies, decoded attachments), for providers that post parsed mail instead of MIME.

    ``visible_text`` is the provider's own quote-stripped text, preferred when given. Raises
    :class:`ValueError` when there is no sender."""
    first = {name.lower(): value for name, value in reversed(headers)}
    senders = getaddresses([first.get("from", "")])
    name, address = senders[0] if senders else ("", "")
    if "@" not in address:
        raise ValueError("the message has no From address")
    recipients = tuple(
        addr
        for _, addr in getaddresses(
            [value for key, value in headers if key.lower() in ("to", "cc", "delivered-to")]
        )
        if "@" in addr
    )
    plain = text if text else html_to_plain(html or "")
    visible, quoted = split_quoted(plain)
    if visible_text:
        visible = visible_text.strip()
    return InboundMail(
        message_id=next(iter(message_ids(first.get("message-id"))), None),
        sender=address,
        sender_name=name or None,
        recipients=recipients,
        subject=first.get("subject"),
        date=_date(first.get("date")),
        text=plain,
        html=html or None,
        visible_text=visible,
        quoted_text=quoted,
        in_reply_to=next(iter(message_ids(first.get("in-reply-to"))), None),
        references=message_ids(first.get("references")),
        attachments=tuple(attachments),
        dropped_attachments=tuple(dropped),
        auto_reply=auto_reply_reason(headers),
        headers=tuple(headers),
    )


def parse_message(raw: bytes, *, max_attachment_bytes: int) -> InboundMail:
    """Read one RFC 5322 message. Raises :class:`ValueError` when it has no sender."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    headers = tuple((name, str(value)) for name, value in message.items())
    senders = getaddresses([str(message.get("From", ""))])
    name, address = senders[0] if senders else ("", "")
    if "@" not in address:
        raise ValueError("the message has no From address")
    recipients = tuple(
        addr
        for _, addr in getaddresses(
            [
                str(value)
                for key in ("To", "Cc", "Delivered-To")
                for value in message.get_all(key, [])
            ]
        )
        if "@" in addr
    )
    plain_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    html = _text_of(html_part) if html_part is not None else None
    text = _text_of(plain_part) if plain_part is not None else html_to_plain(html or "")
    visible, quoted = split_quoted(text)
    attachments, dropped = _attachments(message, max_attachment_bytes)
    references = message_ids(message.get("References"))
    return InboundMail(
        message_id=next(iter(message_ids(message.get("Message-ID"))), None),
        sender=address,
        sender_name=name or None,
        recipients=recipients,
        subject=str(message["Subject"]) if message.get("Subject") is not None else None,
        date=_date(message.get("Date")),
        text=text,
        html=html,
        visible_text=visible,
        quoted_text=quoted,
        in_reply_to=next(iter(message_ids(message.get("In-Reply-To"))), None),
        references=references,
        attachments=tuple(attachments),
        dropped_attachments=tuple(dropped),
        auto_reply=auto_reply_reason(headers),
        bounce=_bounce(message),
        headers=headers,
    )
