from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import pytest

from omnichannel import WebhookRequest, WebhookResponse
from omnichannel.sandbox import BaseSimulator, Sandbox, SimulatorContext, request_recipient

pytestmark = pytest.mark.anyio


class EchoSimulator(BaseSimulator):
    """Answers 201 and posts one callback per step to the application, in order or reversed."""

    adapter_name: ClassVar[str] = "echo.test"
    prefix: ClassVar[str] = "echo"
    sample_recipient: ClassVar[str] = "customer-1"

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url}

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        steps = ["sent", "delivered"]
        if self.context.out_of_order:
            steps.reverse()

        async def progress() -> None:
            for step in steps:
                await self.context.sleep(self.context.step_delay)
                url = self.context.webhook_url("echo")
                assert url is not None
                await self.context.post(url, headers={"X-Step": step}, body=step.encode())

        self.context.spawn(progress)
        return WebhookResponse.json({"path": self.subpath(request)}, status_code=201)


def _callbacks(seen: list[str]) -> httpx.MockTransport:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path} {request.headers['X-Step']}")
        return httpx.Response(204)

    return httpx.MockTransport(record)


async def _sleeps(seconds: float) -> None:
    assert seconds == 0.25


async def test_requests_reach_the_simulator_mounted_at_their_prefix_and_callbacks_follow() -> None:
    seen: list[str] = []
    context = SimulatorContext(
        public_url="http://app.test/", transport=_callbacks(seen), step_delay=0.25, sleep=_sleeps
    )
    sandbox = Sandbox([EchoSimulator({}, context)], context)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox)) as client:
        response = await client.post("http://sandbox.test/echo/v1/messages", content=b"{}")
        await sandbox.settle()
    assert response.status_code == 201
    assert response.json() == {"path": "/v1/messages"}
    assert seen == ["/webhooks/echo sent", "/webhooks/echo delivered"]
    await sandbox.aclose()


async def test_out_of_order_simulators_post_their_callbacks_reversed() -> None:
    seen: list[str] = []
    context = SimulatorContext(
        public_url="http://app.test", transport=_callbacks(seen), out_of_order=True
    )
    sandbox = Sandbox([EchoSimulator({}, context)], context)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox)) as client:
        await client.post("http://sandbox.test/echo/send")
        await sandbox.settle()
    assert seen == ["/webhooks/echo delivered", "/webhooks/echo sent"]


async def test_an_unknown_prefix_is_404_naming_the_mounted_simulators_and_root_lists_them() -> None:
    context = SimulatorContext(public_url=None)
    sandbox = Sandbox([EchoSimulator({}, context)], context)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox)) as client:
        missing = await client.get("http://sandbox.test/nope/x")
        listing = await client.get("http://sandbox.test/")
    assert missing.status_code == 404
    assert json.loads(missing.content) == {"error": "no simulator at /nope", "mounted": ["echo"]}
    assert listing.json() == {"simulators": {"echo": "echo.test"}}


async def test_an_unreachable_application_is_reported_as_status_0_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    context = SimulatorContext(public_url="http://app.test", transport=httpx.MockTransport(refuse))
    assert await context.post("http://app.test/webhooks/x", headers={}, body=b"") == 0


def test_two_simulators_cannot_share_a_prefix() -> None:
    context = SimulatorContext(public_url=None)
    with pytest.raises(ValueError, match="'echo'"):
        Sandbox([EchoSimulator({}, context), EchoSimulator({}, context)], context)


class MagicSimulator(EchoSimulator):
    adapter_name: ClassVar[str] = "magic.test"
    prefix: ClassVar[str] = "magic"
    scenarios: ClassVar[Mapping[str, str]] = {"+15005550010": "rings, then ends busy"}


def test_a_simulator_declares_no_scenarios_unless_it_says() -> None:
    assert EchoSimulator.scenarios == {}
    assert MagicSimulator.scenarios["+15005550010"] == "rings, then ends busy"


@pytest.mark.parametrize(
    ("content_type", "body", "recipient"),
    [
        (
            "application/x-www-form-urlencoded",
            b"From=%2B1&To=%2B15005550010&To=%2B2",
            "+15005550010",
        ),
        ("application/json", b'{"chat_id": 42, "text": "hi"}', "42"),
        ("application/json", b'{"recipient": {"phone_number": "+1555"}}', "+1555"),
        ("application/json", b'{"text": "nobody"}', None),
        ("application/json", b"not json", None),
    ],
)
def test_the_recipient_of_a_provider_call_is_found_in_its_form_or_json(
    content_type: str, body: bytes, recipient: str | None
) -> None:
    request = WebhookRequest(
        method="POST",
        url="http://s.test/magic/send",
        headers={"content-type": content_type},
        body=body,
    )
    assert request_recipient(request) == recipient


async def test_each_provider_call_is_logged_with_adapter_recipient_and_scenario(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = SimulatorContext(public_url="http://app.test/", transport=_callbacks([]))
    sandbox = Sandbox([MagicSimulator({}, context)], context)
    with caplog.at_level(logging.INFO, logger="omnichannel.sandbox"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox)) as client:
            await client.post("http://s.test/magic/calls", data={"To": "+15005550010"})
            await client.post("http://s.test/magic/calls", data={"To": "+14155550199"})
    assert [record.getMessage() for record in caplog.records] == [
        "POST magic.test to +15005550010 -> 201 (scenario: rings, then ends busy)",
        "POST magic.test to +14155550199 -> 201",
    ]


async def test_an_unreachable_application_is_named_as_such_in_the_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = SimulatorContext(public_url="http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="omnichannel.sandbox"):
        assert await context.post("http://127.0.0.1:9/webhooks/x", headers={}, body=b"") == 0
    await context.aclose()
    assert caplog.records[0].getMessage() == (
        "callback to http://127.0.0.1:9/webhooks/x failed: the listener is unreachable "
        "(ConnectError); is omni listen running there?"
    )
