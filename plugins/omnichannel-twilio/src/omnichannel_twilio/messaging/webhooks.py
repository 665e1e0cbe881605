"""Twilio Messaging webhooks: inbound messages, status callbacks, opt-out keywords, and the
parameters of a simulated inbound SMS.

Signatures and the parameter reader are Twilio's, shared with Voice
(:mod:`omnichannel_twilio.webhooks`). Inbound messages and status callbacks may arrive on the
same URL (a ``StatusCallback`` pointed at the inbound webhook mixes them), so every request is
classified before it is parsed.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Final

from omnichannel import (
    Content,
    DeliveryStatus,
    Direction,
    Envelope,
    FailureReason,
    Media,
    StatusUpdate,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import WebhookResult
from omnichannel_twilio.messaging.payloads import ERROR_CODES, INBOUND_STATUSES, MESSAGE_STATUSES
from omnichannel_twilio.payloads import API_VERSION, ENVELOPE_ID_PARAM, FormPairs, failure_for_code
from omnichannel_twilio.webhooks import EMPTY_TWIML, first_values, phone_address, request_params

__all__ = ["OPT_OUT_KEYWORDS", "inbound_params", "opt_out_of", "parse_request"]

logger = logging.getLogger("omnichannel_twilio.messaging")

OPT_OUT_KEYWORDS: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "stop"
    ),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}
"""Twilio's default SMS keywords (US): a whole body equal to one of them, in any case."""


def opt_out_of(body: str, opt_out_type: str | None = None) -> str | None:
    """``"stop"``, ``"start"`` or ``"help"`` when the message is an opt-out keyword, else None.

    Twilio's own ``OptOutType`` wins when it is sent; otherwise the whole body, trimmed, is
    matched against :data:`OPT_OUT_KEYWORDS` in any case.
    """
    if opt_out_type and opt_out_type.strip().lower() in ("stop", "start", "help"):
        return opt_out_type.strip().lower()
    return OPT_OUT_KEYWORDS.get(body.strip().upper())


def _require(params: Mapping[str, str], names: Iterable[str], what: str) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise WebhookParseError(f"{what} without {', '.join(missing)}")


_MEDIA_INDEX = re.compile(r"\d{1,2}")


def _media(params: Mapping[str, str]) -> list[Media]:
    count_text = params.get("NumMedia", "0") or "0"
    if not _MEDIA_INDEX.fullmatch(count_text):
        raise WebhookParseError(f"NumMedia {count_text[:20]!r} is not a small number")
    items = []
    for index in range(int(count_text)):
        url = params.get(f"MediaUrl{index}")
        if not url:
            raise WebhookParseError(f"NumMedia is {count_text} but MediaUrl{index} is missing")
        items.append(Media(url=url, content_type=params.get(f"MediaContentType{index}") or None))
    return items


def _inbound(
    channel: str, params: Mapping[str, str], raw: dict[str, list[str]], now: datetime
) -> Envelope:
    _require(params, ("MessageSid", "From", "To"), "an inbound message")
    body = params.get("Body", "")
    media = _media(params)
    if not body and not media:
        raise WebhookParseError("an inbound message with neither Body nor media")
    opt_out = opt_out_of(body, params.get("OptOutType"))
    business = phone_address(channel, params["To"])
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=phone_address(channel, params["From"]),
        recipient=business,
        business_address=business,
        content=Content(text=body, media=media),
        provider_id=params["MessageSid"],
        created_at=now,
        metadata={"opt_out": opt_out} if opt_out else {},
        raw=raw,
    )


def _status(
    channel: str,
    params: Mapping[str, str],
    raw: dict[str, list[str]],
    envelope_id: str | None,
    now: datetime,
) -> StatusUpdate | None:
    _require(params, ("MessageSid",), "a status callback")
    value = params.get("MessageStatus") or params.get("SmsStatus", "")
    status = MESSAGE_STATUSES.get(value)
    if status is None:
        # Twilio adds statuses without notice: acknowledge, and report nothing we cannot name.
        logger.warning("ignoring unknown Twilio message status %r", value[:40])
        return None
    code = params.get("ErrorCode") or None
    reason: FailureReason | None = None
    retryable = False
    if code is not None or status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED):
        reason, retryable = failure_for_code(code, ERROR_CODES)
    return StatusUpdate(
        channel=channel,
        provider_id=params["MessageSid"],
        status=status,
        # Twilio's message callbacks carry no event time.
        timestamp=now,
        envelope_id=envelope_id,
        recipient=params.get("To") or None,
        reason=reason,
        retryable=retryable,
        provider_code=code,
        provider_message=params.get("ErrorMessage") or None,
        raw=raw,
    )


def parse_request(request: WebhookRequest, *, channel: str, now: datetime) -> WebhookResult:
    """Turn a verified Twilio Messaging request into a message or a status update.

    A request whose ``MessageStatus`` (or ``SmsStatus``) is anything but ``received`` is a
    status callback; one with a ``MessageSid`` and a ``Body`` or ``NumMedia`` is an inbound
    message. Anything else is refused with :class:`~omnichannel.WebhookParseError` (400).
    Every parameter is kept in ``raw`` (a dict of lists): Twilio adds parameters without
    notice.
    """
    raw, params = first_values(request_params(request))
    answer = WebhookResponse.xml(EMPTY_TWIML)
    status_value = params.get("MessageStatus") or params.get("SmsStatus")
    if status_value and status_value not in INBOUND_STATUSES:
        envelope_id = request.query_value(ENVELOPE_ID_PARAM) or None
        update = _status(channel, params, raw, envelope_id, now)
        return WebhookResult(response=answer, statuses=[update] if update else [])
    if params.get("MessageSid") and ("Body" in params or "NumMedia" in params):
        return WebhookResult(response=answer, messages=[_inbound(channel, params, raw, now)])
    raise WebhookParseError(
        "not a Twilio Messaging webhook: expected MessageSid with Body or NumMedia (an inbound "
        "message) or MessageStatus (a status callback)"
    )


# --- simulated inbound traffic -----------------------------------------------------------------


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def inbound_params(
    *,
    sender: str,
    to: str,
    text: str,
    account_sid: str,
    messaging_service_sid: str | None = None,
    message_sid: str | None = None,
    sid_factory: Callable[[str], str] = _sid,
) -> FormPairs:
    """The parameters Twilio posts for an inbound SMS, in the order it sends them.

    The geo parameters are blank, as Twilio sends them when it does not know the place, and
    still count in the signature.
    """
    sid = message_sid or sid_factory("SM")
    segments = 1 if len(text) <= 160 else -(-len(text) // 153)
    pairs: FormPairs = [
        ("ToCountry", "US"),
        ("ToState", ""),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", text),
        ("FromCountry", "US"),
        ("To", to),
    ]
    if messaging_service_sid:
        pairs.append(("MessagingServiceSid", messaging_service_sid))
    pairs += [
        ("ToZip", ""),
        ("NumSegments", str(segments)),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", sender),
        ("ApiVersion", API_VERSION),
    ]
    return pairs
