"""Every ``omni`` failure is one line and the documented exit code (0 done, 1 delivery or
provider failure, 2 usage, configuration or a refusal before the network, 3 timed out, 130
interrupted); under ``--json`` it is a JSON object on stdout, never silence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from click.testing import CliRunner

from omnichannel import Envelope, PluginHost, Secret, hookimpl
from omnichannel.cli import exit_code_for, omni
from omnichannel.errors import (
    ContentRejected,
    ContentTooLong,
    EnvelopeExpired,
    InvalidMediaUrl,
    InvalidRecipient,
    OutcomeUnknown,
    PolicyViolation,
    ProviderError,
    TransportError,
    UnsupportedFeature,
)
from omnichannel.http import ProviderRequest
from omnichannel.plugin import AdapterInfo, BaseAdapter, Capabilities, secret
from omnichannel.serving import bind


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str


def _run(*args: str, **kwargs: Any) -> Ran:
    result = CliRunner().invoke(omni, list(args), **kwargs)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def empty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the exit-code rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ContentTooLong("the text is 200 and cannot be split"), 2),
        (UnsupportedFeature("the channel has no subject"), 2),
        (ContentRejected("a callback needs text to say"), 2),
        (InvalidMediaUrl("scheme 'file' is not allowed"), 2),
        (PolicyViolation("outside the session window"), 2),
        (EnvelopeExpired("envelope expired"), 2),
        (InvalidRecipient("not a mobile"), 2),
        (ContentTooLong("Twilio refused: over 1,600", status_code=400, provider_code="21617"), 1),
        (InvalidRecipient("Twilio refused the number", status_code=400), 1),
        (ProviderError("provider refused our credentials", status_code=401), 1),
        (TransportError("connection refused"), 1),
        (OutcomeUnknown("the message may exist"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_local_refusals_exit_2_and_provider_failures_exit_1(error: Exception, code: int) -> None:
    assert exit_code_for(error) == code


def test_a_refusal_after_part_of_a_message_went_out_is_a_delivery_failure() -> None:
    error = ContentRejected("part 2 refused")
    error.receipt = object()  # type: ignore[assignment]
    assert exit_code_for(error) == 1


# -- servers --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["listen", "sandbox"])
def test_a_port_in_use_exits_2_with_one_line(twilio_plugins: Path, cli: Any, command: str) -> None:
    cli.sandbox_config(twilio_plugins / "omnichannel.toml", "http://127.0.0.1:9")
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        ran = _run(command, "--port", str(port))
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == f"omni: error: port {port} on 127.0.0.1 is in use; pass --port\n"


def test_a_sandbox_with_nothing_to_simulate_says_where_it_looked(empty: Path) -> None:
    ran = _run("sandbox", "--port", "0")
    assert ran.code == 2
    assert ran.err.startswith(
        "omni: error: no configured channel has a simulator because no configuration file "
        "was found (looked for --config, $OMNICHANNEL_CONFIG, and "
    )


def test_a_host_that_is_not_an_address_here_exits_2_with_one_line(empty: Path) -> None:
    ran = _run("listen", "--host", "999.1.1.1", "--port", "0")
    assert ran.code == 2
    assert ran.err == (
        "omni: error: cannot listen on host '999.1.1.1': not an address of this machine; "
        "pass --host\n"
    )


def test_a_port_out_of_range_exits_2_as_json_too(empty: Path) -> None:
    ran = _run("listen", "--port", "70000", "--json")
    assert ran.code == 2
    assert json.loads(ran.out) == {
        "error": "port 70000 is out of range 0-65535; pass --port",
        "reason": "configuration",
        "exit": 2,
    }


# -- configuration and usage ----------------------------------------------------------------


@pytest.mark.parametrize("command", [["send", "sms", "+14155550199", "hi"], ["channels"]])
def test_a_config_that_is_not_utf8_exits_2_with_one_line(empty: Path, command: list[str]) -> None:
    config = empty / "omnichannel.toml"
    config.write_bytes(b"\xff\xfe[channels]\n")
    ran = _run(*command, "--config", str(config))
    assert ran.code == 2
    assert ran.err == (
        f"omni: error: {config} is not UTF-8 text (byte 0 cannot be decoded); save it as UTF-8\n"
    )


def test_a_usage_error_is_one_line_naming_the_help(empty: Path) -> None:
    ran = _run("send", "sms")
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == "omni: error: missing argument 'TO'; see 'omni send --help'\n"


def test_a_usage_error_under_json_is_a_json_object(empty: Path) -> None:
    ran = _run("send", "--json", "sms")
    assert ran.code == 2
    assert json.loads(ran.out) == {
        "error": "missing argument 'TO'; see 'omni send --help'",
        "reason": "usage",
        "exit": 2,
    }


def test_an_unknown_command_or_option_is_one_line(empty: Path) -> None:
    assert _run("nosuch").err == "omni: error: no such command 'nosuch'; see 'omni --help'\n"
    assert _run("--nope").err == "omni: error: no such option '--nope'; see 'omni --help'\n"


def test_an_unknown_channel_under_json_is_a_json_object_on_stdout(empty: Path) -> None:
    ran = _run("send", "fax", "+14155550199", "hi", "--json")
    assert ran.code == 2
    assert (ran.err, json.loads(ran.out)) == (
        "",
        {
            "error": "channel 'fax' is not installed; installed: none",
            "reason": "configuration",
            "exit": 2,
        },
    )


# -- sends refused before the network -------------------------------------------------------


@attrs.frozen(kw_only=True)
class ShortSettings:
    token: Secret = secret(help="Token.")


class ShortAdapter(BaseAdapter[ShortSettings]):
    """A channel of 10 characters that may not split: anything longer is refused locally."""

    info = AdapterInfo(name="sms.short", channel="sms", provider="short")
    capabilities = Capabilities(address_kind="phone", max_text_length=10, split_long_text=False)
    settings_class = ShortSettings
    built: ClassVar[list[Envelope]] = []

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        self.built.append(envelope)
        return ProviderRequest(method="POST", url="http://127.0.0.1:9/messages")


class ShortPlugin:
    @hookimpl
    def omnichannel_adapters(self) -> list[type]:
        return [ShortAdapter]


@pytest.fixture
def short(empty: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    original = PluginHost.from_entry_points

    def host(**kwargs: Any) -> PluginHost:
        plugins = original(**kwargs)
        plugins.register(ShortPlugin(), name="short")
        return plugins

    monkeypatch.setattr(PluginHost, "from_entry_points", staticmethod(host))
    config = empty / "omnichannel.toml"
    config.write_text('[channels.sms]\nadapter = "sms.short"\ntoken = "t0k3n-value"\n')
    return config


def test_text_too_long_for_the_channel_is_a_local_refusal_exiting_2(short: Path) -> None:
    ran = _run("send", "sms", "+14155550199", "far more than ten characters")
    assert ran.code == 2
    assert ran.err.startswith("omni: error: the text is ")
    assert ran.err.count("\n") == 1
    assert ShortAdapter.built == []


def test_text_too_long_under_json_says_why_with_exit_2(short: Path) -> None:
    ran = _run("send", "sms", "+14155550199", "far more than ten characters", "--json")
    report = json.loads(ran.out)
    assert (ran.code, report["exit"], report["reason"]) == (2, 2, "content_rejected")


# -- Ctrl-C ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_stops_the_listener_cleanly_and_exits_130_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "OMNICHANNEL_PLUGINS": "none-selected"}
    env.pop("OMNICHANNEL_CONFIG", None)
    code = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "listen", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert process.stdout is not None
    # The whole banner first: a signal between its two lines would leave the second unwritten.
    banner = [process.stdout.readline(), process.stdout.readline()]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert banner[0].startswith("listening on http://127.0.0.1:")
    assert banner[1].startswith("signatures checked against")
    assert process.returncode == 130
    assert out == ""
    assert err == ""  # no "Aborted!", no traceback
