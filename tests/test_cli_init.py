"""``omni init`` writes a configuration that works: the sandbox's working values under
``--sandbox``, ``${ENV}`` placeholders that ``omni doctor`` lists otherwise, and never over a
file that exists without ``--force``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from omnichannel.cli import omni
from omnichannel.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def run_omni(*args: str, env: dict[str, str] | None = None, color: bool = False) -> Any:
    result = CliRunner().invoke(omni, list(args), env=env, color=color)
    result.code, result.out, result.err = result.exit_code, result.stdout, result.stderr
    return result


# -- omni init ------------------------------------------------------------------------------


def test_init_sandbox_writes_a_config_that_sandbox_listen_and_send_accept(
    twilio_plugins: Path,
) -> None:
    ran = run_omni("init", "--sandbox")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == [
        "wrote omnichannel.toml for sms, voice",
        "next: omni sandbox & omni listen & omni send sms +14155550199 hi --wait",
    ]
    config = load_config(twilio_plugins / "omnichannel.toml")
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.routing.allow_private_media_hosts is True
    assert {name: channel.adapter for name, channel in config.channels.items()} == {
        "sms": "sms.twilio",
        "voice": "voice.twilio",
    }
    base_url = config.channels["sms"].settings["base_url"].reveal()
    assert base_url == "http://127.0.0.1:8765/twilio-messaging"
    doctor = run_omni("doctor")
    assert (doctor.code, doctor.out.splitlines()[-1]) == (0, "no problems found")
    dry = run_omni("send", "sms", "+14155550199", "hi", "--dry-run")
    assert dry.code == 0, dry.err


def test_init_without_sandbox_uses_env_placeholders_that_doctor_lists(
    twilio_plugins: Path,
) -> None:
    ran = run_omni("init", "sms")
    assert ran.code == 0, ran.err
    text = (twilio_plugins / "omnichannel.toml").read_text()
    data = tomllib.loads(text)
    assert data["channels"]["sms"] == {
        "adapter": "sms.twilio",
        "account_sid": "${TWILIO_ACCOUNT_SID}",
        "auth_token": "${TWILIO_AUTH_TOKEN}",
        "from": "${TWILIO_FROM}",
    }
    assert data["webhooks"]["public_url"] == "${OMNICHANNEL_PUBLIC_URL}"
    assert '# base_url = "https://api.twilio.com"' in text
    assert "# (secret, required) The account's primary Auth Token" in text
    assert ran.out.splitlines()[-1] == (
        "next: set OMNICHANNEL_PUBLIC_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM, "
        "then run omni doctor"
    )
    doctor = run_omni("doctor", "--json")
    assert doctor.code == 2
    assert json.loads(doctor.out)["missing_variables"] == [
        "OMNICHANNEL_PUBLIC_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM",
    ]
    values = {
        "OMNICHANNEL_PUBLIC_URL": "https://support.example.com",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "not-a-real-token",
        "TWILIO_FROM": "+14155550100",
    }
    assert run_omni("doctor", env=values).code == 0


def test_init_refuses_to_overwrite_without_force(twilio_plugins: Path) -> None:
    (twilio_plugins / "omnichannel.toml").write_text("# mine\n")
    ran = run_omni("init", "--sandbox")
    assert (ran.code, ran.err) == (
        2,
        "omni: error: omnichannel.toml already exists; pass --force to overwrite it\n",
    )
    assert (twilio_plugins / "omnichannel.toml").read_text() == "# mine\n"
    assert run_omni("init", "--sandbox", "--force", "voice").code == 0
    assert list(load_config(twilio_plugins / "omnichannel.toml").channels) == ["voice"]


def test_init_of_a_channel_not_installed_exits_2(twilio_plugins: Path) -> None:
    ran = run_omni("init", "fax")
    assert (ran.code, ran.err) == (
        2,
        "omni: error: channel 'fax' is not installed; installed: sms, voice\n",
    )
