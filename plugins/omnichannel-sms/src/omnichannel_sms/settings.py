"""The settings of the ``sms.twilio`` adapter, as read from ``[channels.sms]``.

Secrets (the Auth Token, an API key secret, the secondary Auth Token) are
:class:`~omnichannel.Secret` values from the moment they are read. The checks here run when
the configuration is loaded, so a wrong Account SID or a missing sender is reported before
any message is sent.
"""

from __future__ import annotations

import re
from typing import Final

import attrs

from omnichannel import ConfigurationError, Secret
from omnichannel.plugin import describe_value, secret, setting

__all__ = ["DEFAULT_BASE_URL", "TwilioSmsSettings"]

DEFAULT_BASE_URL: Final = "https://api.twilio.com"

_ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID: Final = re.compile(r"SK[0-9a-fA-F]{32}")
_SERVICE_SID: Final = re.compile(r"MG[0-9a-fA-F]{32}")


def _strip_slash(value: str) -> str:
    return str(value).rstrip("/")


@attrs.frozen(kw_only=True)
class TwilioSmsSettings:
    """How to reach a Twilio account and which sender to use.

    Set exactly one of ``from`` and ``messaging_service_sid``. Authenticate with the Auth
    Token, or with an API key (``api_key_sid`` + ``api_key_secret``; the Account SID still
    names the account). Webhook signatures are always made with the account's Auth Token.
    """

    account_sid: str = setting(
        help="The Twilio Account SID: 'AC' followed by 32 hex digits (Twilio Console, "
        "Account Info)."
    )
    auth_token: Secret = secret(
        help="The account's primary Auth Token: it authenticates API calls (unless an API key "
        "is set) and verifies X-Twilio-Signature on webhooks."
    )
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
    secondary_auth_token: Secret | None = secret(
        required=False,
        help="Optional secondary Auth Token, also accepted on webhook signatures while the "
        "primary token is being rotated.",
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        converter=_strip_slash,
        help="The API root (an edge such as https://api.dublin.ie1.twilio.com, or the "
        "sandbox simulator's URL).",
    )

    def __attrs_post_init__(self) -> None:
        if not _ACCOUNT_SID.fullmatch(self.account_sid):
            hint = (
                "; that looks like an API key SID: put it in api_key_sid"
                if self.account_sid.startswith("SK")
                else ""
            )
            got = describe_value(self.account_sid)
            raise ConfigurationError(
                f"account_sid is not a Twilio Account SID (got {got}): expected 'AC' followed "
                f"by 32 hex digits (see the Twilio Console){hint}"
            )
        if not self.auth_token:
            raise ConfigurationError("auth_token is empty; copy it from the Twilio Console")
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
        if not self.base_url.startswith(("https://", "http://")):
            raise ConfigurationError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL} "
                f"(got {describe_value(self.base_url)})"
            )

    @property
    def webhook_tokens(self) -> tuple[Secret, ...]:
        """The tokens a webhook signature may be made with: primary, then secondary."""
        if self.secondary_auth_token:
            return (self.auth_token, self.secondary_auth_token)
        return (self.auth_token,)
