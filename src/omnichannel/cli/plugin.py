"""``omni plugin``: tools for channel plugin authors.

``omni plugin new NAME`` creates a working plugin from the template (see
``docs/plugins/writing.md``); ``omni plugin commands`` lists the commands plugins add.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from omnichannel.cli._scaffold import PluginNames


@click.group()
def plugin() -> None:
    """Create and inspect channel plugins."""


@plugin.command("commands")
def commands() -> None:
    """List the extra commands installed plugins add to omni."""
    from omnichannel.cli import BUILTIN_COMMANDS
    from omnichannel.cli._shared import plugin_host

    host = plugin_host(reports_plugin_failures=True)
    found = host.cli_commands(reserved=BUILTIN_COMMANDS)
    if not found:
        click.echo("no plugin adds commands")
    for command in found:
        click.echo(f"{command.name}: {command.get_short_help_str()}")
    for failure in host.load_failures:
        click.echo(f"FAILED  {failure}", err=True)


def _checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from omnichannel.cli._scaffold import check_name

    if value is None:
        return None
    try:
        return check_name(value, "plugin name" if param.name == "name" else str(param.name))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _refuse_installed(names: PluginNames) -> None:
    """A new plugin named like an installed distribution (or package) would shadow it, or be
    shadowed by it, once installed."""
    try:
        installed = importlib.metadata.distribution(names.distribution)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed is not None:
        raise click.BadParameter(
            f"{names.distribution} {installed.version} is already installed; a plugin of that "
            "name would shadow it (choose another NAME)",
            param_hint="'NAME'",
        )
    if importlib.util.find_spec(names.package) is not None:
        raise click.BadParameter(
            f"a package named {names.package} is already importable; choose another NAME",
            param_hint="'NAME'",
        )


@plugin.command("new")
@click.argument("name", callback=_checked)
@click.option("--channel", callback=_checked, help="The channel it serves  [default: NAME]")
@click.option(
    "--provider", default="example", show_default=True, callback=_checked, help="The provider."
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create omnichannel-NAME.",
)
def new(name: str, channel: str | None, provider: str, directory: Path) -> None:
    """Create omnichannel-NAME: a working channel plugin made from the template.

    The plugin has the shape every omnichannel plugin has (settings, adapter, payloads,
    webhooks, simulator and tests, the AdapterContract included) and talks to a generic JSON
    API with its own simulator, so its tests pass before you change anything. Replace the
    generic API with your provider's, one module at a time.
    """
    from omnichannel.cli._scaffold import PluginNames, TemplateMissing, create_plugin

    names = PluginNames(name=name, channel=channel or name, provider=provider)
    _refuse_installed(names)
    try:
        target = create_plugin(names, directory)
    except FileExistsError:
        raise click.BadParameter(
            f"{directory / names.distribution} already exists; nothing was overwritten "
            "(choose another NAME or --dir)",
            param_hint="'--dir'",
        ) from None
    except TemplateMissing as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.ClickException(
            f"cannot create {directory / names.distribution}: {error}"
        ) from None
    where = shlex.quote(str(target))
    click.echo(
        f"Created {names.distribution} in {target}: adapter {names.adapter_name} "
        f"({names.adapter_class}), package {names.package}.\n"
        "\n"
        "Next steps:\n"
        f"  python -m pip install -e {where}\n"
        f"  python -m pytest {shlex.quote(str(target / 'tests'))}\n"
        f"  omni channels                # lists {names.adapter_name}\n"
        f"  omni demo                    # sends and receives through its simulator\n"
        "\n"
        "Then replace the generic JSON API in payloads.py, webhooks.py and simulator.py with\n"
        "your provider's; docs/plugins/writing.md walks through each step."
    )
