"""The ``omni`` command line: a lazy click group.

A command's module is imported only when that command runs, so ``omni --help`` stays fast.
Every :class:`~omnichannel.OmnichannelError` becomes one line on stderr without a traceback.
Exit codes: 0 done, 1 delivery or provider failure (an unknown outcome included), 2 usage or
configuration error.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

__all__ = ["main", "omni"]

# name -> (module, attribute, one-line help shown by ``omni --help`` without importing it)
BUILTIN_COMMANDS: dict[str, tuple[str, str, str]] = {
    "channels": ("omnichannel.cli.channels", "channels", "List installed channel adapters."),
    "demo": ("omnichannel.cli.demo", "demo", "Run sandbox, listener and a send on every channel."),
    "doctor": ("omnichannel.cli.doctor", "doctor", "Check a configuration and the plugins."),
    "listen": ("omnichannel.cli.listen", "listen", "Serve the webhook app and print events."),
    "plugin": ("omnichannel.cli.plugin", "plugin", "Create and inspect channel plugins."),
    "sandbox": ("omnichannel.cli.sandbox", "sandbox", "Serve the local provider simulators."),
    "send": ("omnichannel.cli.send", "send", "Send one message."),
    "simulate": ("omnichannel.cli.simulate", "simulate", "Post a signed inbound webhook."),
    "store": ("omnichannel.cli.store", "store", "Migrate and inspect the durable store."),
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def exit_code_for(error: BaseException) -> int:
    """1 for a delivery or provider failure, 2 for everything the user must fix first
    (configuration, input, and policy refusals made before any network call)."""
    from omnichannel.errors import PolicyViolation, SendError

    if isinstance(error, SendError) and not isinstance(error, PolicyViolation):
        return EXIT_FAILURE
    return EXIT_USAGE


class LazyGroup(click.Group):
    """A group that imports command modules on demand and renders SDK errors as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BUILTIN_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = BUILTIN_COMMANDS.get(cmd_name)
        if spec is not None:
            command: click.Command = getattr(importlib.import_module(spec[0]), spec[1])
            return command
        return self._plugin_command(cmd_name)

    @staticmethod
    def _plugin_command(name: str) -> click.Command | None:
        from omnichannel.plugins import PluginHost

        for command in PluginHost.from_entry_points().cli_commands(reserved=BUILTIN_COMMANDS):
            if command.name == name:
                return command
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, spec[2]) for name, spec in sorted(BUILTIN_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        formatter.write_paragraph()
        formatter.write_text("Plugins may add commands; `omni plugin commands` lists them.")

    def invoke(self, ctx: click.Context) -> Any:
        from omnichannel.errors import OmnichannelError

        try:
            return super().invoke(ctx)
        except OmnichannelError as error:
            click.echo(f"omni: error: {error}", err=True)
            ctx.exit(exit_code_for(error))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omnichannel", prog_name="omni")
def omni() -> None:
    """omnichannel: send and receive test messages on every installed channel."""


def main(argv: list[str] | None = None) -> None:
    """The console-script entry point."""
    omni.main(args=argv if argv is not None else sys.argv[1:], prog_name="omni")
