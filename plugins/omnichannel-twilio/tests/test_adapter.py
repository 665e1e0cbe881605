"""Tests for omnichannel_twilio.adapter: what both Twilio adapters do the same way, through
either of them: Basic auth, and the signature check with token rotation before any parsing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx
from omnichannel_twilio import TwilioSmsAdapter, TwilioVoiceAdapter
from omnichannel_twilio.webhooks import sign

from omnichannel import (
    Address,
    Envelope,
    WebhookParseError,
    WebhookRequest,
    WebhookVerificationError,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings

pytestmark = pytest.mark.anyio

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "0123456789abcdef0123456789abcdef"
API = "https://api.twilio.com"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
ATTEMPT = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)
TEXT = "Your code is 123456"

ADAPTERS = pytest.mark.parametrize(
    "adapter_class", [TwilioSmsAdapter, TwilioVoiceAdapter], ids=["sms", "voice"]
)


def build(
    adapter_class: Any, transport: httpx.AsyncBaseTransport | None = None, **changes: Any
) -> Any:
    values = {"account_sid": ACCOUNT_SID, "auth_token": TOKEN, "from": "+14155550100", **changes}
    settings = build_settings(adapter_class.settings_class, values, where="test")
    sender = Sender(transport, retry=RetryPolicy(max_attempts=1)) if transport else None
    context = AdapterContext(sender=sender) if sender else AdapterContext()
    return adapter_class(settings, context)


def sms_adapter(twilio: respx.MockRouter) -> TwilioSmsAdapter:
    adapter: TwilioSmsAdapter = build(TwilioSmsAdapter, httpx.MockTransport(twilio.async_handler))
    return adapter


def sms(text: str = TEXT) -> Envelope:
    return Envelope(
        channel="sms", recipient=Address(channel="sms", value="+14155550199"), content=text
    )


def message(sid: str, created: datetime, text: str = TEXT) -> dict[str, Any]:
    """A listed message, as Twilio's Messages list holds it (the fields matching reads)."""
    return {
        "sid": sid,
        "to": "+14155550199",
        "from": "+14155550100",
        "body": text,
        "status": "delivered",
        "direction": "outbound-api",
        "date_created": created.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }


def page(*messages: dict[str, Any], next_page_uri: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"messages": list(messages), "next_page_uri": next_page_uri})


# --- auth and signatures --------------------------------------------------------------------------


@ADAPTERS
def test_basic_auth_is_computed_once_from_the_account_sid_and_token(
    adapter_class: Any, vectors: dict[str, Any]
) -> None:
    vector = vectors["twilio-basic-auth-header"]
    adapter = build(adapter_class)
    assert adapter.auth_headers == {"Authorization": vector["expected_authorization"]}
    assert adapter.form_headers["Authorization"] == vector["expected_authorization"]
    assert TOKEN not in repr(adapter.form_headers)


@ADAPTERS
def test_the_secondary_token_is_accepted_during_rotation(
    adapter_class: Any, vectors: dict[str, Any]
) -> None:
    vector = vectors["twilio-inbound-sms"]
    request = WebhookRequest(
        method="POST",
        url=vector["url"],
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": vector["expected_signature"],
        },
        body=urlencode(list(vector["params"].items())).encode(),
    )
    rotating = build(adapter_class, auth_token="f" * 32, secondary_auth_token=TOKEN)
    assert rotating.verify_webhook(request) is None
    new_primary = build(adapter_class, auth_token="f" * 32)
    with pytest.raises(WebhookVerificationError):
        new_primary.verify_webhook(request)


@ADAPTERS
@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b'{"MessageSid": ["SM1"]}', "flat object"), (b"{not-json", "")],
    ids=["not flat", "not json"],
)
async def test_a_signed_json_body_that_cannot_be_read_is_refused_with_400(
    adapter_class: Any, body: bytes, fragment: str
) -> None:
    adapter = build(adapter_class)
    url = f"https://hooks.example.com/webhooks/x?bodySHA256={hashlib.sha256(body).hexdigest()}"
    request = WebhookRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json", "X-Twilio-Signature": sign(TOKEN, url, [])},
        body=body,
    )
    assert adapter.verify_webhook(request) is None
    with pytest.raises(WebhookParseError, match=fragment or None) as caught:
        await adapter.handle_webhook(request)
    assert caught.value.status_code == 400
