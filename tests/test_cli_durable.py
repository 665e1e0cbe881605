"""The CLI on the durable store: omni send --queue and --chain, omni outbox enqueue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omnichannel import Address, Envelope

CUSTOMER = "+14155550199"


def _outbox(cli: Any) -> list[dict[str, object]]:
    ran = cli.run("outbox", "list", "--json")
    assert ran.code == 0, ran.err
    rows: list[dict[str, object]] = json.loads(ran.out)
    return rows


def test_send_queue_writes_the_outbox_and_sends_nothing_yet(sandbox: Path, cli: Any) -> None:
    ran = cli.run("send", "sms", CUSTOMER, "your order shipped", "--queue")
    assert ran.code == 0, ran.err
    assert ran.out.startswith("queued ")
    assert "a worker sends it" in ran.out
    (row,) = _outbox(cli)
    assert (row["state"], row["channel"], row["provider_ids"]) == ("queued", "sms", [])


def test_send_queue_with_wait_or_dry_run_is_a_usage_error(sandbox: Path, cli: Any) -> None:
    for extra in ("--wait", "--dry-run"):
        ran = cli.run("send", "sms", CUSTOMER, "hi", "--queue", extra)
        assert ran.code == 2
        assert "--queue returns before anything is sent" in ran.err
    assert not (sandbox.parent / "omnichannel.db").exists()


def test_send_along_an_unknown_chain_names_the_configured_ones(sandbox: Path, cli: Any) -> None:
    ran = cli.run("send", "sms", CUSTOMER, "hi", "--chain", "urgent")
    assert ran.code == 2
    assert "no chain 'urgent' in routing.chains; configured: none" in ran.err
    assert _outbox(cli) == []  # the store was opened, and nothing written


def _lines(path: Path, texts: list[str], *, bad: str | None = None) -> Path:
    lines = [
        json.dumps(
            Envelope(
                channel="sms", recipient=Address(channel="sms", value=CUSTOMER), content=text
            ).to_dict()
        )
        for text in texts
    ]
    if bad is not None:
        lines.insert(1, bad)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_enqueue_writes_every_line_or_none_and_twice_adds_nothing(sandbox: Path, cli: Any) -> None:
    folder = sandbox.parent
    broken = _lines(folder / "broken.jsonl", ["one", "two"], bad='{"channel": "sms"}')
    ran = cli.run("outbox", "enqueue", str(broken))
    assert ran.code == 2
    assert "line 2: not a serialised envelope" in ran.err
    assert not (sandbox.parent / "omnichannel.db").exists()  # nothing was written
    wrong_number = folder / "wrong.jsonl"
    wrong_number.write_text(
        json.dumps(
            Envelope(
                channel="sms", recipient=Address(channel="sms", value="+1555"), content="x"
            ).to_dict()
        )
        + "\n"
    )
    ran = cli.run("outbox", "enqueue", str(wrong_number))
    assert ran.code == 2
    assert "line 1: invalid phone address '+1555'" in ran.err
    assert "nothing was enqueued" in ran.err
    good = _lines(folder / "good.jsonl", ["one", "two", "three"])
    first = cli.run("outbox", "enqueue", str(good))
    again = cli.run("outbox", "enqueue", str(good))
    assert first.out.startswith("Enqueued 3 envelope(s) in the outbox at sqlite:///")
    assert "Enqueued 0 envelope(s)" in again.out
    assert "3 already there, left as they are" in again.out
    assert sorted(str(row["state"]) for row in _outbox(cli)) == ["queued"] * 3
