"""``omni send`` against loopback stand-ins of the provider: an ambiguous outcome is sent once,
reported unknown with exit 1, and never failed over. (Retrying a refused connection is tested
in process, in tests/test_transports.py, where the backoff's sleep is injected.)"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import anyio
import pytest

from omnichannel.testing.standin import RESET_AFTER_REQUEST, Reply, ScriptedServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "0123456789abcdef0123456789abcdef"
CREATED = Reply(
    201,
    json.dumps({"sid": "SM89abcdef0123456789abcdef01234567", "status": "queued"}).encode(),
)
CALL_CREATED = Reply(201, json.dumps({"sid": "CA0123456789abcdef0123456789abcdef"}).encode())


@pytest.fixture(autouse=True)
def _needs_the_twilio_adapters() -> None:
    pytest.importorskip("omnichannel_twilio")


def _config(tmp_path: Path, sms_url: str, voice_url: str | None = None) -> Path:
    text = (
        "[channels.sms]\n"
        'adapter = "sms.twilio"\n'
        f'account_sid = "{ACCOUNT}"\n'
        f'auth_token = "{TOKEN}"\n'
        'from = "+14155550100"\n'
        f'base_url = "{sms_url}"\n'
    )
    if voice_url is not None:
        text += (
            "[channels.voice]\n"
            'adapter = "voice.twilio"\n'
            f'account_sid = "{ACCOUNT}"\n'
            f'auth_token = "{TOKEN}"\n'
            'from = "+14155550100"\n'
            f'base_url = "{voice_url}"\n'
            '[routing]\nfailover = { sms = ["voice"] }\n'
        )
    path = tmp_path / "omnichannel.toml"
    path.write_text(text)
    return path


async def _omni(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "OMNICHANNEL_PLUGINS": "twilio"}
    code = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"
    result = await anyio.run_process([sys.executable, "-c", code, *args], check=False, env=env)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@pytest.mark.parametrize("first", [RESET_AFTER_REQUEST, Reply(500, b'{"code": 20500}')])
async def test_an_ambiguous_send_reaches_the_provider_once_and_is_reported_unknown(
    tmp_path: Path, first: object
) -> None:
    async with ScriptedServer([first, CREATED]) as sms:  # type: ignore[list-item]
        config = _config(tmp_path, sms.url)
        code, out, err = await _omni(
            "send", "--config", str(config), "sms", "+14155550199", "hi", "--json"
        )
    assert code == 1, err
    report = json.loads(out)
    assert report["status"] == "unknown"
    assert report["retryable"] is False
    assert report["reason"] == "unknown"
    assert len(sms.requests) == 1
    assert "Traceback" not in err


async def test_an_ambiguous_sms_never_fails_over_to_a_voice_call(tmp_path: Path) -> None:
    async with (
        ScriptedServer([RESET_AFTER_REQUEST, CREATED]) as sms,
        ScriptedServer([CALL_CREATED]) as voice,
    ):
        config = _config(tmp_path, sms.url, voice.url)
        code, out, _ = await _omni(
            "send", "--config", str(config), "sms", "+14155550199", "hi", "--json"
        )
    assert code == 1
    assert json.loads(out)["status"] == "unknown"
    assert len(sms.requests) == 1
    assert voice.requests == []


async def test_ctrl_c_while_waiting_for_statuses_exits_130_after_a_clean_shutdown(
    tmp_path: Path,
) -> None:
    async with ScriptedServer([CREATED]) as sms:  # accepts the message, never calls back
        config = _config(tmp_path, sms.url)
        env = {**os.environ, "OMNICHANNEL_PLUGINS": "twilio"}
        code = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"
        args = ["send", "--config", str(config), "sms", "+14155550199", "hi", "--wait"]
        async with await anyio.open_process(
            [sys.executable, "-c", code, *args], env=env
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            first = b""
            while not first.endswith(b"\n"):
                first += await process.stdout.receive(1)
            process.send_signal(signal.SIGINT)
            returncode = await process.wait()
            err = b"".join([chunk async for chunk in process.stderr])
    assert first.startswith(b"sent ")
    assert returncode == 130
    assert err == b""
