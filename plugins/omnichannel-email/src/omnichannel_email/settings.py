"""Settings of the ``email.smtp`` adapter: the SMTP submission server, the IMAP mailbox, the
inbound-parse webhook secrets, and the caps and timings around them.

Every value is checked when the configuration is read, so a mistake fails at start-up with a
message naming the setting (never a secret's value).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Awaitable, Callable
from email.headerregistry import Address as HeaderAddress
from email.utils import parseaddr
from typing import Final

import attrs

from omnichannel import ConfigurationError, Secret
from omnichannel.plugin import secret, setting

__all__ = [
    "ImapSecurity",
    "Security",
    "SmtpEmailSettings",
    "TokenProvider",
]

TokenProvider = Callable[[], "str | Awaitable[str]"]
"""Returns a current OAuth 2 access token for XOAUTH2 (sync or async; called per login)."""


class Security(enum.StrEnum):
    """How the SMTP connection is protected."""

    TLS = "tls"
    """Implicit TLS from the first byte (port 465, RFC 8314's preference)."""
    STARTTLS = "starttls"
    """Plain connect, then STARTTLS, required: refused if the server does not offer it (587)."""
    OPPORTUNISTIC = "opportunistic"
    """STARTTLS when the server offers it, plain otherwise (a relay on a trusted network)."""
    NONE = "none"
    """No TLS at all: local servers and the sandbox only."""


class ImapSecurity(enum.StrEnum):
    """How the IMAP connection is protected."""

    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


SMTP_PORTS: Final = {
    Security.TLS: 465,
    Security.STARTTLS: 587,
    Security.OPPORTUNISTIC: 587,
    Security.NONE: 25,
}
IMAP_PORTS: Final = {ImapSecurity.TLS: 993, ImapSecurity.STARTTLS: 143, ImapSecurity.NONE: 143}


def _mailbox(value: str) -> str:
    name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain:
        raise ConfigurationError(
            "from must be an address such as 'Acme Support <support@acme.example>'"
        )
    return str(HeaderAddress(display_name=name, username=local, domain=domain.lower()))


def _port(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    port = int(value)
    if not 0 < port < 65536:
        raise ConfigurationError("a port must be between 1 and 65535")
    return port


def _positive(value: float | int | str) -> float:
    number = float(value)
    if number <= 0:
        raise ConfigurationError("timeouts, intervals and caps must be positive")
    return number


def _positive_int(value: int | str) -> int:
    return int(_positive(value))


def _domain(value: str | None) -> str | None:
    if value is None:
        return None
    domain = value.strip().lower().lstrip("@")
    if "." not in domain or "@" in domain or " " in domain:
        raise ConfigurationError("reply_to_domain must be a domain such as 'reply.acme.example'")
    return domain


def _token_provider(value: TokenProvider | str | None) -> TokenProvider | None:
    """A callable, or ``"package.module:function"`` naming one (TOML cannot hold a callable)."""
    if value is None or callable(value):
        return value
    module_name, colon, attribute = str(value).partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigurationError("oauth_token_provider must be 'package.module:function'")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"oauth_token_provider {value!r} cannot be imported ({type(exc).__name__})"
        ) from None
    if not callable(found):
        raise ConfigurationError(f"oauth_token_provider {value!r} is not callable")
    provider: TokenProvider = found
    return provider


@attrs.frozen(kw_only=True)
class SmtpEmailSettings:
    """How the adapter sends (SMTP), receives (IMAP, inbound-parse webhooks) and threads."""

    from_: str = setting(
        converter=_mailbox,
        help="The mailbox messages come from, e.g. 'Acme Support <support@acme.example>'.",
    )
    host: str = setting(default="localhost", help="The SMTP submission server.")
    port: int | None = setting(
        default=None,
        converter=_port,
        help="The SMTP port; 465 for tls, 587 for starttls/opportunistic, 25 for none.",
    )
    security: Security = setting(
        default=Security.STARTTLS,
        converter=Security,
        help="tls (implicit, 465), starttls (required), opportunistic, or none (local only).",
    )
    username: str | None = setting(default=None, help="The SMTP login (AUTH PLAIN/LOGIN).")
    password: Secret | None = secret(required=False, help="The SMTP password.")
    oauth_token_provider: TokenProvider | None = setting(
        default=None,
        converter=_token_provider,
        help="XOAUTH2 (Gmail, Microsoft 365): 'module:function' returning an access token; "
        "used for SMTP and IMAP instead of the passwords.",
    )
    tls_ca_file: str | None = setting(
        default=None, help="A CA bundle (PEM) to verify the servers' certificates with."
    )
    timeout: float = setting(
        default=30.0, converter=_positive, help="Seconds one SMTP or IMAP exchange may take."
    )
    pool_size: int = setting(
        default=4, converter=_positive_int, help="SMTP connections kept open for reuse."
    )
    pool_idle_timeout: float = setting(
        default=60.0,
        converter=_positive,
        help="Seconds an idle pooled SMTP connection is kept before it is closed.",
    )
    message_id_domain: str | None = setting(
        default=None,
        converter=_domain,
        help="The domain of our Message-IDs (the domain of from by default).",
    )
    reply_to_domain: str | None = setting(
        default=None,
        converter=_domain,
        help="When set, Reply-To is reply+{conversation or envelope key}@this domain.",
    )
    imap_host: str | None = setting(default=None, help="The IMAP server (polling is off unset).")
    imap_port: int | None = setting(
        default=None, converter=_port, help="The IMAP port; 993 for tls, 143 otherwise."
    )
    imap_security: ImapSecurity = setting(
        default=ImapSecurity.TLS, converter=ImapSecurity, help="tls, starttls or none."
    )
    imap_username: str | None = setting(
        default=None, help="The IMAP login (the SMTP username by default)."
    )
    imap_password: Secret | None = secret(
        required=False, help="The IMAP password (the SMTP password by default)."
    )
    imap_folder: str = setting(default="INBOX", help="The folder polled for new mail.")
    imap_processed_folder: str | None = setting(
        default=None,
        help="Move processed mail here; unset: mark it \\Seen and leave it in imap_folder.",
    )
    poll_interval: float = setting(
        default=60.0, converter=_positive, help="Seconds between two IMAP polls."
    )
    webhook_secret: Secret | None = secret(
        required=False,
        help="Required on /webhooks/email: as the basic-auth password or ?secret= in the URL.",
    )
    mailgun_signing_key: Secret | None = secret(
        required=False, help="Mailgun's webhook signing key, to verify Mailgun route posts."
    )
    max_attachment_bytes: int = setting(
        default=10 * 1024 * 1024,
        converter=_positive_int,
        help="Inbound attachments larger than this are dropped (and listed in metadata).",
    )
    max_message_bytes: int = setting(
        default=25 * 1024 * 1024,
        converter=_positive_int,
        help="Messages larger than this are refused (inbound) or not sent (outbound).",
    )

    def __attrs_post_init__(self) -> None:
        if self.password is not None and self.username is None:
            raise ConfigurationError("password needs a username")
        if self.oauth_token_provider is not None and self.username is None:
            raise ConfigurationError("oauth_token_provider needs a username (the mailbox)")

    @property
    def smtp_port(self) -> int:
        """The SMTP port, explicit or the default for the security mode."""
        return self.port or SMTP_PORTS[self.security]

    @property
    def imap_port_number(self) -> int:
        """The IMAP port, explicit or the default for the security mode."""
        return self.imap_port or IMAP_PORTS[self.imap_security]

    @property
    def from_address(self) -> HeaderAddress:
        """``from`` as a header address (display name and addr-spec)."""
        name, address = parseaddr(self.from_)
        local, _, domain = address.rpartition("@")
        return HeaderAddress(display_name=name, username=local, domain=domain)

    @property
    def domain(self) -> str:
        """The domain of our Message-IDs."""
        return self.message_id_domain or self.from_address.domain

    @property
    def imap_login(self) -> str | None:
        """The IMAP user name."""
        return self.imap_username or self.username

    @property
    def imap_secret(self) -> Secret | None:
        """The IMAP password."""
        return self.imap_password or self.password
