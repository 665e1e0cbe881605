"""``omni sandbox``: serve the provider simulators that installed plugins contribute, logging
each provider call; ``--scenarios`` lists the magic recipients each simulator honours."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import click

from omnichannel.cli._shared import (
    config_option,
    json_option,
    load,
    plugin_host,
    print_json,
    where_config_was_looked_for,
)
from omnichannel.errors import ConfigurationError
from omnichannel.plugins import PluginHost
from omnichannel.sandbox import SimulatorContext, build_sandbox, simulator_classes
from omnichannel.serving import bind, build_server

DEFAULT_PORT = 8765


def scenario_rows(host: PluginHost) -> list[dict[str, Any]]:
    """One row per installed simulator: adapter, prefix, sample recipient and scenarios."""
    return [
        {
            "adapter": name,
            "prefix": cls.prefix,
            "sample_recipient": cls.sample_recipient,
            "scenarios": dict(getattr(cls, "scenarios", {})),
        }
        for name, cls in sorted(simulator_classes(host).items())
    ]


def _print_scenarios(host: PluginHost, as_json: bool) -> None:
    rows = scenario_rows(host)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No installed plugin ships a simulator.")
    for row in rows:
        click.echo(f"{row['adapter']} (/{row['prefix']}):")
        width = max((len(recipient) for recipient in row["scenarios"]), default=0)
        for recipient, what in row["scenarios"].items():
            click.echo(f"  {recipient:<{width}}  {what}")
        click.echo(f"  any other recipient (such as {row['sample_recipient']}) succeeds")


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port to listen on."
)
@click.option(
    "--step-delay",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between two status callbacks of one message.",
)
@click.option(
    "--out-of-order",
    is_flag=True,
    help="Post each message's status callbacks in reverse order, as providers sometimes do.",
)
@click.option(
    "--scenarios",
    "list_scenarios",
    is_flag=True,
    help="List the magic recipients each installed simulator honours, and exit.",
)
@json_option
def sandbox(
    config_path: str | None,
    host: str,
    port: int,
    step_delay: float,
    out_of_order: bool,
    list_scenarios: bool,
    as_json: bool,
) -> None:
    """Serve a simulator for each configured channel whose plugin ships one.

    Point each channel's base_url at http://HOST:PORT/<prefix>. Status callbacks go to the
    callback URL each request names (the adapters build it from webhooks.public_url).
    """
    if list_scenarios:
        _print_scenarios(plugin_host(), as_json)
        return
    config, plugins = load(config_path)
    context = SimulatorContext(
        public_url=config.public_url, step_delay=step_delay, out_of_order=out_of_order
    )
    app = build_sandbox(config, plugins, context)
    if not app.simulators:
        where = (
            f"in {config.path}"
            if config.path
            else f"because no configuration file was found ({where_config_was_looked_for()})"
        )
        raise ConfigurationError(
            f"no configured channel has a simulator {where}; `omni init --sandbox` writes a "
            "configuration for every installed simulator"
        )
    sock = bind(host, port)
    base = f"http://{host}:{sock.getsockname()[1]}"
    # One line per provider call (method, adapter, recipient, scenario).
    requests_log = logging.getLogger("omnichannel.sandbox")
    if not requests_log.isEnabledFor(logging.INFO):
        requests_log.setLevel(logging.INFO)
    for prefix, simulator in sorted(app.simulators.items()):
        click.echo(f"sandbox: {simulator.adapter_name} at {base}/{prefix}")
    fallback = f"{config.public_url}/webhooks/{{channel}}" if config.public_url else "nowhere"
    click.echo(
        f"sandbox: status callbacks go to the callback URL each request names, else {fallback}"
    )

    async def run() -> None:
        server = build_server(app)
        await app.start()
        try:
            await server.serve(sockets=[sock])
        finally:
            await app.aclose()

    anyio.run(run)
