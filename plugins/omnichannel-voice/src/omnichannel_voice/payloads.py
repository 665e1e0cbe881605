"""Pure mapping between omnichannel and Twilio Voice: TwiML, the create-call form, the call
status table and the error-code table. No I/O here, so every rule tests as a table.

References: Twilio's Call resource (``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``),
TwiML ``<Say>``/``<Dial>``, call status callbacks, and the error pages of the codes below.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode

import attrs

from omnichannel import DeliveryStatus, FailureReason, ProviderError, RateLimited, SendError
from omnichannel.errors import InvalidRecipient
from omnichannel.plugin import ProviderRequest, SecretHeaders, retry_after_seconds

__all__ = [
    "API_VERSION",
    "CALL_STATUSES",
    "DIAL_FALLBACK",
    "DIAL_TIMEOUT_SECONDS",
    "EMPTY_TWIML",
    "ERROR_CODES",
    "MACHINE_DETECTION",
    "MAX_SPEECH_CHARS",
    "STATUS_CALLBACK_EVENTS",
    "TWIML_MAX_CHARS",
    "UNREACHABLE_STATUSES",
    "XML_DECLARATION",
    "ErrorRule",
    "answered_by_machine",
    "callback_twiml",
    "calls_path",
    "create_call_form",
    "create_call_request",
    "error_for_response",
    "option_fields",
    "read_call_sid",
    "read_error",
    "status_callback_url",
]

API_VERSION: Final = "2010-04-01"
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
EMPTY_TWIML: Final = f"{XML_DECLARATION}<Response />"
"""The answer to a status callback: nothing to do."""


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
    return f"/{API_VERSION}/Accounts/{account_sid}/Calls.json"


def status_callback_url(webhook_url: str, envelope_id: str) -> str:
    """The ``StatusCallback`` URL: the channel's webhook with our envelope id in the query."""
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}{urlencode({'envelope_id': envelope_id})}"


def _option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"a provider option value must be a string, number or boolean, not {value!r}")


def option_fields(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``provider_options["voice.twilio"]`` as form fields: booleans as ``true``/``false``,
    lists and tuples as repeated fields (``RecordingStatusCallbackEvent``)."""
    fields: list[tuple[str, str]] = []
    for name, value in options.items():
        values = value if isinstance(value, list | tuple) else (value,)
        fields.extend((str(name), _option_value(item)) for item in values)
    return fields


def create_call_form(
    *,
    to: str,
    from_: str,
    twiml: str,
    status_callback: str | None = None,
    events: Sequence[str] = STATUS_CALLBACK_EVENTS,
    machine_detection: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
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


def create_call_request(
    base_url: str,
    account_sid: str,
    form: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> ProviderRequest:
    """``POST {base_url}/2010-04-01/Accounts/{account_sid}/Calls.json`` with ``form`` encoded
    in order (``+`` as ``%2B``, spaces as ``+``, repeated names kept). Not idempotent: a
    lost answer may follow a placed call, so it is never resent."""
    return ProviderRequest.form(
        "POST",
        f"{base_url.rstrip('/')}{calls_path(account_sid)}",
        form,
        headers=SecretHeaders({**headers, "Accept": "application/json"}),
    )


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


@attrs.frozen(kw_only=True)
class ErrorRule:
    """What one Twilio error code means for the caller."""

    error: type[SendError]
    reason: FailureReason
    retryable: bool = False
    hint: str = ""
    """What to do, appended to the error message."""


_FROM_NOT_OURS = ErrorRule(
    error=ProviderError,
    reason=FailureReason.AUTH,
    hint="the 'from' setting must be a Twilio number or verified caller id of this account",
)
_BAD_TO = ErrorRule(error=InvalidRecipient, reason=FailureReason.INVALID_RECIPIENT)

ERROR_CODES: Final[Mapping[int, ErrorRule]] = {
    20003: ErrorRule(
        error=ProviderError,
        reason=FailureReason.AUTH,
        hint="check account_sid and auth_token",
    ),
    20404: ErrorRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        hint="check account_sid and base_url",
    ),
    20429: ErrorRule(error=RateLimited, reason=FailureReason.RATE_LIMITED, retryable=True),
    21205: ErrorRule(error=ProviderError, reason=FailureReason.PROVIDER_ERROR),
    21210: _FROM_NOT_OURS,
    21212: _FROM_NOT_OURS,
    21211: _BAD_TO,
    21217: _BAD_TO,
    # 21215: the number is fine, the account may not call that destination. Not an invalid
    # recipient (an application must not mark the customer's number bad, and SMS may reach
    # it); nothing to retry until someone enables the region in the console.
    21215: ErrorRule(
        error=ProviderError,
        reason=FailureReason.POLICY,
        hint="enable the destination in the Twilio console (Voice > Settings > Geo permissions)",
    ),
    13224: _BAD_TO,
}
"""Twilio error code -> the error to raise."""

_MAX_PROVIDER_TEXT: Final = 300


def read_error(body: bytes) -> tuple[int | None, str | None]:
    """The error code and text of a Twilio error body, legacy or RFC 9457 problem JSON.

    Legacy: ``{"code", "message", "more_info", "status"}``; problem JSON: ``{"type", "title",
    "status", "code", "detail", "instance"}``. Anything else gives ``(None, None)``.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    raw_code = data.get("code")
    code: int | None
    try:
        code = int(raw_code) if raw_code is not None and not isinstance(raw_code, bool) else None
    except (TypeError, ValueError):
        code = None
    text = data.get("message") or data.get("detail") or data.get("title")
    return code, str(text)[:_MAX_PROVIDER_TEXT] if text else None


def error_for_response(status_code: int, headers: Mapping[str, str], body: bytes) -> SendError:
    """The typed error for a non-2xx Twilio answer: by error code first, then by HTTP status."""
    code, text = read_error(body)
    said = f": {text}" if text else ""
    code_part = f" (code {code})" if code is not None else ""
    retry_after = retry_after_seconds(headers)
    rule = ERROR_CODES.get(code) if code is not None else None
    if rule is None and status_code == 429:
        rule = ERROR_CODES[20429]
    if rule is not None:
        hint = f"; {rule.hint}" if rule.hint else ""
        return rule.error(
            f"Twilio refused the call{code_part}{said}{hint}",
            reason=rule.reason,
            retryable=rule.retryable,
            retry_after=retry_after if rule.retryable else None,
            provider_code=str(code) if code is not None else None,
            provider_message=text,
            status_code=status_code,
        )
    if status_code >= 500:
        return ProviderError(
            f"Twilio failed (HTTP {status_code}){code_part}{said}",
            retryable=True,
            retry_after=retry_after,
            provider_code=str(code) if code is not None else None,
            provider_message=text,
            status_code=status_code,
        )
    reason = FailureReason.AUTH if status_code in (401, 403) else FailureReason.PROVIDER_ERROR
    return ProviderError(
        f"Twilio refused the call (HTTP {status_code}){code_part}{said}",
        reason=reason,
        provider_code=str(code) if code is not None else None,
        provider_message=text,
        status_code=status_code,
    )
