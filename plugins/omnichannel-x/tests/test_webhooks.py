"""X webhooks: the signature first, then inbound messages and status callbacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from omnichannel import (
    DeliveryStatus,
    Direction,
    FailureReason,
    WebhookParseError,
    WebhookRequest,
    WebhookVerificationError,
)
from omnichannel.plugin import AdapterContext, build_settings

from omnichannel_x import (
    XTwitterAdapter,
    XTwitterSettings,
)
from omnichannel_x.webhooks import SIGNATURE_HEADER, sign, signed_request

pytestmark = pytest.mark.anyio

PAYLOADS = Path(__file__).parent / "payloads"
URL = "https://support.example.test/webhooks/twitter"
SETTINGS = {"api_token": "test-api-token", "webhook_secret": "test-webhook-secret"}


def make_adapter() -> XTwitterAdapter:
    settings = build_settings(XTwitterSettings, SETTINGS, where="test")
    return XTwitterAdapter(settings, AdapterContext())


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def signed(adapter: XTwitterAdapter, data: dict[str, Any]) -> WebhookRequest:
    return signed_request(URL, data, adapter.settings.webhook_secret)


async def test_an_inbound_message_becomes_an_inbound_envelope() -> None:
    adapter = make_adapter()
    result = await adapter.handle_webhook(signed(adapter, event("webhook_message.json")))
    assert result.response.status_code == 204
    [message] = result.messages
    assert message.direction is Direction.INBOUND
    assert message.channel == "twitter"
    assert message.sender is not None
    assert message.sender.value == "customer-1"
    assert message.recipient.value == "business"
    assert message.business_address == message.recipient
    assert message.content.text == "Where is my order?"
    assert message.provider_id == "in-000017"
    assert message.created_at == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert message.raw == event("webhook_message.json")


async def test_a_status_callback_maps_back_to_the_envelope_by_reference() -> None:
    adapter = make_adapter()
    result = await adapter.handle_webhook(signed(adapter, event("webhook_status_delivered.json")))
    [update] = result.statuses
    assert update.provider_id == "msg-000042"
    assert update.status is DeliveryStatus.DELIVERED
    assert update.envelope_id == "om_01JBZ6Q4K2T9W5XH3M8N7P6R5S"
    assert update.timestamp == datetime(2026, 11, 2, 9, 31, 5, tzinfo=UTC)
    assert update.reason is None


async def test_a_failure_callback_carries_the_normalised_reason_and_provider_code() -> None:
    adapter = make_adapter()
    result = await adapter.handle_webhook(signed(adapter, event("webhook_status_failed.json")))
    [update] = result.statuses
    assert update.status is DeliveryStatus.FAILED
    assert update.reason is FailureReason.OPTED_OUT
    assert update.provider_code == "opted_out"
    assert not update.retryable


@pytest.mark.parametrize(
    "data",
    [
        {"type": "account.updated", "id": "evt-1"},
        {**event("webhook_status_delivered.json"), "status": "brand-new-status"},
    ],
)
async def test_unknown_event_types_and_statuses_are_acknowledged_and_ignored(
    data: dict[str, Any],
) -> None:
    adapter = make_adapter()
    result = await adapter.handle_webhook(signed(adapter, data))
    assert result.response.status_code == 204
    assert not result.messages
    assert not result.statuses


async def test_a_missing_signature_is_refused() -> None:
    adapter = make_adapter()
    request = signed(adapter, event("webhook_message.json"))
    unsigned = attrs.evolve(request, headers=[("Content-Type", "application/json")])
    with pytest.raises(WebhookVerificationError, match=SIGNATURE_HEADER):
        await adapter.handle_webhook(unsigned)


async def test_a_body_changed_after_signing_is_refused() -> None:
    adapter = make_adapter()
    request = signed(adapter, event("webhook_message.json"))
    tampered = attrs.evolve(request, body=request.body.replace(b"order", b"money"))
    with pytest.raises(WebhookVerificationError):
        await adapter.handle_webhook(tampered)


async def test_the_signature_covers_the_raw_bytes_not_the_parsed_json() -> None:
    adapter = make_adapter()
    request = signed(adapter, event("webhook_message.json"))
    reserialised = json.dumps(json.loads(request.body), indent=2).encode()
    with pytest.raises(WebhookVerificationError):
        await adapter.handle_webhook(attrs.evolve(request, body=reserialised))


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'{"type": "message", "from": "customer-1"}',
        b'{"type": "message", "id": "in-1", "from": "c", "to": "b", "text": "", '
        b'"timestamp": "2026-11-02T09:30:00Z"}',
        b'{"type": "status", "message_id": "m", "status": "sent", "timestamp": "yesterday"}',
    ],
)
async def test_a_signed_but_malformed_body_is_a_parse_error(body: bytes) -> None:
    adapter = make_adapter()
    secret = adapter.settings.webhook_secret
    request = WebhookRequest(
        method="POST", url=URL, headers={SIGNATURE_HEADER: sign(secret, body)}, body=body
    )
    with pytest.raises(WebhookParseError):
        await adapter.handle_webhook(request)


async def test_simulate_builds_a_request_the_adapter_accepts() -> None:
    adapter = make_adapter()
    request = adapter.simulate(sender="customer-9", text="hi there", url=URL)
    assert request.url == URL
    result = await adapter.handle_webhook(request)
    [message] = result.messages
    assert message.sender is not None
    assert (message.sender.value, message.content.text) == ("customer-9", "hi there")
