"""The ``omni`` command line: a lazy click group.

A command's module is imported only when that command runs, so ``omni --help`` stays fast.
Every failure is one line (``omni: error: ...``) and an exit code, never a traceback; under
``--json`` it is a JSON object on stdout instead (``{"error": ..., "reason": ..., "exit": N}``).

Exit codes (:func:`exit_code_for`):

====  ============================================================================
0     done
1     a delivery or provider failure, or an outcome that is unknown (the message may exist)
2     usage, configuration, or a refusal made here before any network call
3     timed out waiting (``omni send --wait``)
130   interrupted (Ctrl-C), after a clean shutdown
====  ============================================================================

``-v`` (one line per provider exchange) and ``-vv`` (headers and bodies, secrets redacted)
are accepted by ``omni`` and by every command; ``OMNICHANNEL_LOG`` sets the same level.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, Final

import click

__all__ = ["main", "omni"]

# name -> (module, attribute, one-line help shown by ``omni --help`` without importing it)
BUILTIN_COMMANDS: dict[str, tuple[str, str, str]] = {
    "channels": ("omnichannel.cli.channels", "channels", "List installed channel adapters."),
    "demo": ("omnichannel.cli.demo", "demo", "Run sandbox, listener and a send on every channel."),
    "doctor": ("omnichannel.cli.doctor", "doctor", "Check a configuration and the plugins."),
    "inbox": ("omnichannel.cli.inbox", "inbox_group", "List, show and retry inbound events."),
    "init": ("omnichannel.cli.init", "init", "Write a commented omnichannel.toml."),
    "listen": ("omnichannel.cli.listen", "listen", "Serve the webhook app and print events."),
    "outbox": ("omnichannel.cli.outbox", "outbox_group", "List, show, retry and cancel sends."),
    "plugin": ("omnichannel.cli.plugin", "plugin", "Create and inspect channel plugins."),
    "replay": ("omnichannel.cli.replay", "replay", "Re-post webhooks recorded by omni listen."),
    "sandbox": ("omnichannel.cli.sandbox", "sandbox", "Serve the local provider simulators."),
    "send": ("omnichannel.cli.send", "send", "Send one message."),
    "simulate": ("omnichannel.cli.simulate", "simulate", "Post a signed inbound webhook."),
    "store": ("omnichannel.cli.store", "store", "Migrate and inspect the durable store."),
    "worker": ("omnichannel.cli.worker", "worker", "Work the durable store until stopped."),
}

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 3
EXIT_INTERRUPTED: Final = 130

# Per command run (main resets them): whether --json was given anywhere in the command line,
# so an error raised anywhere is printed as JSON; how many -v were counted.
_JSON_REQUESTED: ContextVar[bool] = ContextVar("omni_json", default=False)
_VERBOSITY: ContextVar[int] = ContextVar("omni_verbosity", default=0)


def is_local_refusal(error: BaseException) -> bool:
    """Whether ``error`` refused a send here, before any provider answered: a routing policy,
    content that cannot fit the channel, a feature it lacks, an unusable media URL or address.

    A refusal the provider made (it carries the provider's status code or error code) is a
    delivery failure instead, and so is anything after part of the message went out.
    """
    from omnichannel.errors import (
        ContentRejected,
        InvalidEnvelope,
        InvalidRecipient,
        PolicyViolation,
        UnsupportedFeature,
    )

    if isinstance(error, PolicyViolation | InvalidEnvelope):
        return True
    if not isinstance(error, ContentRejected | UnsupportedFeature | InvalidRecipient):
        return False
    return error.status_code is None and error.provider_code is None and error.receipt is None


def exit_code_for(error: BaseException) -> int:
    """The exit code of a failed command: 1 for a delivery or provider failure (an unknown
    outcome included), 2 for everything the user must fix first (usage, configuration, input,
    and the local refusals of :func:`is_local_refusal`)."""
    from omnichannel.errors import OutcomeUnknown, SendError

    if isinstance(error, OutcomeUnknown):
        return EXIT_FAILURE
    if isinstance(error, SendError):
        return EXIT_USAGE if is_local_refusal(error) else EXIT_FAILURE
    if isinstance(error, click.ClickException):
        return error.exit_code
    return EXIT_USAGE


def reason_for(error: BaseException) -> str:
    """The ``reason`` of a ``--json`` error object: the send's failure reason, else the kind
    of problem."""
    from omnichannel.errors import ConfigurationError, InvalidEnvelope, SendError

    if isinstance(error, SendError):
        return error.reason.value
    if isinstance(error, ConfigurationError):
        return "configuration"
    if isinstance(error, InvalidEnvelope):
        return "invalid_input"
    if isinstance(error, click.UsageError):
        return "usage"
    return "error"


def error_object(message: str, reason: str, code: int, **extra: Any) -> dict[str, Any]:
    """The JSON object an error is printed as under ``--json``."""
    return {"error": message, "reason": reason, "exit": code, **extra}


def json_requested() -> bool:
    """Whether the running command was given ``--json``."""
    return _JSON_REQUESTED.get()


def request_json() -> None:
    """Note that ``--json`` was given: errors are printed as JSON objects from now on."""
    _JSON_REQUESTED.set(True)


def report_error(message: str, reason: str, code: int) -> None:
    """Print one error: a line on stderr, or the JSON object on stdout under ``--json``."""
    if json_requested():
        from omnichannel.cli._shared import print_json

        print_json(error_object(message, reason, code))
    else:
        from omnichannel.cli._output import error_line

        click.echo(error_line(message), err=True)


def _interrupted(error: BaseException) -> bool:
    if isinstance(error, KeyboardInterrupt):
        return True
    if isinstance(error, BaseExceptionGroup):
        return all(_interrupted(inner) for inner in error.exceptions)
    return False


def _usage_message(error: click.UsageError) -> str:
    message = error.format_message().rstrip(".")
    context = error.ctx
    where = context.command_path if context is not None else "omni"
    return f"{message[:1].lower()}{message[1:]}; see '{where} --help'"


def _count_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        from omnichannel.cli._output import set_verbosity

        total = _VERBOSITY.get() + value
        _VERBOSITY.set(total)
        set_verbosity(total)


def verbose_option() -> click.Option:
    """``-v/--verbose``, counted: added to ``omni`` and to every command."""
    return click.Option(
        ["-v", "--verbose"],
        count=True,
        expose_value=False,
        is_eager=True,
        callback=_count_verbosity,
        help="-v: one line per provider exchange and retry; -vv: headers and bodies too "
        "(secrets redacted).",
    )


def _with_common_options(command: click.Command) -> click.Command:
    """``command`` (and, for a group, its subcommands) with ``-v`` added when it has none."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if not taken & {"-v", "--verbose"}:
        command.params.append(verbose_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_common_options(sub)
    return command


def _version_text() -> str:
    # Imported here, not with the CLI: importlib.metadata (and the email package it loads)
    # was a third of what `omni --help` took to start.
    import importlib.metadata
    import platform

    from omnichannel.cli._shared import plugin_host
    from omnichannel.plugins import BUILTIN_PLUGIN

    core = importlib.metadata.version("omnichannel")
    lines = [f"omni {core} (omnichannel {core}, Python {platform.python_version()})"]
    host = plugin_host(reports_plugin_failures=True)
    adapters: dict[str, list[str]] = {}
    for name, entry in host.adapters().items():
        adapters.setdefault(entry.plugin.name, []).append(name)
    plugins = [record for record in host.plugins if record.name != BUILTIN_PLUGIN]
    lines.append("plugins:" if plugins else "plugins: none installed")
    for record in plugins:
        origin = " ".join(part for part in (record.distribution, record.version) if part)
        names = ", ".join(adapters.get(record.name, [])) or "no adapters"
        lines.append(f"  {origin or record.name} ({record.name}): {names}")
    lines.extend(f"  FAILED {failure}" for failure in host.load_failures)
    return "\n".join(lines)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(_version_text())
    ctx.exit(EXIT_OK)


class LazyGroup(click.Group):
    """A group that imports command modules on demand and renders every failure as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BUILTIN_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = BUILTIN_COMMANDS.get(cmd_name)
        if spec is not None:
            command: click.Command = getattr(importlib.import_module(spec[0]), spec[1])
            return _with_common_options(command)
        plugin_command = self._plugin_command(cmd_name)
        return _with_common_options(plugin_command) if plugin_command is not None else None

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

    def main(self, args: Sequence[str] | None = None, *pos: Any, **kwargs: Any) -> Any:
        from omnichannel.cli._output import installed_log_handler

        tokens = (_JSON_REQUESTED.set(False), _VERBOSITY.set(0))
        try:
            with installed_log_handler():
                return super().main(args, *pos, **kwargs)
        finally:
            _JSON_REQUESTED.reset(tokens[0])
            _VERBOSITY.reset(tokens[1])

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            report_error(_usage_message(error), "usage", error.exit_code)
            raise click.exceptions.Exit(error.exit_code) from None

    def invoke(self, ctx: click.Context) -> Any:
        from omnichannel.errors import OmnichannelError

        try:
            return super().invoke(ctx)
        except OmnichannelError as error:
            code = exit_code_for(error)
            report_error(str(error), reason_for(error), code)
            ctx.exit(code)
        except click.UsageError as error:
            report_error(_usage_message(error), "usage", error.exit_code)
            ctx.exit(error.exit_code)
        except click.ClickException as error:
            report_error(error.format_message(), "error", error.exit_code)
            ctx.exit(error.exit_code)
        except (KeyboardInterrupt, BaseExceptionGroup) as error:
            if not _interrupted(error):
                raise
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version of omni and of every installed plugin, and exit.",
)
def omni() -> None:
    """omnichannel: send and receive test messages on every installed channel."""


omni.params.append(verbose_option())


def main(argv: list[str] | None = None) -> None:
    """The console-script entry point."""
    omni.main(args=argv if argv is not None else sys.argv[1:], prog_name="omni")
