"""Small factories for envelopes, status updates and webhook requests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from omnichannel.adapter import WebhookRequest
from omnichannel.content import Content
from omnichannel.envelope import Address, Direction, Envelope
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.http import ProviderResponse

__all__ = ["make_envelope", "make_inbound", "make_response", "make_status", "webhook_request"]


def make_envelope(
    channel: str = "fake",
    to: str = "customer-1",
    text: str | Content = "hello",
    **changes: Any,
) -> Envelope:
    """An outbound envelope to ``to`` on ``channel``; any field can be overridden."""
    return Envelope(
        channel=channel, recipient=Address(channel=channel, value=to), content=text, **changes
    )


def make_inbound(
    channel: str = "fake",
    sender: str = "customer-1",
    text: str | Content = "hello",
    *,
    business: str = "business-1",
    provider_id: str | None = "in-1",
    **changes: Any,
) -> Envelope:
    """An inbound envelope from ``sender`` to the business address ``business``."""
    business_address = Address(channel=channel, value=business)
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=Address(channel=channel, value=sender),
        recipient=business_address,
        business_address=business_address,
        content=text,
        provider_id=provider_id,
        **changes,
    )


def make_status(
    channel: str = "fake",
    provider_id: str = "fake-1",
    status: DeliveryStatus | str = DeliveryStatus.DELIVERED,
    **changes: Any,
) -> StatusUpdate:
    """A status update for ``provider_id``."""
    changes.setdefault("timestamp", datetime.now(UTC))
    return StatusUpdate(
        channel=channel, provider_id=provider_id, status=DeliveryStatus(status), **changes
    )


def webhook_request(
    url: str,
    *,
    method: str = "POST",
    form: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
    json_body: object = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A provider request as the webhook app would build it: a form, a JSON body or raw bytes."""
    all_headers = dict(headers or {})
    if form is not None:
        body = urlencode(list(form.items()) if isinstance(form, Mapping) else list(form)).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    return WebhookRequest(method=method, url=url, headers=all_headers, body=body or b"")


def make_response(
    status: int = 200,
    *,
    json_body: object = None,
    text: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProviderResponse:
    """A provider answer, as an adapter's ``parse_send_response`` and ``error_for_response``
    receive it: a JSON body, a text body, or none."""
    all_headers = dict(headers or {})
    body = b""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    elif text is not None:
        body = text.encode()
        all_headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    return ProviderResponse(status_code=status, headers=all_headers, body=body)
