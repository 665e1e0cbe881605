"""Tests for omnichannel_whatsapp.simulator: the sandbox's stand-in for the Cloud API.

The adapter reaches the simulator through ``httpx.ASGITransport`` around the sandbox app; the
status webhooks the simulator posts go to an ``httpx.MockTransport`` that records them, and
are then fed to the adapter, so each is checked as the application would check it (signature
included). ``step_delay`` is 0 and nothing sleeps for real. The last tests run the production
path: the default transport over loopback, with the webhook app on its own port.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from omnichannel_whatsapp import MetaWhatsappAdapter, MetaWhatsappSettings, MetaWhatsappSimulator
from omnichannel_whatsapp.simulator import THROTTLED_RECIPIENT, UNDELIVERABLE_RECIPIENT
from omnichannel_whatsapp.simulator_checks import MISSING_TEMPLATE
from omnichannel_whatsapp.webhooks import SIGNATURE_HEADER

from omnichannel import (
    Address,
    Choice,
    ChoiceSection,
    Content,
    ContentRejected,
    DeliveryStatus,
    Envelope,
    FailureReason,
    Interactive,
    Media,
    PolicyViolation,
    RateLimited,
    StatusUpdate,
    Template,
    WebhookRequest,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.testing.loopback import LoopbackRig

pytestmark = pytest.mark.anyio

SANDBOX = "http://sandbox.test/whatsapp-cloud"
APP = "https://support.example.com"
SAMPLE = MetaWhatsappSimulator.sample_settings(SANDBOX)
CUSTOMER = MetaWhatsappSimulator.sample_recipient
NUMBER_ID = SAMPLE["phone_number_id"]


def settings() -> MetaWhatsappSettings:
    return build_settings(MetaWhatsappSettings, SAMPLE, where="sample settings")


class Recorder:
    """Records the webhooks the simulator posts, and its pauses."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class Harness:
    """The simulator in a sandbox, an adapter pointed at it, and the webhooks it posts."""

    def __init__(self, *, out_of_order: bool = False, step_delay: float = 0.0) -> None:
        self.recorder = Recorder()
        self.context = SimulatorContext(
            public_url=APP,
            transport=httpx.MockTransport(self.recorder.handle),
            step_delay=step_delay,
            out_of_order=out_of_order,
            sleep=self.recorder.sleep,
        )
        self.simulator = MetaWhatsappSimulator(settings(), self.context)
        self.sandbox = Sandbox([self.simulator], self.context)
        sender = Sender(httpx.ASGITransport(app=self.sandbox), retry=RetryPolicy(max_attempts=1))
        self.adapter = MetaWhatsappAdapter(
            settings(), AdapterContext(sender=sender, public_url=APP)
        )

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.sandbox)
        async with httpx.AsyncClient(transport=transport, base_url=SANDBOX) as client:
            return await client.request(method, path, **kwargs)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SAMPLE['access_token']}"}

    async def posted(self) -> list[StatusUpdate]:
        await self.sandbox.settle()
        updates: list[StatusUpdate] = []
        for request in self.recorder.requests:
            assert str(request.url) == f"{APP}/webhooks/whatsapp"
            received = WebhookRequest(
                method="POST",
                url=str(request.url),
                headers=request.headers.multi_items(),
                body=request.content,
            )
            result = await self.adapter.handle_webhook(received)
            updates.extend(result.statuses)
        return updates


def whatsapp(content: Content | str = "hello", to: str = CUSTOMER, **changes: Any) -> Envelope:
    return Envelope(
        channel="whatsapp",
        recipient=Address(channel="whatsapp", value=to),
        content=content,
        **changes,
    )


# --- messages and statuses -----------------------------------------------------------------------


async def test_a_send_inside_the_window_is_followed_by_signed_sent_delivered_and_read() -> None:
    harness = Harness()
    harness.simulator.customer_wrote(CUSTOMER)
    envelope = whatsapp("Your order shipped")
    receipt = await harness.adapter.send(envelope)
    assert receipt.provider_id is not None
    assert receipt.provider_id.startswith("wamid.")
    updates = await harness.posted()
    assert [update.status for update in updates] == [
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
    ]
    assert {update.envelope_id for update in updates} == {envelope.id}
    assert {update.provider_id for update in updates} == {receipt.provider_id}
    assert updates[0].metadata["pricing_type"] == "free_customer_service"
    assert all(SIGNATURE_HEADER in request.headers for request in harness.recorder.requests)
    assert harness.simulator.messages[receipt.provider_id]["text"]["body"] == "Your order shipped"


async def test_out_of_order_mode_reverses_the_statuses_and_step_delay_paces_them() -> None:
    harness = Harness(out_of_order=True, step_delay=0.5)
    harness.simulator.customer_wrote(CUSTOMER)
    await harness.adapter.send(whatsapp())
    assert [update.status for update in await harness.posted()] == [
        DeliveryStatus.READ,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.SENT,
    ]
    assert harness.recorder.sleeps == [0.5, 0.5, 0.5]


async def test_free_text_outside_the_window_is_accepted_then_fails_with_131047() -> None:
    harness = Harness()
    harness.simulator.customer_wrote(CUSTOMER, datetime.now(UTC) - timedelta(hours=25))
    receipt = await harness.adapter.send(whatsapp())
    assert receipt.provider_id
    [update] = await harness.posted()
    assert update.status is DeliveryStatus.FAILED
    assert (update.reason, update.provider_code) == (FailureReason.OUTSIDE_WINDOW, "131047")


async def test_a_template_goes_out_whatever_the_window_and_is_billable() -> None:
    harness = Harness()
    template = Template(name="order_update", language="en_US", parameters=["42"])
    await harness.adapter.send(whatsapp(Content(template=template)))
    updates = await harness.posted()
    assert [update.status for update in updates][-1] is DeliveryStatus.READ
    assert updates[0].metadata["billable"] is True
    assert updates[0].metadata["category"] == "utility"


async def test_the_window_follows_the_simulators_clock() -> None:
    harness = Harness()
    harness.simulator.customer_wrote(CUSTOMER)
    later = datetime.now(UTC) + timedelta(hours=24, minutes=1)
    harness.simulator.clock = lambda: later
    await harness.adapter.send(whatsapp())
    [update] = await harness.posted()
    assert update.reason is FailureReason.OUTSIDE_WINDOW


async def test_menus_are_checked_against_metas_limits() -> None:
    harness = Harness()
    harness.simulator.customer_wrote(CUSTOMER)
    rows = [Choice(id=f"r{n}", title=f"Row {n}") for n in range(3)]
    menu = Interactive(sections=[ChoiceSection(title="Today", rows=rows)], button_label="Pick")
    assert (
        await harness.adapter.send(whatsapp(Content(text="When?", interactive=menu)))
    ).provider_id
    too_many = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Pick"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": str(n), "title": f"B{n}"}} for n in range(4)
                ]
            },
        },
    }
    response = await harness.call(
        "POST", f"/v25.0/{NUMBER_ID}/messages", headers=harness.bearer(), json=too_many
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100
    assert "1 to 3" in response.json()["error"]["error_data"]["details"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": CUSTOMER, "type": "text", "text": {"body": "hi"}}, 100),
        ({"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}}, 100),
        ({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {}}, 100),
        (
            {
                "messaging_product": "whatsapp",
                "to": CUSTOMER,
                "type": "text",
                "text": {"body": "a" * 4097},
            },
            100,
        ),
        (
            {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "hologram", "hologram": {}},
            131051,
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": CUSTOMER,
                "type": "image",
                "image": {"id": "999"},
            },
            100,
        ),
        ([1, 2], 100),
    ],
)
async def test_a_body_meta_would_refuse_is_refused_with_its_code(body: Any, code: int) -> None:
    harness = Harness()
    response = await harness.call(
        "POST", f"/v25.0/{NUMBER_ID}/messages", headers=harness.bearer(), json=body
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_a_wrong_token_is_refused_with_190() -> None:
    harness = Harness()
    response = await harness.call(
        "POST",
        f"/v25.0/{NUMBER_ID}/messages",
        headers={"Authorization": "Bearer wrong"},
        json={"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "hi"}},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190


async def test_another_phone_number_id_does_not_exist() -> None:
    harness = Harness()
    response = await harness.call(
        "POST", "/v25.0/209876543210987/messages", headers=harness.bearer(), json={}
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["error"]["message"]


async def test_an_unknown_path_is_refused() -> None:
    response = await Harness().call("GET", "/nope")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2500


async def test_the_throttled_recipient_gets_130429_which_the_adapter_reads_as_a_rate_limit() -> (
    None
):
    harness = Harness()
    with pytest.raises(RateLimited) as caught:
        await harness.adapter.send(whatsapp(to=THROTTLED_RECIPIENT))
    assert caught.value.provider_code == "130429"
    assert not harness.simulator.messages


async def test_the_undeliverable_recipient_is_accepted_then_fails_with_131026() -> None:
    harness = Harness()
    harness.simulator.customer_wrote(UNDELIVERABLE_RECIPIENT)
    await harness.adapter.send(whatsapp(to=UNDELIVERABLE_RECIPIENT))
    [update] = await harness.posted()
    assert (update.reason, update.provider_code) == (FailureReason.INVALID_RECIPIENT, "131026")


async def test_a_missing_template_is_refused_with_132001() -> None:
    harness = Harness()
    with pytest.raises(ContentRejected) as caught:
        await harness.adapter.send(whatsapp(Content(template=Template(name=MISSING_TEMPLATE))))
    assert (caught.value.provider_code, caught.value.status_code) == ("132001", 404)


async def test_a_read_receipt_with_the_typing_indicator_is_confirmed() -> None:
    harness = Harness()
    await harness.adapter.mark_read("wamid.HBgLMTQxNTU1NTAxOTkVAgASGBQz", typing=True)
    [receipt] = harness.simulator.read_receipts
    assert receipt["typing_indicator"] == {"type": "text"}
    with pytest.raises(ContentRejected, match="wamid"):
        await harness.adapter.mark_read("not-a-wamid")


# --- media ---------------------------------------------------------------------------------------


async def test_bytes_are_uploaded_and_sent_by_the_id_the_upload_returned() -> None:
    harness = Harness()
    harness.simulator.customer_wrote(CUSTOMER)
    item = Media(data=b"\x89PNG\r\n\x1a\n" + bytes(32), content_type="image/png", filename="a.png")
    receipt = await harness.adapter.send(whatsapp(Content(text="see", media=[item])))
    assert receipt.provider_id is not None
    sent = harness.simulator.messages[receipt.provider_id]
    media_id = sent["image"]["id"]
    assert harness.simulator.media[media_id] == (item.data, "image/png")
    assert sent["image"]["caption"] == "see"


async def test_an_upload_of_a_type_whatsapp_does_not_carry_is_refused_with_131053() -> None:
    harness = Harness()
    files = {"file": ("a.exe", b"MZ", "application/x-msdownload")}
    response = await harness.call(
        "POST",
        f"/v25.0/{NUMBER_ID}/media",
        headers=harness.bearer(),
        data={"messaging_product": "whatsapp", "type": "application/x-msdownload"},
        files=files,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131053


async def test_a_customers_media_is_downloaded_through_its_id_and_url() -> None:
    harness = Harness()
    data = b"\xff\xd8\xff\xe0 a photo"
    media_id = harness.simulator.add_media(data, "image/jpeg")
    info = await harness.call("GET", f"/v25.0/{media_id}", headers=harness.bearer())
    assert info.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert info.json()["url"] == f"{SANDBOX}/download/{media_id}"
    item = await harness.adapter.download_media(media_id)
    assert (item.data, item.content_type) == (data, "image/jpeg")
    refused = await harness.call("GET", f"/download/{media_id}")
    assert refused.status_code == 401


# --- the inbound relay ---------------------------------------------------------------------------


async def test_a_relayed_message_opens_the_window_and_reaches_the_application_unchanged() -> None:
    harness = Harness()
    inbound = harness.adapter.simulate(sender=CUSTOMER, text="hi", url=f"{APP}/webhooks/whatsapp")
    response = await harness.call(
        "POST", "/inbound", headers=list(inbound.headers), content=inbound.body
    )
    assert response.status_code == 200
    [relayed] = harness.recorder.requests
    assert relayed.content == inbound.body
    assert relayed.headers[SIGNATURE_HEADER] == inbound.header(SIGNATURE_HEADER)
    assert CUSTOMER.lstrip("+") in harness.simulator.last_inbound
    harness.recorder.requests.clear()
    await harness.adapter.send(whatsapp())
    assert [u.status for u in await harness.posted()][-1] is DeliveryStatus.READ


async def test_a_relayed_message_with_a_bad_signature_is_refused_and_opens_nothing() -> None:
    harness = Harness()
    inbound = harness.adapter.simulate(sender=CUSTOMER, text="hi", url=f"{APP}/webhooks/whatsapp")
    response = await harness.call(
        "POST",
        "/inbound",
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: "sha256=00"},
        content=inbound.body,
    )
    assert response.status_code == 403
    assert not harness.recorder.requests
    assert not harness.simulator.last_inbound


# --- the production path, over loopback ----------------------------------------------------------


def rig() -> LoopbackRig:
    return LoopbackRig(
        MetaWhatsappAdapter, MetaWhatsappSimulator, MetaWhatsappSimulator.sample_settings
    )


async def relay_customer_message(rig: LoopbackRig, text: str = "hi") -> None:
    request = rig.adapter.simulate(
        sender=CUSTOMER, text=text, url=f"{rig.public_url}/webhooks/whatsapp"
    )
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{rig.sandbox_url}/whatsapp-cloud/inbound",
            headers=list(request.headers),
            content=request.body,
        )
    assert response.status_code == 200


async def test_in_process_a_text_returns_a_wamid_and_delivered_and_read_reach_the_handlers() -> (
    None
):
    async with rig() as loop:
        await relay_customer_message(loop, "Can you call me back?")
        assert [m.content.text for m in loop.messages] == ["Can you call me back?"]
        envelope = whatsapp("We'll call at 8pm")
        receipt = await loop.router.send(envelope)
        await loop.settle()
    assert receipt.provider_id is not None
    assert receipt.provider_id.startswith("wamid.")
    statuses = [update.status for update in loop.statuses]
    assert DeliveryStatus.DELIVERED in statuses
    assert DeliveryStatus.READ in statuses
    assert {update.envelope_id for update in loop.statuses} == {envelope.id}
    assert loop.router.status_of(envelope.id) is DeliveryStatus.READ


async def test_in_process_free_text_to_a_silent_customer_is_refused_without_a_request() -> None:
    async with rig() as loop:
        with pytest.raises(PolicyViolation) as caught:
            await loop.router.send(whatsapp("free text"))
        await loop.settle()
        assert caught.value.reason is FailureReason.OUTSIDE_WINDOW
        assert not loop.simulator.messages
        assert not loop.statuses


async def test_in_process_metas_late_131047_reaches_the_handlers_as_outside_window() -> None:
    # The router saw the customer write, the provider did not: Meta's late refusal path.
    async with rig() as loop:
        request = loop.adapter.simulate(
            sender=CUSTOMER, text="hi", url=f"{loop.public_url}/webhooks/whatsapp"
        )
        assert (await loop.router.handle_webhook("whatsapp", request)).status_code == 200
        envelope = whatsapp("free text")
        await loop.router.send(envelope)
        await loop.settle()
    [update] = loop.statuses
    assert (update.status, update.reason) == (DeliveryStatus.FAILED, FailureReason.OUTSIDE_WINDOW)
    assert update.envelope_id == envelope.id


def test_sample_settings_build_and_hold_secrets() -> None:
    built = settings()
    assert built.phone_number_id == NUMBER_ID
    assert SAMPLE["app_secret"] not in repr(built)
    assert json.dumps(SAMPLE)  # plain values, as a config file would hold
