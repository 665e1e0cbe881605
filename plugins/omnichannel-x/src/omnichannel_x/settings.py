"""Settings of the ``twitter.x`` adapter, as read from ``[channels.twitter]``.

Two ways to act as the account, both user context (X refuses app-only tokens for DMs):
an OAuth 2.0 user access token (``bearer_token``), or the four OAuth 1.0a values
(``consumer_key``, ``consumer_secret``, ``access_token``, ``access_token_secret``), which sign
every request. ``consumer_secret`` is also the key of X's webhook signatures and CRC answers,
so a webhook deployment sets it whichever auth it uses. Every value is checked when the
configuration is read; errors name the setting, never a secret's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import attrs

from omnichannel import ConfigurationError, Secret
from omnichannel.plugin import secret, setting
from omnichannel_x.oauth1 import OAuth1Credentials

__all__ = [
    "ACTIVITY_APIS",
    "DEFAULT_BASE_URL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_POLL_LOOKBACK",
    "XTwitterSettings",
]

DEFAULT_BASE_URL: Final = "https://api.x.com"
DEFAULT_POLL_INTERVAL: Final = 60.0
"""Seconds between two polls of one stream. DM lookups allow 15 requests per 15 minutes per
user (providers.md 5.4), so a minute keeps every stream inside its limit."""
DEFAULT_POLL_LOOKBACK: Final = 900.0
ACTIVITY_APIS: Final = ("x-activity", "account-activity")

_USER_ID: Final = re.compile(r"[0-9]{1,19}")


def _strip_slash(value: str) -> str:
    return str(value).rstrip("/")


def _queries(value: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(query, str) for query in value):
        raise ConfigurationError(
            'search_queries must be a list of strings, e.g. search_queries = ["acme -from:acme"]'
        )
    queries = tuple(query.strip() for query in value)
    if any(not query for query in queries):
        raise ConfigurationError("search_queries must not contain an empty query")
    if len(set(queries)) != len(queries):
        raise ConfigurationError("search_queries lists the same query twice")
    return queries


def _seconds(value: float | int | str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{value!r} is not a number of seconds") from None
    if seconds < 0:
        raise ConfigurationError(f"{value!r} seconds: it cannot be negative (0 turns a stream off)")
    return seconds


@attrs.frozen(kw_only=True)
class XTwitterSettings:
    """Which X account the adapter acts as, how it authenticates, and what it polls."""

    user_id: str = setting(
        help="The numeric id of our X account (a decimal string, e.g. '2244994945'): the "
        "business address, the account whose mentions are polled, and the sender whose own "
        "echoed messages are dropped."
    )
    bearer_token: Secret | None = secret(
        required=False,
        help="An OAuth 2.0 user-context access token of the account (scopes dm.read, "
        "dm.write, tweet.read, tweet.write, users.read, media.write). Set it, or the four "
        "OAuth 1.0a values.",
    )
    consumer_key: str | None = setting(
        default=None, help="The app's API key (OAuth 1.0a consumer key)."
    )
    consumer_secret: Secret | None = secret(
        required=False,
        help="The app's API key secret: signs OAuth 1.0a requests, verifies "
        "x-twitter-webhooks-signature and answers the CRC check.",
    )
    access_token: Secret | None = secret(
        required=False, help="The account's OAuth 1.0a access token."
    )
    access_token_secret: Secret | None = secret(
        required=False, help="The account's OAuth 1.0a access token secret."
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        converter=_strip_slash,
        help="The API root (https://api.x.com, or the sandbox simulator's URL).",
    )
    search_queries: tuple[str, ...] = setting(
        default=(),
        converter=_queries,
        help="Recent-search queries polled for brand monitoring, e.g. ['acme -from:acme']; "
        "each hit arrives as a public inbound envelope.",
    )
    dm_poll_interval: float = setting(
        default=DEFAULT_POLL_INTERVAL,
        converter=_seconds,
        help="Seconds between polls of GET /2/dm_events; 0 when DMs come by webhook.",
    )
    mentions_poll_interval: float = setting(
        default=DEFAULT_POLL_INTERVAL,
        converter=_seconds,
        help="Seconds between polls of GET /2/users/{user_id}/mentions; 0 turns it off.",
    )
    search_poll_interval: float = setting(
        default=DEFAULT_POLL_INTERVAL,
        converter=_seconds,
        help="Seconds between polls of each search query; 0 turns them off.",
    )
    poll_lookback: float = setting(
        default=DEFAULT_POLL_LOOKBACK,
        converter=_seconds,
        help="How far back, in seconds, the first poll of a stream looks (a stream with no "
        "stored cursor yet): what arrived that recently is delivered, older history is not.",
    )
    activity_api: str = setting(
        default="x-activity",
        help="Which webhook payloads omni simulate and the sandbox send: 'x-activity' (the X "
        "Activity API of pay-per-use accounts) or 'account-activity' (the enterprise "
        "Account Activity API). Inbound webhooks of both kinds are always accepted.",
    )

    def __attrs_post_init__(self) -> None:
        if not _USER_ID.fullmatch(self.user_id):
            raise ConfigurationError(
                f"user_id {self.user_id!r} is not an X user id: expected 1 to 19 digits (an "
                "@handle is not an id; GET /2/users/by/username/<handle> gives it)"
            )
        oauth1 = (self.access_token, self.access_token_secret)
        if any(oauth1):
            if self.bearer_token:
                raise ConfigurationError(
                    "set bearer_token (OAuth 2.0) or the OAuth 1.0a access_token and "
                    "access_token_secret, not both"
                )
            missing = [
                name
                for name, value in (
                    ("consumer_key", self.consumer_key),
                    ("consumer_secret", self.consumer_secret),
                    ("access_token", self.access_token),
                    ("access_token_secret", self.access_token_secret),
                )
                if not value
            ]
            if missing:
                raise ConfigurationError(
                    f"OAuth 1.0a needs consumer_key, consumer_secret, access_token and "
                    f"access_token_secret; missing: {', '.join(missing)}"
                )
        elif not self.bearer_token:
            raise ConfigurationError(
                "no credentials: set bearer_token (an OAuth 2.0 user access token) or "
                "consumer_key, consumer_secret, access_token and access_token_secret (OAuth 1.0a)"
            )
        if not self.base_url.startswith(("https://", "http://")):
            raise ConfigurationError(
                f"base_url {self.base_url!r} must be an http(s) URL such as {DEFAULT_BASE_URL}"
            )
        if self.activity_api not in ACTIVITY_APIS:
            raise ConfigurationError(
                f"activity_api must be one of {', '.join(ACTIVITY_APIS)}, not {self.activity_api!r}"
            )

    @property
    def oauth1(self) -> OAuth1Credentials | None:
        """The OAuth 1.0a credentials, when the adapter signs requests with them."""
        if not (self.access_token and self.access_token_secret):
            return None
        assert self.consumer_key is not None
        assert self.consumer_secret is not None
        return OAuth1Credentials(
            consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret,
            token=self.access_token,
            token_secret=self.access_token_secret,
        )
