"""The adapter against a mocked {{Provider}} API (respx, strictly: method, path, auth, body), and
against a scripted stand-in on loopback for what the network can do mid-request."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import respx
from omnichannel import (
    Choice,
    ConfigurationError,
    Content,
    ContentRejected,
    DeliveryStatus,
    Interactive,
    InvalidRecipient,
    Media,
    OutcomeUnknown,
    PluginHost,
    PolicyViolation,
    ProviderError,
    RateLimited,
    Router,
    RoutingPolicy,
    Sensitivity,
    Template,
    TemplateButton,
    Visibility,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.testing import make_envelope
from omnichannel.testing.standin import RESET_AFTER_REQUEST, Reply, ScriptedServer

from omnichannel_{{name}} import (
    {{Provider}}{{Channel}}Adapter,
    {{Provider}}{{Channel}}Settings,
)
from omnichannel_{{name}}.webhooks import message_event, signed_request

pytestmark = pytest.mark.anyio

PAYLOADS = Path(__file__).parent / "payloads"
BASE_URL = "https://api.{{provider}}.test/v1"
API_TOKEN = "test-api-token-0123456789"
SETTINGS = {"api_token": API_TOKEN, "webhook_secret": "test-webhook-secret", "base_url": BASE_URL}
ACCEPTED = {"id": "msg-1", "status": "accepted"}
PDF = Media(data=b"%PDF-1.7 invoice", content_type="application/pdf", filename="invoice.pdf")


class Sleeps:
    """An injected sleep: records the waits instead of taking them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def api() -> respx.Router:
    """The mocked API: unmatched requests fail the test (``assert_all_mocked``)."""
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


def make_adapter(
    api: respx.Router | None = None,
    *,
    sender: Sender | None = None,
    settings: dict[str, str] | None = None,
) -> {{Provider}}{{Channel}}Adapter:
    values = build_settings(
        {{Provider}}{{Channel}}Settings,
        {**SETTINGS, **(settings or {})},
        where="test",
    )
    if sender is None:
        assert api is not None
        sender = Sender(httpx.MockTransport(api.async_handler), retry=RetryPolicy(max_attempts=1))
    return {{Provider}}{{Channel}}Adapter(values, AdapterContext(sender=sender))


def retrying(api: respx.Router, sleeps: Sleeps) -> Sender:
    """A sender that retries what is safe to retry, without sleeping."""
    transport = httpx.MockTransport(api.async_handler)
    return Sender(transport, retry=RetryPolicy(max_attempts=3), sleep=sleeps, rand=lambda: 0.0)


def router(adapter: {{Provider}}{{Channel}}Adapter, **policy: Any) -> Router:
    return Router([adapter], host=PluginHost(), policy=RoutingPolicy(**policy))


def sent_bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


# -- messages ----------------------------------------------------------------------------------


async def test_send_posts_the_message_as_json_with_the_bearer_token(
    api: respx.Router,
) -> None:
    route = api.post("/messages").respond(201, json=ACCEPTED)
    envelope = make_envelope(channel="{{channel}}", to="customer-1", text="Hello")
    receipt = await make_adapter(api).send(envelope)
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/messages"
    assert request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "to": "customer-1",
        "text": "Hello",
        "reference": envelope.id,
    }
    assert receipt.provider_id == "msg-1"
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert receipt.channel == "{{channel}}"
    assert receipt.adapter == "{{channel}}.{{provider}}"


async def test_the_configured_sender_is_sent_as_from_and_is_the_business_address(
    api: respx.Router,
) -> None:
    route = api.post("/messages").respond(201, json=ACCEPTED)
    adapter = make_adapter(api, settings={"from": "support"})
    await adapter.send(make_envelope(channel="{{channel}}"))
    assert json.loads(route.calls.last.request.content)["from"] == "support"
    assert adapter.business_address == "support"
    assert make_adapter(api).business_address is None


async def test_the_router_splits_long_text_into_one_request_per_part(
    api: respx.Router,
) -> None:
    route = api.post("/messages").mock(
        side_effect=[
            httpx.Response(201, json={"id": f"msg-{n}", "status": "accepted"}) for n in (1, 2)
        ]
    )
    envelope = make_envelope(channel="{{channel}}", text="word " * 500)
    receipt = await router(make_adapter(api)).send(envelope)
    texts = [body["text"] for body in sent_bodies(route)]
    assert len(texts) == 2
    assert all(len(text) <= 2000 for text in texts)
    assert receipt.provider_ids == ("msg-1", "msg-2")
    assert receipt.fitting.parts == 2


async def test_menus_within_the_limits_go_natively(api: respx.Router) -> None:
    route = api.post("/messages").respond(201, json=ACCEPTED)
    menu = Interactive(buttons=[Choice(id="yes", title="Yes"), Choice(id="no", title="No")])
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Call?", interactive=menu))
    receipt = await router(make_adapter(api)).send(envelope)
    [body] = sent_bodies(route)
    assert body["text"] == "Call?"
    assert body["interactive"]["buttons"] == [
        {"id": "yes", "title": "Yes"},
        {"id": "no", "title": "No"},
    ]
    assert not receipt.fitting.interactive_as_text


async def test_a_menu_over_the_limits_goes_as_numbered_text_and_a_number_maps_back(
    api: respx.Router,
) -> None:
    route = api.post("/messages").respond(201, json=ACCEPTED)
    adapter = make_adapter(api, settings={"from": "support"})
    desk = router(adapter)
    options = [Choice(id=f"slot-{n}", title=f"{17 + n}:00") for n in range(1, 5)]
    menu = Interactive(buttons=options)
    envelope = make_envelope(channel="{{channel}}", text=Content(text="When?", interactive=menu))
    receipt = await desk.send(envelope)
    [body] = sent_bodies(route)
    assert "interactive" not in body
    assert "Reply 1 for 18:00, 2 for 19:00" in body["text"]
    assert receipt.fitting.interactive_as_text
    answers: list[Content] = []
    desk.on_message(lambda message: answers.append(message.content), inline=True)
    event = message_event(
        message_id="in-9",
        sender="customer-1",
        recipient="support",
        text="2",
        timestamp=envelope.created_at,
    )
    url = "https://support.example.test/webhooks/{{channel}}"
    reply = signed_request(url, event, adapter.settings.webhook_secret)
    assert (await desk.handle_webhook("{{channel}}", reply)).status_code == 204
    assert [answer.choice for answer in answers] == ["slot-2"]


async def test_a_template_goes_with_its_components_and_the_report_names_it(
    api: respx.Router,
) -> None:
    route = api.post("/messages").respond(201, json=ACCEPTED)
    template = Template(
        name="order_update",
        language="en_US",
        named_parameters={"first_name": "Zoë"},
        buttons=[TemplateButton(index=0, kind="url", value="orders/42")],
    )
    envelope = make_envelope(channel="{{channel}}", text=Content(template=template))
    receipt = await router(make_adapter(api)).send(envelope)
    [body] = sent_bodies(route)
    assert "text" not in body
    assert body["template"] == {
        "name": "order_update",
        "language": "en_US",
        "named_parameters": {"first_name": "Zoë"},
        "buttons": [{"index": 0, "type": "url", "value": "orders/42"}],
    }
    assert receipt.fitting.template_used == "order_update"


# -- bytes media: upload first, then send ------------------------------------------------------


async def test_bytes_media_are_uploaded_first_then_sent_by_their_media_id(
    api: respx.Router,
) -> None:
    upload = api.post("/media").respond(201, json={"id": "media-7"})
    send = api.post("/messages").respond(201, json=ACCEPTED)
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Invoice", media=[PDF]))
    receipt = await router(make_adapter(api)).send(envelope)
    assert [call.request.url.path for call in api.calls] == ["/v1/media", "/v1/messages"]
    sent_file = upload.calls.last.request
    assert sent_file.url.params["filename"] == "invoice.pdf"
    assert sent_file.headers["Content-Type"] == "application/pdf"
    assert sent_file.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert sent_file.content == PDF.data
    [body] = sent_bodies(send)
    assert body["media"] == [
        {"id": "media-7", "type": "application/pdf", "filename": "invoice.pdf"},
    ]
    assert receipt.provider_id == "msg-1"
    assert receipt.fitting.media_as_links == 0


async def test_a_refused_upload_sends_no_message(api: respx.Router) -> None:
    api.post("/media").respond(400, json={"error": {"code": "media_rejected"}})
    send = api.post("/messages").respond(201, json=ACCEPTED)
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Invoice", media=[PDF]))
    with pytest.raises(ContentRejected) as caught:
        await make_adapter(api).send(envelope)
    assert caught.value.envelope_id == envelope.id
    assert not send.calls


async def test_an_upload_with_an_unknown_outcome_is_not_resent_and_the_message_not_sent(
    api: respx.Router,
) -> None:
    upload = api.post("/media").respond(500, json={"error": {"code": "internal"}})
    send = api.post("/messages").respond(201, json=ACCEPTED)
    adapter = make_adapter(sender=retrying(api, Sleeps()))
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Invoice", media=[PDF]))
    with pytest.raises(ProviderError) as caught:
        await adapter.send(envelope)
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.retryable
    assert "message was not sent" in str(caught.value)
    assert len(upload.calls) == 1
    assert not send.calls


async def test_a_message_call_with_an_unknown_outcome_after_the_upload_is_not_resent(
    api: respx.Router,
) -> None:
    api.post("/media").respond(201, json={"id": "media-7"})
    send = api.post("/messages").respond(500, json={"error": {"code": "internal"}})
    adapter = make_adapter(sender=retrying(api, Sleeps()))
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Invoice", media=[PDF]))
    with pytest.raises(OutcomeUnknown):
        await adapter.send(envelope)
    assert len(send.calls) == 1


# -- public posts ------------------------------------------------------------------------------


async def test_a_public_reply_is_posted_in_reply_to_the_customers_post(api: respx.Router) -> None:
    route = api.post("/posts").respond(201, json={"id": "post-2", "status": "sent"})
    envelope = make_envelope(
        channel="{{channel}}",
        text="We're on it!",
        visibility=Visibility.PUBLIC,
        in_reply_to="post-1",
    )
    receipt = await router(make_adapter(api)).send(envelope)
    assert sent_bodies(route) == [
        {"text": "We're on it!", "reference": envelope.id, "in_reply_to": "post-1"}
    ]
    assert (receipt.provider_id, receipt.status) == ("post-2", DeliveryStatus.SENT)


async def test_a_long_public_answer_is_a_chain_of_posts_each_replying_to_the_last(
    api: respx.Router,
) -> None:
    route = api.post("/posts").mock(
        side_effect=[
            httpx.Response(201, json={"id": f"post-{n}", "status": "sent"}) for n in (2, 3)
        ]
    )
    envelope = make_envelope(
        channel="{{channel}}",
        text="word " * 100,
        visibility=Visibility.PUBLIC,
        in_reply_to="post-1",
    )
    receipt = await router(make_adapter(api)).send(envelope)
    bodies = sent_bodies(route)
    assert [body["in_reply_to"] for body in bodies] == ["post-1", "post-2"]
    assert all(len(body["text"]) <= 280 for body in bodies)
    assert receipt.provider_ids == ("post-2", "post-3")


async def test_restricted_content_in_public_is_refused_before_any_request(
    api: respx.Router,
) -> None:
    envelope = make_envelope(
        channel="{{channel}}",
        text="Your card ending 4242",
        visibility=Visibility.PUBLIC,
        sensitivity=Sensitivity.RESTRICTED,
    )
    with pytest.raises(PolicyViolation):
        await router(make_adapter(api)).send(envelope)
    assert not api.calls


async def test_the_signpost_policy_posts_publicly_and_sends_the_content_privately(
    api: respx.Router,
) -> None:
    posts = api.post("/posts").respond(201, json={"id": "post-2", "status": "sent"})
    messages = api.post("/messages").respond(201, json=ACCEPTED)
    envelope = make_envelope(
        channel="{{channel}}",
        text="Your card ending 4242",
        visibility=Visibility.PUBLIC,
        sensitivity=Sensitivity.RESTRICTED,
        in_reply_to="post-1",
    )
    receipt = await router(make_adapter(api), restricted_public="signpost").send(envelope)
    [post] = sent_bodies(posts)
    [message] = sent_bodies(messages)
    assert post["in_reply_to"] == "post-1"
    assert "4242" not in post["text"]
    assert message["text"] == "Your card ending 4242"
    assert receipt.provider_id == "msg-1"
    assert receipt.public_signpost is not None
    assert receipt.public_signpost.provider_id == "post-2"


# -- polling and reconcile ---------------------------------------------------------------------


async def test_poll_reads_the_inbound_queue_after_the_cursor(api: respx.Router) -> None:
    page = json.loads((PAYLOADS / "inbound_page.json").read_text(encoding="utf-8"))
    route = api.get("/messages/inbound").respond(200, json=page)
    result = await make_adapter(api).poll("16")
    request = route.calls.last.request
    assert request.url.params["after"] == "16"
    assert request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert [message.content.text for message in result.messages] == ["Where is my order?", "Yes"]
    assert result.cursor == "18"


async def test_a_rate_limited_poll_raises_rate_limited(api: respx.Router) -> None:
    api.get("/messages/inbound").respond(
        429, headers={"Retry-After": "30"}, json={"error": {"code": "rate_limited"}}
    )
    with pytest.raises(RateLimited) as caught:
        await make_adapter(api).poll(None)
    assert caught.value.retry_after == 30


async def test_reconcile_settles_an_unknown_outcome_by_the_envelope_reference(
    api: respx.Router,
) -> None:
    api.post("/messages").respond(500, json={"error": {"code": "internal"}})
    desk = router(make_adapter(api))
    envelope = make_envelope(channel="{{channel}}", text="Hello")
    with pytest.raises(OutcomeUnknown) as caught:
        await desk.send(envelope)
    found = {"id": "msg-9", "status": "delivered", "reference": envelope.id, "text": "Hello"}
    lookup = api.get("/messages").respond(200, json={"messages": [found]})
    sent = caught.value.envelope
    assert sent is not None
    receipt = await desk.reconcile(sent, attempted_at=caught.value.attempted_at)
    assert lookup.calls.last.request.url.params["reference"] == envelope.id
    assert receipt is not None
    assert (receipt.provider_id, receipt.status) == ("msg-9", DeliveryStatus.DELIVERED)


async def test_reconcile_finds_nothing_for_a_message_never_created(api: respx.Router) -> None:
    api.get("/messages").respond(200, json={"messages": []})
    envelope = make_envelope(channel="{{channel}}")
    assert await make_adapter(api).reconcile(envelope, attempted_at=envelope.created_at) is None


# -- errors ------------------------------------------------------------------------------------


async def test_a_rate_limit_becomes_rate_limited_with_retry_after_and_context(
    api: respx.Router,
) -> None:
    api.post("/messages").respond(
        429, headers={"Retry-After": "7"}, json={"error": {"code": "rate_limited"}}
    )
    envelope = make_envelope(channel="{{channel}}")
    with pytest.raises(RateLimited) as caught:
        await make_adapter(api).send(envelope)
    assert caught.value.retry_after == 7
    assert caught.value.envelope_id == envelope.id
    assert caught.value.adapter == "{{channel}}.{{provider}}"


@pytest.mark.parametrize("code", ["rate_limited", "unavailable"])
async def test_what_the_provider_did_not_process_is_sent_again_after_the_wait(
    api: respx.Router, code: str
) -> None:
    refused = httpx.Response(503, headers={"Retry-After": "2"}, json={"error": {"code": code}})
    route = api.post("/messages").mock(side_effect=[refused, httpx.Response(201, json=ACCEPTED)])
    sleeps = Sleeps()
    adapter = make_adapter(sender=retrying(api, sleeps))
    receipt = await adapter.send(make_envelope(channel="{{channel}}"))
    assert receipt.provider_id == "msg-1"
    assert len(route.calls) == 2
    assert sleeps.waits == [2]


async def test_a_refused_recipient_becomes_invalid_recipient(api: respx.Router) -> None:
    api.post("/messages").respond(400, json={"error": {"code": "invalid_recipient"}})
    with pytest.raises(InvalidRecipient):
        await make_adapter(api).send(make_envelope(channel="{{channel}}"))


async def test_a_2xx_answer_that_is_not_json_is_an_unknown_outcome(api: respx.Router) -> None:
    api.post("/messages").respond(201, text="<html>")
    with pytest.raises(OutcomeUnknown, match="not resent"):
        await make_adapter(api).send(make_envelope(channel="{{channel}}"))


async def test_a_reset_after_the_request_was_read_is_an_unknown_outcome_sent_once() -> None:
    sleeps = Sleeps()
    sender = Sender(retry=RetryPolicy(max_attempts=3), sleep=sleeps, rand=lambda: 0.0)
    async with ScriptedServer([RESET_AFTER_REQUEST, Reply(201, b'{"id": "msg-1"}')]) as server:
        adapter = make_adapter(sender=sender, settings={"base_url": f"{server.url}/v1"})
        with pytest.raises(OutcomeUnknown):
            await adapter.send(make_envelope(channel="{{channel}}"))
    await sender.aclose()
    assert [request.path for request in server.requests] == ["/v1/messages"]
    assert sleeps.waits == []


async def test_a_poll_whose_answer_was_lost_is_simply_asked_again() -> None:
    page = Reply(200, b'{"messages": [], "cursor": "4"}')
    sender = Sender(retry=RetryPolicy(max_attempts=3), sleep=Sleeps(), rand=lambda: 0.0)
    async with ScriptedServer([RESET_AFTER_REQUEST, page]) as server:
        adapter = make_adapter(sender=sender, settings={"base_url": f"{server.url}/v1"})
        result = await adapter.poll("4")
    await sender.aclose()
    assert len(server.requests) == 2
    assert result.cursor == "4"


async def test_errors_and_logs_never_show_the_api_token(
    api: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post("/messages").respond(401, json={"error": {"code": "unauthorized"}})
    adapter = make_adapter(api)
    with pytest.raises(ProviderError) as caught:
        await adapter.send(make_envelope(channel="{{channel}}"))
    shown = f"{caught.value} {caught.value!r} {adapter!r} {adapter.settings!r} {caplog.text}"
    assert API_TOKEN not in shown


def test_settings_refuse_a_base_url_without_a_scheme() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        build_settings(
            {{Provider}}{{Channel}}Settings,
            {**SETTINGS, "base_url": "api.{{provider}}.test"},
            where="test",
        )


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    fields = attrs.fields({{Provider}}{{Channel}}Settings)
    names = [field.name.removesuffix("_") for field in fields]
    assert [name for name in names if f"`{name}`" not in readme] == []
