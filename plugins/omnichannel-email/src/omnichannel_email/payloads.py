"""Pure mapping between envelopes and email: Message-IDs, threading headers, plus-address
tags, SMTP reply codes, and inbound mail as envelopes and status updates. No I/O here.

Threading (RFC 5322 3.6.4), as this adapter does it:

* every message we send has the Message-ID ``<{envelope id}@{domain}>``, the receipt's
  provider id, known before sending;
* a reply (``envelope.in_reply_to`` = the parent's Message-ID) gets ``In-Reply-To`` = the
  parent and ``References`` = the parent's own References followed by the parent, when the
  adapter has seen the parent (it keeps a bounded map of the messages it sent and received);
  otherwise the thread root (``envelope.thread``) followed by the parent;
* the subject gets one ``Re: `` (the parent's subject when the reply names none);
* inbound mail is matched to what we sent by the plus-address tag of ``Reply-To``
  (``reply+{key}@{reply_to_domain}``), then by In-Reply-To, then by References; its thread is
  the root Message-ID of what it matched, else the first of its References, else itself.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from typing import Final

import attrs

from omnichannel import (
    Address,
    Content,
    ContentRejected,
    DeliveryStatus,
    Direction,
    Envelope,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    SendError,
    StatusUpdate,
    TextFormat,
)
from omnichannel_email.mime import InboundMail

__all__ = [
    "ADAPTER_NAME",
    "CHANNEL",
    "REPLY_CODES",
    "ReplyRule",
    "ThreadBook",
    "ThreadEntry",
    "bounce_status",
    "envelope_id_of",
    "error_for_reply",
    "inbound_envelope",
    "message_id_for",
    "plus_tag",
    "reply_to_address",
]

ADAPTER_NAME: Final = "email.smtp"
CHANNEL: Final = "email"
REFERENCES_KEPT: Final = 20
"""References longer than this keep the root and the most recent ids (RFC 5322 allows it)."""

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.=-]{1,48}$")


def message_id_for(envelope_id: str, domain: str) -> str:
    """Our Message-ID for an envelope: ``<{envelope id}@{domain}>``."""
    return f"<{envelope_id}@{domain}>"


def envelope_id_of(message_id: str, domain: str) -> str | None:
    """The envelope id inside one of our Message-IDs, or None for anyone else's."""
    local, at, host = message_id.strip("<>").rpartition("@")
    return local if at and local and host.lower() == domain.lower() else None


def reply_to_address(envelope: Envelope, domain: str) -> str:
    """``reply+c.{conversation}@domain`` (or ``e.{envelope id}``): replies come back tagged."""
    conversation = envelope.conversation_id
    if conversation and _SAFE_KEY.match(conversation):
        return f"reply+c.{conversation}@{domain}"
    return f"reply+e.{envelope.id}@{domain}"


def plus_tag(recipients: tuple[str, ...], domain: str | None) -> tuple[str, str] | None:
    """The ``("c" | "e", key)`` of a ``reply+...@domain`` recipient, or None."""
    if domain is None:
        return None
    for address in recipients:
        local, _, host = address.rpartition("@")
        if host.lower() != domain or not local.lower().startswith("reply+"):
            continue
        kind, dot, key = local[len("reply+") :].partition(".")
        if dot and kind in ("c", "e") and _SAFE_KEY.match(key):
            return kind, key
    return None


@attrs.frozen(kw_only=True)
class ThreadEntry:
    """What the adapter remembers of one message, sent or received, for threading."""

    message_id: str
    root: str
    references: tuple[str, ...] = ()
    subject: str | None = None
    envelope_id: str | None = None
    conversation_id: str | None = None


def _bounded(ids: tuple[str, ...]) -> tuple[str, ...]:
    if len(ids) <= REFERENCES_KEPT:
        return ids
    return (ids[0], *ids[-(REFERENCES_KEPT - 1) :])


class ThreadBook:
    """A bounded memory of recent messages (least recently used go first), by Message-ID,
    envelope id and conversation id. Lost on restart: then replies fall back to the thread
    root and the parent (see the module docstring)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._by_message_id: OrderedDict[str, ThreadEntry] = OrderedDict()
        self._by_key: dict[str, str] = {}

    def remember(self, entry: ThreadEntry) -> None:
        """Keep ``entry`` (replacing an older one for the same Message-ID)."""
        self._by_message_id[entry.message_id] = entry
        self._by_message_id.move_to_end(entry.message_id)
        if entry.envelope_id:
            self._by_key[f"e.{entry.envelope_id}"] = entry.message_id
        if entry.conversation_id:
            self._by_key[f"c.{entry.conversation_id}"] = entry.message_id
        while len(self._by_message_id) > self.capacity:
            _, old = self._by_message_id.popitem(last=False)
            for key in (f"e.{old.envelope_id}", f"c.{old.conversation_id}"):
                if self._by_key.get(key) == old.message_id:
                    del self._by_key[key]

    def get(self, message_id: str | None) -> ThreadEntry | None:
        """The entry for ``message_id``, or None."""
        return self._by_message_id.get(message_id) if message_id else None

    def by_tag(self, kind: str, key: str) -> ThreadEntry | None:
        """The latest message sent under a plus-address tag, or None."""
        return self.get(self._by_key.get(f"{kind}.{key}"))

    def references_for(self, parent: str, root: str | None) -> tuple[str, ...]:
        """References of a reply to ``parent``: the parent's References plus the parent."""
        known = self.get(parent)
        if known is not None:
            chain = known.references or ((known.root,) if known.root != parent else ())
        else:
            chain = (root,) if root and root != parent else ()
        return _bounded((*chain, parent))

    def match(self, mail: InboundMail, tag: tuple[str, str] | None) -> ThreadEntry | None:
        """What ``mail`` answers: by plus-address tag, then In-Reply-To, then References."""
        if tag is not None and (found := self.by_tag(*tag)) is not None:
            return found
        if (found := self.get(mail.in_reply_to)) is not None:
            return found
        for reference in reversed(mail.references):
            if (found := self.get(reference)) is not None:
                return found
        return None


@attrs.frozen
class ReplyRule:
    """How one SMTP reply code maps onto omnichannel's errors."""

    error: type[SendError]
    reason: FailureReason
    advice: str


REPLY_CODES: Final[Mapping[int, ReplyRule]] = {
    421: ReplyRule(ProviderError, FailureReason.UNREACHABLE, "the server is closing; retry later"),
    450: ReplyRule(ProviderError, FailureReason.PROVIDER_ERROR, "mailbox busy; retry later"),
    451: ReplyRule(ProviderError, FailureReason.PROVIDER_ERROR, "local error; retry later"),
    452: ReplyRule(ProviderError, FailureReason.PROVIDER_ERROR, "server storage full; retry"),
    454: ReplyRule(ProviderError, FailureReason.AUTH, "TLS or auth temporarily unavailable"),
    530: ReplyRule(ProviderError, FailureReason.AUTH, "authentication or STARTTLS required"),
    534: ReplyRule(ProviderError, FailureReason.AUTH, "the server wants a stronger login"),
    535: ReplyRule(ProviderError, FailureReason.AUTH, "check username, password or token"),
    550: ReplyRule(InvalidRecipient, FailureReason.INVALID_RECIPIENT, "no such mailbox"),
    551: ReplyRule(InvalidRecipient, FailureReason.INVALID_RECIPIENT, "user not local"),
    552: ReplyRule(ContentRejected, FailureReason.CONTENT_REJECTED, "message too large"),
    553: ReplyRule(InvalidRecipient, FailureReason.INVALID_RECIPIENT, "address not allowed"),
    554: ReplyRule(ContentRejected, FailureReason.CONTENT_REJECTED, "refused by policy"),
}
"""SMTP reply codes (RFC 5321 4.2) -> errors. Any other 4xx is retryable, any other 5xx not."""


def error_for_reply(code: int, message: str, *, stage: str) -> SendError:
    """The typed error for an SMTP reply ``code`` at ``stage`` (MAIL, RCPT, DATA, AUTH).

    4xx replies are transient (retryable: the server said it kept nothing), 5xx permanent.
    A 550 or 553 to MAIL FROM is about our sender, not the recipient; any refusal of AUTH
    is about our credentials.
    """
    rule = REPLY_CODES.get(code)
    transient = 400 <= code < 500
    if stage == "AUTH":
        rule = ReplyRule(ProviderError, FailureReason.AUTH, "check username, password or token")
    if rule is None or (stage == "MAIL" and rule.error is InvalidRecipient):
        reason = FailureReason.PROVIDER_ERROR
        error: type[SendError] = ProviderError
        advice = "retry later" if transient else "the server refused it"
    else:
        error, reason, advice = rule.error, rule.reason, rule.advice
    return error(
        f"SMTP server answered {code} to {stage}: {advice}",
        reason=reason,
        retryable=transient,
        provider_code=str(code),
        provider_message=message[:200],
        status_code=code,
    )


def _metadata(mail: InboundMail, tag: tuple[str, str] | None) -> dict[str, str | bool]:
    data: dict[str, str | bool] = {}
    if mail.auto_reply:
        data["auto_reply"] = True
        data["auto_reply_reason"] = mail.auto_reply
    if tag is not None:
        data["plus_tag"] = f"{tag[0]}.{tag[1]}"
    if mail.references:
        data["references"] = " ".join(_bounded(mail.references))[:2000]
    if mail.quoted_text:
        data["quoted"] = True
    if mail.dropped_attachments:
        data["dropped_attachments"] = ", ".join(mail.dropped_attachments)[:500]
    return data


def inbound_envelope(
    mail: InboundMail,
    *,
    business: HeaderAddress,
    book: ThreadBook,
    reply_to_domain: str | None,
    received_at: datetime,
    fallback_id: str,
) -> Envelope:
    """The inbound envelope for ``mail``, threaded against what ``book`` remembers (which
    then remembers ``mail`` too, so a reply to it carries its References)."""
    tag = plus_tag(mail.recipients, reply_to_domain)
    matched = book.match(mail, tag)
    message_id = mail.message_id or f"<{fallback_id}@inbound.invalid>"
    root = matched.root if matched else (mail.references or (mail.in_reply_to or message_id,))[0]
    conversation = matched.conversation_id if matched else None
    if conversation is None and tag is not None and tag[0] == "c":
        conversation = tag[1]
    book.remember(
        ThreadEntry(
            message_id=message_id,
            root=root,
            references=mail.references or ((mail.in_reply_to,) if mail.in_reply_to else ()),
            subject=mail.subject,
            conversation_id=conversation,
        )
    )
    text = mail.visible_text or mail.text
    content = Content(
        text=text if text or mail.attachments else "(no text)",
        format=TextFormat.PLAIN,
        subject=mail.subject,
        media=mail.attachments,
    )
    ours = str(business.addr_spec)
    return Envelope(
        channel=CHANNEL,
        direction=Direction.INBOUND,
        sender=Address(channel=CHANNEL, value=mail.sender, name=mail.sender_name),
        recipient=Address(channel=CHANNEL, value=ours),
        business_address=Address(channel=CHANNEL, value=ours, name=business.display_name or None),
        content=content,
        provider_id=message_id,
        thread=root,
        in_reply_to=mail.in_reply_to,
        conversation_id=conversation,
        created_at=mail.date or received_at,
        metadata=_metadata(mail, tag),
        raw=mail,
    )


def bounce_status(mail: InboundMail, *, domain: str, received_at: datetime) -> StatusUpdate | None:
    """The UNDELIVERED status a bounce reports for the message we sent, or None when the
    notification is not a final failure (``delayed``, ``delivered``, ``relayed``)."""
    bounce = mail.bounce
    if bounce is None or not bounce.permanent:
        return None
    return StatusUpdate(
        channel=CHANNEL,
        provider_id=bounce.original_message_id,
        envelope_id=envelope_id_of(bounce.original_message_id, domain),
        status=DeliveryStatus.UNDELIVERED,
        timestamp=mail.date or received_at,
        recipient=bounce.recipients[0] if bounce.recipients else None,
        reason=FailureReason.INVALID_RECIPIENT
        if (bounce.status or "").startswith("5.1")
        else FailureReason.PROVIDER_ERROR,
        provider_code=bounce.status,
        provider_message=(bounce.diagnostic or "")[:200] or None,
        metadata={"action": bounce.action},
        raw=mail,
    )
