"""Pure mapping between envelopes and the X API: request bodies, statuses, errors.

No I/O here: every function depends only on its arguments, so ``tests/test_payloads.py`` checks
them as tables against the provider-shaped samples in ``tests/payloads/``.

The X API, as this adapter speaks it:

* send: ``POST {base_url}/messages`` with ``Authorization: Bearer <api_token>`` and a JSON body
  ``{"to": ..., "text": ..., "reference": <envelope id>}``; the answer is ``201`` with
  ``{"id": ..., "status": "accepted"}``;
* errors: ``{"error": {"code": ..., "message": ...}}`` with a 4xx or 5xx status; ``429`` carries
  ``Retry-After`` (seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
from omnichannel import (
    ContentRejected,
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
from omnichannel.plugin import (
    ProviderResponse,
    SentMessage,
    default_error_for_response,
    retry_after_seconds,
)

__all__ = [
    "ADAPTER_NAME",
    "ERROR_CODES",
    "STATUSES",
    "ErrorRule",
    "error_fields",
    "error_for_response",
    "send_body",
    "sent_message",
]

ADAPTER_NAME: Final = "twitter.x"

STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    "queued": DeliveryStatus.QUEUED,
    "accepted": DeliveryStatus.ACCEPTED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.UNDELIVERED,
}
"""X message statuses (send answers and status callbacks) -> omnichannel statuses."""


@attrs.frozen
class ErrorRule:
    """How one X error code maps onto omnichannel's errors."""

    error: type[SendError]
    reason: FailureReason
    retryable: bool
    advice: str
    """What to do about it, for the error message."""


ERROR_CODES: Final[Mapping[str, ErrorRule]] = {
    "unauthorized": ErrorRule(
        ProviderError, FailureReason.AUTH, False, "check the api_token setting"
    ),
    "invalid_recipient": ErrorRule(
        InvalidRecipient, FailureReason.INVALID_RECIPIENT, False, "check the recipient address"
    ),
    "opted_out": ErrorRule(
        InvalidRecipient,
        FailureReason.OPTED_OUT,
        False,
        "the recipient opted out; do not send until they opt in again",
    ),
    "content_rejected": ErrorRule(
        ContentRejected, FailureReason.CONTENT_REJECTED, False, "review the message text"
    ),
    "rate_limited": ErrorRule(
        RateLimited, FailureReason.RATE_LIMITED, True, "slow down and retry after the delay"
    ),
    "unavailable": ErrorRule(
        ProviderError,
        FailureReason.PROVIDER_ERROR,
        True,
        "X is unavailable; retry later",
    ),
}
"""X error codes (send errors and failed status callbacks) -> what they mean."""

OWN_FIELDS: Final = frozenset({"to", "text", "from", "reference"})
"""Body fields the adapter sets from the envelope; ``provider_options`` may not override them."""


def send_body(envelope: Envelope, *, sender: str | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /messages`` for ``envelope``, whose content the router fitted.

    Native options in ``envelope.provider_options["twitter.x"]`` are added as
    extra fields (the escape hatch). What the API cannot express faithfully raises
    :class:`~omnichannel.UnsupportedFeature` before any request is made.
    """
    if envelope.visibility is Visibility.PUBLIC:
        raise UnsupportedFeature(
            "X has no public posts; send it with visibility=PRIVATE",
            envelope_id=envelope.id,
        )
    options = dict(envelope.options_for(ADAPTER_NAME))
    clash = sorted(OWN_FIELDS & set(options))
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the adapter sets them from the "
            "envelope",
            envelope_id=envelope.id,
        )
    body: dict[str, Any] = {
        "to": envelope.recipient.value,
        "text": envelope.content.text,
        # Echoed back on status callbacks, so they map to the envelope even after a restart.
        "reference": envelope.id,
    }
    if sender:
        body["from"] = sender
    body.update(options)
    return body


def sent_message(data: object) -> SentMessage:
    """The provider id and initial status from a ``201`` answer."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not data["id"]:
        raise ProviderError("X answered the send without a message id")
    status = STATUSES.get(str(data.get("status")), DeliveryStatus.ACCEPTED)
    return SentMessage(provider_id=data["id"], status=status, raw=dict(data))


def error_fields(data: object) -> tuple[str | None, str | None]:
    """The error code and message of an error body ``{"error": {"code": ..., "message": ...}}``."""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
    )


def error_for_response(response: ProviderResponse) -> SendError:
    """The typed error for a non-2xx answer: by error code first, then by HTTP status."""
    try:
        data: object = response.json()
    except ValueError:
        data = None
    code, message = error_fields(data)
    rule = ERROR_CODES.get(code) if code is not None else None
    if rule is None and response.status_code == 429:
        rule = ERROR_CODES["rate_limited"]
    if rule is None:
        fallback = default_error_for_response(response)
        fallback.provider_code, fallback.provider_message = code, message
        return fallback
    what = code or f"HTTP {response.status_code}"
    return rule.error(
        f"X refused the message ({what}): {rule.advice}",
        reason=rule.reason,
        retryable=rule.retryable,
        retry_after=retry_after_seconds(response.headers),
        provider_code=code,
        provider_message=message,
        status_code=response.status_code,
    )
