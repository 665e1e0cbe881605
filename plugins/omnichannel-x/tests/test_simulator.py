"""The X simulator: the API it answers and the signed callbacks it posts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from omnichannel import DeliveryStatus, InvalidRecipient, RateLimited, WebhookRequest
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.testing import make_envelope

from omnichannel_x import (
    XTwitterAdapter,
    XTwitterSettings,
    XTwitterSimulator,
)
from omnichannel_x.webhooks import SIGNATURE_HEADER

pytestmark = pytest.mark.anyio

SANDBOX = "http://sandbox.test"
APP = "https://app.test"
BASE_URL = f"{SANDBOX}/" + XTwitterSimulator.prefix


def settings() -> XTwitterSettings:
    values = XTwitterSimulator.sample_settings(BASE_URL)
    return build_settings(XTwitterSettings, values, where="sample settings")


class Harness:
    """A simulator in a sandbox, an adapter pointed at it, and the callbacks it posts."""

    def __init__(self, *, out_of_order: bool = False) -> None:
        self.app = respx.Router(base_url=APP)
        self.callbacks = self.app.post("/webhooks/twitter").respond(204)
        self.context = SimulatorContext(
            public_url=APP,
            transport=httpx.MockTransport(self.app.async_handler),
            out_of_order=out_of_order,
        )
        self.simulator = XTwitterSimulator(settings(), self.context)
        self.sandbox = Sandbox([self.simulator], self.context)
        sender = Sender(httpx.ASGITransport(app=self.sandbox), retry=RetryPolicy(max_attempts=1))
        self.adapter = XTwitterAdapter(settings(), AdapterContext(sender=sender))

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.sandbox)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.request(method, path, **kwargs)

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
    envelope = make_envelope(channel="twitter", to="customer-1")
    receipt = await harness.adapter.send(envelope)
    assert receipt.provider_id
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert await harness.posted_statuses() == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    for call in harness.callbacks.calls:
        assert SIGNATURE_HEADER in call.request.headers
        assert json.loads(call.request.content)["reference"] == envelope.id


async def test_out_of_order_mode_posts_the_callbacks_in_reverse() -> None:
    harness = Harness(out_of_order=True)
    await harness.adapter.send(make_envelope(channel="twitter", to="customer-1"))
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
    harness = Harness()
    token = harness.simulator.settings.api_token.reveal()
    response = await harness.call(
        "POST", "/messages", headers={"Authorization": f"Bearer {token}"}, json=body
    )
    assert response.status_code == 400


async def test_an_unknown_endpoint_is_404() -> None:
    response = await Harness().call("GET", "/accounts")
    assert response.status_code == 404


async def test_the_rate_limited_recipient_gets_a_429_the_adapter_reads() -> None:
    harness = Harness()
    with pytest.raises(RateLimited) as caught:
        await harness.adapter.send(make_envelope(channel="twitter", to="rate-limited"))
    assert caught.value.retry_after == 2


async def test_the_unknown_recipient_is_refused_as_an_invalid_recipient() -> None:
    harness = Harness()
    with pytest.raises(InvalidRecipient):
        await harness.adapter.send(make_envelope(channel="twitter", to="unknown"))
    assert not harness.callbacks.calls
