"""``omni sandbox``: a log line per provider call (method, adapter, recipient, scenario), the
magic recipients listed by ``--scenarios``, and an unreachable listener named as such. The
server is replaced by one that posts the adapters' real requests to the sandbox app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from click.testing import CliRunner

from omnichannel import Address, Envelope
from omnichannel.cli import omni
from omnichannel.config import load_config
from omnichannel.plugins import PluginHost
from omnichannel.router import Router


def run_omni(*args: str) -> Any:
    result = CliRunner().invoke(omni, list(args))
    result.code, result.out, result.err = result.exit_code, result.stdout, result.stderr
    return result


class ProviderCalls:
    """Stands in for uvicorn in ``omni sandbox``: sends the adapters' requests to the app and
    waits for the callbacks they cause."""

    calls: ClassVar[list[tuple[str, str]]] = []  # (channel, recipient)
    config: ClassVar[Path]

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app

    async def serve(self, sockets: list[Any]) -> None:
        for sock in sockets:
            sock.close()
        router = Router.from_config(load_config(self.config), host=PluginHost.from_entry_points())
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport) as client:
            for channel, recipient in self.calls:
                adapter: Any = router.adapter(channel)
                envelope = Envelope(
                    channel=channel,
                    recipient=Address(channel=channel, value=recipient),
                    content="hi",
                )
                request = adapter.build_send_request(envelope)
                await client.request(
                    request.method, request.url, headers=dict(request.headers), content=request.body
                )
        await self.app.settle()


@pytest.fixture
def sandbox_serving(twilio_plugins: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = cli.sandbox_config(twilio_plugins / "omnichannel.toml", "http://127.0.0.1:9")
    monkeypatch.setattr("omnichannel.cli.sandbox.build_server", ProviderCalls)
    ProviderCalls.config = config
    return config


def test_each_provider_call_is_logged_with_its_recipient_and_scenario(
    sandbox_serving: Path,
) -> None:
    ProviderCalls.calls = [
        ("voice", "+15005550010"),
        ("sms", "+14155550199"),
        ("sms", "+15005550004"),
    ]
    ran = run_omni("sandbox", "--port", "0", "--step-delay", "0")
    assert ran.code == 0, ran.err
    logged = [line for line in ran.err.splitlines() if line.startswith("omni: sandbox: POST")]
    assert logged == [
        "omni: sandbox: POST voice.twilio to +15005550010 -> 201 (scenario: rings, then ends busy)",
        "omni: sandbox: POST sms.twilio to +14155550199 -> 201",
        "omni: sandbox: POST sms.twilio to +15005550004 -> 400 (scenario: refused at once: 400, "
        "error 21610 (Attempt to send to unsubscribed recipient))",
    ]


def test_a_callback_to_an_unreachable_listener_says_so_instead_of_http_0(
    sandbox_serving: Path,
) -> None:
    ProviderCalls.calls = [("voice", "+14155550199")]
    ran = run_omni("sandbox", "--port", "0", "--step-delay", "0")
    assert "HTTP 0" not in ran.err
    unreachable = [line for line in ran.err.splitlines() if "unreachable" in line]
    assert unreachable
    assert unreachable[0].startswith("omni: warning: callback to http://127.0.0.1:9/webhooks/voice")
    assert unreachable[0].endswith(
        "failed: the listener is unreachable (ConnectError); is omni listen running there?"
    )


def test_the_banner_says_where_status_callbacks_go(sandbox_serving: Path) -> None:
    ProviderCalls.calls = []
    ran = run_omni("sandbox", "--port", "0")
    lines = ran.out.splitlines()
    assert lines[0].startswith("sandbox: sms.twilio at http://127.0.0.1:")
    assert lines[-1] == (
        "sandbox: status callbacks go to the callback URL each request names, else "
        "http://127.0.0.1:9/webhooks/{channel}"
    )


def test_scenarios_lists_the_magic_recipients_of_every_simulator(twilio_plugins: Path) -> None:
    ran = run_omni("sandbox", "--scenarios")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    voice = lines.index("voice.twilio (/twilio-voice):")
    assert "  +15005550010  rings, then ends busy" in lines[voice:]
    assert "  +15005550011  rings, then ends no-answer" in lines[voice:]
    assert lines[0] == "sms.twilio (/twilio-messaging):"
    assert any(
        line.startswith("  +15005550004  refused at once: 400, error 21610") for line in lines
    )
    assert "  any other recipient (such as +14155550199) succeeds" in lines


def test_scenarios_json_needs_no_configuration(twilio_plugins: Path) -> None:
    ran = run_omni("sandbox", "--scenarios", "--json")
    rows = {row["adapter"]: row for row in json.loads(ran.out)}
    assert rows["voice.twilio"]["scenarios"]["+15005550011"] == "rings, then ends no-answer"
    assert rows["sms.twilio"]["prefix"] == "twilio-messaging"
