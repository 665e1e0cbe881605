"""What the store's commands share (``omni store``, ``omni outbox``, ``omni inbox``): the
``--url`` option and where the URL comes from, opening the store as an operator, and
refusing an operation in one line.

The store's URL comes from ``--url``, else from ``[store] url`` in the configuration, else it
is a SQLite file next to the configuration (``./omnichannel.db`` without one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click

from omnichannel.cli import EXIT_USAGE, report_error
from omnichannel.cli._shared import print_json
from omnichannel.cli._tables import Column, one_of, render_table
from omnichannel.errors import ConfigurationError

if TYPE_CHECKING:
    from omnichannel.store import Store

__all__ = [
    "Refused",
    "json_time",
    "limit_option",
    "operator_store",
    "print_listing",
    "run_operation",
    "store_class",
    "store_url",
    "url_option",
]

T = TypeVar("T")

url_option = click.option(
    "--url",
    default=None,
    metavar="URL",
    help="The store's database URL (sqlite:///path.db, postgresql+psycopg://...); "
    "default: [store] url from the configuration.",
)
limit_option = click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    metavar="N",
    help="Show at most N rows, newest first.",
)


def json_time(at: datetime | None) -> str | None:
    """``at`` as ISO 8601 for ``--json`` output (None stays None)."""
    return None if at is None else at.isoformat()


def store_url(config_path: str | None, url: str | None) -> str:
    """The URL of the store to open: ``url`` when given, else the configuration's."""
    if url is not None:
        return url
    from omnichannel.cli._shared import read_config
    from omnichannel.store import configured_url

    return configured_url(read_config(config_path))


def store_class() -> type[Store]:
    """:class:`~omnichannel.store.Store`, or a :class:`ConfigurationError` saying which extra
    to install when its libraries are missing (``pip install omnichannel`` has none)."""
    try:
        from omnichannel.store import Store
    except ImportError as error:
        missing = (error.name or "").partition(".")[0] or "libraries that are not installed"
        raise ConfigurationError(
            f"the durable store needs {missing}: pip install 'omnichannel[store]' "
            "(for PostgreSQL 'omnichannel[postgres]')"
        ) from None
    return Store


@asynccontextmanager
async def operator_store(url: str) -> AsyncIterator[Store]:
    """The store at ``url`` opened without the worker lock (a worker may hold it: these
    commands run beside it), closed when the block ends."""
    store = await store_class().open(url, worker=False)
    try:
        yield store
    finally:
        await store.close()


class Refused(Exception):
    """An operation the command refuses (an unknown id, a move the outbox does not allow):
    its message is the one line the user sees, ``reason`` the ``--json`` object's."""

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


def run_operation(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` in an event loop; a :class:`Refused` becomes one error line and exit 2."""
    try:
        return anyio.run(work)
    except Refused as refusal:
        report_error(str(refusal), refusal.reason, EXIT_USAGE)
        raise SystemExit(EXIT_USAGE) from None


def print_listing(
    records: Sequence[T],
    *,
    as_json: bool,
    to_json: Callable[[T], dict[str, Any]],
    columns: Sequence[Column],
    row: Callable[[T, datetime], list[str]],
    states: Sequence[str],
    nothing: str,
) -> None:
    """Print ``list`` output: a JSON array, a table, or ``nothing`` (``"No envelopes{among}
    in the outbox."``, ``{among}`` naming the ``--state`` filters) when there are no rows."""
    if as_json:
        print_json([to_json(record) for record in records])
        return
    if not records:
        among = f" in state {one_of(sorted({state.lower() for state in states}))}" if states else ""
        click.echo(nothing.format(among=among))
        return
    now = datetime.now(UTC)
    click.echo(render_table(columns, [row(record, now) for record in records]))
