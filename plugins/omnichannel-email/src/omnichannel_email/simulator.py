"""The sandbox's mail server: SMTP submission (aiosmtpd) and an IMAP mailbox, on loopback.

The core sandbox mounts HTTP simulators on one ASGI app; mail is not HTTP. So this simulator
starts its own servers when it is built, on the loopback ports :meth:`sample_settings` chose
(an aiosmtpd ``Controller`` thread for SMTP, :mod:`.sandbox_imap` for IMAP), and stops them on
:meth:`close` (or when it is garbage-collected, or the process exits). Its HTTP side, mounted
at ``/email``, lists what it received (``GET /email/messages``).

What it does with a message, by recipient:

* ``customer@example.com`` (the sample recipient) answers it: a threaded reply (In-Reply-To,
  References, ``Re:``) is posted to the application's ``/webhooks/email`` as raw MIME with the
  webhook secret, or, when no public URL is known, put in the IMAP inbox for polling;
* ``bounce@example.com`` is accepted, then bounced: a DSN (``multipart/report``) for it goes
  the same way, and becomes an UNDELIVERED status;
* ``refused@example.com`` is refused at RCPT with ``550``; ``busy@example.com`` with ``451``;
* anyone else: recorded, nothing more. SMTP reports no delivery, so neither does this.
"""

from __future__ import annotations

import base64
import logging
import socket
import weakref
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any, ClassVar, Final

from omnichannel import WebhookRequest, WebhookResponse
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel_email.mime import message_ids, reply_subject
from omnichannel_email.payloads import ADAPTER_NAME
from omnichannel_email.sandbox_imap import Mailbox, SandboxImapServer
from omnichannel_email.settings import SmtpEmailSettings

if TYPE_CHECKING:
    import asyncio

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Session
    from aiosmtpd.smtp import Envelope as SmtpEnvelope

# aiosmtpd (and asyncio, ssl) load when a simulator starts, not when the plugin is discovered.

__all__ = ["SmtpEmailSimulator", "free_port"]

logger = logging.getLogger(__name__)


class _QuietDeprecation(logging.Filter):
    """aiosmtpd logs a deprecation of its own internals on every AUTH; not ours to fix."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietDeprecation())

REPLYING_RECIPIENT: Final = "customer@example.com"
BOUNCING_RECIPIENT: Final = "bounce@example.com"
REFUSED_RECIPIENT: Final = "refused@example.com"
BUSY_RECIPIENT: Final = "busy@example.com"
REPLY_TEXT: Final = "Thanks! Could you send the tracking number too?"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the servers bind it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reply_to(raw: bytes, *, sender: str, text: str) -> bytes:
    """A customer's threaded answer to the message ``raw``."""
    parent = message_from_bytes(raw, policy=policy.default)
    parent_id = next(iter(message_ids(parent.get("Message-ID"))), None)
    answer = EmailMessage()
    answer["From"] = sender
    answer["To"] = parent.get("Reply-To") or parent.get("From", "")
    answer["Subject"] = reply_subject(parent.get("Subject"))
    answer["Date"] = format_datetime(datetime.now(UTC))
    answer["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "example.com")
    if parent_id:
        answer["In-Reply-To"] = parent_id
        chain = message_ids(parent.get("References")) or message_ids(parent.get("In-Reply-To"))
        answer["References"] = " ".join((*chain, parent_id))
    quoted = "\n".join(f"> {line}" for line in str(parent.get_body(("plain",)) or "").splitlines())
    answer.set_content(
        f"{text}\n\nOn {parent.get('Date')}, {parent.get('From')} wrote:\n{quoted}\n"
    )
    return answer.as_bytes(policy=policy.SMTP)


def bounce_for(raw: bytes, *, recipient: str, reporting_mta: str = "sandbox.invalid") -> bytes:
    """A delivery status notification (RFC 3464) saying ``raw`` could not reach ``recipient``."""
    parent = message_from_bytes(raw, policy=policy.default)
    original_headers = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: {parent.get('From', '')}",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"',
        "",
        "--dsn",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"Your message to {recipient} could not be delivered.",
        "--dsn",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 no such user",
        "",
        "--dsn",
        "Content-Type: text/rfc822-headers",
        "",
        original_headers,
        "",
        "--dsn--",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


class _Authenticator:
    """Checks AUTH PLAIN/LOGIN against the adapter's own credentials."""

    def __init__(self, username: str, password: str) -> None:
        self._expected = (username, password)

    def __call__(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(data, LoginPassword):
            offered = (data.login.decode(), data.password.decode())
            return AuthResult(success=offered == self._expected, handled=False)
        return AuthResult(success=False, handled=False)


class _Handler:
    """aiosmtpd's handler: refuses the special recipients, records and answers the rest."""

    def __init__(self, simulator: SmtpEmailSimulator) -> None:
        self._simulator = weakref.ref(simulator)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() == REFUSED_RECIPIENT:
            return "550 5.1.1 no such user here"
        if address.lower() == BUSY_RECIPIENT:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        simulator = self._simulator()
        if simulator is None:
            return "421 4.3.0 shutting down"
        content = envelope.original_content or b""
        simulator.received(envelope.mail_from or "", list(envelope.rcpt_tos), bytes(content))
        return "250 2.0.0 OK queued"


class SmtpEmailSimulator(BaseSimulator):
    """A mail server for the sandbox; see the module docstring."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    prefix: ClassVar[str] = "email"
    sample_recipient: ClassVar[str] = REPLYING_RECIPIENT

    settings: SmtpEmailSettings

    def __init__(self, settings: SmtpEmailSettings, context: SimulatorContext) -> None:
        import asyncio

        from aiosmtpd.controller import Controller

        super().__init__(settings, context)
        self.messages: list[dict[str, Any]] = []
        """What the SMTP server accepted: ``mail_from``, ``rcpt_tos`` and ``content`` bytes."""
        self.mailbox = Mailbox()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        password = settings.password.reveal() if settings.password else ""
        self.smtp: Controller = Controller(
            _Handler(self),
            hostname=settings.host,
            port=settings.smtp_port,
            authenticator=_Authenticator(settings.username or "", password),
            # Loopback only: AUTH is checked when offered but not demanded, and needs no TLS.
            auth_require_tls=False,
        )
        self.smtp.start()
        self.imap: SandboxImapServer | None = None
        if settings.imap_host is not None:
            imap_password = settings.imap_secret.reveal() if settings.imap_secret else ""
            self.imap = SandboxImapServer(
                (settings.imap_host, settings.imap_port_number),
                self.mailbox,
                (settings.imap_login or "", imap_password),
            )
            self.imap.serve()
        self._finalizer = weakref.finalize(self, _stop, self.smtp, self.imap)

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings for an adapter talking to this simulator: SMTP and IMAP on free loopback
        ports (``base_url`` is the HTTP side's; mail needs ports of its own)."""
        return {
            "from": "Acme Support <support@acme.example>",
            "host": "127.0.0.1",
            "port": free_port(),
            "security": "none",
            "username": "sandbox",
            "password": "sandbox-smtp-password",
            "imap_host": "127.0.0.1",
            "imap_port": free_port(),
            "imap_security": "none",
            "imap_password": "sandbox-imap-password",
            "webhook_secret": "sandbox-webhook-secret",
            "reply_to_domain": "reply.acme.example",
            "poll_interval": 2.0,
        }

    def received(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> None:
        """Record one accepted message and answer it as its recipients would (SMTP thread)."""
        self.messages.append({"mail_from": mail_from, "rcpt_tos": rcpt_tos, "content": content})
        for recipient in rcpt_tos:
            if recipient.lower() == REPLYING_RECIPIENT:
                self.deliver(reply_to(content, sender=recipient, text=REPLY_TEXT))
            elif recipient.lower() == BOUNCING_RECIPIENT:
                self.deliver(bounce_for(content, recipient=recipient))

    def deliver(self, raw: bytes) -> None:
        """Hand ``raw`` to the application: its webhook when the sandbox knows the public URL,
        else the IMAP inbox."""
        url = self.context.webhook_url("email")
        loop = self._loop
        if url is None or loop is None or loop.is_closed():
            self.mailbox.append(raw)
            return
        loop.call_soon_threadsafe(self.context.spawn, lambda: self._post(url, raw))

    async def _post(self, url: str, raw: bytes) -> None:
        await self.context.sleep(self.context.step_delay)
        headers = {"Content-Type": "message/rfc822"}
        if self.settings.webhook_secret is not None:
            token = f"sandbox:{self.settings.webhook_secret.reveal()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        await self.context.post(url, headers=headers, body=raw)

    def queue_inbound(self, *, sender: str, text: str, subject: str = "Question") -> int:
        """Put a message from ``sender`` in the IMAP inbox; the next poll finds it."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.settings.from_
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "example.com")
        message.set_content(text)
        return self.mailbox.append(message.as_bytes(policy=policy.SMTP))

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """``GET /email/messages``: what the SMTP server accepted, newest last."""
        if request.method == "GET" and self.subpath(request) == "/messages":
            listing = [
                {
                    "mail_from": item["mail_from"],
                    "rcpt_tos": item["rcpt_tos"],
                    "size": len(item["content"]),
                }
                for item in self.messages
            ]
            return WebhookResponse.json({"messages": listing})
        return WebhookResponse.json({"error": "mail goes over SMTP, not HTTP"}, 404)

    def close(self) -> None:
        """Stop the SMTP and IMAP servers."""
        self._finalizer()

    async def aclose(self) -> None:
        """Stop the SMTP and IMAP servers (the sandbox calls it when it stops)."""
        import asyncio

        await asyncio.to_thread(self.close)


def _stop(smtp: Controller, imap: SandboxImapServer | None) -> None:
    try:
        smtp.stop()
    except (AssertionError, RuntimeError):
        logger.debug("the sandbox SMTP server was already stopped")
    if imap is not None:
        imap.close()
