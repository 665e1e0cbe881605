"""``omni doctor`` reports every problem of a configuration at once, and prints JSON on every
path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from omnichannel.cli import omni

ROOT = Path(__file__).resolve().parents[1]


def run_omni(*args: str, env: dict[str, str] | None = None, color: bool = False) -> Any:
    result = CliRunner().invoke(omni, list(args), env=env, color=color)
    result.code, result.out, result.err = result.exit_code, result.stdout, result.stderr
    return result


# -- omni doctor ----------------------------------------------------------------------------

BROKEN = """
[webhooks]
public_url = "ftp://hooks.example.com"
[channels.sms]
adapter = "sms.twilio"
account_sid = "${NO_SUCH_SID}"
auth_token = "${NO_SUCH_TOKEN}"
from = "+14155550100"
[channels.voice]
adapter = "sms.twilio"
account_sid = "AC00000000000000000000000000000000"
auth_token = "t"
from = "+14155550100"
[routing]
failover = { sms = ["whatsapp", "email"] }
signpost_channel = "dm"
"""


CONFIGURED = "configured: sms, voice"


def test_doctor_reports_every_problem_at_once(twilio_plugins: Path) -> None:
    (twilio_plugins / "omnichannel.toml").write_text(BROKEN)
    ran = run_omni("doctor")
    assert ran.code == 2
    problems = [
        line.removeprefix("problem: ")
        for line in ran.out.splitlines()
        if line.startswith("problem: ")
    ]
    assert problems == [
        "environment variable 'NO_SUCH_SID' is not set (referenced by channels.sms.account_sid); "
        "set it or edit the configuration",
        "environment variable 'NO_SUCH_TOKEN' is not set (referenced by channels.sms.auth_token); "
        "set it or edit the configuration",
        "webhooks.public_url is not an http(s) URL (such as https://support.example.com)",
        "[channels.voice] uses adapter 'sms.twilio', which serves channel 'sms'",
        f"routing.failover.sms names channel 'whatsapp', which is not configured; {CONFIGURED}",
        f"routing.failover.sms names channel 'email', which is not configured; {CONFIGURED}",
        f"routing.signpost_channel names channel 'dm', which is not configured; {CONFIGURED}",
    ]
    assert "[channels.sms] sms.twilio: ERROR waits for NO_SUCH_SID, NO_SUCH_TOKEN" in ran.out


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no configuration file found (looked for --config, $OMNICHANNEL_CONFIG, and "),
        (b"[channels\n", "omnichannel.toml: not valid TOML: "),
        (b"\xff[x]", "omnichannel.toml is not UTF-8 text; save it as UTF-8"),
    ],
    ids=["no-file", "bad-toml", "not-utf8"],
)
def test_doctor_prints_json_on_every_path(
    twilio_plugins: Path, content: bytes | None, problem: str
) -> None:
    if content is not None:
        (twilio_plugins / "omnichannel.toml").write_bytes(content)
    ran = run_omni("doctor", "--json")
    report = json.loads(ran.out)
    assert (ran.code, report["exit"]) == (2, 2)
    assert report["problems"][0].startswith(problem)
