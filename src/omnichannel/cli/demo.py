"""``omni demo``: the sandbox and a listener on loopback, a send and an inbound message on every
installed channel, and the statuses that come back."""

from __future__ import annotations

import time
from typing import Any

import anyio
import click
import httpx
import uvicorn

from omnichannel.cli import EXIT_FAILURE, report_error
from omnichannel.cli._output import warn
from omnichannel.cli._shared import INSTALL_HINT, json_option, print_line
from omnichannel.cli.listen import attach_printers
from omnichannel.cli.send import render_receipt
from omnichannel.config import ChannelConfig, Config
from omnichannel.envelope import Address, Envelope
from omnichannel.errors import OmnichannelError
from omnichannel.events import StatusUpdate
from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.sandbox import SimulatorContext, build_sandbox, simulator_classes
from omnichannel.serving import bind, build_server
from omnichannel.web import WebhookApp

DEMO_TEXT = "Hello from the omnichannel demo"
CUSTOMER_TEXT = "Hi, I need help with order #42"


def demo_config(
    host: PluginHost, sandbox_url: str, public_url: str
) -> tuple[Config, dict[str, Any]]:
    """A configuration with one channel per installed adapter that ships a simulator."""
    simulators = simulator_classes(host)
    channels: dict[str, ChannelConfig] = {}
    chosen: dict[str, Any] = {}
    for name, entry in host.adapters().items():
        simulator = simulators.get(name)
        channel = entry.info.channel
        if simulator is None or channel in channels:
            continue
        settings = simulator.sample_settings(f"{sandbox_url}/{simulator.prefix}")
        channels[channel] = ChannelConfig(channel=channel, adapter=name, settings=settings)
        chosen[channel] = simulator
    return Config(public_url=public_url, channels=channels), chosen


async def _start(server: uvicorn.Server, sock: Any, group: Any) -> None:
    group.start_soon(lambda: server.serve(sockets=[sock]))
    while not server.started:  # uvicorn offers a flag, not an event  # noqa: ASYNC110
        await anyio.sleep(0.01)


@click.command()
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for statuses.")
@click.option("--step-delay", default=0.1, show_default=True, help="Simulator pace, seconds.")
@click.option(
    "--out-of-order", is_flag=True, help="Have the simulators post status callbacks reversed."
)
@json_option
def demo(timeout: float, step_delay: float, out_of_order: bool, as_json: bool) -> None:
    """Start the sandbox and a listener on loopback with a temporary configuration, send a
    message on every installed channel, post one inbound message per channel, and print each
    receipt and the events that come back. Exits 1 when something failed, when the statuses
    did not all come back in time, or when no installed plugin ships a simulator."""
    host = PluginHost.from_entry_points()
    sandbox_sock, listen_sock = bind("127.0.0.1", 0), bind("127.0.0.1", 0)
    sandbox_url = f"http://127.0.0.1:{sandbox_sock.getsockname()[1]}"
    public_url = f"http://127.0.0.1:{listen_sock.getsockname()[1]}"
    config, simulators = demo_config(host, sandbox_url, public_url)
    if not config.channels:
        sandbox_sock.close()
        listen_sock.close()
        # The demo demonstrated nothing: a failure (1), as a timed-out demo is.
        report_error(
            f"nothing to demonstrate: {INSTALL_HINT} that ships a simulator", "no_plugins", 1
        )
        raise SystemExit(EXIT_FAILURE)
    statuses: list[StatusUpdate] = []
    failures: list[str] = []

    async def run() -> None:
        context = SimulatorContext(
            public_url=public_url, step_delay=step_delay, out_of_order=out_of_order
        )
        sandbox = build_sandbox(config, host, context)
        await sandbox.start()
        async with Router.from_config(config, host=host) as router:
            attach_printers(router, as_json)
            router.on_status(statuses.append, inline=True)
            servers = [
                build_server(sandbox),
                build_server(WebhookApp.for_router(router)),
            ]
            async with anyio.create_task_group() as group:
                await _start(servers[0], sandbox_sock, group)
                await _start(servers[1], listen_sock, group)
                if not as_json:
                    click.echo(f"sandbox on {sandbox_url}, listener on {public_url}")
                for channel in router.channels:
                    await _exercise(
                        router,
                        channel,
                        simulators[channel],
                        (sandbox_url, public_url),
                        as_json,
                        failures,
                    )
                with anyio.move_on_after(timeout) as waiting:
                    await context.settle()
                if waiting.cancelled_caught:
                    failures.append(
                        f"timed out after {timeout:g}s before every status came back "
                        "(raise --timeout?)"
                    )
                    warn(f"{failures[-1]}")
                await sandbox.aclose()
                for server in servers:
                    server.should_exit = True

    started = time.monotonic()
    anyio.run(run)
    summary = (
        f"demo done in {time.monotonic() - started:.1f}s: {len(config.channels)} channel(s), "
        f"{len(statuses)} status update(s), {len(failures)} failure(s)"
    )
    if as_json:
        print_line(
            {
                "type": "summary",
                "channels": sorted(config.channels),
                "statuses": len(statuses),
                "failures": failures,
            }
        )
    else:
        click.echo(summary)
    if failures:
        raise SystemExit(1)


async def _exercise(
    router: Router,
    channel: str,
    simulator: Any,
    urls: tuple[str, str],
    as_json: bool,
    failures: list[str],
) -> None:
    # On a channel with a session window the customer writes first, as in real life: a
    # business may answer only within the window.
    windowed = router.adapter(channel).capabilities.session_window is not None
    if windowed and not await _customer_writes(router, channel, simulator, urls, failures):
        return
    envelope = Envelope(
        channel=channel,
        recipient=Address(channel=channel, value=simulator.sample_recipient),
        content=DEMO_TEXT,
    )
    try:
        receipt = await router.send(envelope)
    except OmnichannelError as error:
        failures.append(f"{channel}: {error}")
        warn(f"{channel}: send failed: {error}")
        return
    if as_json:
        print_line({"type": "receipt", "receipt": receipt.to_dict()})
    else:
        click.echo(render_receipt(receipt))
    if not windowed:
        await _customer_writes(router, channel, simulator, urls, failures)


async def _customer_writes(
    router: Router, channel: str, simulator: Any, urls: tuple[str, str], failures: list[str]
) -> bool:
    """Post one signed inbound message, through the simulator's relay when it has one (so a
    simulator keeping a session window knows); False when it was not accepted."""
    sandbox_url, public_url = urls
    request = router.adapter(channel).simulate(
        sender=simulator.sample_recipient,
        text=CUSTOMER_TEXT,
        url=f"{public_url}/webhooks/{channel}",
    )
    relay = getattr(simulator, "inbound_relay", None)
    target = f"{sandbox_url}/{simulator.prefix}{relay}" if relay else request.url
    async with httpx.AsyncClient() as client:
        response = await client.request(
            request.method, target, headers=list(request.headers), content=request.body
        )
    if not 200 <= response.status_code < 300:
        failures.append(f"{channel}: inbound webhook answered {response.status_code}")
        return False
    return True
