"""``omni send`` as a tool: previews (``--dry-run``), text from stdin, typed media, following
a message to its outcome (``--wait``) and ``-v``/``-vv``, run through the real entry point
against the Twilio simulators on loopback."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from omnichannel.cli import omni

SMS_TOKEN = "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6"  # the SMS simulator's sample Auth Token
SMS_ACCOUNT = "AC5a4dbe1c0ffee0ddba11ca7fe5eed5a1"
BASIC = base64.b64encode(f"{SMS_ACCOUNT}:{SMS_TOKEN}".encode()).decode()


def run_omni(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(omni, list(args), input=input, env=env)
    result.code, result.out, result.err = result.exit_code, result.stdout, result.stderr
    return result


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SMS_TOKEN not in text
        assert BASIC not in text


@pytest.fixture
def offline(twilio_plugins: Path, cli: Any) -> Path:
    """A configuration whose provider is a closed port: nothing can be sent."""
    return cli.sandbox_config(twilio_plugins / "omnichannel.toml", "http://127.0.0.1:9")


# -- --dry-run ------------------------------------------------------------------------------


def test_dry_run_vv_shows_the_twilio_request_with_the_auth_header_redacted(offline: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "--dry-run", "-vv")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0] == "dry run: nothing was sent"
    assert "  to: +14155550199" in lines
    assert "  text: hi" in lines
    assert "  1 segment(s), GSM-7" in lines
    call = next(line for line in lines if line.startswith("provider call 1: "))
    assert call == (
        "provider call 1: POST http://127.0.0.1:9/twilio-messaging/2010-04-01/Accounts/"
        f"{SMS_ACCOUNT}/Messages.json"
    )
    assert "  Authorization: <redacted>" in lines
    assert any(
        line.startswith("  body: To=%2B14155550199&From=%2B14155550100&Body=hi") for line in lines
    )
    assert "omni: http:" not in ran.err  # nothing was sent, so no exchange was logged
    _no_secret(ran.out, ran.err)


def test_dry_run_json_is_the_preview_object(offline: Path) -> None:
    ran = run_omni("send", "sms", "+1 415 555 0199", "hi", "--dry-run", "--json")
    assert ran.code == 0, ran.err
    preview = json.loads(ran.out)
    assert preview["dry_run"] is True
    assert preview["envelope"]["recipient"]["value"] == "+14155550199"  # normalised
    assert preview["adapter"] == "sms.twilio"
    assert preview["fitting"]["segments"] == 1
    assert preview["calls"][0]["headers"]["Authorization"] == "<redacted>"
    _no_secret(ran.out)


def test_a_pdf_for_sms_goes_as_a_link_as_the_plugin_readme_promises(offline: Path) -> None:
    ran = run_omni(
        "send", "sms", "+14155550199", "your invoice", "--dry-run", "--json",
        "--media", "https://cdn.example.com/invoice.pdf", "--media-type", "application/pdf",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    preview = json.loads(ran.out)
    assert preview["envelope"]["content"]["media"][0]["content_type"] == "application/pdf"
    assert preview["fitting"]["media_as_links"] == 1
    assert "MediaUrl" not in preview["calls"][0]["body"]
    assert "https%3A%2F%2Fcdn.example.com%2Finvoice.pdf" in preview["calls"][0]["body"]


def test_more_media_types_than_media_exit_2(offline: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "--media-type", "image/png")
    assert ran.code == 2
    assert ran.err.startswith("omni: error: invalid value for '--media-type': 1 --media-type")


@pytest.mark.parametrize("media", ["photo.jpg", "/tmp/photo.jpg", "www.example.com/a.png"])
def test_media_that_is_not_a_url_exits_2_in_one_line(offline: Path, media: str) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "--media", media)
    assert ran.code == 2
    assert ran.err == (
        f"omni: error: invalid value for '--media': {media!r} is not a URL; attach media by "
        "its http(s) URL, such as https://example.com/invoice.pdf; see 'omni send --help'\n"
    )


# -- text from stdin ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [["-"], []], ids=["dash", "omitted"])
def test_the_text_is_read_from_stdin_when_it_is_dash_or_omitted(
    offline: Path, text: list[str]
) -> None:
    ran = run_omni(
        "send", "sms", "+14155550199", *text, "--dry-run", "--json", input="from a pipe\n"
    )
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["envelope"]["content"]["text"] == "from a pipe"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_whitespace_only_text_is_refused_with_exit_2(offline: Path, text: str) -> None:
    ran = run_omni("send", "sms", "+14155550199", text)
    assert ran.code == 2
    assert ran.err.startswith("omni: error: invalid value for 'TEXT': the text is empty")
    assert ran.err.count("\n") == 1


def test_whitespace_from_stdin_is_refused_too(offline: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "-", input="  \n")
    assert ran.code == 2


def test_dry_run_and_wait_together_are_a_usage_error(offline: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "--dry-run", "--wait", "--json")
    assert ran.code == 2
    assert json.loads(ran.out) == {
        "error": "--dry-run sends nothing, so there is nothing to --wait for; "
        "see 'omni send --help'",
        "reason": "usage",
        "exit": 2,
    }


# -- --wait ---------------------------------------------------------------------------------


def test_wait_prints_each_status_and_exits_0_once_delivered(sandbox: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "--wait", "--timeout", "30")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("sent ")
    assert lines[0].endswith("(accepted)")
    statuses = [line.split(" -> ")[1].split(" ")[0] for line in lines if line.startswith("status")]
    assert statuses == ["sent", "delivered"]
    assert lines[-1] == "outcome: delivered (exit 0)"


def test_wait_json_is_one_line_per_event_and_the_outcome(sandbox: Path) -> None:
    ran = run_omni("send", "voice", "+14155550199", "hi", "--wait", "--json")
    assert ran.code == 0, ran.err
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert events[0]["type"] == "receipt"
    assert events[-1]["type"] == "outcome"
    # A call reports no delivery: its best news is that it completed.
    assert (events[-1]["goal"], events[-1]["status"], events[-1]["exit"]) == (
        "completed",
        "completed",
        0,
    )
    envelope_id = events[0]["receipt"]["envelope_id"]
    assert {event["status"]["envelope_id"] for event in events[1:-1]} == {envelope_id}


@pytest.mark.parametrize(
    ("number", "status"), [("+15005550010", "busy"), ("+15005550011", "no_answer")]
)
def test_a_busy_or_unanswered_call_exits_1(sandbox: Path, number: str, status: str) -> None:
    ran = run_omni("send", "voice", number, "hi", "--wait")
    assert ran.code == 1, ran.err
    assert ran.out.splitlines()[-1] == f"outcome: {status} (exit 1)"


def test_wait_exits_3_when_the_time_runs_out_first(sandbox: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "--wait", "--timeout", "0")
    assert ran.code == 3, ran.err
    assert ran.out.splitlines()[-1] == (
        "outcome: timed out after 0s waiting for delivered (last status: accepted) (exit 3)"
    )


def test_a_refused_send_under_wait_exits_with_the_failure(sandbox: Path) -> None:
    ran = run_omni("send", "sms", "+15005550004", "hi", "--wait", "--json")
    assert ran.code == 1
    event = json.loads(ran.out)
    assert (event["type"], event["reason"], event["exit"]) == ("error", "opted_out", 1)


# -- -v / -vv / OMNICHANNEL_LOG -------------------------------------------------------------


def _exchanges(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("omni: http: POST 127.0.0.1")]


def test_v_logs_one_line_per_provider_exchange(sandbox: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "-v")
    assert ran.code == 0, ran.err
    (line,) = _exchanges(ran.err)
    assert line.startswith(
        f"omni: http: POST 127.0.0.1 /twilio-messaging/2010-04-01/Accounts/{SMS_ACCOUNT}"
        "/Messages.json -> 201 in "
    )
    assert line.endswith(" ms")
    assert "?" not in line
    _no_secret(ran.out, ran.err)


def test_v_before_the_command_and_omnichannel_log_do_the_same(sandbox: Path) -> None:
    before = run_omni("-v", "send", "sms", "+14155550199", "hi")
    from_env = run_omni("send", "sms", "+14155550199", "hi", env={"OMNICHANNEL_LOG": "info"})
    assert len(_exchanges(before.err)) == len(_exchanges(from_env.err)) == 1


def test_vv_logs_headers_and_bodies_with_every_secret_redacted(sandbox: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi", "-vv")
    assert ran.code == 0, ran.err
    lines = _exchanges(ran.err)
    headers = json.loads(
        next(line for line in lines if " > headers " in line).split(" > headers ")[1]
    )
    assert headers["Authorization"] == "<redacted>"
    assert any(" > body To=%2B14155550199" in line for line in lines)
    assert any(' < body {"sid"' in line for line in lines)
    _no_secret(ran.out, ran.err)


def test_without_v_nothing_is_logged(sandbox: Path) -> None:
    ran = run_omni("send", "sms", "+14155550199", "hi")
    assert (ran.code, ran.err) == (0, "")
