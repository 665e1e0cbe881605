"""``omni outbox list|show|retry|cancel`` against real stores: SQLite files, and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from click.testing import CliRunner

from omnichannel.cli import omni
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.store import OutboxState, Store
from omnichannel.testing.builders import make_envelope
from omnichannel.testing.store_contract import T0, Clock, empty_store
from omnichannel.testing.store_outbox import put_in_state

T = TypeVar("T")
LEASE = timedelta(seconds=30)
RECORD_FIELDS = {
    "envelope_id",
    "channel",
    "state",
    "attempts",
    "max_attempts",
    "due_at",
    "lease_owner",
    "lease_expires_at",
    "chain",
    "chain_step",
    "provider_ids",
    "last_error",
    "receipt",
    "created_at",
    "updated_at",
}


@pytest.fixture
def url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A migrated, empty SQLite store in the test's directory, with no plugins and no
    configuration around."""
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)
    address = f"sqlite:///{tmp_path / 'omnichannel.db'}"
    anyio.run(Store.upgrade, address)
    return address


def filled(url: str, fill: Callable[[Store, Clock], Awaitable[T]]) -> T:
    """Run ``fill`` on the store at ``url`` (its clock at T0, moved on as ``fill`` says)."""

    async def run() -> T:
        clock = Clock()
        async with await Store.open(url, worker=False, clock=clock) as store:
            return await fill(store, clock)

    return anyio.run(run)


def record_of(url: str, envelope_id: str) -> Any:
    async def run() -> Any:
        async with await Store.open(url, worker=False) as store:
            return await store.outbox_record(envelope_id), await store.history(envelope_id)

    return anyio.run(run)


async def one_of_each(store: Store, clock: Clock) -> dict[str, str]:
    """A queued, a sent (with a provider id), a failed (with an error), a dead and an unknown
    envelope, enqueued a second apart in that order."""
    ids = {}
    for state in ("queued", "sent", "failed", "dead", "unknown"):
        ids[state] = await put_in_state(store, OutboxState(state))
        clock.advance(timedelta(seconds=1))
    await store.record_provider_messages(ids["sent"], "fake", ["SM-1"], DeliveryStatus.ACCEPTED)
    await store.transition(ids["failed"], to=OutboxState.QUEUED, now=T0)
    await store.claim_outbox(worker="w-1", now=T0, lease=LEASE, limit=1, envelope_id=ids["failed"])
    await store.transition(
        ids["failed"],
        to=OutboxState.FAILED,
        now=T0,
        error={"reason": "invalid_recipient", "message": "no such number"},
    )
    return ids


async def a_chain(store: Store, clock: Clock) -> tuple[str, str]:
    """A chain of two hops: SMS sent and superseded, then email failed; a status for the SMS."""
    root = make_envelope(channel="sms", to="+15550100", text="Your order shipped today")
    chain = f"urgent:{root.id}"
    await store.enqueue(root, due_at=T0, max_attempts=3, chain=chain)
    await store.claim_outbox(worker="w-1", now=T0, lease=LEASE, limit=1, envelope_id=root.id)
    await store.transition(root.id, to=OutboxState.SENT, now=T0, worker="w-1")
    await store.record_provider_messages(root.id, "sms", ["SM-9"], DeliveryStatus.ACCEPTED)
    await store.apply_status(
        StatusUpdate(
            channel="sms",
            provider_id="SM-9",
            status="undelivered",
            timestamp=T0 + timedelta(seconds=4),
        )
    )
    await store.supersede(root.id, now=T0 + LEASE, reason="not delivered in time", worker="w-1")
    clock.advance(timedelta(seconds=1))
    hop = make_envelope(channel="email", to="ana@example.com", text="Your order shipped today")
    await store.enqueue(hop, due_at=T0, max_attempts=3, chain=chain, chain_step=1)
    await store.enqueue(make_envelope(), due_at=T0, max_attempts=3)  # not of the chain
    return root.id, hop.id


def lines_of(out: str) -> dict[str, str]:
    """The table's lines by their first word."""
    return {line.split()[0]: line for line in out.splitlines() if line.strip()}


# -- list ----------------------------------------------------------------------------------------


def test_list_shows_every_envelope_newest_first_with_its_state(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "list", "--url", url)
    assert ran.code == 0, ran.err
    header, *rows = ran.out.splitlines()
    assert header.split()[:5] == ["envelope", "channel", "state", "attempts", "due"]
    assert [row.split()[0] for row in rows] == [
        ids[state] for state in ("unknown", "dead", "failed", "sent", "queued")
    ]
    found = lines_of(ran.out)
    for state, envelope_id in ids.items():
        assert f" {state} " in found[envelope_id]
    assert "SM-1" in found[ids["sent"]]
    assert "invalid_recipient: no such number" in found[ids["failed"]]
    assert "1/5" in found[ids["failed"]]
    assert "\x1b" not in ran.out  # no colour in a pipe


def test_list_filters_by_state_and_limit(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "list", "--url", url, "--state", "failed", "--state", "DEAD")
    assert ran.code == 0, ran.err
    assert set(lines_of(ran.out)) == {"envelope", ids["failed"], ids["dead"]}
    ran = cli.run("outbox", "list", "--url", url, "--limit", "2")
    assert set(lines_of(ran.out)) == {"envelope", ids["unknown"], ids["dead"]}
    ran = cli.run("outbox", "list", "--url", url, "--state", "expired")
    assert (ran.code, ran.out) == (0, "No envelopes in state expired in the outbox.\n")
    ran = cli.run("outbox", "list", "--url", url, "--state", "lost")
    assert ran.code == 2
    assert "'lost' is not one of" in ran.err


def test_list_json_is_an_array_of_rows_with_every_field(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "list", "--url", url, "--json")
    assert ran.code == 0, ran.err
    rows = {row["envelope_id"]: row for row in json.loads(ran.out)}
    assert set(rows) == set(ids.values())
    for row in rows.values():
        assert set(row) == RECORD_FIELDS
        assert datetime.fromisoformat(row["created_at"]).utcoffset() == timedelta(0)
        datetime.fromisoformat(row["due_at"])
    assert rows[ids["sent"]]["provider_ids"] == ["SM-1"]
    assert rows[ids["failed"]]["last_error"] == {
        "reason": "invalid_recipient",
        "message": "no such number",
    }
    assert rows[ids["dead"]]["state"] == "dead"
    assert (
        json.loads(cli.run("outbox", "list", "--url", url, "--state", "expired", "--json").out)
        == []
    )


def test_list_is_coloured_on_a_terminal_unless_no_color(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = filled(url, one_of_each)
    monkeypatch.setattr("omnichannel.cli._output.stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    coloured = CliRunner().invoke(omni, ["outbox", "list", "--url", url], color=True)
    assert coloured.exit_code == 0, coloured.stderr
    assert "\x1b[" in lines_of(coloured.stdout)[ids["dead"]]
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(omni, ["outbox", "list", "--url", url], color=True)
    assert "\x1b" not in plain.stdout
    assert " dead " in lines_of(plain.stdout)[ids["dead"]]


def test_list_on_a_narrow_terminal_cuts_the_error_never_the_id(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = filled(url, one_of_each)
    monkeypatch.setattr("omnichannel.cli._output.stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    ran = CliRunner().invoke(omni, ["outbox", "list", "--url", url])
    assert all(len(line) <= 100 for line in ran.stdout.splitlines())
    failed = lines_of(ran.stdout)[ids["failed"]]
    assert failed.startswith(ids["failed"])
    assert "…" in failed


# -- show ----------------------------------------------------------------------------------------


def test_show_gives_the_row_its_history_in_order_the_chain_and_the_statuses(
    url: str, cli: Any
) -> None:
    root, hop = filled(url, a_chain)
    ran = cli.run("outbox", "show", root, "--url", url)
    assert ran.code == 0, ran.err
    head, history, hops, statuses = ran.out.split("\n\n")
    fields = dict(line.split(None, 1) for line in head.replace("provider ids", "ids").splitlines())
    assert fields["envelope"] == root
    assert (fields["channel"], fields["recipient"]) == ("sms", "+15550100")
    assert fields["text"] == "Your order shipped today"
    assert fields["state"] == "sent (attempts 1/3)"
    assert fields["chain"] == f"urgent step 0 (urgent:{root})"
    assert fields["ids"] == "SM-9"
    moves = [line.split()[1:3] for line in history.splitlines()[2:]]
    assert moves == [
        ["-", "queued"],
        ["queued", "sending"],
        ["sending", "sent"],
        ["sent", "superseded"],
    ]
    assert "not delivered in time" in history
    assert hops.splitlines()[0] == f"hops of chain urgent:{root}"
    steps = [line.split()[:4] for line in hops.splitlines()[2:]]
    assert steps == [["0", root, "sms", "sent"], ["1", hop, "email", "queued"]]
    assert statuses.splitlines()[0] == "statuses"
    assert statuses.splitlines()[2].split()[1:] == ["SM-9", "undelivered", "applied"]
    ran = cli.run("outbox", "show", hop, "--url", url)
    assert "statuses: none received" in ran.out


def test_show_json_has_the_record_history_hops_and_statuses(url: str, cli: Any) -> None:
    root, hop = filled(url, a_chain)
    ran = cli.run("outbox", "show", hop, "--url", url, "--json")
    assert ran.code == 0, ran.err
    shown = json.loads(ran.out)
    assert set(shown) == {"record", "history", "hops", "statuses"}
    assert set(shown["record"]) == RECORD_FIELDS | {"envelope"}
    assert shown["record"]["envelope"]["recipient"]["value"] == "ana@example.com"
    assert [entry["to"] for entry in shown["history"]] == ["queued"]
    assert set(shown["history"][0]) == {"at", "from", "to", "reason", "worker"}
    assert [(h["envelope_id"], h["chain_step"]) for h in shown["hops"]] == [(root, 0), (hop, 1)]
    assert shown["statuses"] == []
    statuses = json.loads(cli.run("outbox", "show", root, "--url", url, "--json").out)["statuses"]
    assert [(s["provider_id"], s["status"], s["outcome"]) for s in statuses] == [
        ("SM-9", "undelivered", "applied")
    ]


def test_show_of_a_row_outside_a_chain_lists_no_hops(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "show", ids["queued"], "--url", url)
    assert ran.code == 0, ran.err
    assert "hops" not in ran.out
    assert (
        json.loads(cli.run("outbox", "show", ids["queued"], "--url", url, "--json").out)["hops"]
        == []
    )


# -- retry and cancel --------------------------------------------------------------------------


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The topics the commands notify."""
    topics: list[str] = []
    original = Store.notify

    async def notify(self: Store, topic: str, **kwargs: Any) -> None:
        topics.append(topic)
        await original(self, topic, **kwargs)

    monkeypatch.setattr(Store, "notify", notify)
    return topics


@pytest.mark.parametrize("state", ["failed", "dead"])
def test_retry_queues_a_failed_or_dead_envelope_due_now_and_wakes_a_worker(
    url: str, cli: Any, notified: list[str], state: str
) -> None:
    ids = filled(url, one_of_each)
    before = datetime.now().astimezone()
    ran = cli.run("outbox", "retry", ids[state], "--url", url)
    assert ran.code == 0, ran.err
    assert ran.out == f"Retried envelope {ids[state]}: {state} -> queued, due now (attempts 0/5).\n"
    record, history = record_of(url, ids[state])
    assert (record.state, record.attempts) == (OutboxState.QUEUED, 0)
    assert record.due_at >= before
    last = history[-1]
    assert (last.from_state, last.to_state) == (OutboxState(state), "queued")
    assert last.reason == "retried by an operator (omni outbox retry)"
    assert notified == ["omnichannel_outbox"]


def test_retry_of_an_unknown_envelope_needs_force(url: str, cli: Any, notified: list[str]) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "retry", ids["unknown"], "--url", url)
    assert ran.code == 2
    assert ran.err.startswith(f"omni: error: envelope {ids['unknown']} is unknown: ")
    assert "may send it twice" in ran.err
    assert f"omni outbox retry {ids['unknown']} --force" in ran.err
    assert record_of(url, ids["unknown"])[0].state is OutboxState.UNKNOWN
    assert notified == []
    ran = cli.run("outbox", "retry", ids["unknown"], "--url", url, "--force", "--json")
    assert ran.code == 0, ran.err
    moved = json.loads(ran.out)
    assert (moved["from"], moved["to"], moved["record"]["state"]) == ("unknown", "queued", "queued")
    assert record_of(url, ids["unknown"])[0].state is OutboxState.QUEUED
    assert notified == ["omnichannel_outbox"]


def test_retry_refuses_a_sent_or_queued_envelope_saying_its_state(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "retry", ids["sent"], "--url", url, "--force")
    assert ran.code == 2
    assert ran.err == (
        f"omni: error: envelope {ids['sent']} is sent, and `omni outbox retry` retries only "
        "failed, dead or unknown envelopes; from sent the outbox allows no move (it is final)\n"
    )
    ran = cli.run("outbox", "retry", ids["queued"], "--url", url)
    assert ran.code == 2
    assert f"envelope {ids['queued']} is queued (due " in ran.err
    assert "from queued the outbox allows: canceled, expired, sending" in ran.err


def test_cancel_withdraws_a_queued_envelope(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "cancel", ids["queued"], "--url", url)
    assert (ran.code, ran.out) == (0, f"Canceled envelope {ids['queued']}: queued -> canceled.\n")
    record, history = record_of(url, ids["queued"])
    assert record.state is OutboxState.CANCELED
    assert history[-1].reason == "canceled by an operator (omni outbox cancel)"


def test_cancel_refuses_a_sent_envelope_with_a_clear_message(url: str, cli: Any) -> None:
    ids = filled(url, one_of_each)
    ran = cli.run("outbox", "cancel", ids["sent"], "--url", url)
    assert ran.code == 2
    assert ran.err == (
        f"omni: error: envelope {ids['sent']} is sent, and `omni outbox cancel` cancels only "
        "queued envelopes; from sent the outbox allows no move (it is final)\n"
    )
    ran = cli.run("outbox", "cancel", ids["sent"], "--url", url, "--json")
    assert ran.code == 2
    assert json.loads(ran.out)["reason"] == "refused"
    assert record_of(url, ids["sent"])[0].state is OutboxState.SENT


def test_a_refusal_names_the_worker_sending_the_envelope(url: str, cli: Any) -> None:
    sending = filled(url, lambda store, _clock: put_in_state(store, OutboxState.SENDING))
    ran = cli.run("outbox", "cancel", sending, "--url", url)
    assert ran.code == 2
    assert (
        f"is sending (worker w-1 is sending it, lease until {T0 + LEASE:%Y-%m-%dT%H:%M:%SZ})"
        in ran.err
    )


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "retry", "cancel"])
def test_an_unknown_envelope_id_exits_2_naming_it(url: str, cli: Any, command: str) -> None:
    ran = cli.run("outbox", command, "01NOSUCHENVELOPE", "--url", url)
    assert ran.code == 2
    assert ran.err == (
        f"omni: error: envelope '01NOSUCHENVELOPE' is not in the outbox of the store at {url}\n"
    )
    assert "Traceback" not in ran.err
    ran = cli.run("outbox", command, "01NOSUCHENVELOPE", "--url", url, "--json")
    assert json.loads(ran.out) == {
        "error": f"envelope '01NOSUCHENVELOPE' is not in the outbox of the store at {url}",
        "reason": "not_found",
        "exit": 2,
    }


def test_a_missing_store_names_omni_store_upgrade_and_creates_nothing(
    url: str, cli: Any, tmp_path: Path
) -> None:
    missing = f"sqlite:///{tmp_path / 'other.db'}"
    ran = cli.run("outbox", "list", "--url", missing)
    assert ran.code == 2
    assert ran.err.startswith(f"omni: error: the store at {missing} has no omnichannel schema")
    assert "run `omni store upgrade`" in ran.err
    assert not (tmp_path / "other.db").exists()


def test_an_outdated_store_names_omni_store_upgrade(url: str, cli: Any, tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "omnichannel.db")) as connection, connection:
        connection.execute("UPDATE omnichannel_schema_version SET version_num = '0000'")
    ran = cli.run("outbox", "show", "anything", "--url", url, "--json")
    assert ran.code == 2
    error = json.loads(ran.out)
    assert "is at version 0000" in error["error"]
    assert "run `omni store upgrade`" in error["error"]
    assert error["reason"] == "configuration"


def test_a_missing_store_extra_is_one_line_naming_the_install(
    url: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import omnichannel.store

    # As after `pip install omnichannel` alone: SQLAlchemy cannot be imported.
    monkeypatch.delattr(omnichannel.store, "Store", raising=False)
    monkeypatch.delitem(sys.modules, "omnichannel.store.store", raising=False)
    monkeypatch.setitem(sys.modules, "sqlalchemy.engine", None)
    ran = cli.run("outbox", "list", "--url", url)
    assert ran.code == 2
    assert ran.err == (
        "omni: error: the durable store needs sqlalchemy: pip install 'omnichannel[store]' "
        "(for PostgreSQL 'omnichannel[postgres]')\n"
    )


def test_the_store_url_comes_from_the_configuration(url: str, cli: Any, tmp_path: Path) -> None:
    ids = filled(url, one_of_each)
    (tmp_path / "omnichannel.toml").write_text('[store]\nurl = "sqlite:///omnichannel.db"\n')
    ran = cli.run("outbox", "list", "--config", str(tmp_path / "omnichannel.toml"))
    assert ran.code == 0, ran.err
    assert ids["dead"] in ran.out
    ran = cli.run("outbox", "list")  # ./omnichannel.db without any configuration
    assert ids["dead"] in ran.out


def test_a_password_in_the_url_is_never_shown(url: str, cli: Any) -> None:
    ran = cli.run("outbox", "list", "--url", "postgresql+psycopg://app:hunter2@127.0.0.1:1/omni")
    assert ran.code == 2
    assert "hunter2" not in ran.out + ran.err
    assert "postgresql+psycopg://app:***@127.0.0.1:1/omni" in ran.err


def test_the_commands_work_beside_a_worker_holding_the_sqlite_lock(
    url: str, cli: Any, tmp_path: Path
) -> None:
    from omnichannel.store.engine import WorkerLock

    ids = filled(url, one_of_each)
    lock = WorkerLock.acquire(tmp_path / "omnichannel.db")
    try:
        listed = cli.run("outbox", "list", "--url", url)
        canceled = cli.run("outbox", "cancel", ids["queued"], "--url", url)
    finally:
        lock.release()
    assert listed.code == 0, listed.err
    assert canceled.code == 0, canceled.err


# -- PostgreSQL ----------------------------------------------------------------------------------


def test_list_show_retry_and_cancel_on_postgresql(
    postgres_url: str, cli: Any, notified: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")

    async def prepare(store: Store, clock: Clock) -> tuple[dict[str, str], tuple[str, str]]:
        await empty_store(store)
        return await one_of_each(store, clock), await a_chain(store, clock)

    anyio.run(Store.upgrade, postgres_url)
    ids, (root, hop) = filled(postgres_url, prepare)
    ran = cli.run("outbox", "list", "--url", postgres_url, "--state", "dead", "--state", "sent")
    assert ran.code == 0, ran.err
    assert set(lines_of(ran.out)) == {"envelope", ids["dead"], ids["sent"], root}
    ran = cli.run("outbox", "show", root, "--url", postgres_url, "--json")
    assert [hop_["envelope_id"] for hop_ in json.loads(ran.out)["hops"]] == [root, hop]
    assert cli.run("outbox", "retry", ids["unknown"], "--url", postgres_url).code == 2
    assert cli.run("outbox", "retry", ids["dead"], "--url", postgres_url).code == 0
    assert notified == ["omnichannel_outbox"]
    ran = cli.run("outbox", "cancel", ids["sent"], "--url", postgres_url)
    assert ran.code == 2
    assert "is sent" in ran.err
    ran = cli.run("outbox", "show", "01NOSUCHENVELOPE", "--url", postgres_url)
    assert ran.code == 2
    assert f"not in the outbox of the store at {postgres_url}" in ran.err
