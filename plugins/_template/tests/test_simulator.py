"""The {{Provider}} simulator: the API it answers, what it keeps, and the signed callbacks it
posts; last, the whole loop over real loopback HTTP (:class:`LoopbackRig`)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from omnichannel import (
    Choice,
    Content,
    ContentRejected,
    DeliveryStatus,
    Interactive,
    InvalidRecipient,
    Media,
    RateLimited,
    Template,
    Visibility,
    WebhookRequest,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.polling import Poller
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.testing import make_envelope
from omnichannel.testing.loopback import LoopbackRig

from omnichannel_{{name}} import (
    {{Provider}}{{Channel}}Adapter,
    {{Provider}}{{Channel}}Settings,
    {{Provider}}{{Channel}}Simulator,
)
from omnichannel_{{name}}.webhooks import SIGNATURE_HEADER

pytestmark = pytest.mark.anyio

SANDBOX = "http://sandbox.test"
APP = "https://app.test"
BASE_URL = f"{SANDBOX}/" + {{Provider}}{{Channel}}Simulator.prefix


def settings() -> {{Provider}}{{Channel}}Settings:
    values = {{Provider}}{{Channel}}Simulator.sample_settings(BASE_URL)
    return build_settings({{Provider}}{{Channel}}Settings, values, where="sample settings")


class Harness:
    """A simulator in a sandbox, an adapter pointed at it, and the callbacks it posts."""

    def __init__(self, *, out_of_order: bool = False) -> None:
        self.app = respx.Router(base_url=APP)
        self.callbacks = self.app.post("/webhooks/{{channel}}").respond(204)
        self.context = SimulatorContext(
            public_url=APP,
            transport=httpx.MockTransport(self.app.async_handler),
            out_of_order=out_of_order,
        )
        self.simulator = {{Provider}}{{Channel}}Simulator(settings(), self.context)
        self.sandbox = Sandbox([self.simulator], self.context)
        sender = Sender(httpx.ASGITransport(app=self.sandbox), retry=RetryPolicy(max_attempts=1))
        self.adapter = {{Provider}}{{Channel}}Adapter(settings(), AdapterContext(sender=sender))

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.sandbox)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.request(method, path, **kwargs)

    async def authorised(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = self.simulator.settings.api_token.reveal()
        headers = {"Authorization": f"Bearer {token}"}
        return await self.call(method, path, headers=headers, **kwargs)

    async def posted_statuses(self) -> list[DeliveryStatus]:
        await self.sandbox.settle()
        statuses: list[DeliveryStatus] = []
        for call in self.callbacks.calls:
            request = call.request
            received = WebhookRequest(
                method="POST",
                url=str(request.url),
                headers=request.headers.multi_items(),
                body=request.content,
            )
            result = await self.adapter.handle_webhook(received)
            statuses.extend(update.status for update in result.statuses)
        return statuses


async def test_a_send_is_accepted_and_followed_by_signed_sent_and_delivered_callbacks() -> None:
    harness = Harness()
    envelope = make_envelope(channel="{{channel}}", to="customer-1")
    receipt = await harness.adapter.send(envelope)
    assert receipt.provider_id
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert await harness.posted_statuses() == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    for call in harness.callbacks.calls:
        assert SIGNATURE_HEADER in call.request.headers
        assert json.loads(call.request.content)["reference"] == envelope.id


async def test_out_of_order_mode_posts_the_callbacks_in_reverse() -> None:
    harness = Harness(out_of_order=True)
    await harness.adapter.send(make_envelope(channel="{{channel}}", to="customer-1"))
    assert await harness.posted_statuses() == [DeliveryStatus.DELIVERED, DeliveryStatus.SENT]


async def test_a_wrong_token_is_refused_with_401() -> None:
    harness = Harness()
    response = await harness.call(
        "POST",
        "/messages",
        headers={"Authorization": "Bearer wrong"},
        json={"to": "customer-1", "text": "hi"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("body", [{"to": "customer-1"}, {"text": "hi"}, [1]])
async def test_a_request_without_recipient_or_text_is_refused_with_400(body: object) -> None:
    response = await Harness().authorised("POST", "/messages", json=body)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "interactive",
    [
        {"type": "buttons", "buttons": [{"id": f"b{n}", "title": "B"} for n in range(4)]},
        {"type": "buttons", "buttons": [{"id": "b", "title": "a title over twenty chars"}]},
        {"type": "list", "button": "Pick", "sections": [{"rows": []}]},
        {"type": "carousel"},
    ],
)
async def test_a_menu_over_the_apis_limits_is_refused_with_400(interactive: object) -> None:
    body = {"to": "customer-1", "text": "Pick", "interactive": interactive}
    response = await Harness().authorised("POST", "/messages", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_an_unknown_endpoint_is_404() -> None:
    response = await Harness().call("GET", "/accounts")
    assert response.status_code == 404


async def test_the_rate_limited_recipient_gets_a_429_the_adapter_reads() -> None:
    harness = Harness()
    with pytest.raises(RateLimited) as caught:
        await harness.adapter.send(make_envelope(channel="{{channel}}", to="rate-limited"))
    assert caught.value.retry_after == 2


async def test_the_unknown_recipient_is_refused_as_an_invalid_recipient() -> None:
    harness = Harness()
    with pytest.raises(InvalidRecipient):
        await harness.adapter.send(make_envelope(channel="{{channel}}", to="unknown"))
    assert not harness.callbacks.calls


async def test_bytes_media_are_stored_and_the_message_refers_to_them() -> None:
    harness = Harness()
    item = Media(data=b"%PDF-1.7", content_type="application/pdf", filename="invoice.pdf")
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Invoice", media=[item]))
    receipt = await harness.adapter.send(envelope)
    assert list(harness.simulator.media.values()) == [b"%PDF-1.7"]
    assert receipt.provider_id in harness.simulator.messages


async def test_a_message_referring_to_media_never_uploaded_is_refused() -> None:
    body = {"to": "customer-1", "media": [{"id": "media-999999"}]}
    response = await Harness().authorised("POST", "/messages", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "media_rejected"


async def test_an_upload_of_a_type_the_api_refuses_becomes_content_rejected() -> None:
    harness = Harness()
    item = Media(data=b"MZ", content_type="application/x-msdownload", filename="tool.exe")
    envelope = make_envelope(channel="{{channel}}", text=Content(text="Run it", media=[item]))
    with pytest.raises(ContentRejected):
        await harness.adapter.send(envelope)
    assert not harness.simulator.messages


async def test_a_template_the_account_has_not_approved_becomes_content_rejected() -> None:
    harness = Harness()
    content = Content(template=Template(name="spring_sale"))
    with pytest.raises(ContentRejected, match="template_not_found"):
        await harness.adapter.send(make_envelope(channel="{{channel}}", text=content))


async def test_reply_buttons_within_the_limits_are_accepted() -> None:
    harness = Harness()
    menu = Interactive(buttons=[Choice(id="yes", title="Yes"), Choice(id="no", title="No")])
    content = Content(text="Shall we call?", interactive=menu)
    receipt = await harness.adapter.send(make_envelope(channel="{{channel}}", text=content))
    assert receipt.status is DeliveryStatus.ACCEPTED


async def test_a_public_post_is_published_at_once_with_no_callbacks() -> None:
    harness = Harness()
    envelope = make_envelope(
        channel="{{channel}}",
        text="We're on it",
        visibility=Visibility.PUBLIC,
        in_reply_to="post-000311",
    )
    receipt = await harness.adapter.send(envelope)
    assert receipt.status is DeliveryStatus.SENT
    assert harness.simulator.messages[receipt.provider_id or ""]["in_reply_to"] == "post-000311"
    assert await harness.posted_statuses() == []


async def test_a_post_over_280_characters_is_refused_with_400() -> None:
    response = await Harness().authorised("POST", "/posts", json={"text": "x" * 281})
    assert response.status_code == 400


async def test_what_was_sent_is_found_by_its_reference_and_nothing_else_is() -> None:
    harness = Harness()
    envelope = make_envelope(channel="{{channel}}", to="customer-1", text="Track me")
    receipt = await harness.adapter.send(envelope)
    found = await harness.adapter.reconcile(envelope, attempted_at=envelope.created_at)
    assert found is not None
    assert found.provider_id == receipt.provider_id
    other = make_envelope(channel="{{channel}}", text="Track me")
    assert await harness.adapter.reconcile(other, attempted_at=other.created_at) is None


async def test_queued_inbound_messages_are_polled_once_each() -> None:
    harness = Harness()
    harness.simulator.queue_inbound(sender="customer-7", text="Anyone there?")
    harness.simulator.queue_inbound(sender="customer-7", text="Yes", choice="cb_now")
    first = await harness.adapter.poll(None)
    assert [m.content.text for m in first.messages] == ["Anyone there?", "Yes"]
    assert first.messages[1].content.choice == "cb_now"
    assert first.messages[0].business_address is not None
    assert first.messages[0].business_address.value == "support"
    again = await harness.adapter.poll(first.cursor)
    assert again.messages == ()
    assert again.cursor == first.cursor


async def test_a_long_queue_is_polled_in_pages_and_asks_for_the_next_at_once() -> None:
    harness = Harness()
    for number in range(60):
        harness.simulator.queue_inbound(sender="customer-7", text=f"message {number}")
    first = await harness.adapter.poll(None)
    assert len(first.messages) == 50
    assert first.next_poll_seconds == 0
    rest = await harness.adapter.poll(first.cursor)
    assert len(rest.messages) == 10
    assert rest.next_poll_seconds is None


async def test_a_cursor_the_api_never_issued_is_refused_with_400() -> None:
    response = await Harness().authorised("GET", "/messages/inbound", params={"after": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


# -- the whole loop over loopback: the default transport, real HTTP both ways ----------------


async def test_a_polled_message_reaches_the_routers_handlers_over_loopback() -> None:
    rig = LoopbackRig(
        {{Provider}}{{Channel}}Adapter,
        {{Provider}}{{Channel}}Simulator,
        {{Provider}}{{Channel}}Simulator.sample_settings,
    )
    async with rig:
        rig.simulator.queue_inbound(sender="customer-7", text="Polled hello")
        poller = Poller(rig.router)
        assert poller.channels == ["{{channel}}"]
        await poller.poll_once("{{channel}}")
        await poller.poll_once("{{channel}}")
    assert [message.content.text for message in rig.messages] == ["Polled hello"]


async def test_bytes_media_sent_over_loopback_get_their_status_callbacks() -> None:
    rig = LoopbackRig(
        {{Provider}}{{Channel}}Adapter,
        {{Provider}}{{Channel}}Simulator,
        {{Provider}}{{Channel}}Simulator.sample_settings,
    )
    item = Media(data=b"\x89PNG\r\n", content_type="image/png", filename="photo.png")
    async with rig:
        envelope = make_envelope(channel="{{channel}}", text=Content(text="Photo", media=[item]))
        receipt = await rig.router.send(envelope)
        await rig.settle()
    assert receipt.fitting.media_as_links == 0
    assert [update.status for update in rig.statuses] == [
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ]
