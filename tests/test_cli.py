from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import pytest
from click.testing import CliRunner

from omnichannel import Envelope, PluginHost, Secret, hookimpl
from omnichannel.cli import omni
from omnichannel.plugin import AdapterInfo, BaseAdapter, Capabilities, secret


@pytest.fixture
def no_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run the CLI with no channel plugins and no configuration file."""
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(omni, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_channels_json_is_valid_json_and_says_when_no_plugin_is_installed(no_plugins: Path) -> None:
    code, out, err = _run("channels", "--json")
    assert code == 0
    assert json.loads(out) == []
    assert "no channel plugins are installed" in err


def test_channels_human_output_says_how_to_install_a_plugin(no_plugins: Path) -> None:
    code, out, _ = _run("channels")
    assert code == 0
    assert "No channel plugins are installed" in out


def test_sending_on_an_unknown_channel_exits_2_with_one_line(no_plugins: Path) -> None:
    code, out, err = _run("send", "fax", "+14155550199", "hi")
    assert code == 2
    assert err == "omni: error: channel 'fax' is not installed; installed: none\n"
    assert out == ""


def test_a_missing_config_variable_exits_2_naming_it(no_plugins: Path) -> None:
    config = no_plugins / "omnichannel.toml"
    config.write_text('[channels.sms]\nadapter = "sms.x"\ntoken = "${NOT_SET_ANYWHERE}"\n')
    code, _, err = _run("send", "--config", str(config), "sms", "+14155550199", "hi")
    assert code == 2
    assert err.count("\n") == 1
    assert "'NOT_SET_ANYWHERE' is not set" in err
    assert "Traceback" not in err


@attrs.frozen(kw_only=True)
class PhoneSettings:
    token: Secret = secret(help="Token.")


class PhoneAdapter(BaseAdapter[PhoneSettings]):
    info = AdapterInfo(name="sms.phonetest", channel="sms", provider="phonetest")
    capabilities = Capabilities(address_kind="phone")
    settings_class = PhoneSettings
    requests: ClassVar[list[Envelope]] = []

    def build_send_request(self, envelope: Envelope) -> httpx.Request:
        self.requests.append(envelope)
        raise AssertionError("no request may be built for an invalid number")


class PhonePlugin:
    @hookimpl
    def omnichannel_adapters(self) -> list[type]:
        return [PhoneAdapter]


def test_an_invalid_phone_number_exits_2_before_any_network_call(
    no_plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PluginHost.from_entry_points

    def host_with_phone_adapter(**kwargs: Any) -> PluginHost:
        host = original(**kwargs)
        host.register(PhonePlugin(), name="phonetest")
        return host

    monkeypatch.setattr(PluginHost, "from_entry_points", staticmethod(host_with_phone_adapter))
    config = no_plugins / "omnichannel.toml"
    config.write_text('[channels.sms]\nadapter = "sms.phonetest"\ntoken = "t"\n')
    code, _, err = _run("send", "--config", str(config), "sms", "+1555", "hi")
    assert code == 2
    assert err == (
        "omni: error: invalid phone address '+1555': not a valid phone number (channel=sms)\n"
    )
    assert PhoneAdapter.requests == []


@pytest.mark.parametrize(
    ("media", "problem"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://169.254.169.254/latest/", "host 169.254.169.254 is a cloud metadata address"),
        ("https://ops:pw@cdn.example.com/a.png", "credentials in the URL are not allowed"),
    ],
)
def test_send_refuses_a_media_url_that_may_not_be_fetched_before_anything_is_sent(
    no_plugins: Path, monkeypatch: pytest.MonkeyPatch, media: str, problem: str
) -> None:
    original = PluginHost.from_entry_points

    def host_with_phone_adapter(**kwargs: Any) -> PluginHost:
        host = original(**kwargs)
        host.register(PhonePlugin(), name="phonetest")
        return host

    monkeypatch.setattr(PluginHost, "from_entry_points", staticmethod(host_with_phone_adapter))
    config = no_plugins / "omnichannel.toml"
    config.write_text('[channels.sms]\nadapter = "sms.phonetest"\ntoken = "t"\n')
    code, out, err = _run(
        "send", "--config", str(config), "sms", "+14155550199", "hi", "--media", media
    )
    assert code == 2
    assert out == ""
    assert err.startswith(f"omni: error: media URL refused: {problem}; ")
    assert err.count("\n") == 1
    assert "pw@" not in err
    assert PhoneAdapter.requests == []


def test_doctor_reports_problems_without_printing_secrets(no_plugins: Path) -> None:
    config = no_plugins / "omnichannel.toml"
    config.write_text('[channels.sms]\nadapter = "sms.nope"\ntoken = "super-secret-token-42"\n')
    code, out, _ = _run("doctor", "--config", str(config))
    assert code == 2
    assert "adapter 'sms.nope' is not installed" in out
    assert "super-secret-token-42" not in out


def test_demo_with_no_plugins_says_which_to_install_and_exits_1(no_plugins: Path) -> None:
    code, out, err = _run("demo")
    assert (code, out) == (1, "")
    assert err.startswith("omni: error: nothing to demonstrate: no channel plugins are installed")
    assert err.count("\n") == 1


def test_help_lists_every_command_without_importing_them() -> None:
    code, out, _ = _run("--help")
    assert code == 0
    for command in (
        "channels",
        "demo",
        "doctor",
        "listen",
        "sandbox",
        "send",
        "simulate",
        "plugin",
    ):
        assert command in out


@pytest.mark.anyio
async def test_listen_prints_one_json_line_per_message_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from omnichannel import Router
    from omnichannel.cli.listen import attach_printers
    from omnichannel.testing import FakeAdapter

    adapter = FakeAdapter(lambda envelope: "P-1")
    router = Router([adapter], host=PluginHost())
    attach_printers(router, as_json=True)
    url = "https://hooks.example.test/webhooks/fake"
    await router.handle_webhook("fake", adapter.simulate(sender="c-1", text="STOP", url=url))
    status = {"type": "status", "provider_id": "P-1", "status": "delivered"}
    await router.handle_webhook("fake", adapter.signed_request(url, status))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == ["message", "status"]
    assert lines[0]["envelope"]["content"]["text"] == "STOP"
    assert lines[0]["envelope"]["v"] == 1
    assert lines[1]["status"]["status"] == "delivered"


def test_listen_on_a_port_in_use_exits_2_with_one_line(no_plugins: Path) -> None:
    from omnichannel.serving import bind

    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        code, out, err = _run("listen", "--port", str(port))
    assert code == 2
    assert err == f"omni: error: port {port} on 127.0.0.1 is in use; pass --port\n"
    assert out == ""


def test_listen_on_a_port_out_of_range_exits_2_with_one_line(no_plugins: Path) -> None:
    code, _, err = _run("listen", "--port", "70000")
    assert (code, err) == (2, "omni: error: port 70000 is out of range 0-65535; pass --port\n")


class _NoServer:
    """Stands in for the uvicorn server: records the app and returns at once."""

    apps: ClassVar[list[Any]] = []
    ports: ClassVar[list[int]] = []

    def __init__(self, app: Any, **options: Any) -> None:
        self.apps.append(app)

    async def serve(self, sockets: list[Any]) -> None:
        for sock in sockets:
            self.ports.append(sock.getsockname()[1])
            sock.close()


def test_listen_public_url_reaches_the_webhook_app_and_the_adapters(
    no_plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PluginHost.from_entry_points

    def host_with_phone_adapter(**kwargs: Any) -> PluginHost:
        host = original(**kwargs)
        host.register(PhonePlugin(), name="phonetest")
        return host

    monkeypatch.setattr(PluginHost, "from_entry_points", staticmethod(host_with_phone_adapter))
    monkeypatch.setattr("omnichannel.cli.listen.build_server", _NoServer)
    config = no_plugins / "omnichannel.toml"
    config.write_text(
        '[webhooks]\npublic_url = "https://old.example.com"\ntrusted_proxies = ["10.0.0.1"]\n'
        '[channels.sms]\nadapter = "sms.phonetest"\ntoken = "t"\n'
    )
    code, out, err = _run(
        "listen", "--config", str(config), "--port", "0",
        "--public-url", "https://hooks.example.com/", "--trust-proxy", "192.0.2.0/24",
    )  # fmt: skip
    assert code == 0
    assert out == (
        f"listening on http://127.0.0.1:{_NoServer.ports[-1]} for: sms\n"
        "signatures checked against https://hooks.example.com/webhooks/{channel}\n"
    )
    assert err == (
        "omni: warning: the public URL https://hooks.example.com is not this listener's "
        f"address http://127.0.0.1:{_NoServer.ports[-1]}: providers reach it only through a "
        "tunnel or proxy forwarding there\n"
    )
    app = _NoServer.apps[-1]
    router = app.handler.__self__
    assert app.public_url == router.public_url == "https://hooks.example.com"
    assert router.adapter("sms").context.public_url == "https://hooks.example.com"
    assert [str(network) for network in app.trusted_proxies] == ["10.0.0.1/32", "192.0.2.0/24"]


def test_listen_with_a_trusted_proxy_that_is_not_an_address_exits_2(no_plugins: Path) -> None:
    code, _, err = _run("listen", "--port", "0", "--trust-proxy", "proxy.lan")
    assert code == 2
    assert err == (
        "omni: error: --trust-proxy: 'proxy.lan' is not an IP address or network "
        "(such as 10.0.0.0/8)\n"
    )


def test_listen_escapes_control_characters_in_human_output() -> None:
    from omnichannel import Address, DeliveryStatus, Direction, StatusUpdate
    from omnichannel.cli.listen import render_message, render_status

    forged = "hi\nstatus sms SM1 -> delivered [01FAKE]\r\x1b[2J\u202eevil"
    message = Envelope(
        channel="sms",
        direction=Direction.INBOUND,
        sender=Address(channel="sms", value="+14155550199\n"),
        recipient=Address(channel="sms", value="+14155550100"),
        content=forged,
        metadata={"note": "a\tb"},
    )
    line = render_message(message)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\u202e" not in line
    assert line == (
        "message sms from +14155550199\\n: hi\\nstatus sms SM1 -> delivered [01FAKE]\\r"
        "\\x1b[2J\\u202eevil [note=a\\tb]"
    )
    update = StatusUpdate(
        channel="sms",
        provider_id="SM1\nmessage sms from x: hi",
        status=DeliveryStatus.DELIVERED,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert "\n" not in render_status(update)
