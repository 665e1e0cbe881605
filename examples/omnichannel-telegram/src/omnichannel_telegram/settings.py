"""Settings of the ``telegram.bot`` adapter: the bot token, the webhook secret, the API root.

Every value is checked when the configuration is read, so a pasted-in-the-wrong-field token
fails at start-up with a message naming the setting, never its value.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

import attrs

from omnichannel import ConfigurationError, Secret
from omnichannel.plugin import secret, setting

__all__ = ["DEFAULT_BASE_URL", "TelegramBotSettings"]

DEFAULT_BASE_URL: Final = "https://api.telegram.org"

# A bot token is "<bot id>:<secret part>", as @BotFather hands it out.
_BOT_TOKEN: Final = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
# setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
_WEBHOOK_SECRET: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}")
    return value.rstrip("/")


@attrs.frozen(kw_only=True)
class TelegramBotSettings:
    """How the adapter reaches the Bot API and recognises Telegram's webhook calls."""

    bot_token: Secret = secret(
        help="The bot token from @BotFather (123456789:AA...); it is part of every API URL."
    )
    webhook_secret: Secret = secret(
        help="The secret_token given to setWebhook; Telegram sends it back in the "
        "X-Telegram-Bot-Api-Secret-Token header of every update."
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        converter=_base_url,
        help="Bot API root (a local Bot API server, or the sandbox to test locally).",
    )

    def __attrs_post_init__(self) -> None:
        if not _BOT_TOKEN.fullmatch(self.bot_token.reveal()):
            raise ConfigurationError(
                "bot_token must look like 123456789:AA... (the token @BotFather gave the bot)"
            )
        if not _WEBHOOK_SECRET.fullmatch(self.webhook_secret.reveal()):
            raise ConfigurationError(
                "webhook_secret must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(Telegram's rule for setWebhook's secret_token)"
            )

    @property
    def bot_id(self) -> str:
        """The bot's own user id: the public part of the token, before the colon."""
        return self.bot_token.reveal().partition(":")[0]
