"""Tests for omnichannel_twilio.messaging.adapter: sending through the Router, with respx as
Twilio, and looking an unknown send up (``reconcile``).

Every request the adapter sends goes through a :class:`~omnichannel.Sender` on
``httpx.MockTransport(respx_router.async_handler)``; the tests assert on the request (method,
path, auth header, exact body) and on what the caller gets back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from omnichannel_twilio import TwilioSmsAdapter, TwilioSmsSettings

from omnichannel import (
    Address,
    Content,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidAddress,
    InvalidRecipient,
    Media,
    OutcomeUnknown,
    PluginHost,
    ProviderError,
    RateLimited,
    Router,
    UnsupportedFeature,
)
from omnichannel.http import basic_auth
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings

pytestmark = pytest.mark.anyio

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
API = "https://api.twilio.com"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
PUBLIC_URL = "https://support.example.com"
# twilio-basic-auth-header (shared/vectors.json)
AUTHORIZATION = (
    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjow"
    "MTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="
)
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)

Responses = Callable[[str], httpx.Response]


def settings(**changes: Any) -> TwilioSmsSettings:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from": "+14155550100",
        **changes,
    }
    values = {key: value for key, value in values.items() if value is not None}
    return build_settings(TwilioSmsSettings, values, where="[channels.sms]")


class Harness:
    """A router over one Twilio adapter whose requests go to a respx router."""

    def __init__(
        self,
        *,
        public_url: str | None = PUBLIC_URL,
        retry: RetryPolicy | None = None,
        **setting_changes: Any,
    ) -> None:
        self.twilio = respx.MockRouter(base_url=API, assert_all_called=False)
        self.sleeps: list[float] = []
        sender = Sender(
            httpx.MockTransport(self.twilio.async_handler),
            retry=retry or RetryPolicy(max_attempts=3),
            sleep=self._sleep,
            rand=lambda: 0.0,
        )
        context = AdapterContext(sender=sender, public_url=public_url, clock=lambda: NOW)
        self.adapter = TwilioSmsAdapter(settings(**setting_changes), context)
        self.router = Router([self.adapter], host=PluginHost(), clock=lambda: NOW)

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def messages(self, *responses: httpx.Response) -> respx.Route:
        route = self.twilio.post(MESSAGES_PATH)
        route.side_effect = list(responses)
        return route

    def lookups(self, *responses: httpx.Response) -> respx.Route:
        route = self.twilio.get(MESSAGES_PATH)
        route.side_effect = list(responses)
        return route


def sms(text: str | Content = "Hi Zoë, call you at 8pm? ☕", to: str = "+14155550199") -> Envelope:
    return Envelope(
        channel="sms",
        recipient=Address(channel="sms", value=to),
        content=text,
        id="01JC0000000000000000000001",
    )


def form_of(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def assert_twilio_request(request: httpx.Request, authorization: str = AUTHORIZATION) -> None:
    assert request.method == "POST"
    assert request.url.host == "api.twilio.com"
    assert request.url.path == MESSAGES_PATH
    assert request.headers["Authorization"] == authorization
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_send_posts_the_form_and_returns_the_message_sid(fixture_response: Responses) -> None:
    harness = Harness()
    route = harness.messages(fixture_response("message_created.json"))
    receipt = await harness.router.send(sms())
    request = route.calls.last.request
    assert_twilio_request(request)
    assert request.content == (
        b"To=%2B14155550199&From=%2B14155550100&Body=Hi+Zo%C3%AB%2C+call+you+at+8pm%3F+%E2%98%95"
        b"&StatusCallback=https%3A%2F%2Fsupport.example.com%2Fwebhooks%2Fsms%3Fenvelope_id%3D"
        b"01JC0000000000000000000001"
    )
    assert receipt.provider_id == "SM89abcdef0123456789abcdef01234567"
    assert receipt.envelope_id == "01JC0000000000000000000001"
    assert receipt.adapter == "sms.twilio"
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert isinstance(receipt.raw, dict)
    assert receipt.raw["num_segments"] == "1"
    assert (receipt.fitting.encoding, receipt.fitting.segments) == ("UCS-2", 1)


async def test_the_basic_auth_header_is_computed_once_from_account_sid_and_token() -> None:
    harness = Harness()
    assert harness.adapter.auth_headers == {"Authorization": AUTHORIZATION}


async def test_an_api_key_authenticates_while_the_account_stays_in_the_path(
    fixture_response: Responses,
) -> None:
    key_sid, key_secret = "SK" + "b" * 32, "key-secret-value"
    harness = Harness(api_key_sid=key_sid, api_key_secret=key_secret)
    route = harness.messages(fixture_response("message_created.json"))
    await harness.router.send(sms())
    assert_twilio_request(route.calls.last.request, basic_auth(key_sid, key_secret))


async def test_mms_media_are_repeated_media_urls_and_the_status_callback_comes_first(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    route = harness.messages(fixture_response("message_created.json"))
    content = Content(
        text="Your receipt",
        media=[
            Media(url="https://cdn.example.com/a.jpg", content_type="image/jpeg"),
            Media(url="https://cdn.example.com/b.png", content_type="image/png"),
        ],
    )
    await harness.router.send(sms(content))
    assert form_of(route.calls.last.request) == [
        ("To", "+14155550199"),
        ("From", "+14155550100"),
        ("Body", "Your receipt"),
        ("StatusCallback", f"{PUBLIC_URL}/webhooks/sms?envelope_id=01JC0000000000000000000001"),
        ("MediaUrl", "https://cdn.example.com/a.jpg"),
        ("MediaUrl", "https://cdn.example.com/b.png"),
    ]


async def test_media_twilio_does_not_attach_are_sent_as_links(fixture_response: Responses) -> None:
    harness = Harness()
    route = harness.messages(fixture_response("message_created.json"))
    content = Content(
        text="The contract",
        media=[Media(url="https://cdn.example.com/c.pdf", content_type="application/pdf")],
    )
    receipt = await harness.router.send(sms(content))
    form = form_of(route.calls.last.request)
    assert ("Body", "The contract\nhttps://cdn.example.com/c.pdf") in form
    assert all(name != "MediaUrl" for name, _ in form)
    assert receipt.fitting.media_as_links == 1


async def test_without_a_public_url_no_status_callback_is_requested(
    fixture_response: Responses,
) -> None:
    harness = Harness(public_url=None)
    route = harness.messages(fixture_response("message_created.json"))
    await harness.router.send(sms("hi"))
    assert route.calls.last.request.content == b"To=%2B14155550199&From=%2B14155550100&Body=hi"


async def test_a_messaging_service_sends_without_from_and_starts_accepted(
    fixture_response: Responses,
) -> None:
    service = "MG0123456789abcdef0123456789abcdef"
    harness = Harness(public_url=None, messaging_service_sid=service, **{"from": None})
    route = harness.messages(fixture_response("message_created_messaging_service.json"))
    receipt = await harness.router.send(sms("Your table is ready"))
    assert route.calls.last.request.content == (
        b"To=%2B14155550199&MessagingServiceSid=MG0123456789abcdef0123456789abcdef"
        b"&Body=Your+table+is+ready"
    )
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert receipt.provider_id == "SMfedcba9876543210fedcba9876543210"


async def test_provider_options_pass_through_as_form_fields(fixture_response: Responses) -> None:
    harness = Harness(public_url=None)
    route = harness.messages(fixture_response("message_created.json"))
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="code 123456",
        provider_options={"sms.twilio": {"ValidityPeriod": 600, "SmartEncoded": True}},
    )
    await harness.router.send(envelope)
    assert route.calls.last.request.content == (
        b"To=%2B14155550199&From=%2B14155550100&Body=code+123456&ValidityPeriod=600"
        b"&SmartEncoded=true"
    )


async def test_an_expiring_envelope_carries_a_validity_period_from_the_adapter_clock(
    fixture_response: Responses,
) -> None:
    harness = Harness(public_url=None)
    route = harness.messages(fixture_response("message_created.json"))
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="hi",
        expires_at=NOW + timedelta(minutes=10),
    )
    await harness.router.send(envelope)
    assert route.calls.last.request.content == (
        b"To=%2B14155550199&From=%2B14155550100&Body=hi&ValidityPeriod=600"
    )


async def test_provider_options_that_clash_are_refused_before_any_request(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.messages(fixture_response("message_created.json"))
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="hi",
        provider_options={"sms.twilio": {"From": "+14155550777"}},
    )
    with pytest.raises(UnsupportedFeature) as caught:
        await harness.router.send(envelope)
    assert caught.value.envelope_id == envelope.id
    assert caught.value.adapter == "sms.twilio"
    assert not harness.twilio.calls


async def test_a_rate_limit_with_retry_after_raises_rate_limited_when_out_of_attempts(
    fixture_response: Responses,
) -> None:
    harness = Harness(retry=RetryPolicy(max_attempts=1))
    route = harness.messages(fixture_response("error_20429_too_many_requests.json"))
    with pytest.raises(RateLimited) as caught:
        await harness.router.send(sms())
    assert_twilio_request(route.calls.last.request)
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable
    assert caught.value.provider_code == "20429"
    assert caught.value.envelope_id == "01JC0000000000000000000001"
    assert harness.sleeps == []


async def test_a_rate_limit_is_retried_after_the_wait_twilio_asked_for(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.messages(
        fixture_response("error_20429_too_many_requests.json"),
        fixture_response("message_created.json"),
    )
    receipt = await harness.router.send(sms())
    assert harness.sleeps == [7.0]
    assert receipt.provider_id == "SM89abcdef0123456789abcdef01234567"


async def test_a_server_error_is_an_unknown_outcome_and_the_message_is_not_resent(
    fixture_response: Responses,
) -> None:
    # Messages.json takes no idempotency key: a 500 may follow a created message.
    harness = Harness()
    route = harness.messages(
        fixture_response("error_500_internal.json"), fixture_response("message_created.json")
    )
    with pytest.raises(OutcomeUnknown) as caught:
        await harness.router.send(sms())
    assert not caught.value.retryable
    assert caught.value.status_code == 500
    assert caught.value.provider_code == "20500"
    assert caught.value.status is DeliveryStatus.UNKNOWN
    assert harness.sleeps == []
    assert route.call_count == 1


async def test_a_503_is_unknown_too_since_twilio_does_not_say_it_was_not_processed(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    route = harness.messages(
        httpx.Response(503, headers={"Retry-After": "1"}, text="upstream"),
        fixture_response("message_created.json"),
    )
    with pytest.raises(OutcomeUnknown):
        await harness.router.send(sms())
    assert route.call_count == 1


async def test_an_opted_out_recipient_is_refused_once_and_not_retried(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    route = harness.messages(fixture_response("error_21610_unsubscribed.json"))
    with pytest.raises(InvalidRecipient) as caught:
        await harness.router.send(sms())
    assert_twilio_request(route.calls.last.request)
    assert caught.value.reason is FailureReason.OPTED_OUT
    assert not caught.value.retryable
    assert harness.sleeps == []
    shown = str(caught.value)
    assert "channel=sms" in shown
    assert "adapter=sms.twilio" in shown
    assert "envelope=01JC0000000000000000000001" in shown


async def test_an_invalid_phone_number_is_rejected_before_any_request(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.messages(fixture_response("message_created.json"))
    with pytest.raises(InvalidAddress):
        await harness.router.send(sms(to="+1555"))
    assert not harness.twilio.calls


async def test_text_over_1600_characters_is_refused_before_any_request(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.messages(fixture_response("message_created.json"))
    with pytest.raises(ContentTooLong):
        await harness.router.send(sms("a" * 1601))
    assert not harness.twilio.calls


async def test_1600_characters_go_as_one_message_of_eleven_segments(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    route = harness.messages(fixture_response("message_created.json"))
    receipt = await harness.router.send(sms("a" * 1600))
    assert ("Body", "a" * 1600) in form_of(route.calls.last.request)
    assert receipt.fitting.parts == 1
    assert receipt.fitting.segments == 11


async def test_a_created_answer_without_a_sid_is_not_safe_to_resend() -> None:
    harness = Harness()
    harness.messages(httpx.Response(201, json={"status": "queued"}))
    with pytest.raises(ProviderError) as caught:
        await harness.router.send(sms())
    assert not caught.value.retryable
    assert harness.sleeps == []


async def test_a_reply_uses_the_number_the_customer_wrote_to(fixture_response: Responses) -> None:
    harness = Harness(public_url=None)
    route = harness.messages(fixture_response("message_created.json"))
    inbound = Envelope(
        channel="sms",
        direction="inbound",
        sender=Address(channel="sms", value="+14155550199"),
        recipient=Address(channel="sms", value="+14155550111"),
        business_address=Address(channel="sms", value="+14155550111"),
        content="hello",
        provider_id="SM" + "1" * 32,
    )
    await harness.router.reply(inbound, "hi back")
    assert route.calls.last.request.content == (
        b"To=%2B14155550199&From=%2B14155550111&Body=hi+back"
    )


# --- reconcile: looking an unknown send up -------------------------------------------------------


def page_of(*messages: dict[str, Any]) -> httpx.Response:
    """A one-page Messages list, shaped as Twilio's, holding ``messages``."""
    return httpx.Response(
        200, json={"messages": list(messages), "next_page_uri": None, "page": 0, "page_size": 100}
    )


async def test_reconcile_lists_messages_by_to_from_and_date_sent_and_follows_the_next_page(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    route = harness.lookups(
        fixture_response("messages_list_page_1.json"),
        fixture_response("messages_list_page_2.json"),
    )
    found = await harness.adapter.reconcile(sms(), attempted_at=NOW)
    first, second = (call.request for call in route.calls)
    assert first.method == "GET"
    assert first.url.path == MESSAGES_PATH
    assert first.headers["Authorization"] == AUTHORIZATION
    assert first.headers["Accept"] == "application/json"
    assert "Content-Type" not in first.headers
    assert first.url.query.decode() == (
        "To=%2B14155550199&From=%2B14155550100&DateSent%3E=2026-11-03&PageSize=100"
    )
    assert list(first.url.params.multi_items()) == [
        ("To", "+14155550199"),
        ("From", "+14155550100"),
        ("DateSent>", "2026-11-03"),
        ("PageSize", "100"),
    ]
    assert second.url.params["PageToken"] == "PASM22222222222222222222222222222222"
    assert second.headers["Authorization"] == AUTHORIZATION
    # The same body to another number (page 1) and the same body earlier that day (page 2)
    # are not the attempt; the one created since is, and its status is today's.
    assert found is not None
    assert found.provider_id == "SM89abcdef0123456789abcdef01234567"
    assert found.status is DeliveryStatus.DELIVERED
    assert isinstance(found.raw, dict)
    assert found.raw["date_sent"] == "Tue, 03 Nov 2026 18:20:02 +0000"


async def test_reconcile_finds_nothing_when_twilio_lists_no_such_message(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.lookups(fixture_response("messages_list_page_2.json"))
    assert await harness.adapter.reconcile(sms("Another text"), attempted_at=NOW) is None


async def test_the_router_settles_an_unknown_send_with_the_message_twilio_lists(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.messages(fixture_response("error_500_internal.json"))
    harness.lookups(fixture_response("messages_list_page_2.json"))
    with pytest.raises(OutcomeUnknown) as caught:
        await harness.router.send(sms())
    unknown = caught.value
    assert unknown.envelope is not None
    assert unknown.attempted_at == NOW
    receipt = await harness.router.reconcile(unknown.envelope, attempted_at=unknown.attempted_at)
    assert receipt is not None
    assert receipt.provider_id == "SM89abcdef0123456789abcdef01234567"
    assert receipt.adapter == "sms.twilio"
    assert receipt.status is DeliveryStatus.DELIVERED
    assert harness.router.status_of(unknown.envelope.id) is DeliveryStatus.DELIVERED


async def test_through_a_messaging_service_the_lookup_filters_by_to_and_matches_the_service(
    fixture: Callable[[str], dict[str, Any]],
) -> None:
    service = "MG0123456789abcdef0123456789abcdef"
    harness = Harness(messaging_service_sid=service, **{"from": None})
    resource = fixture("message_created_messaging_service.json")["body"]
    route = harness.lookups(page_of(resource))
    found = await harness.adapter.reconcile(sms("Your table is ready"), attempted_at=NOW)
    assert [name for name, _ in route.calls.last.request.url.params.multi_items()] == [
        "To",
        "DateSent>",
        "PageSize",
    ]
    assert found is not None
    assert found.provider_id == "SMfedcba9876543210fedcba9876543210"
    assert found.status is DeliveryStatus.ACCEPTED
    other_service = {**resource, "messaging_service_sid": "MG" + "9" * 32}
    harness.lookups(page_of(other_service))
    assert await harness.adapter.reconcile(sms("Your table is ready"), attempted_at=NOW) is None


async def test_a_reply_is_looked_up_from_the_number_the_customer_wrote_to(
    fixture: Callable[[str], dict[str, Any]],
) -> None:
    harness = Harness()
    resource = {**fixture("message_created.json")["body"], "from": "+14155550111"}
    route = harness.lookups(page_of(resource))
    reply = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        business_address=Address(channel="sms", value="+14155550111"),
        content="Hi Zoë, call you at 8pm? ☕",
    )
    found = await harness.adapter.reconcile(reply, attempted_at=NOW)
    assert route.calls.last.request.url.params["From"] == "+14155550111"
    assert found is not None
    assert found.provider_id == resource["sid"]


async def test_a_message_sent_for_another_envelope_is_not_taken_for_this_one(
    fixture: Callable[[str], dict[str, Any]], fixture_response: Responses
) -> None:
    harness = Harness()
    harness.messages(fixture_response("message_created.json"))
    sent = await harness.router.send(sms())
    listed = fixture("message_created.json")["body"]
    harness.lookups(page_of(listed), page_of(listed))
    again = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="Hi Zoë, call you at 8pm? ☕",
    )
    assert await harness.adapter.reconcile(again, attempted_at=NOW) is None
    found = await harness.adapter.reconcile(sms(), attempted_at=NOW)
    assert found is not None
    assert found.provider_id == sent.provider_id


async def test_a_lookup_is_a_read_that_the_sender_retries_after_a_server_error(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    route = harness.lookups(
        fixture_response("error_500_internal.json"),
        fixture_response("messages_list_page_2.json"),
    )
    found = await harness.adapter.reconcile(sms(), attempted_at=NOW)
    assert found is not None
    assert route.call_count == 2
    assert harness.sleeps == [0.5]


async def test_a_refused_lookup_raises_a_typed_error_naming_the_envelope(
    fixture_response: Responses,
) -> None:
    harness = Harness()
    harness.lookups(fixture_response("error_20003_authenticate.json"))
    with pytest.raises(ProviderError) as caught:
        await harness.adapter.reconcile(sms(), attempted_at=NOW)
    assert caught.value.reason is FailureReason.AUTH
    assert not caught.value.retryable
    assert caught.value.provider_code == "20003"
    assert "message lookup" in caught.value.message
    assert caught.value.envelope_id == "01JC0000000000000000000001"
    assert caught.value.adapter == "sms.twilio"
