"""Pure mapping between envelopes and the {{Provider}} API: requests, answers, statuses, errors.

No I/O here: every function depends only on its arguments, so ``tests/test_payloads.py`` checks
them as tables against the provider-shaped samples in ``tests/payloads/``.

The {{Provider}} API, as this adapter speaks it (every call carries
``Authorization: Bearer <api_token>``; errors are ``{"error": {"code": ..., "message": ...}}``
with a 4xx or 5xx status, and ``429`` carries ``Retry-After`` in seconds):

* ``POST /messages``: a private message. JSON ``{"to", "from"?, "reference", "text"?,
  "media"?, "interactive"?, "template"?}``; ``reference`` is our envelope id, echoed on status
  callbacks and searchable. Answer ``201 {"id", "status": "accepted"}``, then status callbacks.
* ``POST /posts``: a public post, ``{"text", "in_reply_to"?, "reference", "media"?}`` (media by
  link only). Answer ``201 {"id", "status": "sent"}``; posts have no status callbacks.
* ``POST /media?filename=...``: the raw bytes of one attachment, with its ``Content-Type``.
  Answer ``201 {"id"}``, the media id a message then refers to. Not idempotent: each call
  stores a new copy.
* ``GET /messages?reference=<id>`` (and ``GET /posts?reference=<id>``): the messages carrying
  that reference, ``{"messages": [{"id", "status", "reference", "text", ...}]}``.
* ``GET /messages/inbound?after=<cursor>``: inbound messages queued since ``cursor``, oldest
  first, ``{"messages": [<message event>...], "cursor", "more"}`` (for accounts without a
  webhook).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode

import attrs
from omnichannel import (
    ContentRejected,
    DeliveryStatus,
    Envelope,
    FailureReason,
    Interactive,
    InvalidRecipient,
    Media,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    SendError,
    Template,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.plugin import (
    ProviderRequest,
    ProviderResponse,
    SecretHeaders,
    SentMessage,
    default_error_for_response,
    retry_after_seconds,
)

__all__ = [
    "ADAPTER_NAME",
    "ERROR_CODES",
    "MAX_POST_LENGTH",
    "MAX_TEXT_LENGTH",
    "STATUSES",
    "ErrorRule",
    "error_fields",
    "error_for_response",
    "found_message",
    "inbound_request",
    "interactive_object",
    "lookup_request",
    "media_object",
    "message_body",
    "post_body",
    "send_request",
    "sent_message",
    "template_object",
    "upload_request",
    "uploaded_media_id",
    "uploads",
]

ADAPTER_NAME: Final = "{{channel}}.{{provider}}"
MAX_TEXT_LENGTH: Final = 2000
"""Characters in one private message."""
MAX_POST_LENGTH: Final = 280
"""Characters in one public post."""

STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    "queued": DeliveryStatus.QUEUED,
    "accepted": DeliveryStatus.ACCEPTED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.UNDELIVERED,
}
"""{{Provider}} message statuses (answers, lookups and callbacks) -> omnichannel statuses."""


@attrs.frozen
class ErrorRule:
    """How one {{Provider}} error code maps onto omnichannel's errors."""

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
        ContentRejected, FailureReason.CONTENT_REJECTED, False, "review the message content"
    ),
    "template_not_found": ErrorRule(
        ContentRejected,
        FailureReason.CONTENT_REJECTED,
        False,
        "use the name and language of a template {{Provider}} has approved",
    ),
    "media_rejected": ErrorRule(
        ContentRejected,
        FailureReason.CONTENT_REJECTED,
        False,
        "send a supported type under the size limit",
    ),
    # {{Provider}} documents both as "not processed, try again later": RateLimited, so the
    # sender waits and retries even a create call (nothing was created).
    "rate_limited": ErrorRule(
        RateLimited, FailureReason.RATE_LIMITED, True, "slow down and retry after the delay"
    ),
    "unavailable": ErrorRule(
        RateLimited,
        FailureReason.RATE_LIMITED,
        True,
        "{{Provider}} is briefly unavailable and processed nothing; retry after the delay",
    ),
}
"""{{Provider}} error codes (send errors and failed status callbacks) -> what they mean."""

OWN_FIELDS: Final = frozenset(
    {"to", "text", "from", "reference", "media", "interactive", "template", "in_reply_to"}
)
"""Body fields the adapter sets from the envelope; ``provider_options`` may not override them."""


def _options(envelope: Envelope) -> dict[str, Any]:
    options = dict(envelope.options_for(ADAPTER_NAME))
    clash = sorted(OWN_FIELDS & set(options))
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the adapter sets them from the "
            "envelope",
            envelope_id=envelope.id,
        )
    return options


def _message_id(data: object) -> str | None:
    if isinstance(data, Mapping) and isinstance(data.get("id"), str) and data["id"]:
        return str(data["id"])
    return None


# --- Sending --------------------------------------------------------------------------------


def uploads(envelope: Envelope) -> list[Media]:
    """The media of ``envelope`` given as bytes, which ``POST /media`` must store first
    (a template's media header included). Public posts take links only: none for them."""
    if envelope.visibility is Visibility.PUBLIC:
        return []
    content = envelope.content
    header = content.template.header if content.template is not None else None
    items = [header.media] if header is not None and header.media is not None else []
    return [item for item in (*items, *content.media) if item.is_bytes]


def upload_request(base_url: str, item: Media, headers: Mapping[str, str]) -> ProviderRequest:
    """``POST /media`` with the raw bytes of ``item``: a create without an idempotency key."""
    query = f"?{urlencode({'filename': item.filename})}" if item.filename else ""
    content_type = item.content_type or "application/octet-stream"
    return ProviderRequest(
        method="POST",
        url=f"{base_url}/media{query}",
        headers=SecretHeaders({**headers, "Content-Type": content_type}),
        body=item.data or b"",
    )


def uploaded_media_id(data: object) -> str:
    """The media id of a ``201`` answer to ``POST /media``."""
    media_id = _message_id(data)
    if media_id is None:
        raise ProviderError("{{Provider}} answered the media upload without a media id")
    return media_id


def media_object(item: Media, media_ids: Mapping[Media, str]) -> dict[str, Any]:
    """One attachment: ``{"link"}`` for a URL, ``{"id"}`` for uploaded bytes, and its details."""
    if item.url is not None:
        found: dict[str, Any] = {"link": item.url}
    elif item in media_ids:
        found = {"id": media_ids[item]}
    else:
        raise UnsupportedFeature(
            "media given as bytes must be uploaded first (the adapter's deliver() does it)"
        )
    details = {"type": item.content_type, "filename": item.filename, "caption": item.caption}
    found.update({key: value for key, value in details.items() if value is not None})
    return found


def interactive_object(interactive: Interactive) -> dict[str, Any]:
    """The ``interactive`` field: reply buttons, or a list of sections (the body is ``text``)."""
    found: dict[str, Any]
    if interactive.is_list:
        found = {
            "type": "list",
            "button": interactive.button_label or "Choose",
            "sections": [
                {
                    **({"title": section.title} if section.title else {}),
                    "rows": [
                        {
                            "id": row.id,
                            "title": row.title,
                            **({"description": row.description} if row.description else {}),
                        }
                        for row in section.rows
                    ],
                }
                for section in interactive.sections
            ],
        }
    else:
        found = {
            "type": "buttons",
            "buttons": [{"id": button.id, "title": button.title} for button in interactive.buttons],
        }
    if interactive.header:
        found["header"] = interactive.header
    if interactive.footer:
        found["footer"] = interactive.footer
    return found


def template_object(template: Template, media_ids: Mapping[Media, str]) -> dict[str, Any]:
    """The ``template`` field: name, language, header, body parameters and buttons."""
    found: dict[str, Any] = {"name": template.name}
    if template.language:
        found["language"] = template.language
    header = template.header
    if header is not None and header.text is not None:
        found["header"] = {"text": header.text}
    elif header is not None and header.media is not None:
        found["header"] = {"media": media_object(header.media, media_ids)}
    if template.parameters:
        found["parameters"] = list(template.parameters)
    if template.named_parameters:
        found["named_parameters"] = {
            str(key): str(value) for key, value in template.named_parameters.items()
        }
    if template.buttons:
        found["buttons"] = [
            {"index": button.index, "type": button.kind.value, "value": button.value}
            for button in template.buttons
        ]
    return found


def message_body(
    envelope: Envelope,
    *,
    sender: str | None = None,
    media_ids: Mapping[Media, str] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /messages`` for ``envelope``, whose content the router fitted.

    ``media_ids`` holds the ids ``POST /media`` gave the envelope's bytes media. Native
    options in ``envelope.provider_options["{{channel}}.{{provider}}"]`` are added as extra
    fields (the escape hatch).
    """
    options = _options(envelope)
    ids = media_ids or {}
    content = envelope.content
    body: dict[str, Any] = {
        "to": envelope.recipient.value,
        # Echoed back on status callbacks and searchable (GET /messages?reference=), so
        # statuses map to the envelope after a restart and reconcile() finds it exactly.
        "reference": envelope.id,
    }
    if sender:
        body["from"] = sender
    if content.text:
        body["text"] = content.text
    if content.media:
        body["media"] = [media_object(item, ids) for item in content.media]
    if content.interactive is not None:
        body["interactive"] = interactive_object(content.interactive)
    if content.template is not None:
        body["template"] = template_object(content.template, ids)
    body.update(options)
    return body


def post_body(envelope: Envelope) -> dict[str, Any]:
    """The JSON body of ``POST /posts`` for a PUBLIC ``envelope``.

    The router fitted it to the public shape (280 characters, media by link, no menus or
    templates); what a post cannot carry raises :class:`~omnichannel.UnsupportedFeature`
    before any request, for an adapter called without the router.
    """
    options = _options(envelope)
    content = envelope.content
    if content.template is not None or content.interactive is not None:
        raise UnsupportedFeature(
            "{{Provider}} posts carry no templates or menus; send them with visibility=PRIVATE",
            envelope_id=envelope.id,
        )
    if any(item.is_bytes for item in content.media):
        raise UnsupportedFeature(
            "{{Provider}} posts attach media by link only; host the file and pass its URL",
            envelope_id=envelope.id,
        )
    body: dict[str, Any] = {"text": content.text, "reference": envelope.id}
    if envelope.in_reply_to:
        body["in_reply_to"] = envelope.in_reply_to
    if content.media:
        body["media"] = [media_object(item, {}) for item in content.media]
    body.update(options)
    return body


def send_request(
    base_url: str,
    envelope: Envelope,
    headers: Mapping[str, str],
    *,
    sender: str | None = None,
    media_ids: Mapping[Media, str] | None = None,
) -> ProviderRequest:
    """The call that sends ``envelope``: a post when it is PUBLIC, else a message.

    Neither takes an idempotency key, so neither is marked idempotent: a lost answer is an
    unknown outcome, settled by ``reconcile()``, never a resend.
    """
    if envelope.visibility is Visibility.PUBLIC:
        url, body = f"{base_url}/posts", post_body(envelope)
    else:
        url = f"{base_url}/messages"
        body = message_body(envelope, sender=sender, media_ids=media_ids)
    return ProviderRequest.json("POST", url, body, headers=headers)


def sent_message(data: object) -> SentMessage:
    """The provider id and initial status from a ``201`` answer (``data`` is None when the
    body was not JSON).

    A success without a readable id is an unknown outcome, not a failure: the message was
    probably created, so it must not be sent again (or failed over) before ``reconcile()``.
    """
    message_id = _message_id(data)
    if message_id is None or not isinstance(data, Mapping):
        raise OutcomeUnknown(
            "{{Provider}} accepted the send but its answer has no message id; the message "
            "probably exists, so it is not resent (reconcile() finds it by its reference)"
        )
    return SentMessage(provider_id=message_id, status=_status(data), raw=dict(data))


def _status(data: Mapping[str, Any]) -> DeliveryStatus:
    return STATUSES.get(str(data.get("status")), DeliveryStatus.ACCEPTED)


# --- Reading back: polling and reconcile ----------------------------------------------------


def inbound_request(
    base_url: str, cursor: str | None, headers: Mapping[str, str]
) -> ProviderRequest:
    """``GET /messages/inbound`` after ``cursor`` (from the oldest kept message when None).

    A read, so it is idempotent: a lost answer is simply asked again.
    """
    query = f"?{urlencode({'after': cursor})}" if cursor else ""
    return ProviderRequest(
        method="GET", url=f"{base_url}/messages/inbound{query}", headers=headers, idempotent=True
    )


def lookup_request(
    base_url: str, envelope: Envelope, headers: Mapping[str, str]
) -> ProviderRequest:
    """``GET /messages?reference=<envelope id>`` (``/posts`` for a PUBLIC envelope): a read."""
    collection = "posts" if envelope.visibility is Visibility.PUBLIC else "messages"
    query = urlencode({"reference": envelope.id})
    return ProviderRequest(
        method="GET", url=f"{base_url}/{collection}?{query}", headers=headers, idempotent=True
    )


def found_message(data: object, envelope: Envelope) -> SentMessage | None:
    """The message of a lookup answer that ``envelope`` created, or None when there is none.

    The parts of a split text share the envelope id as their reference, so the part is told
    apart by its text.
    """
    messages = data.get("messages") if isinstance(data, Mapping) else None
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        raise ProviderError("{{Provider}} answered the lookup without a messages list")
    for item in messages:
        if (
            isinstance(item, Mapping)
            and item.get("reference") == envelope.id
            and (item.get("text") or "") == envelope.content.text
        ):
            message_id = _message_id(item)
            if message_id is None:
                raise ProviderError("{{Provider}} answered the lookup with a message without id")
            return SentMessage(provider_id=message_id, status=_status(item), raw=dict(item))
    return None


# --- Errors ---------------------------------------------------------------------------------


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
        f"{{Provider}} refused the request ({what}): {rule.advice}",
        reason=rule.reason,
        retryable=rule.retryable,
        retry_after=retry_after_seconds(response.headers),
        provider_code=code,
        provider_message=message,
        status_code=response.status_code,
    )
