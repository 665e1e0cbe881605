"""The settings of both adapters, as read from ``[channels.sms]`` and ``[channels.voice]``.

The account settings (``account_sid``, ``auth_token``, ``secondary_auth_token``, ``base_url``)
mean the same on both and are declared and checked once here; each class adds its own sender
and voice settings. Secrets are :class:`~omnichannel.Secret` values from the moment they are
read. The checks run when the configuration is loaded, so a wrong Account SID, a number
without its country code or a ``base_url`` without a scheme is reported before anything is
sent, naming the setting (never a secret's value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import attrs

from omnichannel import AddressKind, ConfigurationError, InvalidAddress, Secret
from omnichannel.plugin import describe_value, secret, setting

__all__ = [
    "DEFAULT_BASE_URL",
    "TwilioAccount",
    "TwilioSmsSettings",
    "TwilioVoiceSettings",
]

DEFAULT_BASE_URL: Final = "https://api.twilio.com"
DEFAULT_VOICE: Final = "Polly.Joanna"
DEFAULT_LANGUAGE: Final = "en-US"

_ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID: Final = re.compile(r"SK[0-9a-fA-F]{32}")
_SERVICE_SID: Final = re.compile(r"MG[0-9a-fA-F]{32}")
# BCP 47 as Twilio's <Say language> takes it: "en-US", "fr-FR", "cmn-CN", "arb".
_LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0", ""})


class TwilioAccount(Protocol):
    """What the shared adapter, webhook and simulator code reads from either settings class."""

    @property
    def account_sid(self) -> str:
        """The Account SID (``AC`` + 32 hex digits)."""
        ...

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        ...

    @property
    def api_credentials(self) -> tuple[tuple[str, Secret], ...]:
        """The Basic-auth pairs Twilio accepts for this account, the one to send first."""
        ...

    @property
    def webhook_tokens(self) -> tuple[Secret, ...]:
        """The tokens a webhook signature may be made with: primary, then secondary."""
        ...


# --- the account settings, shared -----------------------------------------------------------------


def _base_url(value: str) -> str:
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL} (an edge such as "
            "https://api.dublin.ie1.twilio.com, or the sandbox simulator's URL; got "
            f"{describe_value(value)})"
        )
    return str(value).rstrip("/")


def _account_sid() -> Any:
    return setting(
        help="The Twilio Account SID: 'AC' followed by 32 hex digits (Twilio Console, "
        "Account Info)."
    )


def _auth_token() -> Any:
    return secret(
        help="The account's primary Auth Token: it authenticates API calls and verifies "
        "X-Twilio-Signature on webhooks."
    )


def _secondary_auth_token() -> Any:
    return secret(
        required=False,
        help="Optional secondary Auth Token, also accepted on webhook signatures while the "
        "primary token is being rotated.",
    )


def _base_url_setting() -> Any:
    return setting(
        default=DEFAULT_BASE_URL,
        converter=_base_url,
        help="The API root (an edge such as https://api.dublin.ie1.twilio.com, or the "
        "sandbox simulator's URL).",
    )


class _AccountSettings:
    """What both settings classes do with the account settings: check them once, and say
    which credentials and webhook tokens they give."""

    __slots__ = ()

    account_sid: str
    auth_token: Secret
    secondary_auth_token: Secret | None

    def _check_account(self, *, api_keys: bool = False) -> None:
        if not _ACCOUNT_SID.fullmatch(self.account_sid):
            hint = (
                "; that looks like an API key SID: put it in api_key_sid"
                if api_keys and self.account_sid.startswith("SK")
                else ""
            )
            raise ConfigurationError(
                f"account_sid is not a Twilio Account SID (got {describe_value(self.account_sid)})"
                f": expected 'AC' followed by 32 hex digits (see the Twilio Console){hint}"
            )
        tokens = {"auth_token": self.auth_token, "secondary_auth_token": self.secondary_auth_token}
        for name, token in tokens.items():
            value = token.reveal() if token is not None else None
            if value is not None and (not value or value != value.strip()):
                raise ConfigurationError(
                    f"{name} must be a non-empty token without spaces; copy it from the "
                    "Twilio Console"
                )

    @property
    def api_credentials(self) -> tuple[tuple[str, Secret], ...]:
        """The Basic-auth pairs Twilio accepts: the Account SID with each Auth Token (Twilio
        accepts the secondary one too), the one to send first."""
        return tuple((self.account_sid, token) for token in self.webhook_tokens)

    @property
    def webhook_tokens(self) -> tuple[Secret, ...]:
        """The tokens a webhook signature may be made with: primary, then secondary."""
        if self.secondary_auth_token:
            return (self.auth_token, self.secondary_auth_token)
        return (self.auth_token,)


# --- sms.twilio -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TwilioSmsSettings(_AccountSettings):
    """How to reach a Twilio account and which sender to use (``sms.twilio``).

    Set exactly one of ``from`` and ``messaging_service_sid``. Authenticate with the Auth
    Token, or with an API key (``api_key_sid`` + ``api_key_secret``; the Account SID still
    names the account). Webhook signatures are always made with the account's Auth Token.
    """

    account_sid: str = _account_sid()
    auth_token: Secret = _auth_token()
    from_: str | None = setting(
        default=None,
        help="The sender: a Twilio phone number in E.164 form (+14155550100), a short code or "
        "an alphanumeric sender id. Leave unset when messaging_service_sid is set.",
    )
    messaging_service_sid: str | None = setting(
        default=None,
        help="A Messaging Service SID ('MG' + 32 hex digits): Twilio picks the sender from "
        "the service's pool. Leave unset when from is set.",
    )
    api_key_sid: str | None = setting(
        default=None,
        help="Optional API key SID ('SK' + 32 hex digits) used instead of the Auth Token for "
        "API calls; needs api_key_secret.",
    )
    api_key_secret: Secret | None = secret(required=False, help="The secret of api_key_sid.")
    secondary_auth_token: Secret | None = _secondary_auth_token()
    base_url: str = _base_url_setting()

    def __attrs_post_init__(self) -> None:
        self._check_account(api_keys=True)
        if bool(self.from_) == bool(self.messaging_service_sid):
            which = "both are set" if self.from_ else "neither is set"
            raise ConfigurationError(
                f"set exactly one of from (a Twilio number) and messaging_service_sid; {which}"
            )
        if self.messaging_service_sid and not _SERVICE_SID.fullmatch(self.messaging_service_sid):
            raise ConfigurationError(
                "messaging_service_sid is not a Messaging Service SID "
                f"(got {describe_value(self.messaging_service_sid)}): expected 'MG' followed "
                "by 32 hex digits"
            )
        if bool(self.api_key_sid) != bool(self.api_key_secret):
            raise ConfigurationError(
                "api_key_sid and api_key_secret go together: set both, or neither to use the "
                "Auth Token"
            )
        if self.api_key_sid and not _API_KEY_SID.fullmatch(self.api_key_sid):
            raise ConfigurationError(
                f"api_key_sid is not an API key SID (got {describe_value(self.api_key_sid)}): "
                "expected 'SK' followed by 32 hex digits"
            )

    @property
    def api_credentials(self) -> tuple[tuple[str, Secret], ...]:
        """The API key when one is set, then the Account SID with each Auth Token."""
        account = super().api_credentials
        if self.api_key_sid and self.api_key_secret:
            return ((self.api_key_sid, self.api_key_secret), *account)
        return account


# --- voice.twilio ---------------------------------------------------------------------------------


def _to_bool(value: Any) -> bool:
    # Values interpolated from ${ENV} arrive as strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError("machine_detection must be true or false")


def _phone(name: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        try:
            return AddressKind.PHONE.normalize(value)
        except InvalidAddress:
            raise ConfigurationError(
                f"{name} must be a phone number in E.164 form such as +14155550100 "
                f"(got {describe_value(value)})"
            ) from None

    return convert


def _optional_phone(name: str) -> Callable[[str | None], str | None]:
    convert = _phone(name)
    return lambda value: None if value is None else convert(value)


@attrs.frozen(kw_only=True)
class TwilioVoiceSettings(_AccountSettings):
    """How ``voice.twilio`` reaches Twilio Voice and what the callback sounds like."""

    account_sid: str = _account_sid()
    auth_token: Secret = _auth_token()
    from_: str = setting(
        converter=_phone("from"),
        help="The business number calls come from (E.164): a Twilio number or verified caller id.",
    )
    agent: str | None = setting(
        default=None,
        converter=_optional_phone("agent"),
        help="Number to connect after the message (E.164); envelope metadata connect_to wins.",
    )
    voice: str = setting(default=DEFAULT_VOICE, help="<Say voice>: Polly.*, Google.* or man/woman.")
    language: str = setting(default=DEFAULT_LANGUAGE, help="<Say language> (BCP 47, e.g. en-US).")
    machine_detection: bool = setting(
        default=False,
        converter=_to_bool,
        help="Ask Twilio to detect answering machines (MachineDetection=DetectMessageEnd).",
    )
    voicemail_message: str | None = setting(
        default=None,
        help="With machine_detection: a line spoken after the message, meant for a voicemail.",
    )
    secondary_auth_token: Secret | None = _secondary_auth_token()
    base_url: str = _base_url_setting()

    def __attrs_post_init__(self) -> None:
        self._check_account()
        if not self.voice.strip():
            raise ConfigurationError("voice must not be empty (default Polly.Joanna)")
        if not _LANGUAGE.fullmatch(self.language):
            raise ConfigurationError("language must be a language tag such as en-US")
        if self.voicemail_message is not None and not self.voicemail_message.strip():
            raise ConfigurationError("voicemail_message must not be blank (leave it out instead)")
