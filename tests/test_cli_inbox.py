"""``omni inbox list|show|retry`` against real stores: SQLite files, and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from omnichannel.store import InboxState, Store
from omnichannel.testing.store_contract import T0, Clock, empty_store

T = TypeVar("T")
LEASE = timedelta(seconds=30)
EVENT_FIELDS = {
    "id",
    "dedupe_key",
    "kind",
    "channel",
    "state",
    "attempts",
    "handlers_done",
    "due_at",
    "lease_owner",
    "lease_expires_at",
    "last_error",
    "received_at",
}


@pytest.fixture
def url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A migrated, empty SQLite store in the test's directory, with no plugins and no
    configuration around."""
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")
    monkeypatch.delenv("OMNICHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    address = f"sqlite:///{tmp_path / 'omnichannel.db'}"
    anyio.run(Store.upgrade, address)
    return address


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


def filled(url: str, fill: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        async with await Store.open(url, worker=False, clock=Clock()) as store:
            return await fill(store)

    return anyio.run(run)


def event_of(url: str, inbox_id: int) -> Any:
    async def run() -> Any:
        async with await Store.open(url, worker=False) as store:
            return await store.inbox_record(inbox_id)

    return anyio.run(run)


async def three_events(store: Store) -> dict[str, int]:
    """A pending message, a status that is dead after one handler completed and one failed,
    and a done message."""
    ids: dict[str, int] = {}
    for key, kind in (("dead", "status"), ("done", "message"), ("pending", "message")):
        await store.record_inbound(
            dedupe_key=f"sms:{key}",
            kind=kind,
            channel="sms",
            payload={"from": "+15550100", "text": f"about {key}", "parts": [1, 2]},
            received_at=T0,
        )
        [claimed] = await store.claim_inbox(worker="w-1", now=T0, lease=LEASE, limit=1)
        ids[key] = claimed.id
        if key == "pending":
            await store.settle_inbox(claimed.id, to=InboxState.PENDING, now=T0, worker="w-1")
            continue
        await store.handler_done(claimed.id, "audit_log")
        if key == "dead":
            await store.settle_inbox(
                claimed.id, to=InboxState.DEAD, now=T0, error="KeyError: 'order'", worker="w-1"
            )
        else:
            await store.handler_done(claimed.id, "reply")
            await store.settle_inbox(claimed.id, to=InboxState.DONE, now=T0, worker="w-1")
    return ids


def rows_of(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()[1:]}


def test_list_shows_the_events_newest_first_and_filters_by_state(url: str, cli: Any) -> None:
    ids = filled(url, three_events)
    ran = cli.run("inbox", "list", "--url", url)
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[0].split()[:5] == ["id", "channel", "kind", "state", "attempts"]
    rows = rows_of(ran.out)
    assert list(rows) == [str(ids["pending"]), str(ids["done"]), str(ids["dead"])]
    assert rows[str(ids["dead"])][1:5] == ["sms", "status", "dead", "1"]
    assert "audit_log" in rows[str(ids["dead"])]
    assert "audit_log,reply" in rows[str(ids["done"])]
    assert "KeyError: 'order'" in ran.out
    assert "\x1b" not in ran.out
    ran = cli.run("inbox", "list", "--url", url, "--state", "dead", "--state", "done")
    assert set(rows_of(ran.out)) == {str(ids["dead"]), str(ids["done"])}
    ran = cli.run("inbox", "list", "--url", url, "--state", "handling")
    assert ran.out == "No events in state handling in the inbox.\n"


def test_list_json_has_every_field(url: str, cli: Any) -> None:
    ids = filled(url, three_events)
    ran = cli.run("inbox", "list", "--url", url, "--json", "--limit", "2")
    assert ran.code == 0, ran.err
    events = json.loads(ran.out)
    assert [event["id"] for event in events] == [ids["pending"], ids["done"]]
    for event in events:
        assert set(event) == EVENT_FIELDS
        assert datetime.fromisoformat(event["received_at"]) == T0
    assert events[1]["handlers_done"] == ["audit_log", "reply"]


def test_show_prints_the_payload_handlers_attempts_and_last_error(url: str, cli: Any) -> None:
    ids = filled(url, three_events)
    ran = cli.run("inbox", "show", str(ids["dead"]), "--url", url)
    assert ran.code == 0, ran.err
    head, payload = ran.out.split("\n\n")
    fields = dict(
        line.split(None, 1)
        for line in head.replace("dedupe key", "key")
        .replace("handlers done", "handlers")
        .replace("last error", "error")
        .splitlines()
    )
    assert fields["key"] == "sms:dead"
    assert fields["state"] == "dead (attempts 1)"
    assert fields["handlers"] == "audit_log"
    assert fields["error"] == "KeyError: 'order'"
    assert payload.splitlines()[0] == "payload"
    assert json.loads(payload.split("\n", 1)[1]) == {
        "from": "+15550100",
        "text": "about dead",
        "parts": [1, 2],
    }
    assert '\n  "from": "+15550100",' in payload  # pretty-printed
    shown = json.loads(cli.run("inbox", "show", str(ids["dead"]), "--url", url, "--json").out)
    assert set(shown) == EVENT_FIELDS | {"payload"}
    assert shown["payload"]["parts"] == [1, 2]


@pytest.mark.parametrize("state", ["dead", "done"])
def test_retry_puts_a_dead_or_done_event_back_to_pending_and_wakes_a_worker(
    url: str, cli: Any, notified: list[str], state: str
) -> None:
    ids = filled(url, three_events)
    before = datetime.now().astimezone()
    ran = cli.run("inbox", "retry", str(ids[state]), "--url", url)
    assert ran.code == 0, ran.err
    assert ran.out.startswith(f"Retried event {ids[state]}: {state} -> pending, due now; ")
    assert "handlers already done are not run again: audit_log" in ran.out
    event = event_of(url, ids[state])
    assert (event.state, event.attempts) == (InboxState.PENDING, 0)
    assert event.due_at >= before
    assert notified == ["omnichannel_inbox"]


def test_retry_refuses_a_pending_event_saying_its_state(
    url: str, cli: Any, notified: list[str]
) -> None:
    ids = filled(url, three_events)
    ran = cli.run("inbox", "retry", str(ids["pending"]), "--url", url)
    assert ran.code == 2
    assert ran.err.startswith(f"omni: error: event {ids['pending']} is pending (due ")
    assert "retries only dead or done events; from pending the inbox allows: handling" in ran.err
    assert notified == []


@pytest.mark.parametrize("command", ["show", "retry"])
def test_an_unknown_event_id_exits_2_naming_it(url: str, cli: Any, command: str) -> None:
    ran = cli.run("inbox", command, "4242", "--url", url)
    assert ran.code == 2
    assert ran.err == f"omni: error: event 4242 is not in the inbox of the store at {url}\n"
    error = json.loads(cli.run("inbox", command, "4242", "--url", url, "--json").out)
    assert (error["reason"], error["exit"]) == ("not_found", 2)
    ran = cli.run("inbox", command, "not-a-number", "--url", url)
    assert ran.code == 2
    assert "'not-a-number' is not a valid integer" in ran.err


def test_a_missing_store_names_omni_store_upgrade(url: str, cli: Any, tmp_path: Path) -> None:
    ran = cli.run("inbox", "list", "--url", f"sqlite:///{tmp_path / 'none.db'}")
    assert ran.code == 2
    assert "run `omni store upgrade`" in ran.err
    assert "Traceback" not in ran.err


def test_list_show_and_retry_on_postgresql(
    postgres_url: str, cli: Any, notified: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNICHANNEL_PLUGINS", "none-selected")

    async def prepare(store: Store) -> dict[str, int]:
        await empty_store(store)
        return await three_events(store)

    anyio.run(Store.upgrade, postgres_url)
    ids = filled(postgres_url, prepare)
    ran = cli.run("inbox", "list", "--url", postgres_url, "--state", "dead")
    assert ran.code == 0, ran.err
    assert list(rows_of(ran.out)) == [str(ids["dead"])]
    shown = json.loads(
        cli.run("inbox", "show", str(ids["dead"]), "--url", postgres_url, "--json").out
    )
    assert shown["payload"]["text"] == "about dead"
    assert cli.run("inbox", "retry", str(ids["pending"]), "--url", postgres_url).code == 2
    assert cli.run("inbox", "retry", str(ids["dead"]), "--url", postgres_url).code == 0
    assert event_of(postgres_url, ids["dead"]).state is InboxState.PENDING
    assert notified == ["omnichannel_inbox"]
