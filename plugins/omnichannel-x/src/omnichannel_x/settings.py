"""Settings of the ``twitter.x`` adapter: API token, webhook key, API root.

Every value is checked when the configuration is read, so a mistake fails at start-up with a
message naming the setting (never a secret's value).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import attrs
from omnichannel import ConfigurationError, Secret
from omnichannel.plugin import secret, setting

__all__ = ["DEFAULT_BASE_URL", "XTwitterSettings"]

DEFAULT_BASE_URL: Final = "https://api.x.example/v1"


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}")
    return value.rstrip("/")


@attrs.frozen(kw_only=True)
class XTwitterSettings:
    """How the adapter reaches X and checks its webhooks."""

    api_token: Secret = secret(help="X API token, sent as a bearer token.")
    webhook_secret: Secret = secret(
        help="Key of the X-X-Signature header (HMAC-SHA256 of the body, hex)."
    )
    from_: str | None = setting(
        default=None, help="The sender id messages come from (the account default when unset)."
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        converter=_base_url,
        help="API root (point it at the sandbox to test locally).",
    )
