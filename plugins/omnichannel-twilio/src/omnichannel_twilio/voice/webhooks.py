"""Twilio Voice webhooks: call status callbacks, inbound calls and the words of a speech
``<Gather>``, and the parameters of a simulated one.

Signatures and the parameter reader are Twilio's, shared with Messaging
(:mod:`omnichannel_twilio.webhooks`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from omnichannel import (
    Direction,
    Envelope,
    FailureReason,
    StatusUpdate,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import WebhookResult
from omnichannel_twilio.payloads import API_VERSION, ENVELOPE_ID_PARAM, FormPairs, parse_time
from omnichannel_twilio.voice.payloads import (
    CALL_STATUSES,
    UNREACHABLE_STATUSES,
    answered_by_machine,
)
from omnichannel_twilio.webhooks import EMPTY_TWIML, first_values, phone_address, request_params

__all__ = [
    "GEO_PARAMS",
    "INCOMING_CALL_TEXT",
    "is_status_callback",
    "parse_inbound_call",
    "parse_request",
    "parse_status_callback",
    "speech_params",
]

logger = logging.getLogger("omnichannel_twilio.voice")

INCOMING_CALL_TEXT: Final = "incoming call"
"""The text of the message an inbound call without speech becomes."""
GEO_PARAMS: Final = tuple(
    f"{side}{field}"
    for side in ("Called", "Caller", "From", "To")
    for field in ("City", "Country", "State", "Zip")
)
"""The geographic params Twilio adds to every voice webhook; blank when it knows nothing."""


def is_status_callback(params: Mapping[str, str], envelope_id: str | None) -> bool:
    """Whether the request reports on a call (rather than bringing words or a call in)."""
    if "SpeechResult" in params:
        return False
    return (
        envelope_id is not None
        or params.get("CallbackSource") == "call-progress-events"
        or params.get("Direction", "") != "inbound"
    )


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise WebhookParseError(f"Twilio voice webhook without {name}")
    return value


def _integer(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise WebhookParseError(f"{name} is not an integer") from None


def parse_status_callback(
    params: Mapping[str, str], *, channel: str, envelope_id: str | None, now: datetime
) -> StatusUpdate | None:
    """The status update a call status callback reports; None for a ``CallStatus`` we do not
    know (logged and acknowledged, so Twilio does not retry what we cannot read)."""
    call_sid = _required(params, "CallSid")
    call_status = _required(params, "CallStatus")
    status = CALL_STATUSES.get(call_status)
    if status is None:
        logger.warning("ignoring unknown Twilio CallStatus %r for %s", call_status, call_sid)
        return None
    unreachable = status in UNREACHABLE_STATUSES
    answered_by = params.get("AnsweredBy") or None
    metadata = {"call_status": call_status}
    if answered_by:
        metadata["answered_by"] = answered_by
    return StatusUpdate(
        channel=channel,
        provider_id=call_sid,
        status=status,
        timestamp=parse_time(params.get("Timestamp")) or now,
        envelope_id=envelope_id,
        recipient=params.get("To") or None,
        reason=FailureReason.UNREACHABLE if unreachable else None,
        retryable=unreachable,
        provider_code=params.get("ErrorCode") or None,
        provider_message=params.get("ErrorMessage") or (call_status if unreachable else None),
        answered_by_machine=answered_by_machine(answered_by),
        duration_seconds=_integer(params, "CallDuration"),
        sequence=_integer(params, "SequenceNumber"),
        metadata=metadata,
        raw=dict(params),
    )


def parse_inbound_call(params: Mapping[str, str], *, channel: str, now: datetime) -> Envelope:
    """The inbound message a call brings: the customer's words when Twilio sends a
    ``SpeechResult`` (the action of a ``<Gather input="speech">``), else ``incoming call``.

    A call may carry several spoken answers, so a speech message's provider id is the call
    SID plus a digest of the words: a retried webhook is still a duplicate, a new answer is not.
    """
    call_sid = _required(params, "CallSid")
    inbound = params.get("Direction", "inbound") == "inbound"
    customer = _required(params, "From" if inbound else "To")
    business = _required(params, "To" if inbound else "From")
    speech = params.get("SpeechResult")
    metadata = {"call_sid": call_sid, "call_status": params.get("CallStatus", "")}
    provider_id = call_sid
    if speech:
        provider_id = f"{call_sid}:speech:{hashlib.sha256(speech.encode()).hexdigest()[:12]}"
        if params.get("Confidence"):
            metadata["confidence"] = params["Confidence"]
    business_address = phone_address(channel, business)
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=phone_address(channel, customer),
        recipient=business_address,
        business_address=business_address,
        content=speech or INCOMING_CALL_TEXT,
        provider_id=provider_id,
        thread=call_sid,
        created_at=now,
        metadata=metadata,
        raw=dict(params),
    )


def parse_request(request: WebhookRequest, *, channel: str, now: datetime) -> WebhookResult:
    """A call status callback becomes a status update; an inbound call (or the words of a
    speech ``<Gather>``) becomes an inbound message. Twilio gets empty TwiML back."""
    _, params = first_values(request_params(request))
    envelope_id = request.query_value(ENVELOPE_ID_PARAM) or None
    answer = WebhookResponse.xml(EMPTY_TWIML)
    if is_status_callback(params, envelope_id):
        update = parse_status_callback(params, channel=channel, envelope_id=envelope_id, now=now)
        return WebhookResult(response=answer, statuses=[update] if update else [])
    message = parse_inbound_call(params, channel=channel, now=now)
    return WebhookResult(response=answer, messages=[message])


def speech_params(*, sender: str, to: str, text: str, account_sid: str, language: str) -> FormPairs:
    """The parameters Twilio posts to a speech ``<Gather>`` action during an inbound call from
    ``sender`` to ``to``: ``text`` is the ``SpeechResult``; the geo parameters are blank."""
    return [
        ("AccountSid", account_sid),
        ("ApiVersion", API_VERSION),
        ("CallSid", f"CA{secrets.token_hex(16)}"),
        ("CallStatus", "in-progress"),
        ("Called", to),
        ("Caller", sender),
        ("Confidence", "0.9"),
        ("Direction", "inbound"),
        ("From", sender),
        ("Language", language),
        ("SpeechResult", text),
        ("To", to),
        *((name, "") for name in GEO_PARAMS),
    ]
