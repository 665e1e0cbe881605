"""Settings of the ``voice.twilio`` adapter: the Twilio account, the caller id and the voice.

Every value is checked when the configuration is read, so a swapped account SID and token, a
number without its country code or a ``base_url`` without a scheme fail at start-up with a
message naming the setting (never its value when it is a secret).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from omnichannel import AddressKind, ConfigurationError, InvalidAddress, Secret
from omnichannel.plugin import describe_value, secret, setting

__all__ = ["TwilioVoiceSettings"]

DEFAULT_BASE_URL: Final = "https://api.twilio.com"
DEFAULT_VOICE: Final = "Polly.Joanna"
DEFAULT_LANGUAGE: Final = "en-US"

_ACCOUNT_SID: Final = re.compile(r"^AC[0-9a-fA-F]{32}$")
# BCP 47 as Twilio's <Say language> takes it: "en-US", "fr-FR", "cmn-CN", "arb".
_LANGUAGE: Final = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0", ""})


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


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            "base_url must be an http(s) URL such as https://api.twilio.com "
            f"(got {describe_value(value)})"
        )
    return value.rstrip("/")


@attrs.frozen(kw_only=True)
class TwilioVoiceSettings:
    """How the adapter reaches Twilio Voice and what the callback sounds like."""

    account_sid: str = setting(help="Twilio Account SID (AC followed by 32 hex digits).")
    auth_token: Secret = secret(
        help="Twilio Auth Token: authenticates API requests and signs webhooks."
    )
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
    secondary_auth_token: Secret | None = secret(
        required=False,
        help="The secondary Auth Token during a rotation: also accepted on webhook signatures.",
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        converter=_base_url,
        help="API root (point it at the sandbox to test locally).",
    )

    def __attrs_post_init__(self) -> None:
        if not _ACCOUNT_SID.match(self.account_sid):
            raise ConfigurationError(
                "account_sid must be AC followed by 32 hex digits (find it on the Twilio "
                f"console; got {describe_value(self.account_sid)})"
            )
        for name, token in (
            ("auth_token", self.auth_token),
            ("secondary_auth_token", self.secondary_auth_token),
        ):
            value = token.reveal() if token is not None else None
            if value is not None and (not value or value != value.strip()):
                raise ConfigurationError(f"{name} must be a non-empty token without spaces")
        if not self.voice.strip():
            raise ConfigurationError("voice must not be empty (default Polly.Joanna)")
        if not _LANGUAGE.match(self.language):
            raise ConfigurationError("language must be a language tag such as en-US")
        if self.voicemail_message is not None and not self.voicemail_message.strip():
            raise ConfigurationError("voicemail_message must not be blank (leave it out instead)")
