"""Pure mapping between omnichannel and Twilio Voice: TwiML, the create-call form, the call
status table, the voice error codes and the lookup of a call. No I/O here, so every rule tests
as a table.

References: Twilio's Call resource (``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``; the
Calls list is read with the filters ``To``, ``From`` and ``StartTime``, a day or an inequality
such as ``StartTime>=YYYY-MM-DD``), TwiML
``<Say>``/``<Dial>``, call status callbacks, and the error pages of the codes below. What every
Twilio resource shares (URLs, form encoding, errors) is in :mod:`omnichannel_twilio.payloads`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

from omnichannel import DeliveryStatus, Envelope, FailureReason, InvalidRecipient, ProviderError
from omnichannel_twilio import payloads
from omnichannel_twilio.lookups import Lookup, lookup
from omnichannel_twilio.payloads import CodeRule, FormPairs, TwilioResource, rules

__all__ = [
    "CALLS",
    "CALL_STATUSES",
    "DIAL_FALLBACK",
    "DIAL_TIMEOUT_SECONDS",
    "ERROR_CODES",
    "MACHINE_DETECTION",
    "MAX_SPEECH_CHARS",
    "STATUS_CALLBACK_EVENTS",
    "TWIML_MAX_CHARS",
    "UNREACHABLE_STATUSES",
    "XML_DECLARATION",
    "answered_by_machine",
    "call_lookup",
    "callback_twiml",
    "calls_path",
    "create_call_form",
    "read_call_sid",
]

TWIML_MAX_CHARS: Final = 4000
"""Twilio refuses an inline ``Twiml`` parameter longer than this."""
MAX_SPEECH_CHARS: Final = 3000
"""The longest envelope text we speak: the rest of the 4,000 characters is markup and escapes."""
STATUS_CALLBACK_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
MACHINE_DETECTION: Final = "DetectMessageEnd"
"""Waits for a machine's greeting to end, so a voicemail records the whole message."""
DIAL_TIMEOUT_SECONDS: Final = 20
DIAL_FALLBACK: Final = "Sorry, nobody is available. Goodbye."
XML_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>'


# --- TwiML -------------------------------------------------------------------------------------


def _say(parent: ET.Element, text: str, attributes: Mapping[str, str]) -> None:
    # ElementTree escapes &, < and > in text (and quotes in attributes), as Twilio's own
    # TwiML builder does; attributes keep insertion order, alphabetical like Twilio's output.
    ET.SubElement(parent, "Say", dict(attributes)).text = text


def callback_twiml(
    text: str,
    *,
    voice: str,
    language: str,
    agent: str | None = None,
    caller_id: str | None = None,
    voicemail_message: str | None = None,
) -> str:
    """The TwiML of a callback: say ``text``, then connect ``agent`` when one is given.

    ``voicemail_message`` is a second ``<Say>`` right after the text. Inline TwiML cannot branch
    on who answered (Twilio reports ``AnsweredBy`` on the status callbacks only), so a person
    and a voicemail hear the same document. After ``<Dial>`` a short fallback is said when the
    agent's leg ends without an answer.
    """
    response = ET.Element("Response")
    say_attributes = {"language": language, "voice": voice}
    _say(response, text, say_attributes)
    if voicemail_message:
        _say(response, voicemail_message, say_attributes)
    if agent is not None:
        if caller_id is None:
            raise ValueError("connecting an agent needs the caller id (the business number)")
        dial = ET.SubElement(
            response,
            "Dial",
            {
                "answerOnBridge": "true",
                "callerId": caller_id,
                "timeout": str(DIAL_TIMEOUT_SECONDS),
            },
        )
        ET.SubElement(dial, "Number").text = agent
        ET.SubElement(response, "Say").text = DIAL_FALLBACK
    return XML_DECLARATION + ET.tostring(response, encoding="unicode")


# --- the create-call request -------------------------------------------------------------------


def calls_path(account_sid: str) -> str:
    """The path of the Calls list resource of ``account_sid``."""
    return payloads.account_path(account_sid, CALLS.name)


def create_call_form(
    *,
    to: str,
    from_: str,
    twiml: str,
    status_callback: str | None = None,
    events: Sequence[str] = STATUS_CALLBACK_EVENTS,
    machine_detection: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> FormPairs:
    """The form fields of a create-call request, in Twilio's documented order.

    ``StatusCallbackEvent`` is repeated once per event. A field named in ``extra`` (the
    provider options) replaces the field of the same name built here.
    """
    fields = [("To", to), ("From", from_), ("Twiml", twiml)]
    if status_callback is not None:
        fields.append(("StatusCallback", status_callback))
        fields.extend(("StatusCallbackEvent", event) for event in events)
    if machine_detection is not None:
        fields.append(("MachineDetection", machine_detection))
    extra_fields = list(extra)
    overridden = {name for name, _ in extra_fields}
    return [field for field in fields if field[0] not in overridden] + extra_fields


def read_call_sid(body: object) -> str | None:
    """The ``CA...`` sid of a 201 answer, or None when the answer is not a call resource."""
    if isinstance(body, dict):
        sid = body.get("sid")
        if isinstance(sid, str) and sid.startswith("CA"):
            return sid
    return None


# --- call statuses -----------------------------------------------------------------------------

CALL_STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    "queued": DeliveryStatus.INITIATED,
    "initiated": DeliveryStatus.INITIATED,
    "ringing": DeliveryStatus.RINGING,
    "in-progress": DeliveryStatus.ANSWERED,
    "completed": DeliveryStatus.COMPLETED,
    "busy": DeliveryStatus.BUSY,
    "no-answer": DeliveryStatus.NO_ANSWER,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.CANCELED,
}
"""Twilio ``CallStatus`` -> our status."""

UNREACHABLE_STATUSES: Final = frozenset(
    {DeliveryStatus.BUSY, DeliveryStatus.NO_ANSWER, DeliveryStatus.FAILED}
)
"""Call outcomes that say nothing about the customer's number: try later or another channel."""


CALLS: Final = TwilioResource(
    "Calls", "call", "StartTime", CALL_STATUSES, new_status=DeliveryStatus.INITIATED
)
"""Twilio's Calls resource."""


def answered_by_machine(answered_by: str | None) -> bool | None:
    """``AnsweredBy`` as a flag: ``machine_*`` and ``fax`` are machines, ``human`` is not, and
    ``unknown`` (or no detection at all) is None."""
    if answered_by is None:
        return None
    if answered_by == "human":
        return False
    if answered_by.startswith("machine_") or answered_by == "fax":
        return True
    return None


# --- errors ------------------------------------------------------------------------------------

_FROM_NOT_OURS = CodeRule(
    error=ProviderError,
    reason=FailureReason.AUTH,
    advice="the 'from' setting must be a Twilio number or verified caller id of this account",
)
# 21215: the number is fine, the account may not call that destination. Not an invalid
# recipient (an application must not mark the customer's number bad, and SMS may reach it);
# nothing to retry until someone enables the region in the console.
_GEO_PERMISSIONS = CodeRule(
    error=ProviderError,
    reason=FailureReason.POLICY,
    advice="enable the destination in the Twilio console (Voice > Settings > Geo permissions)",
)

ERROR_CODES: Final[Mapping[int, CodeRule]] = {
    **payloads.ERROR_CODES,
    21205: CodeRule(error=ProviderError, reason=FailureReason.PROVIDER_ERROR),
    **rules((21210, 21212), _FROM_NOT_OURS),
    21215: _GEO_PERMISSIONS,
    # 13224: the number to <Dial> is not valid.
    13224: CodeRule(error=InvalidRecipient, reason=FailureReason.INVALID_RECIPIENT),
}
"""The shared Twilio codes and those of Voice: Twilio error code -> the error to raise."""


# --- the lookup (reconcile) -----------------------------------------------------------------------


def call_lookup(envelope: Envelope, *, from_: str, since: datetime) -> Lookup:
    """The lookup of the call a send of ``envelope`` at or after ``since`` places: to its
    recipient, from the business number, started (``StartTime``) on or after the day of
    ``since``. A call resource carries nothing else of the envelope (not its TwiML, not its
    callback URL), so two calls to one number within the lookup margin look alike."""
    return lookup(CALLS, to=envelope.recipient.value, from_=from_, since=since)
