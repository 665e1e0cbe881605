"""What the ``omni`` commands share: common options, loading config and plugins, rendering."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from omnichannel.cli import request_json
from omnichannel.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_NAME, Config, load_config
from omnichannel.errors import ConfigurationError
from omnichannel.plugins import PluginHost

F = TypeVar("F", bound=Callable[..., Any])


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    # Noted for the whole run, so an error raised anywhere in the command is JSON too.
    if value:
        request_json()
    return value


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file (default: $OMNICHANNEL_CONFIG, then ./omnichannel.toml).",
)
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    is_eager=True,
    callback=_remember_json,
    help="Print JSON for machines (errors too).",
)


def read_config(config_path: str | None) -> Config:
    """The configuration, with every way reading the file can fail as one line."""
    try:
        return load_config(config_path)
    except UnicodeDecodeError as exc:
        where = config_path or "the configuration file"
        raise ConfigurationError(
            f"{where} is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8"
        ) from None
    except IsADirectoryError:
        raise ConfigurationError(
            f"{config_path} is a directory, not a configuration file"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {exc.filename or config_path}: {exc.strerror or exc}"
        ) from None


def load(
    config_path: str | None, *, reports_plugin_failures: bool = False
) -> tuple[Config, PluginHost]:
    """The configuration and a plugin host with every installed plugin.

    A plugin that fails to load is logged as a warning, unless the command lists failures
    itself (``reports_plugin_failures``): each is reported once either way.
    """
    config = read_config(config_path)
    return config, plugin_host(reports_plugin_failures=reports_plugin_failures)


def plugin_host(*, reports_plugin_failures: bool = False) -> PluginHost:
    """Every installed plugin (see :func:`load` for ``reports_plugin_failures``)."""
    log = logging.getLogger("omnichannel.plugins")
    if not reports_plugin_failures:
        return PluginHost.from_entry_points()
    previous = log.disabled
    log.disabled = True
    try:
        host = PluginHost.from_entry_points()
        host.adapters()  # where adapter problems are found and logged
    finally:
        log.disabled = previous
    return host


def adapter_secrets(adapter: object) -> list[str]:
    """The values ``adapter`` holds as secrets (``BaseAdapter.secret_values``): what no
    output may show. An adapter that does not say has none known."""
    values: Callable[[], list[str]] | None = getattr(adapter, "secret_values", None)
    return list(values()) if callable(values) else []


def where_config_was_looked_for() -> str:
    """Where a configuration is looked for, for messages about a missing one."""
    return (
        f"looked for --config, ${CONFIG_ENV_VAR}, and {Path.cwd() / DEFAULT_CONFIG_NAME}; "
        "run `omni init` to write one"
    )


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


@contextlib.contextmanager
def start_up_heap_frozen() -> Iterator[None]:
    """Keep what start-up made (modules, plugins, configuration, the open store) out of the
    garbage collector's passes while a long-running command serves.

    A full collection visits every object the collector tracks, and in a worker or a listener
    most of those are the classes, functions and modules imported at start, which live as long
    as the process. Frozen (:func:`gc.freeze`), they are skipped, and a collection visits only
    what came after: queued sends drained by a worker at concurrency 32 used 11% less CPU a
    send, ``router.send`` with the store at 32 7% less. Unfrozen on the way out, so a command
    run inside another program (a test's ``CliRunner``) leaves its collector as it was.
    """
    gc.collect()  # what is garbage already is freed, not frozen
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
