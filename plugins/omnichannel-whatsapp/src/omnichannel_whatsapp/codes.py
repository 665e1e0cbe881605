"""Meta's error codes and WhatsApp status values, as tables: what each means for the caller.

Graph API errors are JSON, ``{"error": {"message", "type", "code", "error_subcode",
"error_data": {"details"}, "fbtrace_id"}}``, and the same codes arrive later in failed status
webhooks (``statuses[].errors[]``). Meta's error-code reference asks that errors be handled by
``code`` (and ``details``), never by the HTTP status, which differs between codes and between
copies of the documentation (130429, the throughput limit, is listed as HTTP 400), nor by the
title inside ``message``, which Meta plans to drop. Split out of :mod:`.payloads` by concern.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from omnichannel import (
    ContentRejected,
    DeliveryStatus,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
    UnsupportedFeature,
)
from omnichannel.plugin import ProviderResponse, retry_after_seconds

__all__ = [
    "ERROR_CODES",
    "PAIR_RATE_SECONDS",
    "STATUSES",
    "CodeRule",
    "GraphError",
    "error_for",
    "error_for_response",
    "failure_for",
    "graph_error",
    "rule_for",
]

STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    # A voice message was played: the strongest sign it was read.
    "played": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}
"""WhatsApp's ``statuses[].status`` values, normalised. When a message is delivered and read
at once Meta sends only ``read``, which the precedence rules count as delivered too."""

PAIR_RATE_SECONDS: Final = 6.0
"""Meta's pair rate: about one message every 6 seconds from one number to one customer
(volatile), the wait a 131056 asks for when Meta's answer names none."""


@attrs.frozen(kw_only=True)
class CodeRule:
    """What one Meta error code means for the caller."""

    error: type[SendError]
    reason: FailureReason
    retryable: bool
    advice: str
    """What to do about it, for the error message."""


def _rules(codes: Iterable[int], rule: CodeRule) -> dict[int, CodeRule]:
    return dict.fromkeys(codes, rule)


_AUTH = CodeRule(
    error=ProviderError,
    reason=FailureReason.AUTH,
    retryable=False,
    advice="check access_token: it may have expired (temporary tokens last about 24 hours), "
    "or lack the whatsapp_business_messaging permission",
)
_THROTTLED = CodeRule(
    error=RateLimited,
    reason=FailureReason.RATE_LIMITED,
    retryable=True,
    advice="Meta did not send it and asks us to slow down; retry after a pause",
)
_BAD_PARAMETER = CodeRule(
    error=ContentRejected,
    reason=FailureReason.CONTENT_REJECTED,
    retryable=False,
    advice="Meta refused a parameter of the message; check the content against its limits",
)
_BLOCKED = CodeRule(
    error=ProviderError,
    reason=FailureReason.PROVIDER_ERROR,
    retryable=False,
    advice="the WhatsApp Business Account is locked, blocked or restricted; see the WhatsApp "
    "Manager",
)
_MEDIA = CodeRule(
    error=ContentRejected,
    reason=FailureReason.CONTENT_REJECTED,
    retryable=False,
    advice="Meta could not fetch or upload the media; check its URL, type and size",
)
_TEMPLATE = CodeRule(
    error=ContentRejected,
    reason=FailureReason.CONTENT_REJECTED,
    retryable=False,
    advice="the template was refused; check its name, language and parameters in the WhatsApp "
    "Manager",
)
_TEMPORARY = CodeRule(
    error=ProviderError,
    reason=FailureReason.PROVIDER_ERROR,
    retryable=True,
    advice="a Meta service is temporarily unavailable; retry later",
)

ERROR_CODES: Final[Mapping[int, CodeRule]] = {
    **_rules((0, 190), _AUTH),
    **_rules((3, 10, *range(200, 300)), _AUTH),
    # 4 app call rate, 80007 WABA rate, 130429 per-number throughput, 131056 pair rate: none
    # of them sent the message.
    **_rules((4, 80007, 130429, 131056), _THROTTLED),
    131048: CodeRule(
        error=ProviderError,
        reason=FailureReason.RATE_LIMITED,
        retryable=False,
        advice="too many of this number's messages were blocked or flagged as spam; stop and "
        "review the quality rating before sending more",
    ),
    131064: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        advice="the account reached its messaging limit after template classification "
        "violations; see the WhatsApp Manager",
    ),
    **_rules((100, 131008, 131009), _BAD_PARAMETER),
    131026: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        retryable=False,
        advice="the message is undeliverable: the number may not be on WhatsApp, run an old "
        "version or not have accepted the terms; try another channel",
    ),
    131030: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        retryable=False,
        advice="a test number only reaches the recipients on its allowed list; add this one in "
        "the App Dashboard",
    ),
    131047: CodeRule(
        error=ProviderError,
        reason=FailureReason.OUTSIDE_WINDOW,
        retryable=False,
        advice="more than 24 hours passed since the customer last wrote; send an approved "
        "template or use another channel",
    ),
    131049: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        advice="Meta held back this marketing message to keep the ecosystem healthy; do not "
        "resend it at once",
    ),
    131050: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.OPTED_OUT,
        retryable=False,
        advice="the customer stopped marketing messages from this business",
    ),
    131051: CodeRule(
        error=UnsupportedFeature,
        reason=FailureReason.CONTENT_REJECTED,
        retryable=False,
        advice="WhatsApp does not support this message type",
    ),
    **_rules((131052, 131053), _MEDIA),
    131042: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        advice="the business has a payment problem; see Billing in the WhatsApp Manager",
    ),
    **_rules((131031, 368, 130497), _BLOCKED),
    130472: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        advice="the customer is part of a Meta marketing experiment and gets no marketing messages",
    ),
    131062: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        retryable=False,
        advice="this send cannot be addressed to a business-scoped user id; use the phone number",
    ),
    131063: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        advice="marketing templates are disabled for this account on the Cloud API",
    ),
    133010: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        advice="the business phone number is not registered with the Cloud API; register it",
    ),
    **_rules((2, 131016), _TEMPORARY),
    **_rules(
        (1, 131000),
        CodeRule(
            error=ProviderError,
            reason=FailureReason.PROVIDER_ERROR,
            retryable=False,
            advice="Meta failed for an unknown reason; check the WhatsApp Manager before resending",
        ),
    ),
}
"""Meta error codes, classified by what the caller should do. The 132000-series (template
errors) is matched as a range by :func:`rule_for`; any other code is a ``provider_error``
that keeps its code and text."""


def rule_for(code: int | None) -> CodeRule | None:
    """The rule of ``code``: from :data:`ERROR_CODES`, or the template rule for 132xxx."""
    if code is None:
        return None
    rule = ERROR_CODES.get(code)
    if rule is None and 132000 <= code <= 132999:
        return _TEMPLATE
    return rule


@attrs.frozen(kw_only=True)
class GraphError:
    """What a Graph API error (or a status webhook's ``errors[]`` entry) says; every field
    may be missing."""

    code: int | None = None
    message: str | None = None
    details: str | None = None
    fbtrace_id: str | None = None


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _string(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def graph_error(error: object) -> GraphError:
    """Read one error object: the ``error`` of a Graph answer, or an ``errors[]`` entry.

    ``error_data`` is an object with ``details`` for message errors and may be a plain string
    for template errors.
    """
    if not isinstance(error, dict):
        return GraphError()
    data = error.get("error_data")
    details = _string(data.get("details")) if isinstance(data, dict) else _string(data)
    message = _string(error.get("message")) or _string(error.get("title"))
    return GraphError(
        code=_code(error.get("code")),
        message=message,
        details=details,
        fbtrace_id=_string(error.get("fbtrace_id")),
    )


def _response_error(body: bytes) -> GraphError:
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return GraphError()
    return graph_error(data.get("error") if isinstance(data, dict) else None)


_MESSAGE_LIMIT: Final = 200


def _short(text: str | None) -> str:
    if not text:
        return "no message"
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_LIMIT else flat[: _MESSAGE_LIMIT - 1] + "…"


def error_for(status_code: int, error: GraphError, retry_after: float | None) -> SendError:
    """The typed error of a non-2xx answer: by Meta's code first, then by HTTP status.

    Messages carry Meta's message and details (trimmed), never the body. A 131056 with no
    ``Retry-After`` waits :data:`PAIR_RATE_SECONDS`.
    """
    code = str(error.code) if error.code is not None else None
    said = _short(error.message)
    if error.details and error.details != error.message:
        said = f"{said}: {_short(error.details)}"
    common: dict[str, Any] = {
        "provider_code": code,
        "provider_message": error.details or error.message,
        "status_code": status_code,
    }
    rule = rule_for(error.code)
    if rule is not None:
        if error.code == 131056 and retry_after is None:
            retry_after = PAIR_RATE_SECONDS
        return rule.error(
            f"Meta refused the message with error {code} ({said}): {rule.advice}",
            reason=rule.reason,
            retryable=rule.retryable,
            retry_after=retry_after if rule.retryable else None,
            **common,
        )
    which = f"HTTP {status_code}, error {code}" if code else f"HTTP {status_code}"
    if status_code == 429:
        return RateLimited(f"Meta asks us to slow down ({which}: {said})", **common)
    if status_code >= 500:
        return ProviderError(
            f"Meta failed ({which}: {said})", retryable=True, retry_after=retry_after, **common
        )
    if status_code in (401, 403):
        return ProviderError(
            f"Meta refused our credentials ({which}: {said}); {_AUTH.advice}",
            reason=FailureReason.AUTH,
            **common,
        )
    return ProviderError(f"Meta refused the message ({which}: {said})", **common)


def error_for_response(response: ProviderResponse) -> SendError:
    """:func:`error_for` of a whole answer: its body, status and ``Retry-After``."""
    return error_for(
        response.status_code,
        _response_error(response.body),
        retry_after_seconds(response.headers),
    )


def failure_for(error: GraphError | None) -> tuple[FailureReason, bool]:
    """The reason and retryability of a failed status webhook's first error.

    No error gives ``unknown``; a code missing from the table gives ``provider_error``. A
    failed status means the message was not delivered, so a throttled or temporary failure is
    safe to send again.
    """
    if error is None or error.code is None:
        return FailureReason.UNKNOWN, False
    rule = rule_for(error.code)
    if rule is None:
        return FailureReason.PROVIDER_ERROR, False
    return rule.reason, rule.retryable
