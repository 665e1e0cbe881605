"""The ``email.smtp`` adapter: send by SMTP, receive by IMAP polling and inbound-parse webhooks.

The base class keeps the receipts, error context and fitting report; this class overrides the
transport step (:meth:`SmtpEmailAdapter.deliver`: one SMTP transaction through the pool, under
the Sender's retry rules), polling (:meth:`poll`, through :mod:`.imap`), and the webhooks
(:mod:`.webhooks`). Messages are built by :mod:`.mime`; threading, plus-address tags and reply
codes are the pure tables of :mod:`.payloads`.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Final

from omnichannel import (
    AddressKind,
    DeliveryStatus,
    Envelope,
    InvalidAddress,
    StatusUpdate,
    UnsupportedFeature,
    Visibility,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
    new_envelope_id,
)
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InboundMode,
    MediaRules,
    PollResult,
    SentMessage,
    WebhookResult,
)
from omnichannel_email.mime import InboundMail, build_message, parse_message, reply_subject
from omnichannel_email.payloads import (
    ADAPTER_NAME,
    CHANNEL,
    ThreadBook,
    ThreadEntry,
    bounce_status,
    inbound_envelope,
    message_id_for,
    reply_to_address,
)
from omnichannel_email.settings import SmtpEmailSettings
from omnichannel_email.webhooks import TokenLedger, parse_body, verify

if TYPE_CHECKING:
    from omnichannel_email.imap import ImapMailbox
    from omnichannel_email.smtp import SmtpPool

__all__ = ["CAPABILITIES", "OWN_HEADERS", "SmtpEmailAdapter"]

logger = logging.getLogger(__name__)

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.EMAIL,
    formats={"plain", "markdown", "html"},
    subject=True,
    # Bytes are attached (inline ones as cid: parts); URL media become links in the text.
    media=MediaRules(content_types={"*/*"}, max_items=50, links=False, uploads=True),
    threading=True,
    # SMTP says only that the server took the message; delivery and reading are not
    # observable. Bounces arrive later, as mail, and become UNDELIVERED.
    statuses={DeliveryStatus.ACCEPTED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED},
    inbound={InboundMode.WEBHOOK, InboundMode.POLL},
    webhook_body_limit=25 * 1024 * 1024,
)

OWN_HEADERS: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "reply-to",
    }
)
"""Headers the adapter sets from the envelope; ``provider_options`` may not set them."""
ACCEPTED: Final = WebhookResponse(status_code=200)


def _header_address(value: str, name: str | None = None) -> HeaderAddress:
    local, at, domain = value.rpartition("@")
    if not at:
        raise InvalidAddress(value, "email", "expected local@domain", channel=CHANNEL)
    return HeaderAddress(display_name=name or "", username=local, domain=domain)


def _addresses(values: object, field: str) -> list[HeaderAddress]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise UnsupportedFeature(f'provider_options["{ADAPTER_NAME}"]["{field}"] must be a list')
    return [_header_address(AddressKind.EMAIL.normalize(str(v), channel=CHANNEL)) for v in values]


class SmtpEmailAdapter(BaseAdapter[SmtpEmailSettings]):
    """Email over SMTP submission, with IMAP polling and inbound-parse webhooks."""

    info = AdapterInfo(
        name=ADAPTER_NAME,
        channel=CHANNEL,
        provider="smtp",
        description="Email: SMTP submission, IMAP polling, inbound-parse webhooks",
    )
    capabilities = CAPABILITIES
    settings_class = SmtpEmailSettings

    def __init__(self, settings: SmtpEmailSettings, context: AdapterContext | None = None) -> None:
        super().__init__(settings, context)
        # The SMTP and IMAP clients (ssl, anyio, aiosmtplib, imap_tools) load with the first
        # adapter built, not when the plugin is discovered (omni channels, omni --help).
        from omnichannel_email.imap import ImapMailbox
        from omnichannel_email.smtp import SmtpPool

        self.pool: SmtpPool = SmtpPool(settings)
        self.mailbox: ImapMailbox | None = ImapMailbox(settings) if settings.imap_host else None
        self.threads = ThreadBook()
        """Recent messages sent and received, for References and inbound matching."""
        self.mailgun_tokens = TokenLedger()

    @property
    def business_address(self) -> str | None:
        """The mailbox we send from."""
        return str(self.settings.from_address.addr_spec)

    # -- sending ------------------------------------------------------------------------------

    def compose(self, envelope: Envelope) -> tuple[EmailMessage, list[str], ThreadEntry]:
        """The message for ``envelope``, its SMTP recipients, and what to remember of it."""
        if envelope.visibility is Visibility.PUBLIC:
            raise UnsupportedFeature("email has no public posts", envelope_id=envelope.id)
        settings = self.settings
        options = envelope.options_for(ADAPTER_NAME)
        extra = options.get("headers") or {}
        clash = sorted(name for name in extra if str(name).lower() in OWN_HEADERS)
        if clash:
            raise UnsupportedFeature(
                f"provider_options cannot set {', '.join(clash)}: the adapter sets them",
                envelope_id=envelope.id,
            )
        cc, bcc = _addresses(options.get("cc"), "cc"), _addresses(options.get("bcc"), "bcc")
        sender = settings.from_address
        if envelope.sender is not None and envelope.sender.value != sender.addr_spec:
            sender = _header_address(envelope.sender.value, envelope.sender.name)
        recipient = _header_address(envelope.recipient.value, envelope.recipient.name)
        message_id = message_id_for(envelope.id, settings.domain)
        parent, root = envelope.in_reply_to, envelope.thread
        references: tuple[str, ...] = ()
        subject = envelope.content.subject
        if parent:
            references = self.threads.references_for(parent, root)
            known = self.threads.get(parent)
            subject = reply_subject(subject or (known.subject if known else None))
        elif root:
            parent, references = root, (root,)
            subject = reply_subject(subject)
        reply_to = (
            reply_to_address(envelope, settings.reply_to_domain)
            if settings.reply_to_domain
            else None
        )
        message = build_message(
            envelope.content,
            sender=sender,
            recipient=recipient,
            message_id=message_id,
            date=self.now(),
            subject=subject,
            in_reply_to=parent,
            references=references,
            reply_to=reply_to,
            cc=cc,
            extra_headers=[(str(name), str(value)) for name, value in extra.items()],
        )
        recipients = [str(item.addr_spec) for item in (recipient, *cc, *bcc)]
        entry = ThreadEntry(
            message_id=message_id,
            root=references[0] if references else message_id,
            references=references,
            subject=subject,
            envelope_id=envelope.id,
            conversation_id=envelope.conversation_id,
        )
        return message, recipients, entry

    async def deliver(self, envelope: Envelope) -> SentMessage:
        """Send ``envelope`` as one SMTP transaction; the provider id is our Message-ID."""
        message, recipients, entry = self.compose(envelope)
        sender = str(self.settings.from_address.addr_spec)
        result = await self.context.sender.run(
            lambda: self.pool.send(message, sender=sender, recipients=recipients),
            idempotent=False,
            what=self.settings.host,
        )
        if result.refused:
            logger.warning(
                "%s: the server refused %d of %d recipients of %s",
                ADAPTER_NAME,
                len(result.refused),
                len(recipients),
                envelope.id,
            )
        self.threads.remember(entry)
        return SentMessage(
            provider_id=entry.message_id,
            status=DeliveryStatus.ACCEPTED,
            raw={"response": result.response, "refused": dict(result.refused)},
        )

    # -- receiving ----------------------------------------------------------------------------

    def event_for(self, mail: InboundMail, received_at: datetime) -> Envelope | StatusUpdate | None:
        """The inbound envelope for ``mail``, or for a bounce its status update (None for a
        delivery notification that is not a final failure)."""
        if mail.bounce is not None:
            return bounce_status(mail, domain=self.settings.domain, received_at=received_at)
        return inbound_envelope(
            mail,
            business=self.settings.from_address,
            book=self.threads,
            reply_to_domain=self.settings.reply_to_domain,
            received_at=received_at,
            fallback_id=new_envelope_id(),
        )

    async def poll(self, cursor: str | None) -> PollResult:
        """New mail in ``imap_folder`` after ``cursor``; ``commit`` marks it processed."""
        interval = self.settings.poll_interval
        if self.mailbox is None:
            return PollResult(cursor=cursor, next_poll_seconds=interval)
        mailbox = self.mailbox
        from omnichannel_email.imap import Cursor

        batch = await mailbox.fetch_new(Cursor.parse(cursor))
        now = self.now()
        messages: list[Envelope] = []
        statuses: list[StatusUpdate] = []
        for fetched in batch.messages:
            try:
                event = self.event_for(
                    parse_message(
                        fetched.raw, max_attachment_bytes=self.settings.max_attachment_bytes
                    ),
                    now,
                )
            except ValueError as exc:
                logger.warning("IMAP message %d cannot be read (%s); marked", fetched.uid, exc)
                continue
            if isinstance(event, Envelope):
                messages.append(event)
            elif event is not None:
                statuses.append(event)
        uids = [fetched.uid for fetched in batch.messages] + list(batch.skipped)

        async def commit() -> None:
            await mailbox.mark_processed(batch.uidvalidity, uids)

        return PollResult(
            messages=messages,
            statuses=statuses,
            cursor=str(batch.cursor),
            next_poll_seconds=0.0 if batch.more else interval,
            commit=commit if uids else None,
        )

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Our secret (basic auth or ``?secret=``), or a fresh Mailgun signature."""
        verify(
            request,
            secret=self.settings.webhook_secret,
            mailgun_key=self.settings.mailgun_signing_key,
            ledger=self.mailgun_tokens,
            now=self.now().timestamp(),
        )
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Raw MIME, SendGrid Inbound Parse, a Mailgun route or Postmark inbound JSON."""
        if len(request.body) > self.settings.max_message_bytes:
            raise WebhookParseError("the message is over max_message_bytes")
        mail = parse_body(request, max_attachment_bytes=self.settings.max_attachment_bytes)
        event = self.event_for(mail, self.now())
        if isinstance(event, Envelope):
            return WebhookResult(response=ACCEPTED, messages=[event])
        return WebhookResult(response=ACCEPTED, statuses=[event] if event else [])

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A raw MIME post of a message from ``sender`` to our mailbox, with our secret."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.settings.from_
        message["Subject"] = "Simulated message"
        message["Date"] = format_datetime(self.now())
        message["Message-ID"] = f"<{new_envelope_id()}@simulated.invalid>"
        message.set_content(text)
        headers = [("Content-Type", "message/rfc822")]
        secret = self.settings.webhook_secret
        if secret is not None:
            token = base64.b64encode(f"omnichannel:{secret.reveal()}".encode()).decode("ascii")
            headers.append(("Authorization", f"Basic {token}"))
        return WebhookRequest(method="POST", url=url, headers=headers, body=bytes(message))

    # -- lifecycle ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pooled SMTP connections and log out of IMAP."""
        await self.pool.aclose()
        if self.mailbox is not None:
            await self.mailbox.aclose()
