"""The store shared between processes: a customer's WhatsApp message received by ``omni
listen`` opens the window for ``omni send`` in another process; three copies of one webhook
over two ``omni listen`` processes on PostgreSQL reach the handler once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from omnichannel.config import load_config
from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.sandbox import SimulatorContext, build_sandbox, simulator_classes
from omnichannel.serving import bind

pytestmark = pytest.mark.slow

CUSTOMER = "+14155550199"
OMNI = "import sys; from omnichannel.cli import main; main(sys.argv[1:])"


@pytest.fixture
def whatsapp_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    pytest.importorskip("omnichannel_whatsapp")
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "whatsapp")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _config(path: Path, sandbox_url: str, public_url: str, store: str | None = None) -> Path:
    simulator = simulator_classes(PluginHost.from_entry_points(only=["whatsapp"]))["whatsapp.meta"]
    settings = simulator.sample_settings(f"{sandbox_url}/{simulator.prefix}")
    lines = [
        f'[webhooks]\npublic_url = "{public_url}"',
        '[channels.whatsapp]\nadapter = "whatsapp.meta"',
    ]
    lines += [f'{name} = "{value}"' for name, value in settings.items()]
    if store is not None:
        lines.append(f'[store]\nurl = "{store}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def _free_port() -> int:
    sock = bind("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@contextmanager
def _listen(config: Path, port: int, out: Path) -> Iterator[Path]:
    env = {**os.environ, "OMNICHANNEL_PLUGINS": "whatsapp"}
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", OMNI, "listen", "--config", str(config), "--port", str(port),
             "--json"],
            stdout=stdout, stderr=stderr, env=env, cwd=config.parent,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while b'"listening"' not in out.read_bytes():
                assert process.poll() is None, out.with_suffix(".err").read_text()
                assert time.monotonic() < deadline, "omni listen did not start"
                time.sleep(0.05)
            yield out
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _events(out: Path, kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["type"] == kind]


def _adapter_request(config: Path, url: str) -> Any:
    """A signed inbound message from the customer, as Meta posts it, addressed to ``url``."""
    memory = attrs.evolve(load_config(config), store_url="memory")
    router = Router.from_config(memory, host=PluginHost.from_entry_points(only=["whatsapp"]))
    return router.adapter("whatsapp").simulate(sender=CUSTOMER, text="hello?", url=url)


def test_a_message_to_one_listener_opens_the_window_for_a_send_in_another_process(
    whatsapp_only: Path, cli: Any
) -> None:
    port = _free_port()
    listener = f"http://127.0.0.1:{port}"
    config = whatsapp_only / "omnichannel.toml"
    _config(config, "http://127.0.0.1:9", listener)

    def make() -> Any:
        loaded = load_config(config)
        host = PluginHost.from_entry_points(only=["whatsapp"])
        return build_sandbox(loaded, host, SimulatorContext(public_url=listener))

    with cli.served_in_thread(make) as sandbox_url:
        _config(config, sandbox_url, listener)
        with _listen(config, port, whatsapp_only / "listen.out") as out:
            refused = cli.run("send", "whatsapp", CUSTOMER, "your order shipped")
            assert refused.code == 2
            assert "outside the 24-hour session window" in refused.err
            # The customer writes: Meta (the simulator's relay) posts it to the listener.
            request = _adapter_request(config, f"{listener}/webhooks/whatsapp")
            relayed = httpx.post(
                f"{sandbox_url}/whatsapp-cloud/inbound",
                headers=list(request.headers),
                content=request.body,
            )
            assert relayed.status_code == 200
            assert [event["envelope"]["content"]["text"] for event in _events(out, "message")] == [
                "hello?"
            ]
            sent = cli.run("send", "whatsapp", CUSTOMER, "your order shipped", "--json")
            assert sent.code == 0, sent.err
            assert json.loads(sent.out)["provider_ids"][0].startswith("wamid.")


def test_three_copies_over_two_postgres_listeners_reach_the_handler_once(
    whatsapp_only: Path, cli: Any
) -> None:
    from omnichannel.testing.store_contract import postgres_database

    public = "https://support.example.test"  # the load balancer in front of both
    with postgres_database("omnichannel_listeners") as store_url:
        config = _config(
            whatsapp_only / "omnichannel.toml", "http://127.0.0.1:9", public, store_url
        )
        ports = [_free_port(), _free_port()]
        with (
            _listen(config, ports[0], whatsapp_only / "a.out") as first,
            _listen(config, ports[1], whatsapp_only / "b.out") as second,
        ):
            request = _adapter_request(config, f"{public}/webhooks/whatsapp")
            answers: list[int] = []

            def deliver(port: int) -> None:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/webhooks/whatsapp",
                    headers=list(request.headers),
                    content=request.body,
                )
                answers.append(response.status_code)

            copies = [threading.Thread(target=deliver, args=(port,)) for port in (*ports, ports[0])]
            for copy in copies:
                copy.start()
            for copy in copies:
                copy.join(30)
            assert answers == [200, 200, 200]
            handled = _events(first, "message") + _events(second, "message")
        assert len(handled) == 1
