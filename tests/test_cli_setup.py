"""``omni`` as a tool: ``--version`` names every plugin, colour and completion behave, the
README's commands are what CI runs, and the smaller rough edges (a missing file, a broken
plugin, failover that fails everywhere, the demo, plugin names, the examples) say what
happened in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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


# -- --version, colour, completion ----------------------------------------------------------


def test_version_lists_the_core_and_every_plugin(twilio_plugins: Path) -> None:
    ran = run_omni("--version")
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert lines[0].startswith("omni 0.1.0 (omnichannel 0.1.0, Python ")
    assert lines[1] == "plugins:"
    assert "  omnichannel-twilio 0.1.0 (twilio): sms.twilio, voice.twilio" in lines


def test_errors_are_coloured_on_terminals_unless_no_color_and_never_in_pipes(
    twilio_plugins: Path,
) -> None:
    terminal = run_omni("send", "fax", "+14155550199", "hi", color=True)
    plain = run_omni("send", "fax", "+14155550199", "hi", color=True, env={"NO_COLOR": "1"})
    piped = run_omni("send", "fax", "+14155550199", "hi")
    assert "\x1b[" in terminal.err
    assert "\x1b[" not in plain.err
    assert "\x1b[" not in piped.err
    assert plain.err == piped.err


def test_shell_completion_is_clicks_omni_complete(twilio_plugins: Path) -> None:
    ran = run_omni(env={"_OMNI_COMPLETE": "bash_source"})
    assert ran.code == 0
    assert "_omni_completion" in ran.out
    words = run_omni(
        env={"_OMNI_COMPLETE": "bash_complete", "COMP_WORDS": "omni se", "COMP_CWORD": "1"}
    )
    assert "plain,send" in words.out


# -- smaller ones ---------------------------------------------------------------------------


def test_a_channel_with_no_config_file_says_none_was_found_and_where_it_looked(
    twilio_plugins: Path,
) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi")
    assert ran.code == 2
    assert ran.err == (
        "omni: error: channel 'sms' is installed but no configuration file was found "
        f"(looked for --config, $OMNICHANNEL_CONFIG, and {twilio_plugins / 'omnichannel.toml'}; "
        "run `omni init` to write one, or add [channels.sms] with adapter = one of: sms.twilio)\n"
    )


FAILING_PLUGIN = """
from omnichannel import hookimpl

raise RuntimeError("broken on purpose")
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [["channels"], ["doctor"], ["send", "sms", "+1", "hi"], ["--version"]]
)
def test_a_broken_plugin_is_reported_once(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "omni_broken.py").write_text(textwrap.dedent(FAILING_PLUGIN))
    info = tmp_path / "omnichannel_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: omnichannel-broken\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[omnichannel]\nbroken = omni_broken\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "OMNICHANNEL_PLUGINS": "broken,sms",
    }
    env.pop("OMNICHANNEL_CONFIG", None)
    code = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"
    result = subprocess.run(
        [sys.executable, "-c", code, *command],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert output.count("broken on purpose") == 1, output


def test_failover_that_fails_everywhere_lists_each_attempt(twilio_plugins: Path, cli: Any) -> None:
    config = twilio_plugins / "omnichannel.toml"
    with cli.served_in_thread(
        cli.sandbox_app(cli.sandbox_config(config, "http://127.0.0.1:9"))
    ) as url:
        cli.sandbox_config(config, url)
        with config.open("a") as file:
            file.write('[routing.failover]\nsms = ["voice"]\n')
        ran = run_omni("send", "sms", "+15005550001", "hi")
    assert ran.code == 1
    assert ran.err.count("\n") == 1
    assert ran.err.startswith("omni: error: Twilio refused the call")  # the last channel's error
    assert (
        "; tried before: sms: invalid_recipient: Twilio refused the message with error 21211"
        in ran.err
    )


def test_demo_exits_1_when_the_statuses_do_not_come_back_in_time(twilio_plugins: Path) -> None:
    ran = run_omni("demo", "--timeout", "0", "--step-delay", "5")
    assert ran.code == 1
    assert "omni: warning: timed out after 0s before every status came back" in ran.err


def test_plugin_new_refuses_a_name_that_shadows_an_installed_distribution(
    twilio_plugins: Path,
) -> None:
    ran = run_omni("plugin", "new", "twilio", "--dir", str(twilio_plugins))
    assert ran.code == 2
    assert ran.err.startswith(
        "omni: error: invalid value for 'NAME': omnichannel-twilio 0.1.0 is already installed"
    )
    assert not (twilio_plugins / "omnichannel-twilio").exists()


@pytest.mark.slow
def test_the_sync_example_reports_an_invalid_number_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "send_sync.py"), "+1555", "hi",
         "--config", str(ROOT / "examples" / "omnichannel.toml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "not sent: invalid phone address '+1555': not a valid phone number (channel=sms)\n"
    )


# -- the README -----------------------------------------------------------------------------


def _shell_blocks(markdown: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in markdown.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(current))
            inside, current = (not inside and line == "```sh"), []
            continue
        if inside:
            current.append(line)
    return blocks


def test_the_quickstart_commands_make_a_venv_first_and_ci_runs_them_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    demo, tests = _shell_blocks(quickstart)[:2]
    venv = (
        "python3 -m venv .venv && . .venv/bin/activate && python -m pip install -r requirements.txt"
    )
    assert (demo, tests) == (f"{venv} && omni demo", f"{venv} && python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert demo in ci
    assert tests in ci
