"""``omni outbox``: the operator's view of the durable store's outbox.

``list`` the rows, ``show`` one (its history, the hops of its failover chain, its statuses),
``retry`` a failed, dead or unknown one, ``cancel`` a queued one. The store is opened without
the worker lock, so these run beside a worker; a retry notifies the workers' topic so one
wakes at once (on PostgreSQL; a SQLite worker finds the row at its next poll).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    render_table,
    shortened,
    when,
)
from omnichannel.durable import OUTBOX_TOPIC
from omnichannel.store.records import (
    OUTBOX_MOVES,
    HistoryEntry,
    OutboxRecord,
    OutboxState,
    StatusHistoryEntry,
)

if TYPE_CHECKING:
    from omnichannel.envelope import Envelope
    from omnichannel.store import Store

RETRY_REASON: Final = "retried by an operator (omni outbox retry)"
CANCEL_REASON: Final = "canceled by an operator (omni outbox cancel)"
RETRYABLE: Final = (OutboxState.FAILED, OutboxState.DEAD, OutboxState.UNKNOWN)
"""The states ``omni outbox retry`` queues again (``unknown`` only with ``--force``)."""
_HOPS_LIMIT: Final = 100
_ERROR_WIDTH: Final = 60
_TEXT_WIDTH: Final = 60

STATE_COLOURS: Final = {
    OutboxState.QUEUED.value: "cyan",
    OutboxState.SENDING.value: "blue",
    OutboxState.SENT.value: "green",
    OutboxState.FAILED.value: "red",
    OutboxState.UNKNOWN.value: "yellow",
    OutboxState.DEAD.value: "bold red",
    OutboxState.CANCELED.value: "dim",
    OutboxState.EXPIRED.value: "dim",
}
_LIST_COLUMNS: Final = (
    Column(header="envelope", whole=True),
    Column(header="channel"),
    Column(header="state", colours=STATE_COLOURS),
    Column(header="attempts"),
    Column(header="due"),
    Column(header="provider ids"),
    Column(header="chain"),
    Column(header="last error"),
)
_HISTORY_COLUMNS: Final = (
    Column(header="at", whole=True),
    Column(header="from", colours=STATE_COLOURS),
    Column(header="to", colours=STATE_COLOURS),
    Column(header="reason"),
    Column(header="worker"),
)
_HOP_COLUMNS: Final = (
    Column(header="step", whole=True),
    Column(header="envelope", whole=True),
    Column(header="channel"),
    Column(header="state", colours=STATE_COLOURS),
    Column(header="attempts"),
    Column(header="provider ids"),
    Column(header="last error"),
)
_STATUS_COLUMNS: Final = (
    Column(header="at", whole=True),
    Column(header="provider id", whole=True),
    Column(header="status"),
    Column(header="outcome"),
)

STATES: Final = [state.value for state in OutboxState]
state_option = click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES, case_sensitive=False),
    metavar="S",
    help=f"Only envelopes in state S, one of {', '.join(STATES)} (repeat for several).",
)


@click.group("outbox")
def outbox_group() -> None:
    """List, show, retry and cancel outbound envelopes in the durable store."""


@outbox_group.command("list")
@state_option
@limit_option
@config_option
@url_option
@json_option
def list_rows(
    states: Sequence[str], limit: int, config_path: str | None, url: str | None, as_json: bool
) -> None:
    """List the outbox, newest first: state, attempts, when it is due, provider ids, chain
    and last error of each envelope."""
    target = store_url(config_path, url)
    wanted = [OutboxState(state.lower()) for state in states] or None

    async def run() -> list[OutboxRecord]:
        async with operator_store(target) as store:
            return await store.list_outbox(states=wanted, limit=limit)

    print_listing(
        run_operation(run),
        as_json=as_json,
        to_json=record_json,
        columns=_LIST_COLUMNS,
        row=_list_row,
        states=states,
        nothing="No envelopes{among} in the outbox.",
    )


@outbox_group.command()
@click.argument("envelope_id", metavar="ID")
@config_option
@url_option
@json_option
def show(envelope_id: str, config_path: str | None, url: str | None, as_json: bool) -> None:
    """Show one envelope's row, every move in its history, the hops of its failover chain,
    and the status updates its provider messages received."""
    target = store_url(config_path, url)

    async def run() -> tuple[
        OutboxRecord, list[HistoryEntry], list[OutboxRecord], list[StatusHistoryEntry]
    ]:
        async with operator_store(target) as store:
            record = await _found(store, envelope_id)
            history = await store.history(envelope_id)
            hops: list[OutboxRecord] = []
            if record.chain is not None:
                hops = await store.list_outbox(chain=record.chain, limit=_HOPS_LIMIT)
                hops.sort(key=lambda hop: (hop.chain_step, hop.created_at, hop.envelope_id))
            statuses = await store.status_history(envelope_id)
        return record, history, hops, statuses

    record, history, hops, statuses = run_operation(run)
    if as_json:
        shown: dict[str, Any] = {**record_json(record), "envelope": record.envelope.to_dict()}
        print_json(
            {
                "record": shown,
                "history": [_history_json(entry) for entry in history],
                "hops": [record_json(hop) for hop in hops],
                "statuses": [_status_json(entry) for entry in statuses],
            }
        )
        return
    now = datetime.now(UTC)
    _print_record(record, now)
    click.echo()
    click.echo("history")
    click.echo(render_table(_HISTORY_COLUMNS, [_history_row(entry) for entry in history]))
    if hops:
        click.echo()
        click.echo(f"hops of chain {record.chain}")
        click.echo(render_table(_HOP_COLUMNS, [_hop_row(hop) for hop in hops]))
    click.echo()
    if statuses:
        click.echo("statuses")
        click.echo(render_table(_STATUS_COLUMNS, [_status_row(entry) for entry in statuses]))
    else:
        click.echo("statuses: none received")


@outbox_group.command()
@click.argument("envelope_id", metavar="ID")
@click.option(
    "--force",
    is_flag=True,
    help="Retry an unknown envelope, accepting that the provider may have created the "
    "message and it may be sent twice.",
)
@config_option
@url_option
@json_option
def retry(
    envelope_id: str, force: bool, config_path: str | None, url: str | None, as_json: bool
) -> None:
    """Queue a failed, dead or unknown envelope again, due now, and wake a worker.

    An unknown one needs --force: the provider may have created the message."""
    target = store_url(config_path, url)

    async def run() -> tuple[OutboxRecord, OutboxRecord]:
        async with operator_store(target) as store:
            before = await _found(store, envelope_id)
            if before.state not in RETRYABLE:
                raise Refused(_not_for("retry", "retries", RETRYABLE, before))
            if before.state is OutboxState.UNKNOWN and not force:
                raise Refused(_unknown_needs_force(envelope_id))
            moved = await store.transition(
                envelope_id, to=OutboxState.QUEUED, now=store.clock(), reason=RETRY_REASON
            )
            after = await _found(store, envelope_id)
            if not moved:  # moved on by a worker meanwhile
                raise Refused(_not_for("retry", "retries", RETRYABLE, after))
            await store.notify(OUTBOX_TOPIC)
        return before, after

    before, after = run_operation(run)
    if as_json:
        print_json(_move_json(before, after))
        return
    click.echo(
        f"Retried envelope {envelope_id}: {before.state} -> queued, due now "
        f"(attempts {after.attempts}/{after.max_attempts})."
    )


@outbox_group.command()
@click.argument("envelope_id", metavar="ID")
@config_option
@url_option
@json_option
def cancel(envelope_id: str, config_path: str | None, url: str | None, as_json: bool) -> None:
    """Cancel a queued envelope: it will not be sent. Any other state is refused."""
    target = store_url(config_path, url)
    queued = (OutboxState.QUEUED,)

    async def run() -> tuple[OutboxRecord, OutboxRecord]:
        async with operator_store(target) as store:
            before = await _found(store, envelope_id)
            if before.state is not OutboxState.QUEUED:
                raise Refused(_not_for("cancel", "cancels", queued, before))
            moved = await store.transition(
                envelope_id, to=OutboxState.CANCELED, now=store.clock(), reason=CANCEL_REASON
            )
            after = await _found(store, envelope_id)
            if not moved:  # claimed by a worker meanwhile
                raise Refused(_not_for("cancel", "cancels", queued, after))
        return before, after

    before, after = run_operation(run)
    if as_json:
        print_json(_move_json(before, after))
        return
    click.echo(f"Canceled envelope {envelope_id}: {before.state} -> canceled.")


# -- looking up and refusing -------------------------------------------------------------------


async def _found(store: Store, envelope_id: str) -> OutboxRecord:
    record = await store.outbox_record(envelope_id)
    if record is None:
        raise Refused(
            f"envelope {envelope_id!r} is not in the outbox of the store at {store.url}",
            "not_found",
        )
    return record


def _state_detail(record: OutboxRecord) -> str:
    if record.state is OutboxState.SENDING and record.lease_owner:
        until = iso_time(record.lease_expires_at)
        return f" (worker {record.lease_owner} is sending it, lease until {until})"
    if record.state is OutboxState.QUEUED:
        return f" (due {when(record.due_at, datetime.now(UTC))})"
    return ""


def _not_for(
    command: str, verb: str, accepted: Collection[OutboxState], record: OutboxRecord
) -> str:
    moves = sorted(state.value for state in OUTBOX_MOVES[record.state])
    allowed = f"allows: {', '.join(moves)}" if moves else "allows no move (it is final)"
    return (
        f"envelope {record.envelope_id} is {record.state}{_state_detail(record)}, and "
        f"`omni outbox {command}` {verb} only {one_of([state.value for state in accepted])} "
        f"envelopes; from {record.state} the outbox {allowed}"
    )


def _unknown_needs_force(envelope_id: str) -> str:
    return (
        f"envelope {envelope_id} is unknown: the provider may have created the message, so a "
        "retry may send it twice; check with the provider or wait for a status, then "
        f"`omni outbox retry {envelope_id} --force` accepts that"
    )


# -- JSON --------------------------------------------------------------------------------------


def record_json(record: OutboxRecord) -> dict[str, Any]:
    """An outbox row as ``omni outbox list --json`` prints it (times ISO 8601)."""
    return {
        "envelope_id": record.envelope_id,
        "channel": record.channel,
        "state": record.state.value,
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
        "due_at": json_time(record.due_at),
        "lease_owner": record.lease_owner,
        "lease_expires_at": json_time(record.lease_expires_at),
        "chain": record.chain,
        "chain_step": record.chain_step,
        "provider_ids": list(record.provider_ids),
        "last_error": None if record.last_error is None else record.last_error.thaw(),
        "receipt": None if record.receipt is None else record.receipt.thaw(),
        "created_at": json_time(record.created_at),
        "updated_at": json_time(record.updated_at),
    }


def _history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "at": json_time(entry.at),
        "from": None if entry.from_state is None else entry.from_state.value,
        "to": entry.to_state,
        "reason": entry.reason,
        "worker": entry.worker,
    }


def _status_json(entry: StatusHistoryEntry) -> dict[str, Any]:
    return {
        **entry.update.to_dict(),
        "outcome": entry.outcome.value,
        "status_after": entry.status_after.value,
        "recorded_at": json_time(entry.recorded_at),
    }


def _move_json(before: OutboxRecord, after: OutboxRecord) -> dict[str, Any]:
    return {
        "envelope_id": after.envelope_id,
        "from": before.state.value,
        "to": after.state.value,
        "record": record_json(after),
    }


# -- tables ------------------------------------------------------------------------------------


def _chain_label(record: OutboxRecord) -> str:
    if record.chain is None:
        return NONE
    name = record.chain.partition(":")[0]
    return f"{name} step {record.chain_step}"


def _ids(record: OutboxRecord) -> str:
    return ",".join(record.provider_ids) or NONE


def _list_row(record: OutboxRecord, now: datetime) -> list[str]:
    return [
        record.envelope_id,
        record.channel,
        record.state.value,
        f"{record.attempts}/{record.max_attempts}",
        when(record.due_at, now) if record.state is OutboxState.QUEUED else NONE,
        _ids(record),
        _chain_label(record),
        shortened(error_summary(record.last_error), _ERROR_WIDTH),
    ]


def _hop_row(record: OutboxRecord) -> list[str]:
    return [
        str(record.chain_step),
        record.envelope_id,
        record.channel,
        record.state.value,
        f"{record.attempts}/{record.max_attempts}",
        _ids(record),
        shortened(error_summary(record.last_error), _ERROR_WIDTH),
    ]


def _history_row(entry: HistoryEntry) -> list[str]:
    return [
        iso_time(entry.at),
        NONE if entry.from_state is None else entry.from_state.value,
        entry.to_state,
        entry.reason or NONE,
        entry.worker or NONE,
    ]


def _status_row(entry: StatusHistoryEntry) -> list[str]:
    return [
        iso_time(entry.update.timestamp),
        entry.update.provider_id,
        entry.update.status.value,
        entry.outcome.value,
    ]


def _text_start(envelope: Envelope) -> str:
    content = envelope.content
    if content.plain_text:
        return shortened(content.plain_text, _TEXT_WIDTH)
    if content.template is not None:
        return f"(template {content.template.name})"
    if content.media:
        return f"({len(content.media)} media)"
    return "(interactive)" if content.interactive is not None else NONE


def _print_record(record: OutboxRecord, now: datetime) -> None:
    envelope = record.envelope
    fields = [
        ("envelope", record.envelope_id),
        ("channel", record.channel),
        ("recipient", envelope.recipient.value),
        ("text", _text_start(envelope)),
        ("state", f"{record.state} (attempts {record.attempts}/{record.max_attempts})"),
        ("due", f"{iso_time(record.due_at)} ({when(record.due_at, now)})"),
    ]
    if record.lease_owner is not None:
        fields.append(("lease", f"{record.lease_owner} until {iso_time(record.lease_expires_at)}"))
    if record.chain is not None:
        fields.append(("chain", f"{_chain_label(record)} ({record.chain})"))
    fields += [
        ("provider ids", ", ".join(record.provider_ids) or NONE),
        ("last error", error_summary(record.last_error)),
        ("created", iso_time(record.created_at)),
        ("updated", iso_time(record.updated_at)),
    ]
    for label, value in fields:
        click.echo(f"{label:<14}{value}")


def _register_enqueue() -> None:
    from omnichannel.cli.enqueue import enqueue

    outbox_group.add_command(enqueue)


_register_enqueue()
