"""The omnichannel adapter contract: passing it is what "this adapter conforms" means."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import httpx
import omnichannel_telegram.hooks
from omnichannel_telegram import TelegramBotAdapter, TelegramBotSimulator
from omnichannel_telegram.webhooks import SECRET_HEADER

from omnichannel import WebhookRequest
from omnichannel.testing import AdapterContract


class TestTelegramBotContract(AdapterContract):
    adapter_class = TelegramBotAdapter
    simulator_class = TelegramBotSimulator
    hooks_module: ClassVar[object] = omnichannel_telegram.hooks
    rate_limit_response = httpx.Response(
        429,
        json={
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 5",
            "parameters": {"retry_after": 5},
        },
    )
    expected_retry_after = 5.0
    auth_error_response = httpx.Response(
        401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
    )
    # The Bot API reports nothing after sendMessage's answer: no delivered, no read.
    reports_status_callbacks = False

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        token = adapter.settings.webhook_secret.reveal()
        return attrs.evolve(request, headers=[*request.headers, (SECRET_HEADER, token)])

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        # Telegram authenticates the caller with a static token, not a signature over the
        # body: what an attacker can change is the token they present.
        headers = [
            (name, f"{value}-forged" if name.lower() == SECRET_HEADER.lower() else value)
            for name, value in request.headers
        ]
        return attrs.evolve(request, headers=headers)
