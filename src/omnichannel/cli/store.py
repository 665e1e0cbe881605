"""``omni store``: migrate the durable store (``upgrade``) and say where it stands (``status``).

The store's URL comes from ``--url``, else from ``[store] url`` in the configuration, else it
is a SQLite file next to the configuration (``./omnichannel.db`` without one).
"""

from __future__ import annotations

import anyio
import click

from omnichannel.cli._shared import config_option, json_option, print_json
from omnichannel.cli._store_access import store_class, store_url, url_option


@click.group()
def store() -> None:
    """Migrate and inspect the durable store (outbox, inbox, statuses, timers)."""


@store.command()
@config_option
@url_option
@json_option
def upgrade(config_path: str | None, url: str | None, as_json: bool) -> None:
    """Create or migrate the store's tables to this omnichannel's schema (run it after each
    upgrade of omnichannel; stop the SQLite worker first)."""
    Store = store_class()
    from omnichannel.store.engine import parse_url

    target = store_url(config_path, url)
    shown = parse_url(target).display

    async def run() -> tuple[str | None, str]:
        before = await Store.schema_version(target)
        return before, await Store.upgrade(target)

    before, after = anyio.run(run)
    if as_json:
        print_json({"url": shown, "from": before, "to": after, "changed": before != after})
    elif before == after:
        click.echo(f"The store at {shown} is up to date (version {after}).")
    else:
        start = "an empty database" if before is None else f"version {before}"
        click.echo(f"Upgraded the store at {shown} from {start} to version {after}.")


@store.command()
@config_option
@url_option
@json_option
@click.pass_context
def status(ctx: click.Context, config_path: str | None, url: str | None, as_json: bool) -> None:
    """Show the store's schema version and how many outbox and inbox rows are in each state.

    Exits 2 when the schema needs `omni store upgrade`."""
    from omnichannel.store import SCHEMA_VERSION

    Store = store_class()
    from omnichannel.store.engine import parse_url

    target = store_url(config_path, url)
    shown = parse_url(target).display

    async def run() -> tuple[str | None, dict[str, int], dict[str, int]]:
        version = await Store.schema_version(target)
        if version != SCHEMA_VERSION:
            return version, {}, {}
        async with await Store.open(target, worker=False) as opened:
            outbox = {state.value: count for state, count in (await opened.count_outbox()).items()}
            inbox = {state.value: count for state, count in (await opened.count_inbox()).items()}
        return version, outbox, inbox

    version, outbox, inbox = anyio.run(run)
    current = version == SCHEMA_VERSION
    if as_json:
        print_json(
            {
                "url": shown,
                "version": version,
                "needed": SCHEMA_VERSION,
                "up_to_date": current,
                "outbox": outbox,
                "inbox": inbox,
            }
        )
    else:
        click.echo(f"store    {shown}")
        click.echo(f"version  {version or 'none'} (this omnichannel needs {SCHEMA_VERSION})")
        if not current:
            click.echo("Run `omni store upgrade`.")
        else:
            for title, counts in (("outbox", outbox), ("inbox", inbox)):
                shown_counts = ", ".join(f"{state} {count}" for state, count in counts.items())
                click.echo(f"{title:<8} {shown_counts}")
    if not current:
        ctx.exit(2)
