"""The settings of the ``whatsapp.meta`` adapter, as read from ``[channels.whatsapp]``.

The access token, the app secret and the verify token are :class:`~omnichannel.Secret` values
from the moment they are read. Every value is checked when the configuration is loaded, so a
phone number given where the phone-number id belongs, or a Graph API version written the wrong
way, fails at start-up with a message naming the setting (never a secret's value).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

import attrs

from omnichannel import ConfigurationError, Secret
from omnichannel.plugin import secret, setting

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "MetaWhatsappSettings"]

DEFAULT_BASE_URL: Final = "https://graph.facebook.com"
DEFAULT_API_VERSION: Final = "v25.0"
"""Graph API v25.0 (2026-02-18) is supported until 2028-07; v26.0 (2026-07-29) exists too."""

_VERSION: Final = re.compile(r"v?(\d{2,3})(?:\.0)?")
_PHONE_NUMBER_ID: Final = re.compile(r"\d{5,20}")


def _base_url(value: str) -> str:
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"base_url {text!r} must be an http(s) URL such as {DEFAULT_BASE_URL}"
        )
    return text.rstrip("/")


def _stripped(value: str) -> str:
    return str(value).strip()


def _api_version(value: str) -> str:
    text = str(value).strip()
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ConfigurationError(
            f"api_version {text!r} is not a Graph API version: write it as v25.0 (the "
            "default) or v26.0"
        )
    return f"v{int(match.group(1))}.0"


@attrs.frozen(kw_only=True)
class MetaWhatsappSettings:
    """How to reach the WhatsApp Cloud API for one business phone number, and how to check
    Meta's webhooks."""

    access_token: Secret = secret(
        help="A system-user access token with whatsapp_business_messaging permission, sent as "
        "a bearer token (temporary tokens from the App Dashboard expire after about 24 hours)."
    )
    phone_number_id: str = setting(
        converter=_stripped,
        help="The phone-number id of the business number (WhatsApp Manager, API Setup), not "
        "the phone number itself. Sends go out from it; webhooks for other numbers are "
        "acknowledged and ignored.",
    )
    app_secret: Secret = secret(
        help="The Meta app's App Secret (App Dashboard, Settings, Basic): it verifies "
        "X-Hub-Signature-256 on every webhook."
    )
    verify_token: Secret = secret(
        help="The Verify Token typed into the webhook configuration: Meta's subscription "
        "check (GET hub.verify_token) must match it."
    )
    api_version: str = setting(
        default=DEFAULT_API_VERSION,
        converter=_api_version,
        help="The Graph API version, such as v25.0 (the default) or v26.0.",
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        converter=_base_url,
        help="The Graph API root (point it at the sandbox simulator to test locally).",
    )

    def __attrs_post_init__(self) -> None:
        number_id = self.phone_number_id
        if not _PHONE_NUMBER_ID.fullmatch(number_id):
            hint = (
                "; that looks like a phone number: use the phone-number id shown beside it in "
                "WhatsApp Manager (API Setup)"
                if number_id.startswith("+")
                else ""
            )
            raise ConfigurationError(
                f"phone_number_id {number_id!r} is not a phone-number id: expected the digits "
                f"of the id Meta assigned to the number{hint}"
            )
        for name in ("access_token", "app_secret", "verify_token"):
            if not getattr(self, name):
                raise ConfigurationError(f"{name} is empty; copy it from the Meta App Dashboard")

    @property
    def api_root(self) -> str:
        """``{base_url}/{api_version}``: what every Graph API path hangs off."""
        return f"{self.base_url}/{self.api_version}"
