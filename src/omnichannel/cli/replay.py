"""``omni replay FILE [--url BASE]``: re-post the webhook requests ``omni listen --record``
kept, to reproduce what a provider sent.

Each request goes out the first way that a listener will accept:

1. **exactly as recorded**, when it is posted to the URL it was recorded at, or when its
   signature still verifies for the new URL (a provider whose signature covers only the body);
2. **re-signed** for the new URL: an inbound message is rebuilt, signed with the configured
   secrets, through the adapter's ``simulate()`` (its sender and text; provider extras are
   lost);
3. otherwise it is **skipped**, saying why (a status callback whose signature covers the URL
   cannot be re-signed without a signing seam in the adapter contract).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
import attrs
import click
import httpx

from omnichannel.adapter import ChannelAdapter, WebhookRequest
from omnichannel.cli._events import printable
from omnichannel.cli._recording import RecordedRequest, read_records
from omnichannel.cli._shared import config_option, json_option, load, print_line
from omnichannel.cli._webhooks import post
from omnichannel.errors import OmnichannelError
from omnichannel.router import Router

__all__ = ["Replayed", "replay", "target_of"]

EXACT: Final = "exact"
RESIGNED: Final = "re-signed"
SKIPPED: Final = "skipped"


@attrs.frozen(kw_only=True)
class Replayed:
    """What became of one recorded request."""

    record: RecordedRequest
    url: str
    how: str
    """``exact``, ``re-signed`` or ``skipped``."""
    status_codes: tuple[int, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        """Whether it was posted and every answer was 2xx."""
        return (
            self.how != SKIPPED
            and bool(self.status_codes)
            and all(200 <= code < 300 for code in self.status_codes)
        )

    def to_dict(self) -> dict[str, Any]:
        """One line of ``omni replay --json``."""
        return {
            "line": self.record.line,
            "channel": self.record.channel,
            "url": self.url,
            "how": self.how,
            "status_codes": list(self.status_codes),
            "note": self.note,
            "ok": self.ok,
        }

    def render(self) -> str:
        """The human form."""
        answers = ", ".join(f"HTTP {code}" for code in self.status_codes)
        where = f"{self.record.channel} request of line {self.record.line}"
        if self.how == SKIPPED:
            return printable(f"skipped {where}: {self.note}")
        suffix = f" ({self.note})" if self.note else ""
        return printable(f"replayed {where} {self.how} to {self.url}: {answers}{suffix}")


def target_of(recorded_url: str, base: str | None) -> str:
    """Where a request recorded at ``recorded_url`` goes: there, or the same path and query
    under ``base``."""
    if base is None:
        return recorded_url
    parts = urlsplit(recorded_url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base.rstrip('/')}{parts.path}{query}"


def _verifies(adapter: ChannelAdapter, request: WebhookRequest) -> bool:
    verify = getattr(adapter, "verify_webhook", None)
    if verify is None:
        return False
    try:
        verify(request)
    except OmnichannelError:
        return False
    return True


def _rebuilt(adapter: ChannelAdapter, record: RecordedRequest, url: str) -> list[WebhookRequest]:
    """Signed copies of the inbound messages of ``record``, addressed to ``url``."""
    parse = getattr(adapter, "parse_webhook", None)
    if parse is None:
        return []
    try:
        result = parse(record.request)
    except (OmnichannelError, KeyError, IndexError, TypeError, ValueError, AttributeError):
        return []
    return [
        adapter.simulate(sender=message.sender.value, text=message.content.text or "", url=url)
        for message in result.messages
        if message.sender is not None
    ]


async def _replay_one(
    client: httpx.AsyncClient, router: Router | None, record: RecordedRequest, base: str | None
) -> Replayed:
    url = target_of(record.request.url, base)
    request = attrs.evolve(record.request, url=url)
    complete = not record.redacted_headers
    if complete and url == record.request.url:
        answer = await post(client, request)
        return Replayed(record=record, url=url, how=EXACT, status_codes=(answer.status_code,))
    if router is None or record.channel not in router.channels:
        return Replayed(
            record=record,
            url=url,
            how=SKIPPED,
            note=f"channel {record.channel!r} is not configured, so it cannot be re-signed",
        )
    adapter = router.adapter(record.channel)
    if complete and _verifies(adapter, request):
        answer = await post(client, request)
        note = "its signature does not cover the URL"
        return Replayed(
            record=record, url=url, how=EXACT, status_codes=(answer.status_code,), note=note
        )
    rebuilt = _rebuilt(adapter, record, url)
    if not rebuilt:
        why = (
            "a header was redacted when it was recorded"
            if record.redacted_headers
            else "its signature covers the URL"
        )
        return Replayed(
            record=record,
            url=url,
            how=SKIPPED,
            note=f"{why}, and it is not an inbound message simulate() can rebuild",
        )
    codes = tuple([(await post(client, copy)).status_code for copy in rebuilt])
    note = "sender and text kept; provider extras are not"
    return Replayed(record=record, url=url, how=RESIGNED, status_codes=codes, note=note)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--url",
    "base",
    default=None,
    metavar="BASE",
    help="Post under this base URL (same path and query) instead of the recorded URL.",
)
@config_option
@json_option
def replay(file: Path, base: str | None, config_path: str | None, as_json: bool) -> None:
    """Re-post the requests in FILE (written by omni listen --record), re-signed where the
    target URL needs it. Exits 1 unless every request was posted and answered 2xx."""
    records = list(read_records(file))
    config, host = load(config_path)

    async def run() -> list[Replayed]:
        results: list[Replayed] = []
        router = Router.from_config(config, host=host) if config.channels else None
        try:
            async with httpx.AsyncClient() as client:
                for record in records:
                    results.append(await _replay_one(client, router, record, base))
                    line = results[-1]
                    if as_json:
                        print_line(line.to_dict())
                    else:
                        click.echo(line.render())
        finally:
            if router is not None:
                await router.aclose()
        return results

    results = anyio.run(run)
    failed = [result for result in results if not result.ok]
    summary = {
        "type": "summary",
        "requests": len(results),
        "replayed": len(results) - len(failed),
        "failed": len(failed),
        "exit": 1 if failed else 0,
    }
    if as_json:
        print_line(summary)
    else:
        click.echo(f"{summary['replayed']} of {len(results)} request(s) replayed and accepted")
    if failed:
        raise SystemExit(1)
