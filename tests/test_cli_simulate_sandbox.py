"""``omni simulate CHANNEL --sandbox URL``: the signed message goes to the simulator's inbound
relay (so a simulator keeping a session window learns the customer wrote), signed for the
listener's URL; a channel whose simulator has no relay is a usage error naming those that do."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from omnichannel.cli import omni
from omnichannel.plugins import PluginHost
from omnichannel.sandbox import simulator_classes


class RecordingApp:
    """An ASGI app standing in for the sandbox: keeps each request, answers 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        self.requests.append((scope["method"], scope["path"], headers, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def whatsapp_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Any]:
    pytest.importorskip("omnichannel_whatsapp")
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "whatsapp,twilio")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    host = PluginHost.from_entry_points(only=["whatsapp", "twilio"])
    simulators = simulator_classes(host)
    lines = ['[webhooks]\npublic_url = "http://127.0.0.1:9"']
    for channel, adapter in (("whatsapp", "whatsapp.meta"), ("sms", "sms.twilio")):
        settings = simulators[adapter].sample_settings("http://127.0.0.1:9/unused")
        lines.append(f'[channels.{channel}]\nadapter = "{adapter}"')
        lines.extend(f'{name} = "{value}"' for name, value in settings.items())
    config = tmp_path / "omnichannel.toml"
    config.write_text("\n".join(lines) + "\n")
    return config, simulators["whatsapp.meta"]


def test_the_message_goes_to_the_relay_signed_for_the_listener(
    whatsapp_config: tuple[Path, Any], cli: Any
) -> None:
    config, simulator = whatsapp_config
    app = RecordingApp()
    with cli.served_in_thread(lambda: app) as sandbox_url:
        ran = CliRunner().invoke(
            omni,
            [
                *("simulate", "whatsapp", "--from", "+14155550199", "--text", "hi"),
                *("--sandbox", sandbox_url, "--config", str(config)),
            ],
        )
    assert ran.exit_code == 0, ran.stderr
    relay = f"{sandbox_url}/{simulator.prefix}{simulator.inbound_relay}"
    assert ran.stdout == (
        "posted whatsapp message to http://127.0.0.1:9/webhooks/whatsapp through the sandbox "
        f"at {relay}: HTTP 200\n"
    )
    [(method, path, headers, body)] = app.requests
    assert (method, path) == ("POST", f"/{simulator.prefix}{simulator.inbound_relay}")
    secret = simulator.sample_settings("http://unused")["app_secret"]
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == f"sha256={expected}"
    assert b'"from":"14155550199"' in body.replace(b" ", b"")


def test_a_simulator_without_a_relay_is_a_usage_error_naming_those_with_one(
    whatsapp_config: tuple[Path, Any],
) -> None:
    config, _ = whatsapp_config
    ran = CliRunner().invoke(
        omni,
        [
            *("simulate", "sms", "--from", "+14155550199", "--text", "hi"),
            *("--sandbox", "http://127.0.0.1:9", "--config", str(config)),
        ],
    )
    assert ran.exit_code == 2
    assert "the sms.twilio simulator relays no inbound messages; the simulators that do: " in (
        ran.stderr
    )
    assert "whatsapp.meta" in ran.stderr


def test_a_sandbox_that_is_not_an_http_url_is_a_usage_error_of_that_option(
    whatsapp_config: tuple[Path, Any],
) -> None:
    config, _ = whatsapp_config
    ran = CliRunner().invoke(
        omni,
        [
            *("simulate", "whatsapp", "--from", "+14155550199", "--text", "hi"),
            *("--sandbox", "127.0.0.1:8765", "--config", str(config)),
        ],
    )
    assert ran.exit_code == 2
    assert "invalid value for '--sandbox': '127.0.0.1:8765' is not an http(s) URL" in ran.stderr
