"""Twilio Voice webhooks: the ``X-Twilio-Signature`` check, call status callbacks, inbound
calls, and the empty TwiML answer.

Twilio signs the URL it called (scheme, host, port, path and query exactly as sent) followed
by every POST parameter, names sorted, blank values included; see
:mod:`omnichannel.signing`. Parameters are read with blanks kept (``WebhookRequest.form()``)
and never filtered before the check: Twilio adds parameters without notice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from omnichannel import (
    Address,
    AddressKind,
    Direction,
    Envelope,
    FailureReason,
    InvalidAddress,
    Secret,
    StatusUpdate,
    WebhookParseError,
    WebhookRequest,
)
from omnichannel.signing import sign_url_params, verify_url_params_request
from omnichannel_voice.payloads import CALL_STATUSES, UNREACHABLE_STATUSES, answered_by_machine

__all__ = [
    "ENVELOPE_PARAM",
    "INCOMING_CALL_TEXT",
    "SIGNATURE_HEADER",
    "is_status_callback",
    "parse_inbound_call",
    "parse_status_callback",
    "sign",
    "verify_signature",
    "webhook_params",
]

logger = logging.getLogger("omnichannel_voice.webhooks")

SIGNATURE_HEADER: Final = "X-Twilio-Signature"
BODY_HASH_PARAM: Final = "bodySHA256"
ENVELOPE_PARAM: Final = "envelope_id"
INCOMING_CALL_TEXT: Final = "incoming call"
"""The text of the message an inbound call without speech becomes."""


def sign(token: Secret | str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``params`` POSTed to ``url``."""
    return sign_url_params(token, url, params)


def verify_signature(request: WebhookRequest, tokens: Sequence[Secret]) -> None:
    """Raise :class:`WebhookVerificationError` unless one of ``tokens`` signed ``request``.

    The public URL is tried as received, then with its port removed or the scheme's default
    port added (what Twilio's own validator accepts); a non-default port hidden by a proxy
    cannot match. Every token is tried (primary, then the secondary during a rotation).
    """
    verify_url_params_request(
        request,
        tokens,
        header=SIGNATURE_HEADER,
        body_hash_param=BODY_HASH_PARAM,
        hint="check that webhooks.public_url is the URL Twilio calls (scheme, host, port) and "
        "that auth_token is the account's",
    )


def webhook_params(request: WebhookRequest) -> dict[str, str]:
    """The parameters of a verified request (the first value of each name)."""
    pairs: list[tuple[str, str]]
    if request.query_value(BODY_HASH_PARAM) is not None:
        data = request.json()
        if not isinstance(data, dict):
            raise WebhookParseError("a JSON Twilio webhook must be an object")
        pairs = [(str(key), str(value)) for key, value in data.items() if value is not None]
    elif request.method.upper() == "GET":
        pairs = request.query()
    else:
        pairs = request.form()
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


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


def _timestamp(value: str | None, fallback: datetime) -> datetime:
    if not value:
        return fallback
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return fallback
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
        timestamp=_timestamp(params.get("Timestamp"), now),
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


def _address(channel: str, value: str) -> Address:
    try:
        return Address(channel=channel, value=AddressKind.PHONE.normalize(value, channel=channel))
    except InvalidAddress:
        # Withheld caller ids ("anonymous") and client:/sip: callers are kept as sent.
        return Address(channel=channel, value=value)


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
    business_address = _address(channel, business)
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=_address(channel, customer),
        recipient=business_address,
        business_address=business_address,
        content=speech or INCOMING_CALL_TEXT,
        provider_id=provider_id,
        thread=call_sid,
        created_at=now,
        metadata=metadata,
        raw=dict(params),
    )
