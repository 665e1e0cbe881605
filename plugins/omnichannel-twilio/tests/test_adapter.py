"""Tests for omnichannel_twilio.adapter: what both Twilio adapters do the same way, through
either of them: Basic auth, the signature check with token rotation, and the lookup behind
``reconcile`` (paging, its bound, the margin, the pages it refuses to follow).

Lookups go to respx (``Sender(httpx.MockTransport(respx_router.async_handler))``) with
Twilio-shaped list pages; each adapter's own matching is tested in its package's tests.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx
from omnichannel_twilio import TwilioSmsAdapter, TwilioVoiceAdapter
from omnichannel_twilio.adapter import LOOKUP_MARGIN, LOOKUP_PAGES
from omnichannel_twilio.webhooks import sign

from omnichannel import (
    Address,
    Envelope,
    ProviderError,
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
    assert adapter.read_headers["Authorization"] == vector["expected_authorization"]
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


# --- reconcile: the lookup ------------------------------------------------------------------------


async def test_the_earliest_match_since_the_attempt_less_the_margin_is_the_answer() -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    twilio.get(MESSAGES_PATH).mock(
        return_value=page(
            message("SM" + "3" * 32, ATTEMPT + timedelta(seconds=40)),
            message("SM" + "2" * 32, ATTEMPT - LOOKUP_MARGIN),
            message("SM" + "1" * 32, ATTEMPT - LOOKUP_MARGIN - timedelta(seconds=1)),
        )
    )
    found = await sms_adapter(twilio).reconcile(sms(), attempted_at=ATTEMPT)
    assert found is not None
    assert found.provider_id == "SM" + "2" * 32


async def test_the_day_filter_starts_at_the_margin_before_the_attempt() -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    route = twilio.get(MESSAGES_PATH).mock(return_value=page())
    just_after_midnight = datetime(2026, 11, 4, 0, 0, 20, tzinfo=UTC)
    assert await sms_adapter(twilio).reconcile(sms(), attempted_at=just_after_midnight) is None
    assert route.calls.last.request.url.params["DateSent>"] == "2026-11-03"


async def test_listed_resources_without_a_sid_or_a_readable_date_are_passed_over() -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    nameless = {**message("", ATTEMPT), "sid": None}
    undated = {**message("SM" + "4" * 32, ATTEMPT), "date_created": "soon"}
    twilio.get(MESSAGES_PATH).mock(return_value=page(nameless, undated, {"sid": 7}))
    assert await sms_adapter(twilio).reconcile(sms(), attempted_at=ATTEMPT) is None


async def test_a_lookup_with_more_pages_than_the_bound_and_no_match_is_inconclusive() -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    more = f"{MESSAGES_PATH}?To=%2B14155550199&Page=1&PageToken=PA1"
    route = twilio.get(url__startswith=f"{API}{MESSAGES_PATH}").mock(
        return_value=page(message("SM" + "5" * 32, ATTEMPT, "another text"), next_page_uri=more)
    )
    with pytest.raises(ProviderError, match="inconclusive") as caught:
        await sms_adapter(twilio).reconcile(sms(), attempted_at=ATTEMPT)
    assert not caught.value.retryable
    assert caught.value.adapter == "sms.twilio"
    assert route.call_count == LOOKUP_PAGES


async def test_a_match_found_before_the_bound_is_the_answer_even_with_pages_left() -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    more = f"{MESSAGES_PATH}?To=%2B14155550199&Page=1&PageToken=PA1"
    twilio.get(url__startswith=f"{API}{MESSAGES_PATH}").mock(
        return_value=page(message("SM" + "6" * 32, ATTEMPT), next_page_uri=more)
    )
    found = await sms_adapter(twilio).reconcile(sms(), attempted_at=ATTEMPT)
    assert found is not None
    assert found.provider_id == "SM" + "6" * 32


@pytest.mark.parametrize(
    "next_page_uri",
    [
        "https://evil.example/2010-04-01/Accounts/AC/Messages.json?Page=1",
        f"/2010-04-01/Accounts/AC{'f' * 32}/Messages.json?Page=1",
    ],
)
async def test_a_next_page_outside_the_account_is_never_followed(next_page_uri: str) -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    route = twilio.get(MESSAGES_PATH).mock(return_value=page(next_page_uri=next_page_uri))
    with pytest.raises(ProviderError, match="outside this account"):
        await sms_adapter(twilio).reconcile(sms(), attempted_at=ATTEMPT)
    assert route.call_count == 1


async def test_an_answer_that_is_not_a_list_page_is_a_provider_error() -> None:
    twilio = respx.MockRouter(base_url=API, assert_all_called=False)
    twilio.get(MESSAGES_PATH).mock(return_value=httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(ProviderError, match="without a 'messages' list") as caught:
        await sms_adapter(twilio).reconcile(sms(), attempted_at=ATTEMPT)
    assert caught.value.envelope_id is not None


@ADAPTERS
def test_both_adapters_declare_the_lookup(adapter_class: Any) -> None:
    assert adapter_class.capabilities.reconcile
    assert adapter_class.capabilities.to_dict()["reconcile"] is True
