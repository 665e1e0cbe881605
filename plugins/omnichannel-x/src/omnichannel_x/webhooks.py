"""X webhooks: the signature check, inbound and status parsing, the answer.

X signs every webhook with ``X-X-Signature``: the hex
HMAC-SHA256 of the raw body under the ``webhook_secret``. Two event types arrive as JSON::

    {"type": "message", "id": ..., "from": ..., "to": ..., "text": ..., "timestamp": ...}
    {"type": "status", "message_id": ..., "status": ..., "reference": ..., "timestamp": ...,
     "error": {"code": ..., "message": ...}}

Other event types are acknowledged and ignored, so a new event type never makes X
retry. Every accepted webhook is answered ``204 No Content``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from omnichannel import (
    Address,
    DeliveryStatus,
    Direction,
    Envelope,
    FailureReason,
    Secret,
    StatusUpdate,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
    WebhookVerificationError,
)
from omnichannel.plugin import WebhookResult
from omnichannel.signing import sign_body, verify_body

from omnichannel_x.payloads import ERROR_CODES, STATUSES, error_fields

__all__ = [
    "SIGNATURE_HEADER",
    "message_event",
    "parse",
    "sign",
    "signed_request",
    "status_event",
    "verify",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-X-Signature"
ACKNOWLEDGED: Final = WebhookResponse(status_code=204)


def sign(secret: Secret, body: bytes) -> str:
    """The ``X-X-Signature`` value of ``body``."""
    return sign_body(secret, body, encoding="hex")


def verify(request: WebhookRequest, secret: Secret) -> None:
    """Raise :class:`~omnichannel.WebhookVerificationError` unless the signature matches."""
    if not verify_body(secret, request.body, request.header(SIGNATURE_HEADER), encoding="hex"):
        raise WebhookVerificationError(
            f"missing or wrong {SIGNATURE_HEADER} header; check the webhook_secret setting"
        )


def signed_request(url: str, event: Mapping[str, Any], secret: Secret) -> WebhookRequest:
    """A webhook request carrying ``event`` as JSON, signed as X signs it."""
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)


def message_event(
    *, message_id: str, sender: str, recipient: str, text: str, timestamp: datetime
) -> dict[str, Any]:
    """An inbound message event, as X posts it."""
    return {
        "type": "message",
        "id": message_id,
        "from": sender,
        "to": recipient,
        "text": text,
        "timestamp": timestamp.isoformat(),
    }


def status_event(
    *,
    message_id: str,
    status: str,
    timestamp: datetime,
    reference: str | None = None,
    error: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A status callback event, as X posts it."""
    event: dict[str, Any] = {
        "type": "status",
        "message_id": message_id,
        "status": status,
        "timestamp": timestamp.isoformat(),
        "reference": reference,
    }
    if error is not None:
        event["error"] = dict(error)
    return event


def parse(request: WebhookRequest, *, channel: str) -> WebhookResult:
    """The messages and statuses of a verified request, and the answer to give."""
    event = request.json()
    if not isinstance(event, dict):
        raise WebhookParseError("expected a JSON object")
    kind = event.get("type")
    if kind == "message":
        return WebhookResult(response=ACKNOWLEDGED, messages=[_message(event, channel)])
    if kind == "status":
        update = _status(event, channel)
        return WebhookResult(response=ACKNOWLEDGED, statuses=[] if update is None else [update])
    logger.debug("ignoring a %s webhook event of type %r", channel, kind)
    return WebhookResult(response=ACKNOWLEDGED)


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise WebhookParseError(f"the event has no {name!r} string")
    return value


def _timestamp(event: Mapping[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(_field(event, "timestamp"))
    except ValueError:
        raise WebhookParseError("the event's timestamp is not ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _message(event: Mapping[str, Any], channel: str) -> Envelope:
    business = Address(channel=channel, value=_field(event, "to"))
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=Address(channel=channel, value=_field(event, "from")),
        recipient=business,
        business_address=business,
        content=_field(event, "text"),
        provider_id=_field(event, "id"),
        created_at=_timestamp(event),
        raw=dict(event),
    )


def _status(event: Mapping[str, Any], channel: str) -> StatusUpdate | None:
    name = _field(event, "status")
    status = STATUSES.get(name)
    if status is None:
        logger.debug("ignoring unknown %s status %r", channel, name)
        return None
    code, message = error_fields(event)
    rule = ERROR_CODES.get(code) if code is not None else None
    failed = status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
    reference = event.get("reference")
    return StatusUpdate(
        channel=channel,
        provider_id=_field(event, "message_id"),
        status=status,
        timestamp=_timestamp(event),
        envelope_id=reference if isinstance(reference, str) and reference else None,
        reason=(rule.reason if rule else FailureReason.UNKNOWN) if failed else None,
        retryable=bool(rule and rule.retryable) if failed else False,
        provider_code=code,
        provider_message=message,
        raw=dict(event),
    )
