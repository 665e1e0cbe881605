"""A local stand-in for the Telegram Bot API, mounted by ``omni sandbox`` and ``omni demo``.

It answers ``sendMessage`` and ``getMe`` at ``/bot<token>/<method>`` as the Bot API does,
refusing any token but the configured one. The Bot API has no delivery callbacks, so the
simulator posts none. A few chat ids behave differently, to exercise error paths:

=============  ==================================================================
chat id        answer
=============  ==================================================================
``403000001``  403 ``Forbidden: bot was blocked by the user``
``400000001``  400 ``Bad Request: chat not found``
``429000001``  429 ``Too Many Requests: retry after 3`` with ``retry_after: 3``
=============  ==================================================================
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.plugin import constant_time_equal
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel_telegram.payloads import ADAPTER_NAME, MAX_TEXT_LENGTH
from omnichannel_telegram.settings import TelegramBotSettings

__all__ = ["TelegramBotSimulator"]

BLOCKED_CHAT: Final = 403000001
UNKNOWN_CHAT: Final = 400000001
FLOODED_CHAT: Final = 429000001
SAMPLE_BOT_TOKEN: Final = "7000000001:AAsandbox-bot-token_0123456789abcdef"

_METHOD_PATH: Final = re.compile(r"/bot([^/]+)/([A-Za-z]+)")


def _error(error_code: int, description: str, **parameters: Any) -> WebhookResponse:
    body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return WebhookResponse.json(body, error_code)


def _ok(result: object) -> WebhookResponse:
    return WebhookResponse.json({"ok": True, "result": result})


class TelegramBotSimulator(BaseSimulator):
    """The Bot API's ``sendMessage`` and ``getMe``."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    prefix: ClassVar[str] = "telegram"
    sample_recipient: ClassVar[str] = "123456789"

    settings: TelegramBotSettings

    def __init__(self, settings: TelegramBotSettings, context: SimulatorContext) -> None:
        super().__init__(settings, context)
        self._message_ids = itertools.count(1)

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings for the adapter, pointing at the simulator mounted at ``base_url``."""
        return {
            "bot_token": SAMPLE_BOT_TOKEN,
            "webhook_secret": "sandbox-telegram-webhook-secret",
            "base_url": base_url,
        }

    @property
    def bot(self) -> dict[str, Any]:
        """The bot's own User object."""
        return {
            "id": int(self.settings.bot_id),
            "is_bot": True,
            "first_name": "Sandbox Bot",
            "username": "omnichannel_sandbox_bot",
        }

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one Bot API call, as Telegram would."""
        match = _METHOD_PATH.fullmatch(self.subpath(request))
        if match is None:
            return _error(404, "Not Found")
        token, method = match.groups()
        if not constant_time_equal(token, self.settings.bot_token.reveal()):
            return _error(401, "Unauthorized")
        if method == "getMe":
            return _ok(self.bot)
        if method == "sendMessage" and request.method == "POST":
            return self._send_message(request)
        return _error(404, "Not Found: method not found")

    def _send_message(self, request: WebhookRequest) -> WebhookResponse:
        try:
            params = request.json()
        except WebhookParseError:
            return _error(400, "Bad Request: can't parse JSON")
        if not isinstance(params, Mapping):
            return _error(400, "Bad Request: parameters must be a JSON object")
        chat = params.get("chat_id")
        text = params.get("text")
        if not isinstance(chat, int | str) or isinstance(chat, bool) or chat == "":
            return _error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            return _error(400, "Bad Request: message is too long")
        if not isinstance(chat, int):
            return _error(400, "Bad Request: chat not found")
        if chat == BLOCKED_CHAT:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat == UNKNOWN_CHAT:
            return _error(400, "Bad Request: chat not found")
        if chat == FLOODED_CHAT:
            return _error(429, "Too Many Requests: retry after 3", retry_after=3)
        now = int(time.time())
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self.bot,
            "chat": {"id": chat, "type": "private"},
            "date": now,
            "text": text,
        }
        reply = params.get("reply_parameters")
        if reply is not None:
            replied = reply.get("message_id") if isinstance(reply, Mapping) else None
            if not isinstance(replied, int):
                return _error(400, "Bad Request: invalid reply_parameters")
            message["reply_to_message"] = {
                "message_id": replied,
                "chat": {"id": chat, "type": "private"},
                "date": now,
            }
        return _ok(message)
