"""WhatsApp Cloud API webhooks: the subscription handshake, ``X-Hub-Signature-256``, and the
parsing of a ``whatsapp_business_account`` notification into messages and status updates.

* **Handshake** (GET, not signed): ``hub.mode=subscribe``, ``hub.verify_token`` and
  ``hub.challenge``; with the right token the answer is the challenge itself as plain text,
  otherwise 403.
* **Signature** (POST): ``sha256=`` + the lowercase hex HMAC-SHA256 of the raw body under the
  app secret. Meta signs the bytes it sends, with non-ASCII characters written as ``\\uXXXX``
  escapes, so the check runs on the bytes as received, before anything is parsed: a body
  parsed and serialised again no longer matches (``wa-reserialised-body-fails``).
* **Notifications**: ``entry[].changes[]``, each with a ``field`` and a ``value``. The
  ``messages`` field carries ``messages[]`` (inbound), ``statuses[]`` (what became of ours)
  or both, for the number in ``value.metadata.phone_number_id``: one app may receive several
  numbers' events in one request, so each change is routed by it, and events for a number
  this adapter does not serve are acknowledged and left alone. ``smb_message_echoes`` (what
  the business sent from the WhatsApp Business app) and messages from our own number are
  echoes and never become inbound messages; other fields are acknowledged and ignored.

Meta retries anything but a 200, so every accepted request is answered 200 with no body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from omnichannel import (
    Address,
    DeliveryStatus,
    Envelope,
    Secret,
    StatusUpdate,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
    WebhookVerificationError,
)
from omnichannel.plugin import WebhookResult, constant_time_equal, sign_body, verify_body
from omnichannel_whatsapp.codes import STATUSES, failure_for, graph_error
from omnichannel_whatsapp.inbound import message_envelope, timestamp_of

__all__ = [
    "ACKNOWLEDGED",
    "SIGNATURE_HEADER",
    "WEBHOOK_OBJECT",
    "handshake",
    "notification",
    "parse",
    "serialise",
    "sign",
    "signed_request",
    "status_update",
    "text_message_event",
    "verify_signature",
]

logger = logging.getLogger("omnichannel_whatsapp.webhooks")

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
WEBHOOK_OBJECT: Final = "whatsapp_business_account"
ACKNOWLEDGED: Final = WebhookResponse()
_PREFIX: Final = "sha256="
_ECHO_FIELD: Final = "smb_message_echoes"


# --- Handshake and signature --------------------------------------------------------------------


def handshake(request: WebhookRequest, verify_token: Secret) -> WebhookResponse:
    """The answer to Meta's subscription check: the challenge, as plain text, when the mode is
    ``subscribe`` and the token matches (compared in constant time); 403 otherwise."""
    mode = request.query_value("hub.mode")
    token = request.query_value("hub.verify_token") or ""
    matched = constant_time_equal(token, verify_token.reveal())
    if mode != "subscribe" or not matched:
        raise WebhookVerificationError(
            "the webhook subscription check has the wrong hub.mode or hub.verify_token; "
            "check the verify_token setting against the App Dashboard"
        )
    challenge = request.query_value("hub.challenge")
    if not challenge:
        raise WebhookParseError("the webhook subscription check has no hub.challenge")
    return WebhookResponse.text(challenge)


def sign(app_secret: Secret | str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` Meta sends with ``body``."""
    return sign_body(app_secret, body, prefix=_PREFIX)


def verify_signature(request: WebhookRequest, app_secret: Secret) -> None:
    """Raise :class:`~omnichannel.WebhookVerificationError` unless Meta signed these bytes."""
    if not verify_body(app_secret, request.body, request.header(SIGNATURE_HEADER), prefix=_PREFIX):
        raise WebhookVerificationError(
            f"missing or wrong {SIGNATURE_HEADER} header; check the app_secret setting (the "
            "App Secret of the Meta app the webhook belongs to)"
        )


def serialise(event: Mapping[str, Any]) -> bytes:
    """``event`` as Meta writes webhook bodies: compact JSON, non-ASCII as ``\\uXXXX``."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signed_request(url: str, event: Mapping[str, Any], app_secret: Secret | str) -> WebhookRequest:
    """A webhook POST carrying ``event``, signed as Meta signs it."""
    body = serialise(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        SIGNATURE_HEADER: sign(app_secret, body),
    }
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)


# --- Building notifications (the simulator and simulate()) -------------------------------------


def notification(
    value: Mapping[str, Any], *, waba_id: str = "102290129340398", field: str = "messages"
) -> dict[str, Any]:
    """A whole webhook body around one change's ``value``."""
    return {
        "object": WEBHOOK_OBJECT,
        "entry": [{"id": waba_id, "changes": [{"value": dict(value), "field": field}]}],
    }


def text_message_event(
    *,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    name: str,
    message_id: str,
    text: str,
    timestamp: datetime,
) -> dict[str, Any]:
    """The notification of one inbound text message from ``wa_id`` (digits, no ``+``)."""
    return notification(
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": display_phone_number,
                "phone_number_id": phone_number_id,
            },
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": message_id,
                    "timestamp": str(int(timestamp.timestamp())),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
    )


# --- Parsing -------------------------------------------------------------------------------------


def _list(value: Mapping[str, Any], name: str) -> list[Any]:
    found = value.get(name, [])
    if not isinstance(found, list):
        raise WebhookParseError(f"{name} in a WhatsApp notification is not a list")
    return found


def _str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def _pricing(status: Mapping[str, Any]) -> dict[str, str | bool]:
    found: dict[str, str | bool] = {}
    pricing = status.get("pricing")
    if isinstance(pricing, dict):
        if isinstance(pricing.get("billable"), bool):
            found["billable"] = pricing["billable"]
        for name, key in (
            ("category", "category"),
            ("pricing_model", "pricing_model"),
            ("type", "pricing_type"),
            # Seen in place of "type" on some events.
            ("pricing_type", "pricing_type"),
        ):
            if isinstance(pricing.get(name), str):
                found[key] = pricing[name]
    conversation = status.get("conversation")
    if isinstance(conversation, dict):
        if isinstance(conversation.get("id"), str):
            found["conversation_id"] = conversation["id"]
        origin = conversation.get("origin")
        if isinstance(origin, dict) and isinstance(origin.get("type"), str):
            found["conversation_category"] = origin["type"]
    return found


def status_update(status: Mapping[str, Any], *, channel: str) -> StatusUpdate | None:
    """One ``statuses[]`` entry as a status update, or None for a status we cannot name.

    ``biz_opaque_callback_data`` (our envelope id) maps it back to the envelope even after a
    restart; ``pricing`` (billable, category, pricing model, type) and the legacy
    ``conversation`` are kept in ``metadata``, with the raw status name as
    ``whatsapp_status``; a failure's first ``errors[]`` entry gives the reason.
    """
    name = _str(status, "status")
    message_id = _str(status, "id")
    if name is None or message_id is None:
        raise WebhookParseError("a WhatsApp status without an id and a status")
    normalised = STATUSES.get(name)
    if normalised is None:
        # Meta adds statuses without notice: acknowledge, and report nothing we cannot name.
        logger.info("ignoring an unknown WhatsApp status %r", name[:40])
        return None
    errors = status.get("errors")
    error = graph_error(errors[0]) if isinstance(errors, list) and errors else None
    failed = normalised is DeliveryStatus.FAILED
    reason, retryable = failure_for(error) if failed or error is not None else (None, False)
    recipient = _str(status, "recipient_id")
    metadata: dict[str, str | bool] = {"whatsapp_status": name, **_pricing(status)}
    if _str(status, "recipient_user_id"):
        metadata["recipient_user_id"] = status["recipient_user_id"]
    return StatusUpdate(
        channel=channel,
        provider_id=message_id,
        status=normalised,
        timestamp=timestamp_of(status),
        envelope_id=_str(status, "biz_opaque_callback_data"),
        recipient=(
            f"+{recipient}"
            if recipient is not None and recipient.isdigit()
            else recipient or _str(status, "recipient_user_id")
        ),
        reason=reason,
        retryable=retryable,
        provider_code=str(error.code) if error is not None and error.code is not None else None,
        provider_message=(error.details or error.message) if error is not None else None,
        metadata=metadata,
        raw=dict(status),
    )


def _change(
    change: Mapping[str, Any], *, channel: str, phone_number_id: str, api_root: str
) -> tuple[list[Envelope], list[StatusUpdate]]:
    field, value = change.get("field"), change.get("value")
    if not isinstance(value, dict):
        raise WebhookParseError("a WhatsApp change without a value object")
    if field == _ECHO_FIELD:
        logger.debug("ignoring echoes of messages sent from the WhatsApp Business app")
        return [], []
    if field != "messages":
        logger.debug("ignoring a WhatsApp %r notification", str(field)[:60])
        return [], []
    metadata = value.get("metadata")
    number_id = _str(metadata, "phone_number_id") if isinstance(metadata, dict) else None
    if number_id is None:
        raise WebhookParseError("a WhatsApp messages notification without metadata.phone_number_id")
    if number_id != phone_number_id:
        logger.info(
            "ignoring WhatsApp events for phone number id %s, which this adapter does not serve "
            "(it serves %s)",
            number_id[:30],
            phone_number_id,
        )
        return [], []
    for error in _list(value, "errors"):
        problem = graph_error(error)
        logger.warning(
            "Meta reported a webhook-level error %s: %s",
            problem.code,
            problem.details or problem.message,
        )
    assert isinstance(metadata, dict)
    display = _str(metadata, "display_phone_number")
    business = Address(channel=channel, value=number_id)
    contacts: Sequence[Any] = _list(value, "contacts")
    messages = []
    for message in _list(value, "messages"):
        if not isinstance(message, dict):
            raise WebhookParseError("a WhatsApp message that is not an object")
        if display is not None and message.get("from") == display:
            logger.debug("ignoring an echo of our own message %s", message.get("id"))
            continue
        messages.append(
            message_envelope(
                message, channel=channel, business=business, contacts=contacts, api_root=api_root
            )
        )
    statuses = []
    for status in _list(value, "statuses"):
        if not isinstance(status, dict):
            raise WebhookParseError("a WhatsApp status that is not an object")
        update = status_update(status, channel=channel)
        if update is not None:
            statuses.append(update)
    return messages, statuses


def parse(
    request: WebhookRequest, *, channel: str, phone_number_id: str, api_root: str
) -> WebhookResult:
    """The messages and statuses of a verified notification for ``phone_number_id``, answered
    200. A body that is not a WhatsApp notification's JSON shape is a
    :class:`~omnichannel.WebhookParseError` (400); another Meta object is acknowledged."""
    data = request.json()
    if not isinstance(data, dict):
        raise WebhookParseError("a WhatsApp notification is a JSON object")
    if data.get("object") != WEBHOOK_OBJECT:
        logger.info("ignoring a Meta webhook for object %r", str(data.get("object"))[:60])
        return WebhookResult(response=ACKNOWLEDGED)
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise WebhookParseError("a WhatsApp notification without an entry list")
    messages: list[Envelope] = []
    statuses: list[StatusUpdate] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise WebhookParseError("a WhatsApp notification entry that is not an object")
        for change in _list(entry, "changes"):
            if not isinstance(change, dict):
                raise WebhookParseError("a WhatsApp change that is not an object")
            found, updates = _change(
                change, channel=channel, phone_number_id=phone_number_id, api_root=api_root
            )
            messages += found
            statuses += updates
    return WebhookResult(response=ACKNOWLEDGED, messages=messages, statuses=statuses)
