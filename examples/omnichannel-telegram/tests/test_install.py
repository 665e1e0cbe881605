"""What the README promises a newcomer: install it, and omni finds it.

Installs the plugin into a throwaway virtual environment (never the running one) that sees
the current site-packages, so omnichannel and the test tools are already there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from omnichannel.testing.environments import overlay_venv, pip_install_editable

PLUGIN = Path(__file__).resolve().parents[1]
OMNI = "from omnichannel.cli import main; main()"

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    drop = {
        "PYTHONPATH",
        "OMNICHANNEL_PLUGINS",
        "OMNICHANNEL_DISABLE_PLUGINS",
        "OMNICHANNEL_CONFIG",
    }
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def _run(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a virtual environment with the plugin installed (editable)."""
    python = overlay_venv(tmp_path_factory.mktemp("venv") / "venv")
    installed = pip_install_editable(python, PLUGIN)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def test_omni_channels_lists_the_telegram_adapter(python: Path, tmp_path: Path) -> None:
    human = _run(python, "-c", OMNI, "channels", cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    line = next(line for line in human.stdout.splitlines() if line.startswith("telegram.bot"))
    assert "channel=telegram" in line
    assert "omnichannel-telegram 0.1.0" in line

    listed = _run(python, "-c", OMNI, "channels", "--json", cwd=tmp_path)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["telegram.bot"]["distribution"] == "omnichannel-telegram"
    assert rows["telegram.bot"]["capabilities"]["statuses"] == ["failed", "sent"]


def test_omni_demo_sends_and_receives_on_telegram(python: Path, tmp_path: Path) -> None:
    demo = _run(
        python, "-c", OMNI, "demo", "--json", "--step-delay", "0", "--timeout", "5",
        cwd=tmp_path, OMNICHANNEL_PLUGINS="telegram",
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    events = [json.loads(line) for line in demo.stdout.splitlines() if line.startswith("{")]
    receipts = [event["receipt"] for event in events if event["type"] == "receipt"]
    messages = [event["envelope"] for event in events if event["type"] == "message"]
    summary = events[-1]
    assert summary == {"type": "summary", "channels": ["telegram"], "statuses": 0, "failures": []}
    assert [receipt["adapter"] for receipt in receipts] == ["telegram.bot"]
    assert receipts[0]["status"] == "sent"
    assert [message["channel"] for message in messages] == ["telegram"]
