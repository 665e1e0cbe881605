"""``omni sandbox``: serve the provider simulators that installed plugins contribute."""

from __future__ import annotations

import anyio
import click

from omnichannel.cli._shared import config_option, load
from omnichannel.errors import ConfigurationError
from omnichannel.sandbox import SimulatorContext, build_sandbox
from omnichannel.serving import bind, build_server


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--step-delay",
    default=0.5,
    show_default=True,
    type=float,
    help="Seconds between two status callbacks of one message.",
)
@click.option(
    "--out-of-order",
    is_flag=True,
    help="Post each message's status callbacks in reverse order, as providers sometimes do.",
)
def sandbox(
    config_path: str | None, host: str, port: int, step_delay: float, out_of_order: bool
) -> None:
    """Serve a simulator for each configured channel whose plugin ships one.

    Point each channel's base_url at http://HOST:PORT/<prefix>; status callbacks go to the
    configured webhooks.public_url.
    """
    config, plugin_host = load(config_path)
    context = SimulatorContext(
        public_url=config.public_url, step_delay=step_delay, out_of_order=out_of_order
    )
    app = build_sandbox(config, plugin_host, context)
    if not app.simulators:
        raise ConfigurationError(
            "no configured channel has a simulator; configure a channel whose plugin ships one "
            "(see omni channels)"
        )
    sock = bind(host, port)
    base = f"http://{host}:{sock.getsockname()[1]}"
    for prefix, simulator in sorted(app.simulators.items()):
        click.echo(f"sandbox: {simulator.adapter_name} at {base}/{prefix}")
    if config.public_url:
        click.echo(f"sandbox: status callbacks go to {config.public_url}/webhooks/{{channel}}")

    async def run() -> None:
        server = build_server(app)
        await app.start()
        try:
            await server.serve(sockets=[sock])
        finally:
            await app.aclose()

    anyio.run(run)
