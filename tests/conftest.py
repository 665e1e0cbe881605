"""What the core's tests share: a throwaway PostgreSQL database for the store tests; running
``omni`` in process; and real loopback servers (the sandbox, a webhook listener) on a thread of
their own, so a command run by ``CliRunner`` (whose ``anyio.run`` owns the test's thread) can
talk to them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from omnichannel.cli import omni
from omnichannel.config import load_config
from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.sandbox import SimulatorContext, build_sandbox, simulator_classes
from omnichannel.store import Store
from omnichannel.testing.servers import serve_on_loopback
from omnichannel.testing.store_contract import Clock, empty_store, postgres_database
from omnichannel.web import WebhookApp

TWILIO_PLUGINS = "twilio"


@attrs.frozen
class Ran:
    """What one ``omni`` run did."""

    code: int
    out: str
    err: str


def run_omni(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Ran:
    """Run ``omni ARGS`` through its real entry point, in process."""
    result = CliRunner().invoke(omni, list(args), input=input, env=env)
    return Ran(result.exit_code, result.stdout, result.stderr)


@contextmanager
def served_in_thread(make_app: Callable[[], Any]) -> Iterator[str]:
    """Serve the ASGI app ``make_app()`` builds (in the server's own event loop) on a free
    loopback port, on a thread, for as long as the block runs; yield its base URL."""
    ready = threading.Event()
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    url: list[str] = []
    failure: list[BaseException] = []

    async def main() -> None:
        stop.append((asyncio.get_running_loop(), asyncio.Event()))
        app = make_app()
        try:
            async with serve_on_loopback(app) as base:
                url.append(base)
                ready.set()
                await stop[0][1].wait()
        finally:
            close = getattr(app, "aclose", None)
            if close is not None:
                await close()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # reported by the waiting test
            failure.append(error)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the server did not start"
    if failure:
        raise failure[0]
    loop, stopping = stop[0]
    try:
        yield url[0]
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(10)


def sandbox_config(path: Path, sandbox_url: str, *, public_url: str = "http://127.0.0.1:9") -> Path:
    """A configuration of the Twilio SMS and voice channels against a sandbox at
    ``sandbox_url``, with their simulators' sample settings (fake credentials)."""
    host = PluginHost.from_entry_points(only=TWILIO_PLUGINS.split(","))
    simulators = simulator_classes(host)
    lines = [
        f'[webhooks]\npublic_url = "{public_url}"\n[routing]\nallow_private_media_hosts = true'
    ]
    for channel, adapter in (("sms", "sms.twilio"), ("voice", "voice.twilio")):
        simulator = simulators[adapter]
        settings = simulator.sample_settings(f"{sandbox_url}/{simulator.prefix}")
        lines.append(f'[channels.{channel}]\nadapter = "{adapter}"')
        lines.extend(f'{name} = "{value}"' for name, value in settings.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def sandbox_app(config_path: Path) -> Callable[[], Any]:
    """Builds the sandbox for the configuration at ``config_path``, pacing nothing."""

    def make() -> Any:
        config = load_config(config_path)
        host = PluginHost.from_entry_points(only=TWILIO_PLUGINS.split(","))
        return build_sandbox(config, host, SimulatorContext(public_url=config.public_url))

    return make


def listener_app(config_path: Path, public_url: str | None = None) -> Callable[[], Any]:
    """Builds the webhook app of the configuration at ``config_path``, checking signatures
    against ``public_url`` (None: the address each request arrived on)."""

    def make() -> Any:
        config = attrs.evolve(load_config(config_path), public_url=public_url)
        host = PluginHost.from_entry_points(only=TWILIO_PLUGINS.split(","))
        router = Router.from_config(config, host=host)
        return ClosingApp(WebhookApp.for_router(router), router.aclose)

    return make


class ClosingApp:
    """An ASGI app that closes what it was built on (``aclose``) when its server stops."""

    def __init__(self, app: Any, close: Callable[[], Any]) -> None:
        self.app = app
        self.aclose = close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class Helpers:
    """The helpers above, for tests (pytest imports conftest modules under names of its
    own, so tests reach them through the ``cli`` fixture)."""

    run = staticmethod(run_omni)
    served_in_thread = staticmethod(served_in_thread)
    sandbox_config = staticmethod(sandbox_config)
    sandbox_app = staticmethod(sandbox_app)
    listener_app = staticmethod(listener_app)


@pytest.fixture
def cli() -> type[Helpers]:
    """Run ``omni``, serve apps on a thread, write configurations."""
    return Helpers


@pytest.fixture
def twilio_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Only the bundled Twilio plugins, no configuration unless a test writes one."""
    pytest.importorskip("omnichannel_twilio")
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", TWILIO_PLUGINS)
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.delenv("OMNICHANNEL_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sandbox(twilio_plugins: Path) -> Iterator[Path]:
    """A sandbox on a loopback thread and the configuration pointing at it
    (``omnichannel.toml`` in the test's working directory)."""
    config = twilio_plugins / "omnichannel.toml"
    sandbox_config(config, "http://127.0.0.1:9")  # the sandbox needs settings to start
    with served_in_thread(sandbox_app(config)) as url:
        sandbox_config(config, url)
        yield config


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session on the test server, dropped at its end.

    Skips (outside CI) or fails (under ``CI``) when no server answers; see
    :func:`omnichannel.testing.store_contract.postgres_database`.
    """
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each durable-path test twice: on a SQLite file and on the test PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'omnichannel.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> Clock:
    """A clock that moves only when a test moves it (the router's and the store's)."""
    return Clock()


@pytest.fixture
async def store(store_url: str, clock: Clock) -> AsyncIterator[Store]:
    """The store at ``store_url``, its schema created, its tables emptied."""
    opened = await Store.open(store_url, clock=clock, create=True)
    await empty_store(opened)
    try:
        yield opened
    finally:
        await opened.close()
