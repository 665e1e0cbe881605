"""What every ``omni`` command prints through: colour, error lines, and the log handler.

Colour is used on terminals only (click strips it in pipes) and never when ``NO_COLOR`` is
set (https://no-color.org). Log records reach stderr through one handler installed for the
length of a command: warnings from any library, and omnichannel's own records (the core's
``omnichannel.*`` loggers and the plugins' ``omnichannel_*`` ones) at the level ``-v``/``-vv``
or ``OMNICHANNEL_LOG`` chose.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import click

__all__ = [
    "LOG_ENV_VAR",
    "colours_on",
    "error_line",
    "installed_log_handler",
    "level_for",
    "quiet_logger",
    "set_verbosity",
    "stdout_is_terminal",
    "style",
    "warn",
]

LOG_ENV_VAR: Final = "OMNICHANNEL_LOG"

_LEVELS: Final[Mapping[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_OWN_PREFIXES: Final = ("omnichannel.", "omnichannel_")


def style(text: str, **styles: Any) -> str:
    """``text`` styled with click's ``styles`` unless ``NO_COLOR`` is set."""
    if os.environ.get("NO_COLOR"):
        return text
    return click.style(text, **styles)


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (not a pipe, a file, or a test runner's capture)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stdout
        return False


def colours_on() -> bool:
    """Whether what is printed to stdout may be coloured: a terminal, and ``NO_COLOR`` unset
    (for output rendered before ``click.echo``, which strips colour in pipes by itself)."""
    return not os.environ.get("NO_COLOR") and stdout_is_terminal()


def error_line(message: str) -> str:
    """The one line an error is reported as."""
    return f"{style('omni: error:', fg='red', bold=True)} {message}"


def warn(message: str) -> None:
    """One warning line on stderr."""
    click.echo(f"{style('omni: warning:', fg='yellow')} {message}", err=True)


def level_for(verbosity: int, environ: Mapping[str, str] | None = None) -> int:
    """The log level of omnichannel's records: ``-v`` INFO, ``-vv`` DEBUG, else the level
    ``OMNICHANNEL_LOG`` names (``debug``, ``info``, ``warning``, ``error``), else WARNING."""
    if verbosity >= 2:
        return logging.DEBUG
    if verbosity == 1:
        return logging.INFO
    env = os.environ if environ is None else environ
    named = env.get(LOG_ENV_VAR, "").strip().lower()
    return _LEVELS.get(named, logging.WARNING)


def _own(record: logging.LogRecord) -> bool:
    return record.name == "omnichannel" or record.name.startswith(_OWN_PREFIXES)


class _ClickHandler(logging.Handler):
    """Writes records through ``click.echo`` to whatever stderr is now (a test runner's
    capture included), one line each: ``omni: http: POST ...``, ``omni: warning: ...``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _own(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and logging.getLogger("omnichannel").isEnabledFor(logging.DEBUG):
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            if record.levelno >= logging.WARNING:
                label = "error" if record.levelno >= logging.ERROR else "warning"
                colour = "red" if record.levelno >= logging.ERROR else "yellow"
                click.echo(f"{style(f'omni: {label}:', fg=colour)} {message}", err=True)
            else:
                name = record.name.removeprefix("omnichannel.")
                click.echo(f"{style(f'omni: {name}:', dim=True)} {message}", err=True)
        except Exception:
            self.handleError(record)


_RESTORED: Final = ("", "omnichannel", "omnichannel.router", "omnichannel.sandbox")


def set_verbosity(verbosity: int) -> None:
    """Show omnichannel's records from the level ``verbosity`` (the count of ``-v``) asks
    for; the other libraries' from WARNING."""
    level = level_for(verbosity)
    logging.getLogger("omnichannel").setLevel(level)
    root = logging.getLogger()
    # Plugins log under their own packages, not under omnichannel: the root level is what
    # reaches them; the handler's filter keeps other libraries at WARNING.
    root.setLevel(min(level, logging.WARNING))


def quiet_logger(name: str) -> None:
    """Show only errors of logger ``name`` for this command, unless ``-v`` asked for more
    (a command that prints those events itself: ``omni listen`` and refused webhooks)."""
    logger = logging.getLogger(name)
    if not logging.getLogger("omnichannel").isEnabledFor(logging.INFO):
        logger.setLevel(logging.ERROR)


@contextmanager
def installed_log_handler() -> Iterator[None]:
    """Install the handler for one command and restore the logging setup afterwards (tests
    run many commands in one process)."""
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in _RESTORED}
    handler = _ClickHandler()
    root.addHandler(handler)
    try:
        set_verbosity(0)
        yield
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
