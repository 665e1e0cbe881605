"""Telegram webhooks: the secret-token check, update parsing and the answer.

Telegram posts one ``Update`` object per request to the URL given to ``setWebhook``, with the
``secret_token`` given there in the ``X-Telegram-Bot-Api-Secret-Token`` header. The token is
compared in constant time before anything is parsed; a missing or wrong one is answered 403.

``message`` and ``edited_message`` updates become inbound envelopes. Every other update type
(channel posts, callback queries, chat member changes, ...) and service messages without
content (members joining, a pinned message) are acknowledged with 200 and ignored, so
Telegram does not redeliver them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from omnichannel import (
    Address,
    Direction,
    Envelope,
    Secret,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
    WebhookVerificationError,
)
from omnichannel.plugin import WebhookResult, constant_time_equal
from omnichannel_telegram.payloads import provider_id

__all__ = ["SECRET_HEADER", "parse", "update_request", "verify"]

logger = logging.getLogger(__name__)

SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
ACKNOWLEDGED: Final = WebhookResponse(status_code=200)
MESSAGE_UPDATES: Final = ("message", "edited_message")
ATTACHMENTS: Final = (
    "photo",
    "video",
    "animation",
    "audio",
    "voice",
    "video_note",
    "document",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)
"""Message kinds without text, described in the envelope's text as ``[photo]`` and so on."""


def verify(request: WebhookRequest, secret: Secret) -> None:
    """Raise :class:`~omnichannel.WebhookVerificationError` unless the secret token matches."""
    given = request.header(SECRET_HEADER)
    if given is None or not constant_time_equal(given, secret.reveal()):
        raise WebhookVerificationError(
            f"missing or wrong {SECRET_HEADER} header; check webhook_secret (the secret_token "
            "given to setWebhook)"
        )


def update_request(url: str, body: bytes, secret: Secret) -> WebhookRequest:
    """An update request carrying ``body``, as Telegram posts it."""
    headers = {"Content-Type": "application/json", SECRET_HEADER: secret.reveal()}
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)


def parse(request: WebhookRequest, *, channel: str, bot_id: str) -> WebhookResult:
    """The inbound message of a verified update, if it carries one, and the answer to give."""
    update = request.json()
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise WebhookParseError("expected a Telegram Update object with an integer update_id")
    for kind in MESSAGE_UPDATES:
        if kind in update:
            message = _envelope(update, kind, channel=channel, bot_id=bot_id)
            messages = [] if message is None else [message]
            return WebhookResult(response=ACKNOWLEDGED, messages=messages)
    logger.debug("ignoring a %s update without a message: %s", channel, sorted(update))
    return WebhookResult(response=ACKNOWLEDGED)


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    if not isinstance(value, Mapping):
        raise WebhookParseError(f"the update has no {name!r} object")
    return value


def _integer(parent: Mapping[str, Any], name: str) -> int:
    value = parent.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise WebhookParseError(f"the update has no integer {name!r}")
    return value


def _text(message: Mapping[str, Any]) -> str | None:
    for field in ("text", "caption"):
        value = message.get(field)
        if isinstance(value, str) and value:
            return value
    kind = next((kind for kind in ATTACHMENTS if kind in message), None)
    return f"[{kind}]" if kind else None


def _display_name(person: Mapping[str, Any]) -> str | None:
    parts = [person.get("first_name"), person.get("last_name")]
    name = " ".join(part for part in parts if isinstance(part, str) and part)
    title = person.get("title")
    return name or (title if isinstance(title, str) and title else None)


def _envelope(
    update: Mapping[str, Any], kind: str, *, channel: str, bot_id: str
) -> Envelope | None:
    message = _object(update, kind)
    chat = _object(message, "chat")
    chat_number = _integer(chat, "id")
    message_id = _integer(message, "message_id")
    text = _text(message)
    if text is None:
        logger.debug("ignoring a %s service message %s", channel, message_id)
        return None
    edited = kind == "edited_message"
    moment = _integer(message, "edit_date" if edited else "date")
    person = message.get("from")
    author = person if isinstance(person, Mapping) else chat
    metadata: dict[str, Any] = {
        "update_id": update["update_id"],
        "chat_type": chat.get("type"),
        "from_id": author.get("id"),
        "username": author.get("username"),
        "edited": edited or None,
    }
    replied = message.get("reply_to_message")
    thread = message.get("message_thread_id")
    business = Address(channel=channel, value=bot_id)
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=Address(channel=channel, value=str(chat_number), name=_display_name(author)),
        recipient=business,
        business_address=business,
        content=text,
        provider_id=provider_id(chat_number, message_id, edit_date=moment if edited else None),
        in_reply_to=(
            provider_id(chat_number, _integer(replied, "message_id"))
            if isinstance(replied, Mapping)
            else None
        ),
        thread=str(thread) if isinstance(thread, int) else None,
        created_at=datetime.fromtimestamp(moment, UTC),
        metadata={key: value for key, value in metadata.items() if value is not None},
        raw=dict(update),
    )
