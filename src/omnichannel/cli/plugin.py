"""``omni plugin``: tools for channel plugin authors."""

from __future__ import annotations

import click

from omnichannel.plugins import PluginHost


@click.group()
def plugin() -> None:
    """Create and inspect channel plugins."""


@plugin.command("commands")
def commands() -> None:
    """List the extra commands installed plugins add to omni."""
    found = PluginHost.from_entry_points().cli_commands()
    if not found:
        click.echo("no plugin adds commands")
    for command in found:
        click.echo(f"{command.name}: {command.get_short_help_str()}")
