"""``omni inbox``: the operator's view of the durable store's inbox.

``list`` the inbound events, ``show`` one (its payload, the handlers that completed, its
attempts and last error), ``retry`` a dead or done one: it is pending again, due now, and
the workers' topic is notified. The store is opened without the worker lock, so these run
beside a worker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import click

from omnichannel.cli._shared import config_option, json_option, print_json
from omnichannel.cli._store_access import (
    Refused,
    json_time,
    limit_option,
    operator_store,
    print_listing,
    run_operation,
    store_url,
    url_option,
)
from omnichannel.cli._tables import (
    NONE,
    Column,
    error_summary,
    iso_time,
    one_of,
    shortened,
    when,
)
from omnichannel.durable import INBOX_TOPIC
from omnichannel.store.records import INBOX_MOVES, InboxRecord, InboxState

if TYPE_CHECKING:
    from omnichannel.store import Store

RETRYABLE: Final = (InboxState.DEAD, InboxState.DONE)
"""The states ``omni inbox retry`` puts back to pending."""
_ERROR_WIDTH: Final = 60

STATE_COLOURS: Final = {
    InboxState.PENDING.value: "cyan",
    InboxState.HANDLING.value: "blue",
    InboxState.DONE.value: "green",
    InboxState.DEAD.value: "bold red",
}
_LIST_COLUMNS: Final = (
    Column(header="id", whole=True),
    Column(header="channel"),
    Column(header="kind"),
    Column(header="state", colours=STATE_COLOURS),
    Column(header="attempts"),
    Column(header="due"),
    Column(header="received"),
    Column(header="handlers done"),
    Column(header="last error"),
)

STATES: Final = [state.value for state in InboxState]
state_option = click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES, case_sensitive=False),
    metavar="S",
    help=f"Only events in state S, one of {', '.join(STATES)} (repeat for several).",
)
id_argument = click.argument("inbox_id", metavar="ID", type=int)


@click.group("inbox")
def inbox_group() -> None:
    """List, show and retry inbound events in the durable store."""


@inbox_group.command("list")
@state_option
@limit_option
@config_option
@url_option
@json_option
def list_events(
    states: Sequence[str], limit: int, config_path: str | None, url: str | None, as_json: bool
) -> None:
    """List the inbox, newest first: channel, kind, state, attempts, the handlers that
    completed and the last error of each event."""
    target = store_url(config_path, url)
    wanted = [InboxState(state.lower()) for state in states] or None

    async def run() -> list[InboxRecord]:
        async with operator_store(target) as store:
            return await store.list_inbox(states=wanted, limit=limit)

    print_listing(
        run_operation(run),
        as_json=as_json,
        to_json=record_json,
        columns=_LIST_COLUMNS,
        row=_list_row,
        states=states,
        nothing="No events{among} in the inbox.",
    )


@inbox_group.command()
@id_argument
@config_option
@url_option
@json_option
def show(inbox_id: int, config_path: str | None, url: str | None, as_json: bool) -> None:
    """Show one inbound event: its payload, the handlers that completed, its attempts and
    last error."""
    target = store_url(config_path, url)

    async def run() -> InboxRecord:
        async with operator_store(target) as store:
            return await _found(store, inbox_id)

    record = run_operation(run)
    if as_json:
        print_json({**record_json(record), "payload": record.payload.thaw()})
        return
    now = datetime.now(UTC)
    fields = [
        ("id", str(record.id)),
        ("dedupe key", record.dedupe_key),
        ("kind", record.kind),
        ("channel", record.channel),
        ("state", f"{record.state} (attempts {record.attempts})"),
        ("due", f"{iso_time(record.due_at)} ({when(record.due_at, now)})"),
    ]
    if record.lease_owner is not None:
        fields.append(("lease", f"{record.lease_owner} until {iso_time(record.lease_expires_at)}"))
    fields += [
        ("handlers done", ", ".join(sorted(record.handlers_done)) or NONE),
        ("last error", error_summary(record.last_error)),
        ("received", iso_time(record.received_at)),
    ]
    for label, value in fields:
        click.echo(f"{label:<15}{value}")
    click.echo()
    click.echo("payload")
    click.echo(json.dumps(record.payload.thaw(), indent=2, ensure_ascii=False, default=str))


@inbox_group.command()
@id_argument
@config_option
@url_option
@json_option
def retry(inbox_id: int, config_path: str | None, url: str | None, as_json: bool) -> None:
    """Put a dead or done event back to pending, due now, and wake a worker (handlers that
    completed are not run again)."""
    target = store_url(config_path, url)

    async def run() -> tuple[InboxRecord, InboxRecord]:
        async with operator_store(target) as store:
            before = await _found(store, inbox_id)
            if before.state not in RETRYABLE:
                raise Refused(_not_retryable(before))
            moved = await store.settle_inbox(inbox_id, to=InboxState.PENDING, now=store.clock())
            after = await _found(store, inbox_id)
            if not moved:  # moved on by a worker meanwhile
                raise Refused(_not_retryable(after))
            await store.notify(INBOX_TOPIC)
        return before, after

    before, after = run_operation(run)
    if as_json:
        print_json(
            {
                "id": after.id,
                "from": before.state.value,
                "to": after.state.value,
                "record": record_json(after),
            }
        )
        return
    done = ", ".join(sorted(after.handlers_done))
    skipped = f"; handlers already done are not run again: {done}" if done else ""
    click.echo(f"Retried event {inbox_id}: {before.state} -> pending, due now{skipped}.")


async def _found(store: Store, inbox_id: int) -> InboxRecord:
    record = await store.inbox_record(inbox_id)
    if record is None:
        raise Refused(
            f"event {inbox_id} is not in the inbox of the store at {store.url}", "not_found"
        )
    return record


def _not_retryable(record: InboxRecord) -> str:
    detail = ""
    if record.state is InboxState.HANDLING and record.lease_owner:
        detail = (
            f" (worker {record.lease_owner} is handling it, lease until "
            f"{iso_time(record.lease_expires_at)})"
        )
    elif record.state is InboxState.PENDING:
        detail = f" (due {when(record.due_at, datetime.now(UTC))})"
    moves = ", ".join(sorted(state.value for state in INBOX_MOVES[record.state]))
    return (
        f"event {record.id} is {record.state}{detail}, and `omni inbox retry` retries only "
        f"{one_of([state.value for state in RETRYABLE])} events; from {record.state} the inbox "
        f"allows: {moves}"
    )


def record_json(record: InboxRecord) -> dict[str, Any]:
    """An inbound event as ``omni inbox list --json`` prints it (times ISO 8601; the payload
    only in ``omni inbox show``)."""
    return {
        "id": record.id,
        "dedupe_key": record.dedupe_key,
        "kind": record.kind,
        "channel": record.channel,
        "state": record.state.value,
        "attempts": record.attempts,
        "handlers_done": sorted(record.handlers_done),
        "due_at": json_time(record.due_at),
        "lease_owner": record.lease_owner,
        "lease_expires_at": json_time(record.lease_expires_at),
        "last_error": record.last_error,
        "received_at": json_time(record.received_at),
    }


def _list_row(record: InboxRecord, now: datetime) -> list[str]:
    return [
        str(record.id),
        record.channel,
        record.kind,
        record.state.value,
        str(record.attempts),
        when(record.due_at, now) if record.state is InboxState.PENDING else NONE,
        when(record.received_at, now),
        ",".join(sorted(record.handlers_done)) or NONE,
        shortened(error_summary(record.last_error), _ERROR_WIDTH),
    ]
