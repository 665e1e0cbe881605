"""SMTP submission with aiosmtplib: a small pool of open connections, and one send as one
SMTP transaction whose every failure is classified by what the server can have kept.

* the connection cannot be opened (refused, DNS, TLS handshake, timeout): nothing was sent
  (``TransportError(request_sent=False)``, retried by the Sender);
* a reused connection the server dropped while it sat in the pool is reopened once, at once;
* a reply code to MAIL, RCPT or DATA is the server's own word: 4xx transient (retryable),
  5xx permanent (:func:`~omnichannel_email.payloads.error_for_reply`);
* the connection lost (or timed out) once DATA began is ambiguous, the server may have queued
  the message: ``TransportError(request_sent=True)``, which the Sender turns into
  ``OutcomeUnknown``, never resent. (aiosmtplib sends ``DATA`` and the body in one call, so a
  loss between the ``DATA`` command and its ``354`` counts as ambiguous too: cautious.)

Partial recipient refusal is not an error: the refused addresses come back in
:class:`SmtpResult` with their replies.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from email import policy
from email.message import EmailMessage
from typing import Final

import aiosmtplib
import anyio
import attrs

from omnichannel import (
    ContentRejected,
    ProviderError,
    SendError,
    TransportError,
    UnsupportedFeature,
)
from omnichannel_email.payloads import error_for_reply
from omnichannel_email.settings import Security, SmtpEmailSettings

__all__ = ["SmtpPool", "SmtpResult", "access_token", "envelope_address", "tls_context"]

logger = logging.getLogger(__name__)

_CLOSE_WAIT_SECONDS: Final = 1.0
_CLOSE_POLL_SECONDS: Final = 0.002
_LOST: Final = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError)


@attrs.frozen(kw_only=True)
class SmtpResult:
    """What the server said to one accepted transaction."""

    response: str
    refused: dict[str, str] = attrs.field(factory=dict)
    """Recipients the server refused, with its reply (``"550 5.1.1 no such user"``)."""


def envelope_address(address: str) -> tuple[str, bool]:
    """The SMTP envelope form of ``address`` (IDN domains in punycode) and whether its local
    part needs SMTPUTF8."""
    local, _, domain = address.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = domain
    return f"{local}@{ascii_domain}", not local.isascii()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client TLS context, trusting ``ca_file`` when given (else the system's)."""
    return ssl.create_default_context(cafile=ca_file)


async def access_token(provider: Callable[[], object]) -> str:
    """A current XOAUTH2 access token from ``provider`` (sync or async)."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str) or not value:
        raise ProviderError("oauth_token_provider returned no token", retryable=False)
    return value


class _Dropped(Exception):
    """A pooled connection turned out to be closed before anything of the message was sent."""


class SmtpPool:
    """Up to ``settings.pool_size`` open SMTP connections, reused across sends, each closed
    after ``settings.pool_idle_timeout`` seconds unused (the server would drop it anyway)."""

    def __init__(
        self,
        settings: SmtpEmailSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._slots = anyio.Semaphore(settings.pool_size)
        self._tls: ssl.SSLContext | None = None
        self.opened = 0
        """Connections opened so far (tests and benchmarks read it)."""

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context(self.settings.tls_ca_file)
        return self._tls

    async def _open(self) -> aiosmtplib.SMTP:
        settings = self.settings
        security = settings.security
        start_tls = {Security.STARTTLS: True, Security.OPPORTUNISTIC: None}.get(security, False)
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.smtp_port,
            use_tls=security is Security.TLS,
            start_tls=start_tls,
            tls_context=self._context() if security is not Security.NONE else None,
            timeout=settings.timeout,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            await _closed(client)
            raise error_for_reply(exc.code, exc.message, stage="CONNECT") from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            await _closed(client)
            if "STARTTLS" in str(exc).upper():
                raise ProviderError(
                    f'{settings.host} does not offer STARTTLS; use security = "tls" or, on a '
                    'trusted network only, "opportunistic"',
                    retryable=False,
                ) from None
            raise TransportError(
                f"could not connect to {settings.host}:{settings.smtp_port} ({type(exc).__name__})",
                request_sent=False,
            ) from None
        try:
            await self._login(client)
        except BaseException:
            await _closed(client)
            raise
        self.opened += 1
        return client

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        settings = self.settings
        if settings.username is None:
            return
        encrypted = client.get_transport_info("sslcontext") is not None
        if not encrypted and settings.security is not Security.NONE:
            raise ProviderError(
                f"{settings.host} offered no TLS, so the credentials were not sent; use "
                'security = "starttls" or "tls"',
                retryable=False,
            )
        try:
            if settings.oauth_token_provider is not None:
                token = await access_token(settings.oauth_token_provider)
                await client.auth_xoauth2(settings.username, token)
            else:
                password = settings.password.reveal() if settings.password else ""
                # One mechanism, chosen: aiosmtplib's login() tries the next one after a
                # refusal, and some servers then wait for input that never comes.
                methods = client.server_auth_methods
                if "plain" in methods:
                    await client.auth_plain(settings.username, password)
                elif "login" in methods:
                    await client.auth_login(settings.username, password)
                else:
                    await client.login(settings.username, password)
        except aiosmtplib.SMTPResponseException as exc:
            raise error_for_reply(exc.code, exc.message, stage="AUTH") from None
        except _LOST:
            raise TransportError(
                f"{settings.host} closed the connection during login", request_sent=False
            ) from None
        except aiosmtplib.SMTPException as exc:
            raise ProviderError(
                f"{settings.host} cannot log us in: {type(exc).__name__}; check the server's "
                "AUTH mechanisms",
                retryable=False,
            ) from None

    async def _acquire(self) -> tuple[aiosmtplib.SMTP, bool]:
        now = self._clock()
        while self._idle:
            client, last_used = self._idle.pop()
            if client.is_connected and now - last_used < self.settings.pool_idle_timeout:
                return client, True
            await self._discard(client)
        return await self._open(), False

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            with anyio.move_on_after(1):
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
        await _closed(client)

    async def send(
        self, message: EmailMessage, *, sender: str, recipients: Sequence[str]
    ) -> SmtpResult:
        """Send ``message`` to ``recipients`` in one transaction; raise the typed errors of the
        module docstring."""
        async with self._slots:
            client, reused = await self._acquire()
            try:
                try:
                    result = await self._transaction(client, message, sender, recipients)
                except _Dropped:
                    await self._discard(client)
                    if not reused:
                        raise TransportError(
                            f"{self.settings.host} closed the connection before the message",
                            request_sent=False,
                        ) from None
                    logger.info(
                        "pooled SMTP connection to %s was closed; reopening", client.hostname
                    )
                    client = await self._open()
                    try:
                        result = await self._transaction(client, message, sender, recipients)
                    except _Dropped:
                        raise TransportError(
                            f"{self.settings.host} closed the connection before the message",
                            request_sent=False,
                        ) from None
            except SendError as error:
                # The server's own refusal leaves the connection usable (the transaction was
                # reset); a transport failure does not.
                if isinstance(error, TransportError) or not client.is_connected:
                    await self._discard(client)
                else:
                    self._idle.append((client, self._clock()))
                raise
            except BaseException:
                await self._discard(client)
                raise
            self._idle.append((client, self._clock()))
            return result

    async def _transaction(
        self,
        client: aiosmtplib.SMTP,
        message: EmailMessage,
        sender: str,
        recipients: Sequence[str],
    ) -> SmtpResult:
        envelope_from, utf8 = envelope_address(sender)
        targets = [envelope_address(recipient) for recipient in recipients]
        utf8 = utf8 or any(needs for _, needs in targets)
        if utf8 and not client.supports_extension("smtputf8"):
            raise UnsupportedFeature(
                "a non-ASCII address needs SMTPUTF8, which the server does not offer",
                retryable=False,
            )
        data = message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
        limit = client.esmtp_extensions.get("size", "")
        if limit.isdigit() and int(limit) and len(data) > int(limit):
            raise ContentRejected(
                f"the message is {len(data)} bytes; the server accepts at most {limit}",
                retryable=False,
            )
        options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
        if client.supports_extension("size"):
            options.append(f"SIZE={len(data)}")
        encoding = "utf-8" if utf8 else "ascii"
        try:
            await client.mail(envelope_from, options=options, encoding=encoding)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:
                raise _Dropped from None
            await self._reset(client)
            raise error_for_reply(exc.code, exc.message, stage="MAIL") from None
        except _LOST:
            raise _Dropped from None
        refused: dict[str, str] = {}
        replies: list[int] = []
        for address, (target, _) in zip(recipients, targets, strict=True):
            try:
                await client.rcpt(target, encoding=encoding)
            except aiosmtplib.SMTPResponseException as exc:
                refused[address] = f"{exc.code} {exc.message}"
                replies.append(exc.code)
            except _LOST:
                raise _Dropped from None
        if len(refused) == len(recipients):
            await self._reset(client)
            transient = [code for code in replies if code < 500]
            first = transient[0] if transient else replies[0]
            raise error_for_reply(first, refused[recipients[0]], stage="RCPT")
        try:
            response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(client)
            raise error_for_reply(exc.code, exc.message, stage="DATA") from None
        except _LOST:
            raise TransportError(
                f"the connection to {self.settings.host} was lost after the message was sent; "
                "it may have been accepted",
                request_sent=True,
            ) from None
        return SmtpResult(response=f"{response.code} {response.message}", refused=refused)

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await _closed(client)

    async def aclose(self) -> None:
        """Close every pooled connection (QUIT, briefly waited for)."""
        idle, self._idle = self._idle, []
        for client, _ in idle:
            await self._discard(client)


async def _closed(client: aiosmtplib.SMTP) -> None:
    """Close ``client``'s connection and wait (briefly) until the loop has released its
    socket: ``close()`` only starts that (over TLS, after a close_notify exchange), so a
    caller that stops the loop next (a CLI command ending, a test) would leave the socket
    open. Shielded: it also runs while a cancellation unwinds."""
    protocol = client.protocol
    client.close()
    if protocol is None:
        return
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_WAIT_SECONDS):
        # aiosmtplib offers no awaitable for it: its protocol drops the transport when lost.
        while protocol.transport is not None:  # noqa: ASYNC110
            await anyio.sleep(_CLOSE_POLL_SECONDS)
