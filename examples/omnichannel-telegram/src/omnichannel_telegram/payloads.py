"""Pure mapping between envelopes and the Telegram Bot API: ids, request bodies, errors.

No I/O here: every function depends only on its arguments, so ``tests/test_payloads.py`` checks
them as tables against the Bot API samples in ``tests/payloads/``.

The Bot API, as this adapter speaks it (https://core.telegram.org/bots/api):

* send: ``POST {base_url}/bot<token>/sendMessage`` with a JSON body ``{"chat_id", "text"}``
  (text of 1-4096 characters), plus ``reply_parameters`` for a reply and ``message_thread_id``
  for a forum topic; the answer is ``{"ok": true, "result": <Message>}``;
* errors: ``{"ok": false, "error_code": <int>, "description": <str>}``, sometimes with
  ``parameters`` (``retry_after`` on 429, ``migrate_to_chat_id`` when a group was upgraded).

Telegram message ids are unique only within a chat, so omnichannel's provider id of a Telegram
message is ``"<chat id>:<message id>"`` (an edited message adds ``"@<edit date>"``, so an edit
is not mistaken for a duplicate of the original). :func:`message_ref` reads it back and also
accepts a bare message id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from omnichannel import (
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidRecipient,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    SendError,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.plugin import ProviderResponse, SentMessage, retry_after_seconds

__all__ = [
    "ADAPTER_NAME",
    "DESCRIPTION_RULES",
    "MAX_TEXT_LENGTH",
    "ErrorRule",
    "chat_id",
    "error_for_response",
    "message_ref",
    "provider_id",
    "send_body",
    "sent_message",
]

ADAPTER_NAME: Final = "telegram.bot"
MAX_TEXT_LENGTH: Final = 4096
"""sendMessage's limit on ``text``, in characters (after entity parsing)."""

_NUMERIC: Final = re.compile(r"-?[0-9]+")
_PROVIDER_ID: Final = re.compile(r"(?:(-?[0-9]+):)?([0-9]+)(?:@[0-9]+)?")


def chat_id(value: str) -> int | str:
    """A recipient address as sendMessage's ``chat_id``: an integer id, or an ``@username``."""
    return int(value) if _NUMERIC.fullmatch(value) else value


def provider_id(chat: int, message_id: int, *, edit_date: int | None = None) -> str:
    """omnichannel's provider id of a Telegram message (message ids repeat across chats)."""
    base = f"{chat}:{message_id}"
    return base if edit_date is None else f"{base}@{edit_date}"


def message_ref(value: str) -> tuple[int | None, int]:
    """The chat id (None when not given) and message id of a provider id or a bare message id.

    Raises ValueError for anything else.
    """
    match = _PROVIDER_ID.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a Telegram message id")
    chat, message = match.groups()
    return (int(chat) if chat is not None else None), int(message)


def send_body(envelope: Envelope) -> dict[str, Any]:
    """The JSON body of sendMessage for ``envelope``, whose content the router fitted.

    Native sendMessage parameters in ``envelope.provider_options["telegram.bot"]`` (such as
    ``parse_mode``, ``disable_notification`` or ``reply_markup``) are passed through; they may
    not replace what the envelope itself sets. What the Bot API cannot express faithfully
    raises :class:`~omnichannel.UnsupportedFeature` before any request is made.
    """
    if envelope.visibility is Visibility.PUBLIC:
        raise UnsupportedFeature(
            "a Telegram bot message goes to one chat and has no public visibility of its own; "
            "send it with visibility=PRIVATE",
            envelope_id=envelope.id,
        )
    recipient = chat_id(envelope.recipient.value)
    body: dict[str, Any] = {"chat_id": recipient, "text": envelope.content.text}
    if envelope.in_reply_to:
        try:
            chat, message_id = message_ref(envelope.in_reply_to)
        except ValueError as error:
            raise UnsupportedFeature(
                f"in_reply_to: {error}; reply with the provider id of a Telegram message",
                envelope_id=envelope.id,
            ) from None
        reply: dict[str, Any] = {"message_id": message_id}
        if chat is not None and chat != recipient:
            reply["chat_id"] = chat
        body["reply_parameters"] = reply
    if envelope.thread:
        if not _NUMERIC.fullmatch(envelope.thread):
            raise UnsupportedFeature(
                f"thread {envelope.thread!r} is not a Telegram message_thread_id",
                envelope_id=envelope.id,
            )
        body["message_thread_id"] = int(envelope.thread)
    options = dict(envelope.options_for(ADAPTER_NAME))
    clash = sorted(set(options) & set(body))
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the envelope already sets it",
            envelope_id=envelope.id,
        )
    body.update(options)
    return body


def sent_message(data: object) -> SentMessage:
    """The provider id of the Message that sendMessage returned; it is SENT (Telegram has it).

    ``data`` is the parsed 2xx answer (None when it was not JSON). A success that names no
    message is an unknown outcome, not a failure: Telegram probably sent it, so it must not be
    sent again or failed over.
    """
    result = data.get("result") if isinstance(data, Mapping) and data.get("ok") else None
    chat = result.get("chat") if isinstance(result, Mapping) else None
    message_id = result.get("message_id") if isinstance(result, Mapping) else None
    chat_number = chat.get("id") if isinstance(chat, Mapping) else None
    if not isinstance(message_id, int) or not isinstance(chat_number, int):
        raise OutcomeUnknown(
            "Telegram answered sendMessage without a message and chat id; the message was "
            "probably sent, so it is not resent"
        )
    return SentMessage(
        provider_id=provider_id(chat_number, message_id),
        status=DeliveryStatus.SENT,
        raw=dict(result) if isinstance(result, Mapping) else None,
    )


@attrs.frozen
class ErrorRule:
    """How one Bot API error (a code and a description fragment) maps onto omnichannel's errors."""

    error_code: int
    fragment: str
    """Lower-case text the ``description`` contains."""
    error: type[SendError]
    reason: FailureReason
    advice: str


DESCRIPTION_RULES: Final = (
    ErrorRule(
        403,
        "bot was blocked by the user",
        InvalidRecipient,
        FailureReason.OPTED_OUT,
        "the user blocked the bot; do not write until they write to it again",
    ),
    ErrorRule(
        403,
        "bot can't initiate conversation",
        InvalidRecipient,
        FailureReason.OPTED_OUT,
        "the user never started the bot; they must write to it first",
    ),
    ErrorRule(
        403,
        "bot was kicked",
        InvalidRecipient,
        FailureReason.OPTED_OUT,
        "the bot was removed from the chat",
    ),
    ErrorRule(
        403,
        "user is deactivated",
        InvalidRecipient,
        FailureReason.INVALID_RECIPIENT,
        "the user deleted their account",
    ),
    ErrorRule(
        400,
        "chat not found",
        InvalidRecipient,
        FailureReason.INVALID_RECIPIENT,
        "check the chat id; a user must have written to the bot first",
    ),
    ErrorRule(
        400,
        "group chat was upgraded to a supergroup",
        InvalidRecipient,
        FailureReason.INVALID_RECIPIENT,
        "the group has a new chat id; send to parameters.migrate_to_chat_id",
    ),
    ErrorRule(
        400,
        "message is too long",
        ContentTooLong,
        FailureReason.CONTENT_REJECTED,
        f"Telegram carries at most {MAX_TEXT_LENGTH} characters per message",
    ),
    ErrorRule(
        400,
        "message text is empty",
        ContentRejected,
        FailureReason.CONTENT_REJECTED,
        "send some text",
    ),
    ErrorRule(
        400,
        "can't parse entities",
        ContentRejected,
        FailureReason.CONTENT_REJECTED,
        "fix the markup sent with parse_mode in provider_options",
    ),
)
"""Bot API errors told apart by their description; the first match wins."""


def _error_parts(response: ProviderResponse) -> tuple[int, str, Mapping[str, Any]]:
    try:
        data: object = response.json()
    except ValueError:
        data = None
    if not isinstance(data, Mapping):
        return response.status_code, "", {}
    code = data.get("error_code")
    description = data.get("description")
    parameters = data.get("parameters")
    return (
        code if isinstance(code, int) else response.status_code,
        description if isinstance(description, str) else "",
        parameters if isinstance(parameters, Mapping) else {},
    )


def error_for_response(response: ProviderResponse) -> SendError:
    """The typed error for a Bot API error answer. Never mentions the URL (it holds the token)."""
    code, description, parameters = _error_parts(response)
    details: dict[str, Any] = {
        "provider_code": str(code),
        "provider_message": description or None,
        "status_code": response.status_code,
    }
    said = f": {description}" if description else ""
    if code == 429:
        retry_after = parameters.get("retry_after")
        return RateLimited(
            f"Telegram rate limit{said}",
            retry_after=(
                float(retry_after)
                if isinstance(retry_after, int | float)
                else retry_after_seconds(response.headers)
            ),
            **details,
        )
    migrated = parameters.get("migrate_to_chat_id")
    if isinstance(migrated, int):
        said += f" (the new chat id is {migrated})"
    lowered = description.lower()
    for rule in DESCRIPTION_RULES:
        if rule.error_code == code and rule.fragment in lowered:
            return rule.error(
                f"Telegram refused the message{said}; {rule.advice}", reason=rule.reason, **details
            )
    if code in (401, 404):
        # The Bot API answers an unknown or revoked token with 401, a malformed one with 404.
        return ProviderError(
            f"Telegram refused the bot token{said}; check the bot_token setting",
            reason=FailureReason.AUTH,
            **details,
        )
    return ProviderError(
        f"Telegram refused the message (error {code}{said})",
        retryable=response.status_code >= 500,
        **details,
    )
