"""The ``telegram.bot`` adapter: a Telegram bot behind omnichannel's adapter contract.

:class:`~omnichannel.plugin.BaseAdapter` does the sending, retries, error context and receipts; this
class supplies only the Telegram parts, each delegated to a pure function in
:mod:`omnichannel_telegram.payloads` or :mod:`omnichannel_telegram.webhooks`.

The Bot API puts the bot token in the URL path (``/bot<token>/sendMessage``), so the request URL
is a secret: it is built here and handed to the sender, and nothing this plugin raises, logs
or prints contains it.
"""

from __future__ import annotations

import json
import secrets
from typing import Final

from omnichannel import (
    AddressKind,
    DeliveryStatus,
    Envelope,
    SendError,
    TextFormat,
    UnsupportedFeature,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import (
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InboundMode,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    WebhookResult,
)
from omnichannel_telegram import payloads, webhooks
from omnichannel_telegram.settings import TelegramBotSettings

__all__ = ["CAPABILITIES", "TelegramBotAdapter"]

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.OPAQUE,
    max_text_length=payloads.MAX_TEXT_LENGTH,
    split_long_text=True,
    formats={TextFormat.PLAIN},
    media=None,
    threading=True,
    # sendMessage answers with the Message once Telegram has it; the Bot API reports nothing
    # after that (no delivered, no read), so these are all a bot can ever know.
    statuses={DeliveryStatus.SENT, DeliveryStatus.FAILED},
    inbound={InboundMode.WEBHOOK},
)


class TelegramBotAdapter(BaseAdapter[TelegramBotSettings]):
    """Sends text as a Telegram bot and reads the updates Telegram posts to the webhook."""

    info = AdapterInfo(
        name=payloads.ADAPTER_NAME,
        channel="telegram",
        provider="bot",
        description="Telegram through the Bot API: a bot and the people who write to it.",
    )
    capabilities = CAPABILITIES
    settings_class = TelegramBotSettings

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """``POST {base_url}/bot<token>/sendMessage`` with :func:`payloads.send_body`."""
        token = self.settings.bot_token.reveal()
        return ProviderRequest.json(
            "POST",
            f"{self.settings.base_url}/bot{token}/sendMessage",
            payloads.send_body(envelope),
        )

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """The sent Message's provider id (``"<chat id>:<message id>"``)."""
        try:
            data: object = response.json()
        except ValueError:
            data = None
        return payloads.sent_message(data)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """The Bot API's ``error_code`` and ``description``, mapped by table."""
        return payloads.error_for_response(response)

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-Telegram-Bot-Api-Secret-Token``; Telegram has no handshake."""
        webhooks.verify(request, self.settings.webhook_secret)
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """``message`` and ``edited_message`` updates; the rest is acknowledged and ignored."""
        return webhooks.parse(request, channel=self.info.channel, bot_id=self.settings.bot_id)

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A private-chat ``message`` update from the chat id ``sender``, as Telegram posts it."""
        chat = payloads.chat_id(sender)
        if not isinstance(chat, int):
            raise UnsupportedFeature(
                f"Telegram chat ids are integers; simulate a message from one such as 123456789, "
                f"not {sender!r}",
                adapter=self.info.name,
            )
        person = {"id": chat, "is_bot": False, "first_name": "Sandbox", "username": "sandbox"}
        update = {
            # Random ids, so two simulated messages are never taken for duplicates.
            "update_id": secrets.randbelow(2**31),
            "message": {
                "message_id": secrets.randbelow(2**31),
                "from": person,
                "chat": {**{k: v for k, v in person.items() if k != "is_bot"}, "type": "private"},
                "date": int(self.now().timestamp()),
                "text": text,
            },
        }
        body = json.dumps(update, ensure_ascii=False).encode()
        return webhooks.update_request(url, body, self.settings.webhook_secret)
