"""The examples run end to end against the sandbox, in process (the bundled Twilio plugin,
with its SMS and voice adapters, is installed by the README's install command)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs

import attrs
import httpx
import pytest

from omnichannel import DeliveryStatus, PluginHost, StatusUpdate, load_config
from omnichannel.plugin import Sender
from omnichannel.sandbox import SimulatorContext, build_sandbox
from omnichannel.web import WebhookApp

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_support_desk_escalates_call_me_to_a_voice_callback_with_an_agent() -> None:
    pytest.importorskip("omnichannel_twilio")
    # The store in memory: the example's default file would land in the repository.
    config = attrs.evolve(
        load_config(EXAMPLES / "omnichannel.toml", environ={}), store_url="sqlite://"
    )
    host = PluginHost.from_entry_points(only=["twilio"])
    context = SimulatorContext(public_url=config.public_url)
    sandbox = build_sandbox(config, host, context)
    api_calls: list[httpx.Request] = []
    sandbox_transport = httpx.ASGITransport(app=sandbox)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            api_calls.append(request)
            return await sandbox_transport.handle_async_request(request)

    router = _load("support_desk").build_router(config, Sender(Recording()))
    statuses: list[StatusUpdate] = []
    router.on_status(statuses.append)
    context.set_transport(httpx.ASGITransport(app=WebhookApp.for_router(router)))
    inbound = router.adapter("sms").simulate(
        sender="+14155550199",
        text="Can you call me please?",
        url=f"{config.public_url}/webhooks/sms",
    )
    response = await router.handle_webhook("sms", inbound)
    await sandbox.settle()
    await sandbox.aclose()
    await router.aclose()

    assert response.status_code == 200
    call, reply = api_calls
    assert call.url.path.endswith("/Calls.json")
    call_form = parse_qs(call.content.decode())
    assert call_form["To"] == ["+14155550199"]
    assert "<Number>+14155550123</Number>" in call_form["Twiml"][0]
    assert reply.url.path.endswith("/Messages.json")
    assert parse_qs(reply.content.decode())["Body"] == ["We are calling you now."]
    call_statuses = [update.status for update in statuses if update.channel == "voice"]
    assert call_statuses[-1] is DeliveryStatus.COMPLETED
