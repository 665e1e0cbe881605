"""What the ``omni`` commands share: common options, loading config and plugins, rendering."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from omnichannel.config import Config, load_config
from omnichannel.plugins import PluginHost

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file (default: $OMNICHANNEL_CONFIG, then ./omnichannel.toml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def load(config_path: str | None) -> tuple[Config, PluginHost]:
    """The configuration and a plugin host with every installed plugin."""
    return load_config(config_path), PluginHost.from_entry_points()


def print_json(data: object) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_line(data: object) -> None:
    """Print ``data`` as one compact JSON line (streams)."""
    click.echo(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str))


def warn(message: str) -> None:
    """One line on stderr."""
    click.echo(message, err=True)


INSTALL_HINT = (
    "no channel plugins are installed; install the bundled ones with "
    "`pip install -r requirements.txt` from a checkout, or a published "
    "omnichannel-<channel> distribution"
)
