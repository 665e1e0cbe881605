"""Crash tests: ``omni worker`` killed with SIGKILL in the middle of a run of sends, on SQLite
(restarted) and on PostgreSQL (two workers, one killed). Every envelope reaches the provider
simulator exactly once or is ``unknown`` in the outbox; none is missing, none is doubled."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from omnichannel import Address, Envelope
from omnichannel.config import load_config
from omnichannel.plugins import PluginHost
from omnichannel.sandbox import SimulatorContext, build_sandbox

pytestmark = pytest.mark.slow

ENVELOPES = 1000
KILL_AFTER = 300
CUSTOMER = "+14155550199"
WORKER = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def _worker(config: Path, name: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "OMNICHANNEL_PLUGINS": "twilio"}
    with (tmp_path / f"{name}.out").open("wb") as out, (tmp_path / f"{name}.err").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, "worker", "--config", str(config), "--lease", "2"],
            stdout=out,
            stderr=err,
            env=env,
            cwd=tmp_path,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _sms_messages(sandbox: Any) -> list[dict[str, Any]]:
    simulator = sandbox.simulators["twilio-messaging"]
    while True:
        try:
            return list(simulator.resources.values())
        except RuntimeError:  # the sandbox's thread added one while we copied
            continue


def _outbox(config: Path) -> dict[str, str]:
    from omnichannel.store import Store, configured_url

    url = configured_url(load_config(config))

    async def read() -> dict[str, str]:
        async with await Store.open(url, worker=False) as store:
            rows = await store.list_outbox(limit=ENVELOPES * 2)
            return {row.envelope.content.text or "": row.state.value for row in rows}

    return anyio.run(read)


def _enqueue(cli: Any, config: Path, tmp_path: Path) -> None:
    lines = tmp_path / "envelopes.jsonl"
    with lines.open("w", encoding="utf-8") as out:
        for number in range(ENVELOPES):
            envelope = Envelope(
                channel="sms",
                recipient=Address(channel="sms", value=CUSTOMER),
                content=f"notice {number}",
            )
            out.write(json.dumps(envelope.to_dict()) + "\n")
    ran = cli.run("outbox", "enqueue", str(lines), "--config", str(config))
    assert ran.code == 0, ran.err
    assert ran.out.startswith(f"Enqueued {ENVELOPES} envelope(s)")


def _settled(config: Path) -> bool:
    return not any(state in ("queued", "sending") for state in _outbox(config).values())


def _verdict(sandbox: Any, config: Path) -> collections.Counter[str]:
    reached = collections.Counter(message["body"] for message in _sms_messages(sandbox))
    states = _outbox(config)
    assert len(states) == ENVELOPES  # none missing from the outbox
    doubled = {text: count for text, count in reached.items() if count > 1}
    assert doubled == {}
    summary: collections.Counter[str] = collections.Counter()
    for text, state in states.items():
        if state == "sent":
            assert reached[text] == 1, f"{text} is sent but reached the provider {reached[text]}x"
            summary["sent, reached once"] += 1
        else:
            assert state == "unknown", f"{text} ended {state}"
            summary[f"unknown, reached {reached[text]}x"] += 1
    print(f"\n{ENVELOPES} envelopes: {dict(summary)}; provider has {sum(reached.values())}")
    return summary


@pytest.fixture
def crash_rig(twilio_plugins: Path, cli: Any) -> Iterator[Callable[[str | None], tuple[Any, Path]]]:
    """The Twilio simulators on a loopback thread and a configuration pointing at them, with
    the store at the URL given (None: the SQLite file next to the configuration)."""
    sandboxes: list[Any] = []
    with ExitStack() as stack:

        def start(store_url: str | None) -> tuple[Any, Path]:
            config = twilio_plugins / "omnichannel.toml"
            cli.sandbox_config(config, "http://127.0.0.1:9")

            def make() -> Any:
                loaded = load_config(config)
                host = PluginHost.from_entry_points(only=["twilio"])
                sandbox = build_sandbox(loaded, host, SimulatorContext(public_url=None))
                sandboxes.append(sandbox)
                return sandbox

            url = stack.enter_context(cli.served_in_thread(make))
            cli.sandbox_config(config, url)
            if store_url is not None:
                with config.open("a", encoding="utf-8") as out:
                    out.write(f'[store]\nurl = "{store_url}"\n')
            return sandboxes[0], config

        yield start


def test_a_sqlite_worker_killed_midway_restarts_without_losing_or_doubling_a_send(
    crash_rig: Callable[[str | None], tuple[Any, Path]], cli: Any, tmp_path: Path
) -> None:
    sandbox, config = crash_rig(None)
    _enqueue(cli, config, tmp_path)
    with _worker(config, "first", tmp_path) as first:
        _wait_for(lambda: len(_sms_messages(sandbox)) >= KILL_AFTER, "the first sends")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    reached_when_killed = len(_sms_messages(sandbox))
    assert reached_when_killed < ENVELOPES
    with _worker(config, "second", tmp_path):
        _wait_for(lambda: _settled(config), "the restarted worker to settle the outbox")
    summary = _verdict(sandbox, config)
    assert summary["sent, reached once"] >= ENVELOPES - 8  # at most the in-flight ones unknown


def test_two_postgres_workers_one_killed_lose_and_double_nothing(
    crash_rig: Callable[[str | None], tuple[Any, Path]], cli: Any, tmp_path: Path
) -> None:
    from omnichannel.testing.store_contract import postgres_database

    with postgres_database("omnichannel_crash") as store_url:
        sandbox, config = crash_rig(store_url)
        _enqueue(cli, config, tmp_path)
        with _worker(config, "first", tmp_path) as first, _worker(config, "second", tmp_path):
            _wait_for(lambda: len(_sms_messages(sandbox)) >= KILL_AFTER, "the first sends")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            _wait_for(lambda: _settled(config), "the surviving worker to settle the outbox")
        summary = _verdict(sandbox, config)
        assert summary["sent, reached once"] >= ENVELOPES - 8
