"""Tests for omnichannel_whatsapp.adapter: sending through the Router, with respx as Meta.

Every request goes through a :class:`~omnichannel.plugin.Sender` on
``httpx.MockTransport(respx_router.async_handler)``; the tests assert on the request (method,
path, bearer token, exact JSON) and on what the caller gets back. The 24-hour window is the
router's: these tests open it with a signed inbound message, as a customer would.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from omnichannel_whatsapp import MetaWhatsappAdapter, MetaWhatsappSettings

from omnichannel import (
    Address,
    Choice,
    Content,
    ContentRejected,
    DeliveryStatus,
    Envelope,
    FailureReason,
    Interactive,
    InvalidAddress,
    Media,
    OutcomeUnknown,
    PluginHost,
    PolicyViolation,
    ProviderError,
    RateLimited,
    Router,
    RoutingPolicy,
    Template,
    UnsupportedFeature,
)
from omnichannel.plugin import (
    AdapterContext,
    Capabilities,
    ChannelAdapter,
    RetryPolicy,
    Sender,
    build_settings,
)
from omnichannel.testing import FakeAdapter, make_inbound

pytestmark = pytest.mark.anyio

PAYLOADS = Path(__file__).parent / "payloads"
GRAPH = "https://graph.facebook.com"
PHONE_NUMBER_ID = "106540352242922"
MESSAGES_PATH = f"/v25.0/{PHONE_NUMBER_ID}/messages"
TOKEN = "EAAtest0access0token0value"
APP_SECRET = "6f1c2b3a4d5e6f708192a3b4c5d6e7f8"
CUSTOMER = "+16505551234"
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)
WEBHOOK_URL = "https://support.example.com/webhooks/whatsapp"
WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"


def answer(name: str) -> httpx.Response:
    data = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return httpx.Response(data["status"], headers=data["headers"], json=data["body"])


def settings(**changes: Any) -> MetaWhatsappSettings:
    values: dict[str, Any] = {
        "access_token": TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "app_secret": APP_SECRET,
        "verify_token": "omni-verify-123",
        **changes,
    }
    return build_settings(MetaWhatsappSettings, values, where="[channels.whatsapp]")


class Harness:
    """A router over the WhatsApp adapter (and any others) whose requests go to respx."""

    def __init__(
        self,
        *others: ChannelAdapter,
        policy: RoutingPolicy | None = None,
        retry: RetryPolicy | None = None,
        **setting_changes: Any,
    ) -> None:
        self.meta = respx.MockRouter(base_url=GRAPH, assert_all_called=False)
        self.sleeps: list[float] = []
        self.now = NOW
        sender = Sender(
            httpx.MockTransport(self.meta.async_handler),
            retry=retry or RetryPolicy(max_attempts=3),
            sleep=self._sleep,
            rand=lambda: 0.0,
        )
        context = AdapterContext(
            sender=sender, public_url="https://support.example.com", clock=self.clock
        )
        self.adapter = MetaWhatsappAdapter(settings(**setting_changes), context)
        self.router = Router(
            [self.adapter, *others], host=PluginHost(), policy=policy, clock=self.clock
        )

    def clock(self) -> datetime:
        return self.now

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def messages(self, *responses: httpx.Response) -> respx.Route:
        route = self.meta.post(MESSAGES_PATH)
        route.side_effect = list(responses)
        return route

    async def customer_writes(self, sender: str = CUSTOMER) -> Envelope:
        inbound: list[Envelope] = []
        self.router.on_message(inbound.append, inline=True)
        request = self.adapter.simulate(sender=sender, text="hi", url=WEBHOOK_URL)
        response = await self.router.handle_webhook("whatsapp", request)
        assert response.status_code == 200
        self.router.dispatcher.message_handlers.pop()
        return inbound[0]


def whatsapp(content: Content | str = "Hi Zoë, we'll call at 8pm", **changes: Any) -> Envelope:
    return Envelope(
        channel="whatsapp",
        recipient=Address(channel="whatsapp", value=changes.pop("to", CUSTOMER)),
        content=content,
        id="01JC0000000000000000000001",
        **changes,
    )


def sent_json(route: respx.Route, call: int = -1) -> Any:
    request = route.calls[call].request
    assert request.method == "POST"
    assert request.url.host == "graph.facebook.com"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    return json.loads(request.content)


def sms_adapter() -> FakeAdapter:
    return FakeAdapter(
        channel="sms",
        capabilities=Capabilities(address_kind="phone", max_text_length=1600),
    )


# --- sending -------------------------------------------------------------------------------------


async def test_a_text_goes_to_the_numbers_messages_edge_and_returns_the_wamid() -> None:
    harness = Harness()
    await harness.customer_writes()
    route = harness.messages(answer("send_response_200.json"))
    receipt = await harness.router.send(whatsapp())
    assert route.calls.last.request.url.path == MESSAGES_PATH
    assert route.calls.last.request.headers["Content-Type"] == "application/json"
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"preview_url": False, "body": "Hi Zoë, we'll call at 8pm"},
        "biz_opaque_callback_data": "01JC0000000000000000000001",
    }
    assert receipt.provider_id == WAMID
    assert (receipt.adapter, receipt.status) == ("whatsapp.meta", DeliveryStatus.ACCEPTED)


async def test_the_api_version_and_base_url_are_settings() -> None:
    harness = Harness(api_version="v26.0", base_url="https://graph.example.test/")
    await harness.customer_writes()
    route = harness.meta.post(f"https://graph.example.test/v26.0/{PHONE_NUMBER_ID}/messages")
    route.side_effect = [answer("send_response_200.json")]
    await harness.router.send(whatsapp())
    assert route.called


async def test_a_reply_quotes_the_customers_message_from_the_number_they_wrote_to() -> None:
    harness = Harness()
    inbound = await harness.customer_writes()
    route = harness.messages(answer("send_response_200.json"))
    await harness.router.reply(inbound, "Thanks, on it")
    body = sent_json(route)
    assert body["context"] == {"message_id": inbound.provider_id}
    assert body["to"] == CUSTOMER


async def test_bytes_media_are_uploaded_first_then_sent_by_id() -> None:
    harness = Harness()
    await harness.customer_writes()
    upload = harness.meta.post(f"/v25.0/{PHONE_NUMBER_ID}/media")
    upload.side_effect = [answer("media_upload_response.json")]
    route = harness.messages(answer("send_response_200.json"))
    item = Media(data=b"%PDF-1.7 invoice", content_type="application/pdf", filename="inv.pdf")
    receipt = await harness.router.send(whatsapp(Content(text="Your invoice", media=[item])))
    request = upload.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in request.content
    assert b'name="type"\r\n\r\napplication/pdf' in request.content
    assert b"%PDF-1.7 invoice" in request.content
    assert sent_json(route)["document"] == {
        "id": "1037543291543636",
        "filename": "inv.pdf",
        "caption": "Your invoice",
    }
    assert receipt.fitting.media_as_links == 0


async def test_content_meta_cannot_carry_is_refused_before_the_upload() -> None:
    harness = Harness()
    await harness.customer_writes()
    item = Media(data=b"OggS", content_type="audio/ogg")
    with pytest.raises(UnsupportedFeature, match="no caption"):
        await harness.router.send(whatsapp(Content(text="listen", media=[item])))
    assert not harness.meta.calls


async def test_a_second_attachment_goes_as_a_link_in_the_caption() -> None:
    harness = Harness()
    await harness.customer_writes()
    route = harness.messages(answer("send_response_200.json"))
    media = [
        Media(url="https://cdn.example.com/a.jpg", content_type="image/jpeg"),
        Media(url="https://cdn.example.com/b.jpg", content_type="image/jpeg"),
    ]
    receipt = await harness.router.send(whatsapp(Content(text="Photos", media=media)))
    assert sent_json(route)["image"] == {
        "link": "https://cdn.example.com/a.jpg",
        "caption": "Photos\nhttps://cdn.example.com/b.jpg",
    }
    assert receipt.fitting.media_as_links == 1


async def test_buttons_go_native_on_whatsapp_and_as_numbered_text_on_sms() -> None:
    sms = sms_adapter()
    harness = Harness(sms)
    await harness.customer_writes()
    route = harness.messages(answer("send_response_200.json"))
    menu = Interactive(buttons=[Choice(id="now", title="Now"), Choice(id="later", title="Later")])
    content = Content(text="When should we call?", interactive=menu)
    receipt = await harness.router.send(whatsapp(content))
    assert not receipt.fitting.interactive_as_text
    assert sent_json(route)["interactive"]["action"]["buttons"][1] == {
        "type": "reply",
        "reply": {"id": "later", "title": "Later"},
    }
    on_sms = await harness.router.send(whatsapp(content), channel="sms")
    assert on_sms.fitting.interactive_as_text
    assert sms.sent[0].content.text == "When should we call?\n\nReply 1 for Now, 2 for Later."
    assert sms.sent[0].content.interactive is None


async def test_a_menu_over_metas_limits_goes_as_numbered_text_and_says_so() -> None:
    harness = Harness()
    await harness.customer_writes()
    route = harness.messages(answer("send_response_200.json"))
    menu = Interactive(buttons=[Choice(id=str(n), title=f"Option {n}") for n in range(1, 5)])
    receipt = await harness.router.send(whatsapp(Content(text="Pick", interactive=menu)))
    assert receipt.fitting.interactive_as_text
    assert sent_json(route)["type"] == "text"


async def test_a_business_scoped_user_id_is_addressed_by_recipient() -> None:
    harness = Harness()
    route = harness.messages(answer("send_response_bsuid.json"))
    harness.router.record_inbound(
        make_inbound(
            channel="whatsapp",
            sender="US.13491208655302741918",
            business=PHONE_NUMBER_ID,
            created_at=harness.now,
        )
    )
    receipt = await harness.router.send(whatsapp("Hi Jo", to="US.13491208655302741918"))
    body = sent_json(route)
    assert body["recipient"] == "US.13491208655302741918"
    assert "to" not in body
    assert receipt.provider_id.startswith("wamid.")  # type: ignore[union-attr]


async def test_an_invalid_number_is_rejected_before_any_request() -> None:
    harness = Harness()
    with pytest.raises(InvalidAddress):
        await harness.router.send(whatsapp(to="+1555"))
    assert not harness.meta.calls


async def test_another_business_number_is_refused_before_any_request() -> None:
    harness = Harness()
    await harness.customer_writes()
    other = Address(channel="whatsapp", value="209876543210987")
    with pytest.raises(UnsupportedFeature, match="sends from phone number id"):
        await harness.adapter.send(whatsapp(business_address=other))
    assert not harness.meta.calls


# --- the session window --------------------------------------------------------------------------


async def test_free_text_to_a_customer_silent_for_24_hours_is_refused_without_a_request() -> None:
    harness = Harness()
    await harness.customer_writes()
    harness.now = NOW + timedelta(hours=24, seconds=1)
    harness.messages(answer("send_response_200.json"))
    with pytest.raises(PolicyViolation) as caught:
        await harness.router.send(whatsapp())
    assert caught.value.reason is FailureReason.OUTSIDE_WINDOW
    assert not harness.meta.calls


async def test_the_window_is_keyed_on_the_phone_number_id_and_the_customer() -> None:
    harness = Harness()
    await harness.customer_writes()
    last = harness.router.windows.last("whatsapp", PHONE_NUMBER_ID, CUSTOMER)
    assert last is not None
    assert harness.router.windows.last("whatsapp", "209876543210987", CUSTOMER) is None
    harness.messages(answer("send_response_200.json"))
    with pytest.raises(PolicyViolation):
        await harness.router.send(whatsapp(to="+14155550199"))


async def test_a_template_goes_outside_the_window() -> None:
    harness = Harness()
    route = harness.messages(answer("send_response_template_accepted.json"))
    template = Template(name="order_update", language="en_US", parameters=["42"])
    receipt = await harness.router.send(whatsapp(Content(template=template)))
    assert sent_json(route)["template"]["name"] == "order_update"
    assert receipt.fitting.template_used == "order_update"


async def test_outside_the_window_free_text_fails_over_to_sms_without_calling_meta() -> None:
    sms = sms_adapter()
    harness = Harness(sms, policy=RoutingPolicy(failover={"whatsapp": ("sms",)}))
    harness.messages(answer("send_response_200.json"))
    receipt = await harness.router.send(whatsapp("We tried to reach you"))
    assert (receipt.channel, receipt.requested_channel) == ("sms", "whatsapp")
    assert "outside_window" in receipt.attempts[0]
    assert sms.sent[0].recipient.value == CUSTOMER
    assert not harness.meta.calls


async def test_metas_own_131047_refusal_is_outside_window_and_fails_over() -> None:
    # Rarely a reply inside the window still fails with 131047 (providers.md 4.8).
    sms = sms_adapter()
    harness = Harness(sms, policy=RoutingPolicy(failover={"whatsapp": ("sms",)}))
    await harness.customer_writes()
    harness.messages(answer("error_131047_reengagement.json"))
    receipt = await harness.router.send(whatsapp())
    assert receipt.channel == "sms"
    assert "outside_window" in receipt.attempts[0]


# --- errors and retries --------------------------------------------------------------------------


async def test_the_throughput_limit_is_retried_after_a_backoff_and_then_sent() -> None:
    harness = Harness()
    await harness.customer_writes()
    route = harness.messages(
        answer("error_130429_rate_limit.json"), answer("send_response_200.json")
    )
    receipt = await harness.router.send(whatsapp())
    assert route.call_count == 2
    assert harness.sleeps == [0.5]
    assert receipt.provider_id == WAMID


async def test_the_pair_rate_limit_waits_six_seconds() -> None:
    harness = Harness(retry=RetryPolicy(max_attempts=1))
    await harness.customer_writes()
    harness.messages(answer("error_131056_pair_rate_limit.json"))
    with pytest.raises(RateLimited) as caught:
        await harness.router.send(whatsapp())
    assert caught.value.retry_after == 6.0
    assert caught.value.provider_code == "131056"


async def test_a_server_error_is_an_unknown_outcome_and_never_resent() -> None:
    harness = Harness(sms_adapter(), policy=RoutingPolicy(failover={"whatsapp": ("sms",)}))
    await harness.customer_writes()
    route = harness.messages(
        answer("error_131000_something_went_wrong.json"), answer("send_response_200.json")
    )
    with pytest.raises(OutcomeUnknown) as caught:
        await harness.router.send(whatsapp())
    assert route.call_count == 1
    assert caught.value.status is DeliveryStatus.UNKNOWN
    assert caught.value.provider_code == "131000"
    assert harness.sleeps == []


async def test_a_lost_answer_is_an_unknown_outcome_and_never_resent() -> None:
    harness = Harness()
    await harness.customer_writes()
    route = harness.messages(httpx.ReadTimeout("lost"), answer("send_response_200.json"))
    with pytest.raises(OutcomeUnknown):
        await harness.router.send(whatsapp())
    assert route.call_count == 1


async def test_an_expired_token_is_an_auth_error_that_shows_no_token() -> None:
    harness = Harness()
    await harness.customer_writes()
    harness.messages(answer("error_190_token_expired.json"))
    with pytest.raises(ProviderError) as caught:
        await harness.router.send(whatsapp())
    assert caught.value.reason is FailureReason.AUTH
    assert TOKEN not in f"{caught.value} {caught.value!r}"
    assert "envelope=01JC0000000000000000000001" in str(caught.value)


async def test_an_undeliverable_number_is_not_retried_but_fails_over() -> None:
    sms = sms_adapter()
    harness = Harness(sms, policy=RoutingPolicy(failover={"whatsapp": ("sms",)}))
    await harness.customer_writes()
    route = harness.messages(answer("error_131026_undeliverable.json"))
    receipt = await harness.router.send(whatsapp())
    assert route.call_count == 1
    assert receipt.channel == "sms"


async def test_an_answer_without_a_wamid_is_an_error_never_resent() -> None:
    harness = Harness()
    await harness.customer_writes()
    route = harness.messages(httpx.Response(200, json={"messaging_product": "whatsapp"}))
    with pytest.raises(ProviderError, match="without a message id"):
        await harness.router.send(whatsapp())
    assert route.call_count == 1


# --- read receipts and media downloads -----------------------------------------------------------


async def test_mark_read_shows_the_typing_indicator_and_may_be_repeated() -> None:
    harness = Harness()
    route = harness.messages(answer("mark_read_response.json"))
    await harness.adapter.mark_read(WAMID, typing=True)
    assert sent_json(route) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": WAMID,
        "typing_indicator": {"type": "text"},
    }


async def test_mark_read_without_success_is_an_error() -> None:
    harness = Harness()
    harness.messages(httpx.Response(200, json={"success": False}))
    with pytest.raises(ProviderError, match="read receipt"):
        await harness.adapter.mark_read(WAMID)


MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1037543291543636"


def lookup_answer(data: bytes, **changes: Any) -> httpx.Response:
    """Meta's answer to ``GET /{media_id}`` for an item holding ``data``."""
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "url": MEDIA_URL,
            "mime_type": "image/jpeg",
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_size": len(data),
            "id": "1037543291543636",
            **changes,
        },
    )


def media_routes(
    harness: Harness, *lookups: httpx.Response, data: bytes
) -> tuple[respx.Route, respx.Route]:
    lookup = harness.meta.get("/v25.0/1037543291543636")
    lookup.side_effect = list(lookups)
    fetch = harness.meta.get("https://lookaside.fbsbx.com/whatsapp_business/attachments/")
    fetch.side_effect = [httpx.Response(200, content=data)]
    return lookup, fetch


async def test_download_media_looks_the_id_up_then_fetches_it_with_the_same_token() -> None:
    harness = Harness()
    data = b"\xff\xd8\xff\xe0 a jpeg"
    lookup, fetch = media_routes(harness, lookup_answer(data), data=data)
    item = await harness.adapter.download_media("1037543291543636")
    assert lookup.calls.last.request.url.params["phone_number_id"] == PHONE_NUMBER_ID
    assert fetch.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (item.data, item.content_type, item.size) == (data, "image/jpeg", len(data))


async def test_download_media_refuses_an_item_over_the_limit_before_fetching_it() -> None:
    harness = Harness()
    media_routes(harness, lookup_answer(b"x", file_size=303833), data=b"x")
    with pytest.raises(ContentRejected, match="303833 bytes"):
        await harness.adapter.download_media("1037543291543636", max_bytes=100_000)
    assert len(harness.meta.calls) == 1


async def test_a_failed_lookup_is_retried_because_reads_are_idempotent() -> None:
    harness = Harness()
    data = b"jpeg"
    failed = httpx.Response(500, json={"error": {"code": 2, "message": "(#2) Service unavailable"}})
    lookup, _ = media_routes(harness, failed, lookup_answer(data), data=data)
    item = await harness.adapter.download_media("1037543291543636")
    assert item.data == data
    assert lookup.call_count == 2


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"phone_number_id": "+15550783881"}, "looks like a phone number"),
        ({"phone_number_id": "abc"}, "not a phone-number id"),
        ({"api_version": "25"}, None),
        ({"api_version": "v26.0"}, None),
        ({"api_version": "latest"}, "write it as v25.0"),
        ({"api_version": "v25.1"}, "write it as v25.0"),
        ({"base_url": "graph.facebook.com"}, "http(s) URL"),
        ({"access_token": ""}, "access_token is empty"),
    ],
)
def test_settings_are_checked_with_a_clear_error(
    changes: dict[str, Any], fragment: str | None
) -> None:
    from omnichannel import ConfigurationError

    if fragment is None:
        assert settings(**changes).api_version in ("v25.0", "v26.0")
        return
    with pytest.raises(ConfigurationError) as caught:
        settings(**changes)
    assert fragment in str(caught.value)
    assert "[channels.whatsapp]" in str(caught.value)


def test_the_defaults_are_graph_facebook_com_and_v25() -> None:
    built = settings()
    assert (built.base_url, built.api_version) == ("https://graph.facebook.com", "v25.0")
    assert built.api_root == "https://graph.facebook.com/v25.0"


def test_settings_and_the_adapter_hide_every_secret() -> None:
    built = settings(app_secret="app-secret-value", verify_token="verify-token-value")
    adapter = MetaWhatsappAdapter(built, AdapterContext())
    shown = f"{built!r} {built} {adapter!r} {adapter.auth_headers!r} {adapter.json_headers!r}"
    assert not [s for s in (TOKEN, "app-secret-value", "verify-token-value") if s in shown]


def test_every_setting_has_help_text_and_the_secrets_are_marked() -> None:
    from omnichannel.config import describe_settings

    rows = describe_settings(MetaWhatsappSettings)
    assert [row["name"] for row in rows] == [
        "access_token",
        "phone_number_id",
        "app_secret",
        "verify_token",
        "api_version",
        "base_url",
    ]
    assert all(row["help"] for row in rows)
    assert {row["name"] for row in rows if row["secret"]} == {
        "access_token",
        "app_secret",
        "verify_token",
    }
