"""``omni outbox enqueue FILE|-``: put envelopes (JSON lines, the ``Envelope.to_dict`` shape)
into the durable store's outbox, all in one transaction, for a worker to send.

Every line is checked as ``router.send`` checks it (the channel is configured, the recipient
can exist on it) before anything is committed: one bad line and nothing is enqueued. An
envelope already in the outbox (same id) is left as it is, so running the same file twice
adds nothing.
"""

from __future__ import annotations

import json
from typing import IO, Any

import anyio
import attrs
import click

from omnichannel.cli._shared import config_option, json_option, load, print_json
from omnichannel.envelope import Envelope
from omnichannel.errors import DuplicateEnvelope, OmnichannelError
from omnichannel.router import Router

__all__ = ["enqueue", "read_envelopes"]


@attrs.frozen
class BadLine(Exception):
    """A line of the input that is not an envelope this configuration can send."""

    number: int
    reason: str


def read_envelopes(lines: IO[str]) -> list[tuple[int, Envelope]]:
    """The envelopes of JSON lines (blank lines skipped), each with its line number."""
    envelopes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except ValueError as error:
            raise BadLine(number, f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise BadLine(
                number, f"expected a JSON object (an envelope), got {type(data).__name__}"
            )
        try:
            envelopes.append((number, Envelope.from_dict(data)))
        except (ValueError, TypeError, KeyError) as error:
            raise BadLine(number, str(error)) from None
    return envelopes


@click.command()
@click.argument("source", metavar="FILE|-", type=click.File("r", encoding="utf-8"))
@config_option
@json_option
def enqueue(source: IO[str], config_path: str | None, as_json: bool) -> None:
    """Enqueue envelopes (JSON lines, as Envelope.to_dict writes them; - reads stdin) in one
    transaction; a worker sends them."""
    config, host = load(config_path)
    try:
        envelopes = read_envelopes(source)
    except BadLine as bad:
        raise click.UsageError(f"line {bad.number}: {bad.reason}") from None

    async def run() -> tuple[int, int, str]:
        router = Router.from_config(config, host=host)
        async with router:
            store = router.store
            if store is None:
                raise click.UsageError(
                    'omni outbox enqueue needs the durable store; [store] url = "memory" keeps none'
                )
            added = again = 0
            async with store.transaction() as connection:
                for number, envelope in envelopes:
                    try:
                        await router.send(envelope, wait=False, connection=connection)
                    except DuplicateEnvelope:
                        again += 1
                    except OmnichannelError as error:
                        raise click.UsageError(
                            f"line {number}: {error}; nothing was enqueued"
                        ) from None
                    else:
                        added += 1
            return added, again, store.url

    added, again, url = anyio.run(run)
    if as_json:
        print_json({"enqueued": added, "already_in_outbox": again, "store": url})
        return
    click.echo(
        f"Enqueued {added} envelope(s) in the outbox at {url}"
        + (f"; {again} already there, left as they are" if again else "")
        + "."
    )
