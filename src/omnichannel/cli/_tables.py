"""Tables for people, and the phrases in their cells (times, errors, envelope text).

rich renders the tables: one column per field, two spaces apart, with no box, so a pipe gets
lines ``grep`` and ``cut`` can work with. On a terminal the table fits its width (the widest
columns are cut short with an ellipsis, ids never) and is coloured unless ``NO_COLOR`` is
set; in a pipe it is never cut short or coloured.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from io import StringIO
from typing import Any, Final

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnichannel.cli import _output
from omnichannel.mappings import FrozenMap

__all__ = [
    "NONE",
    "Column",
    "error_summary",
    "fitted",
    "iso_time",
    "one_of",
    "render_table",
    "shortened",
    "when",
]

NONE: Final = "-"
"""What an empty cell shows."""
MIN_CUT: Final = 8
"""No column is cut narrower than this (or than its heading)."""
_GAP: Final = 2
_DAY: Final = 86_400


@attrs.frozen(kw_only=True)
class Column:
    """One column of a table: its heading, how its values are coloured, whether it may be cut
    short on a narrow terminal."""

    header: str
    colours: Mapping[str, str] = attrs.field(factory=dict)
    """A rich style by cell value (``{"dead": "red"}``); other values are not coloured."""
    whole: bool = False
    """Never cut short (ids people copy)."""


def render_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], *, width: int | None = None
) -> str:
    """``rows`` under ``columns``' headings, as text ready for ``click.echo``; ``width`` is
    the terminal's (default: measured on a terminal, unlimited in a pipe)."""
    colour = _output.colours_on()
    if width is None and _output.stdout_is_terminal():
        width = shutil.get_terminal_size().columns
    natural = [
        max(len(column.header), *(len(row[index]) for row in rows))
        for index, column in enumerate(columns)
    ]
    widths = natural if width is None else fitted(columns, natural, width)
    table = Table(box=None, pad_edge=False, header_style="bold" if colour else "")
    for column, column_width in zip(columns, widths, strict=True):
        table.add_column(column.header, width=column_width, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(
            *(
                Text(value, style=column.colours.get(value, "") if colour else "")
                for column, value in zip(columns, row, strict=True)
            )
        )
    buffer = StringIO()
    console = Console(
        file=buffer,
        # Never narrower than the table: a terminal wraps a line that is still too long,
        # where rich would squeeze every column to nothing.
        width=sum(widths) + _GAP * (len(widths) - 1),
        force_terminal=colour,
        color_system="standard" if colour else None,
        no_color=not colour,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def fitted(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int]:
    """Column widths that fit ``width``: the widest column that may be cut is cut first, a
    character at a time, down to its heading (at least :data:`MIN_CUT`); ids never are."""
    widths = list(natural)
    excess = sum(widths) + _GAP * (len(widths) - 1) - width
    floors = [max(len(column.header), MIN_CUT) for column in columns]
    while excess > 0:
        cuttable = [
            index
            for index, column in enumerate(columns)
            if not column.whole and widths[index] > floors[index]
        ]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda index: (widths[index], index))
        widths[widest] -= 1
        excess -= 1
    return widths


def iso_time(at: datetime | None) -> str:
    """``at`` in UTC to the second (``2026-03-02T09:00:00Z``), or ``-``."""
    if at is None:
        return NONE
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(at: datetime | None, now: datetime) -> str:
    """``at`` relative to ``now`` (``in 5m``, ``3h10m ago``, ``now``) within a day of it,
    else :func:`iso_time`."""
    if at is None:
        return NONE
    seconds = (at - now).total_seconds()
    if abs(seconds) >= _DAY:
        return iso_time(at)
    whole = int(abs(seconds))
    if whole == 0:
        return "now"
    if whole < 60:
        span = f"{whole}s"
    elif whole < 3600:
        span = f"{whole // 60}m"
    else:
        span = f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"in {span}" if seconds > 0 else f"{span} ago"


def one_of(words: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def shortened(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_summary(error: Mapping[str, Any] | str | None) -> str:
    """A recorded error in one line: ``reason: message`` of an error object, or its JSON."""
    if error is None:
        return NONE
    if isinstance(error, str):
        return " ".join(error.split()) or NONE
    reason, message = error.get("reason"), error.get("message")
    if reason and message:
        return f"{reason}: {message}"
    if reason or message:
        return str(reason or message)
    data = error.thaw() if isinstance(error, FrozenMap) else dict(error)
    return json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
