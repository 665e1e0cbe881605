"""Pure mapping between envelopes and Twilio Programmable Messaging: the send request, the
answer to it, and the status and error-code tables. No I/O, so everything here tests as a table.

Wire facts (Twilio's Message resource and error dictionary): a message is created by a
form-encoded ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with PascalCase fields
and ``MediaUrl`` repeated once per item; the ``201`` answer is JSON (counts as strings, SIDs
``SM…``/``MM…``); errors come in the legacy shape ``{code, message, more_info, status}`` or as
RFC 9457 problem JSON (``type``, ``title``, ``status``, ``code``, ``detail``). Twilio warns that
the message text of an error may change for a given cause, so errors are classified by code,
never by text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

import attrs

from omnichannel import (
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.plugin import ProviderRequest, SecretHeaders

__all__ = [
    "API_VERSION",
    "ENVELOPE_ID_PARAM",
    "ERROR_CODES",
    "FORM_CONTENT_TYPE",
    "INBOUND_STATUSES",
    "MAX_VALIDITY_SECONDS",
    "MESSAGE_STATUSES",
    "OWN_FIELDS",
    "CodeRule",
    "FormPairs",
    "TwilioError",
    "envelope_form",
    "error_for",
    "failure_for_code",
    "form_body",
    "message_form",
    "messages_url",
    "option_pairs",
    "parse_error",
    "request_headers",
    "send_request",
    "sent_status",
    "status_callback_url",
    "validity_period",
]

API_VERSION: Final = "2010-04-01"
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
OWN_FIELDS: Final = frozenset({"To", "From", "MessagingServiceSid", "Body", "StatusCallback"})
"""Fields the adapter sets from the envelope and settings; ``provider_options`` may not."""
ENVELOPE_ID_PARAM: Final = "envelope_id"
"""The query parameter of the StatusCallback URL that carries our envelope id back."""

FormPairs = list[tuple[str, str]]

# --- The send request ---------------------------------------------------------------------------


def messages_url(base_url: str, account_sid: str) -> str:
    """The Messages list URL of ``account_sid`` under ``base_url`` (the API root)."""
    return f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def status_callback_url(webhook_url: str, envelope_id: str) -> str:
    """``webhook_url`` with our envelope id in the query, so each status maps back to it.

    Twilio calls this exact URL (and signs it, query included), so the id comes back intact.
    """
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}{urlencode({ENVELOPE_ID_PARAM: envelope_id})}"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        # ContentVariables and the like: Twilio wants a JSON *string*.
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    return str(value)


def option_pairs(options: Mapping[str, object]) -> FormPairs:
    """Form fields from an envelope's ``provider_options["sms.twilio"]`` (the escape hatch).

    Names are Twilio's own (``ValidityPeriod``, ``SmartEncoded``, ``ContentSid`` ...). Booleans
    become ``true``/``false``, lists repeat the key, mappings become a JSON string (as
    ``ContentVariables`` needs) and ``None`` leaves the field out.
    """
    pairs: FormPairs = []
    for name, value in options.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else (value,)
        pairs.extend((str(name), _form_value(item)) for item in values if item is not None)
    return pairs


def message_form(
    *,
    to: str,
    body: str,
    from_: str | None = None,
    messaging_service_sid: str | None = None,
    media_urls: Iterable[str] = (),
    status_callback: str | None = None,
    validity_period: int | None = None,
    options: Mapping[str, object] | None = None,
) -> FormPairs:
    """The form fields of one create-message call, in Twilio's documented order.

    ``options`` (the envelope's provider options) are appended last. They may add any field
    (``MediaUrl`` adds more items; a ``ValidityPeriod`` of their own replaces
    ``validity_period``) but not set one of :data:`OWN_FIELDS`: that raises
    :class:`~omnichannel.UnsupportedFeature`.
    """
    extra = option_pairs(options or {})
    clash = sorted(OWN_FIELDS & {name for name, _ in extra})
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the adapter sets them from the "
            "envelope and the settings (choose the sender with the envelope's sender address)"
        )
    pairs: FormPairs = [("To", to)]
    if from_:
        pairs.append(("From", from_))
    if messaging_service_sid:
        pairs.append(("MessagingServiceSid", messaging_service_sid))
    if body:
        pairs.append(("Body", body))
    if status_callback:
        pairs.append(("StatusCallback", status_callback))
    pairs.extend(("MediaUrl", url) for url in media_urls)
    if validity_period is not None and all(name != "ValidityPeriod" for name, _ in extra):
        pairs.append(("ValidityPeriod", str(validity_period)))
    return pairs + extra


MAX_VALIDITY_SECONDS: Final = 36_000
"""Twilio's default and longest ``ValidityPeriod`` (10 hours)."""


def validity_period(expires_at: datetime | None, now: datetime) -> int | None:
    """The ``ValidityPeriod`` that makes Twilio drop a message still queued at ``expires_at``.

    None when the envelope does not expire, or not before Twilio's own 10-hour default; at
    least 1 second (Twilio's minimum).
    """
    if expires_at is None:
        return None
    seconds = math.ceil((expires_at - now).total_seconds())
    if seconds >= MAX_VALIDITY_SECONDS:
        return None
    return max(1, seconds)


def envelope_form(
    envelope: Envelope,
    *,
    adapter_name: str,
    from_: str | None,
    messaging_service_sid: str | None,
    status_callback: str | None,
    now: datetime | None = None,
) -> FormPairs:
    """The form fields that send ``envelope`` (already fitted to the channel by the router).

    A reply goes out from the business address the customer wrote to when the envelope names
    one; otherwise from the configured sender (a number, or the Messaging Service's pool).
    SMS has no public posts, so a PUBLIC envelope raises :class:`~omnichannel.UnsupportedFeature`.
    An envelope's ``expires_at`` becomes Twilio's ``ValidityPeriod``, counted from ``now``.
    """
    if envelope.visibility is Visibility.PUBLIC:
        raise UnsupportedFeature(
            "SMS has no public posts; send it with visibility=PRIVATE", envelope_id=envelope.id
        )
    own = envelope.sender or envelope.business_address
    return message_form(
        to=envelope.recipient.value,
        body=envelope.content.plain_text,
        from_=own.value if own is not None else from_,
        messaging_service_sid=messaging_service_sid,
        # Fitting sent media Twilio cannot fetch (bytes) as an error, so each item has a URL.
        media_urls=[item.url for item in envelope.content.media if item.url is not None],
        status_callback=status_callback,
        validity_period=validity_period(envelope.expires_at, now) if now else None,
        options=envelope.options_for(adapter_name),
    )


def form_body(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``pairs`` form-encoded in order, every repeated ``MediaUrl`` kept (``+`` arrives as
    ``%2B``, as Twilio's own clients send it)."""
    return urlencode(list(pairs)).encode("utf-8")


def request_headers(auth_headers: Mapping[str, str]) -> SecretHeaders:
    """The headers of every create-message request: auth, JSON answers, a form body."""
    return SecretHeaders(
        {**auth_headers, "Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
    )


def send_request(
    url: str, pairs: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> ProviderRequest:
    """The request that creates a message: a form POST with ``headers``
    (:func:`request_headers`). Not idempotent: Twilio's Messages resource takes no
    idempotency key, so a lost answer is never resent."""
    return ProviderRequest(method="POST", url=url, headers=headers, body=form_body(pairs))


# --- Statuses -----------------------------------------------------------------------------------

MESSAGE_STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    # Twilio's lifecycle is accepted -> (scheduled) -> queued -> sending -> sent -> delivered.
    # "queued" already means Twilio holds the message for sending: ACCEPTED. "scheduled" waits
    # for SendAt, as the router's own scheduled sends do: QUEUED.
    "accepted": DeliveryStatus.ACCEPTED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.ACCEPTED,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    # Semantics unverified (providers.md 9): claim no more than "left Twilio".
    "partially_delivered": DeliveryStatus.SENT,
    # Only WhatsApp/RCS/Messenger report reads; SMS never does, so READ is not declared and a
    # read (from a Messaging Service with RCS, say) is recorded as what it implies: delivered.
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.CANCELED,
}
"""Twilio's ``status``/``MessageStatus`` values for outbound messages, normalised."""

INBOUND_STATUSES: Final = frozenset({"receiving", "received"})
"""The values that mark an inbound message rather than a status callback."""


def sent_status(value: object) -> DeliveryStatus:
    """The status of a message Twilio just created (ACCEPTED when Twilio says something new)."""
    return MESSAGE_STATUSES.get(str(value), DeliveryStatus.ACCEPTED)


# --- Errors -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CodeRule:
    """What one Twilio error code means for the caller."""

    error: type[SendError]
    reason: FailureReason
    retryable: bool
    advice: str
    """What to do about it, for the error message."""


def _rules(codes: Iterable[int], rule: CodeRule) -> dict[int, CodeRule]:
    return dict.fromkeys(codes, rule)


_NOT_A_MOBILE = CodeRule(
    error=InvalidRecipient,
    reason=FailureReason.INVALID_RECIPIENT,
    retryable=False,
    advice="check the recipient's number; it cannot receive SMS from this sender",
)

ERROR_CODES: Final[Mapping[int, CodeRule]] = {
    20003: CodeRule(
        error=ProviderError,
        reason=FailureReason.AUTH,
        retryable=False,
        advice="check account_sid and auth_token (or api_key_sid and api_key_secret)",
    ),
    20429: CodeRule(
        error=RateLimited,
        reason=FailureReason.RATE_LIMITED,
        retryable=True,
        advice="too many concurrent requests; Twilio did not process it, so retry later",
    ),
    # 21211 invalid To, 21217 not a valid phone number, 21408 region not enabled (geo
    # permissions), 21612 cannot route To from this From, 21614 not SMS-capable, 21635 landline.
    **_rules((21211, 21217, 21408, 21612, 21614, 21635), _NOT_A_MOBILE),
    21608: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        retryable=False,
        advice="a trial account sends only to verified numbers; verify it or upgrade",
    ),
    21610: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.OPTED_OUT,
        retryable=False,
        advice="the recipient replied STOP; do not send until they reply START",
    ),
    21617: CodeRule(
        error=ContentTooLong,
        reason=FailureReason.CONTENT_REJECTED,
        retryable=False,
        advice="the body is over 1,600 characters; shorten it",
    ),
    30007: CodeRule(
        error=ContentRejected,
        reason=FailureReason.CONTENT_REJECTED,
        retryable=False,
        advice="the carrier filtered the message; review its content and sender registration",
    ),
    **_rules(
        (21601, 21606),
        CodeRule(
            error=ProviderError,
            reason=FailureReason.PROVIDER_ERROR,
            retryable=False,
            advice="the sender is not an SMS-capable number of this account; check `from`",
        ),
    ),
    30001: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=True,
        advice="Twilio's queue overflowed; retry later",
    ),
    30003: CodeRule(
        error=ProviderError,
        reason=FailureReason.UNREACHABLE,
        retryable=True,
        advice="the handset is unreachable (off or out of coverage); retry later",
    ),
    **_rules((30005, 30006), _NOT_A_MOBILE),
}
"""Twilio error codes, classified by what the caller should do. A code missing here is a
``provider_error`` that keeps its code and message (see :func:`error_for`)."""


@attrs.frozen(kw_only=True)
class TwilioError:
    """What a Twilio error body says, from either shape; every field may be missing."""

    code: int | None = None
    message: str | None = None
    more_info: str | None = None


_DOCS_CODE = re.compile(r"/errors/(\d+)/?$")


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_error(content: bytes) -> TwilioError:
    """Read a Twilio error body: the legacy shape or RFC 9457 problem JSON.

    Anything else (an HTML page from a proxy, an empty body) gives an empty
    :class:`TwilioError`; the HTTP status then decides.
    """
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        return TwilioError()
    if not isinstance(data, dict):
        return TwilioError()
    code = _code(data.get("code"))
    problem_type = data.get("type")
    if code is None and isinstance(problem_type, str):
        # Problem JSON without "code": its type is the error's documentation page.
        match = _DOCS_CODE.search(problem_type)
        code = int(match.group(1)) if match else None
    message = next(
        (
            value.strip()
            for key in ("message", "detail", "title")
            if isinstance(value := data.get(key), str) and value.strip()
        ),
        None,
    )
    more_info = data.get("more_info") or problem_type
    return TwilioError(
        code=code, message=message, more_info=more_info if isinstance(more_info, str) else None
    )


_MESSAGE_LIMIT: Final = 200


def _short(text: str | None) -> str:
    if not text:
        return "no message"
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_LIMIT else flat[: _MESSAGE_LIMIT - 1] + "…"


def error_for(status_code: int, error: TwilioError, retry_after: float | None) -> SendError:
    """The typed error for a non-2xx answer: by Twilio code first, then by HTTP status.

    ``retry_after`` is what the answer's ``Retry-After`` said, kept on retryable errors.
    Messages carry Twilio's short message (trimmed), never the body.
    """
    code = str(error.code) if error.code is not None else None
    said = _short(error.message)
    common: dict[str, Any] = {
        "provider_code": code,
        "provider_message": error.message,
        "status_code": status_code,
    }
    rule = ERROR_CODES.get(error.code) if error.code is not None else None
    if rule is not None:
        return rule.error(
            f"Twilio refused the message with error {code} ({said}): {rule.advice}",
            reason=rule.reason,
            retryable=rule.retryable,
            retry_after=retry_after if rule.retryable else None,
            **common,
        )
    which = f"HTTP {status_code}, error {code}" if code else f"HTTP {status_code}"
    if status_code == 429:
        return RateLimited(
            f"Twilio asks us to slow down ({which}: {said})", retry_after=retry_after, **common
        )
    if status_code >= 500:
        return ProviderError(
            f"Twilio failed ({which}: {said})",
            reason=FailureReason.PROVIDER_ERROR,
            retryable=True,
            retry_after=retry_after,
            **common,
        )
    if status_code in (401, 403):
        return ProviderError(
            f"Twilio refused our credentials ({which}: {said}); check account_sid and "
            "auth_token (or api_key_sid and api_key_secret)",
            reason=FailureReason.AUTH,
            **common,
        )
    return ProviderError(
        f"Twilio refused the message ({which}: {said})",
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        **common,
    )


def failure_for_code(code: str | None) -> tuple[FailureReason, bool]:
    """The reason and retryability of an ``ErrorCode`` in a status callback.

    No code gives ``unknown``; a code missing from :data:`ERROR_CODES` gives
    ``provider_error``, not retryable.
    """
    if code is None or not code.strip():
        return FailureReason.UNKNOWN, False
    rule = ERROR_CODES.get(_code(code) or -1)
    if rule is None:
        return FailureReason.PROVIDER_ERROR, False
    return rule.reason, rule.retryable
