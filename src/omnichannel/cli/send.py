"""``omni send CHANNEL TO [TEXT]``: send one message and print the receipt; preview it with
``--dry-run``; follow its statuses with ``--wait``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import anyio
import click

from omnichannel.adapter import SendReceipt
from omnichannel.cli import exit_code_for, json_requested, report_error
from omnichannel.cli._events import printable, render_status, status_word
from omnichannel.cli._shared import (
    config_option,
    json_option,
    load,
    print_json,
    print_line,
    where_config_was_looked_for,
)
from omnichannel.config import Config
from omnichannel.content import Content, Media
from omnichannel.envelope import Address, Envelope
from omnichannel.errors import ConfigurationError, SendError, UnknownChannel
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.plugins import PluginHost
from omnichannel.router import Preview, Router

__all__ = [
    "failure_message",
    "failure_report",
    "render_preview",
    "render_receipt",
    "require_channel",
    "send",
]


def require_channel(config: Config, host: PluginHost, channel: str) -> None:
    """Raise :class:`UnknownChannel` (naming what is configured and installed) unless usable."""
    if channel in config.channels:
        return
    installed = sorted({entry.info.channel for entry in host.adapters().values()})
    if channel not in installed:
        raise UnknownChannel(channel, installed)
    adapters = ", ".join(entry.info.name for entry in host.adapters_for_channel(channel))
    if config.path is None:
        raise ConfigurationError(
            f"channel {channel!r} is installed but no configuration file was found "
            f"({where_config_was_looked_for()}, or add [channels.{channel}] with adapter = "
            f"one of: {adapters})"
        )
    raise ConfigurationError(
        f"channel {channel!r} is installed but not configured in {config.path}; add "
        f"[channels.{channel}] with adapter = one of: {adapters}"
    )


def failure_message(error: SendError) -> str:
    """The one line of a send that did not go out, naming every channel failover tried."""
    if not error.attempts:
        return str(error)
    return f"{error}; tried before: {'; '.join(error.attempts)}"


def failure_report(envelope: Envelope, error: SendError) -> dict[str, object]:
    """The ``--json`` object of a send that did not go out, or whose outcome is unknown."""
    partial = error.receipt
    return {
        "envelope_id": envelope.id,
        "channel": error.channel or envelope.channel,
        "adapter": error.adapter,
        "provider_id": partial.provider_id if partial else None,
        "provider_ids": list(partial.provider_ids) if partial else [],
        "status": error.status.value,
        "error": str(error),
        "reason": error.reason.value,
        "retryable": error.retryable,
        "attempts": list(error.attempts),
        "exit": exit_code_for(error),
    }


def render_receipt(receipt: SendReceipt) -> str:
    """The human form of a receipt, with its fitting report."""
    if receipt.status is DeliveryStatus.QUEUED and not receipt.provider_ids:
        lines = [
            f"queued {receipt.envelope_id} on {receipt.channel} via {receipt.adapter}: a worker "
            "sends it (omni worker, or omni listen); follow it with omni outbox show "
            f"{receipt.envelope_id}"
        ]
        lines.extend(f"  {note}" for note in receipt.attempts)
        return "\n".join(lines)
    lines = [
        f"sent {receipt.envelope_id} on {receipt.channel} via {receipt.adapter}: "
        f"provider id {', '.join(receipt.provider_ids) or '-'} ({status_word(receipt.status)})"
    ]
    if receipt.requested_channel:
        lines.append(
            f"  failed over from {receipt.requested_channel}: {'; '.join(receipt.attempts)}"
        )
    report = receipt.fitting
    if report.encoding:
        lines.append(f"  {report.segments} segment(s), {report.encoding}")
    lines.extend(f"  fitting: {note}" for note in report.notes)
    if receipt.public_signpost is not None:
        signpost = receipt.public_signpost
        lines.append(
            f"  public signpost on {signpost.channel}: provider id "
            f"{', '.join(signpost.provider_ids) or '-'} ({signpost.status.value})"
        )
    return "\n".join(lines)


def render_preview(preview: Preview, *, title: str = "dry run: nothing was sent") -> str:
    """The human form of a preview: the envelope as it would go out, the fitting report,
    and each provider call (secrets redacted)."""
    envelope = preview.envelope
    content = envelope.content
    lines = [
        title,
        f"envelope {envelope.id} on {envelope.channel} via {preview.adapter}",
        f"  to: {printable(envelope.recipient.value)}",
    ]
    own = envelope.sender or envelope.business_address
    if own is not None:
        lines.append(f"  from: {printable(own.value)}")
    if content.subject:
        lines.append(f"  subject: {printable(content.subject)}")
    if content.text:
        lines.append(f"  text: {printable(content.text)}")
    for item in content.media:
        where = item.url or f"<{item.size} bytes>"
        lines.append(f"  media: {printable(where)} ({item.content_type or 'type not given'})")
    report = preview.fitting
    if report.encoding:
        lines.append(f"  {report.segments} segment(s), {report.encoding}")
    lines.extend(f"  fitting: {printable(note)}" for note in report.notes)
    for number, call in enumerate(preview.calls, start=1):
        lines.append(
            f"provider call {number}: {call.get('method')} {printable(str(call.get('url')))}"
        )
        for name, value in dict(call.get("headers") or {}).items():
            lines.append(f"  {printable(name)}: {printable(str(value))}")
        body = call.get("body")
        if body:
            lines.append(f"  body: {printable(str(body))}")
    if preview.public_signpost is not None:
        lines.append(render_preview(preview.public_signpost, title="then the public signpost:"))
    return "\n".join(lines)


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (
        bool(parts.scheme) and len(parts.scheme) > 1 and value[len(parts.scheme) :].startswith(":")
    )


def _checked_urls(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        if not _is_url(value.strip()):
            raise click.BadParameter(
                f"{value!r} is not a URL; attach media by its http(s) URL, such as "
                "https://example.com/invoice.pdf",
                ctx=ctx,
                param=param,
            )
    return values


def read_text(text: str | None, *, has_media: bool) -> str:
    """The message text: TEXT, or stdin when TEXT is ``-`` or omitted. Blank text is refused
    unless media carries the message."""
    if text is None or text == "-":
        stdin = sys.stdin
        if text is None and stdin.isatty():
            raise click.UsageError("give TEXT, or pipe the text in (TEXT may be - to read stdin)")
        text = stdin.read().rstrip("\r\n")
    if not text.strip():
        if has_media:
            return ""
        raise click.BadParameter(
            "the text is empty or only whitespace; give the message to send",
            param_hint="'TEXT'",
        )
    return text


def build_media(urls: Sequence[str], types: Sequence[str]) -> list[Media]:
    """One media part per ``--media``, typed by the ``--media-type`` in the same position."""
    if len(types) > len(urls):
        raise click.BadParameter(
            f"{len(types)} --media-type for {len(urls)} --media; give one type per URL, "
            "in the same order",
            param_hint="'--media-type'",
        )
    padded = [*types, *[None] * (len(urls) - len(types))]
    return [
        Media(url=url.strip(), content_type=kind) for url, kind in zip(urls, padded, strict=True)
    ]


def _print_wait_receipt(receipt: SendReceipt) -> None:
    if json_requested():
        print_line({"type": "receipt", "receipt": receipt.to_dict()})
    else:
        click.echo(render_receipt(receipt))


def _print_wait_status(update: StatusUpdate) -> None:
    if json_requested():
        print_line({"type": "status", "status": update.to_dict()})
    else:
        click.echo(render_status(update))


def _fail(envelope: Envelope, error: SendError, *, as_json: bool, lines: bool) -> NoReturn:
    code = exit_code_for(error)
    if as_json:
        report: dict[str, Any] = failure_report(envelope, error)
        if lines:
            print_line({"type": "error", **report})
        else:
            print_json(report)
    else:
        report_error(failure_message(error), error.reason.value, code)
    raise SystemExit(code)


@click.command()
@click.argument("channel")
@click.argument("to")
@click.argument("text", required=False)
@click.option("--subject", default=None, help="Subject, where the channel has one.")
@click.option(
    "--media",
    "media_urls",
    multiple=True,
    metavar="URL",
    callback=_checked_urls,
    help="Attach media by its http(s) URL (repeatable).",
)
@click.option(
    "--media-type",
    "media_types",
    multiple=True,
    metavar="TYPE",
    help="The content type of the --media in the same position (application/pdf).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the envelope, the fitting report and the provider request; send nothing.",
)
@click.option("--wait", is_flag=True, help="Follow the message's statuses until it settles.")
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="With --wait: seconds to wait for the outcome (exit 3 when it runs out).",
)
@click.option(
    "--queue",
    is_flag=True,
    help="Write it to the store's outbox and return; a worker sends it.",
)
@click.option(
    "--chain",
    "chain_name",
    default=None,
    metavar="NAME",
    help="Send along routing.chains.NAME (CHANNEL is its first step's channel).",
)
@config_option
@json_option
def send(
    channel: str,
    to: str,
    text: str | None,
    subject: str | None,
    media_urls: tuple[str, ...],
    media_types: tuple[str, ...],
    dry_run: bool,
    wait: bool,
    timeout: float,
    queue: bool,
    chain_name: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Send TEXT to TO on CHANNEL and print the receipt (TEXT - or omitted: read stdin)."""
    if dry_run and wait:
        raise click.UsageError("--dry-run sends nothing, so there is nothing to --wait for")
    if queue and (dry_run or wait):
        raise click.UsageError(
            "--queue returns before anything is sent; it goes with neither --dry-run nor --wait"
        )
    if chain_name is not None and (dry_run or wait):
        raise click.UsageError(
            "--chain moves between channels over minutes; follow it with omni outbox show "
            "instead of --wait or --dry-run"
        )
    media = build_media(media_urls, media_types)
    body = read_text(text, has_media=bool(media))
    config, host = load(config_path)
    require_channel(config, host, channel)
    envelope = Envelope(
        channel=channel,
        recipient=Address(channel=channel, value=to),
        content=Content(text=body, subject=subject, media=media),
    )
    if dry_run:
        _dry_run(config, host, envelope, as_json)
    elif wait:
        _send_and_wait(config, host, envelope, timeout, as_json)
    else:
        _send(config, host, envelope, as_json, queue=queue, chain=chain_name)


def _dry_run(config: Config, host: PluginHost, envelope: Envelope, as_json: bool) -> None:
    async def run() -> Preview:
        async with Router.from_config(config, host=host) as router:
            return await router.preview(envelope)

    try:
        preview = anyio.run(run)
    except SendError as error:
        _fail(envelope, error, as_json=as_json, lines=False)
    if as_json:
        print_json({"dry_run": True, **preview.to_dict()})
    else:
        click.echo(render_preview(preview))


def _send(
    config: Config,
    host: PluginHost,
    envelope: Envelope,
    as_json: bool,
    *,
    queue: bool = False,
    chain: str | None = None,
) -> None:
    async def run() -> SendReceipt:
        async with Router.from_config(config, host=host) as router:
            if (queue or chain) and router.store is None:
                raise click.UsageError(
                    f"{'--queue' if queue else '--chain'} needs the durable store; "
                    '[store] url = "memory" keeps none'
                )
            return await router.send(envelope, wait=not queue, chain=chain)

    try:
        receipt = anyio.run(run)
    except SendError as error:
        _fail(envelope, error, as_json=as_json, lines=False)
    if as_json:
        print_json(receipt.to_dict())
    else:
        click.echo(render_receipt(receipt))


def _send_and_wait(
    config: Config, host: PluginHost, envelope: Envelope, timeout: float, as_json: bool
) -> None:
    from omnichannel.cli._wait import send_and_follow

    async def run() -> Any:
        return await send_and_follow(
            config,
            host,
            envelope,
            seconds=timeout,
            on_receipt=_print_wait_receipt,
            on_status=_print_wait_status,
        )

    try:
        outcome = anyio.run(run)
    except SendError as error:
        _fail(envelope, error, as_json=as_json, lines=True)
    if as_json:
        print_line(outcome.to_dict())
    else:
        click.echo(f"outcome: {outcome.note} (exit {outcome.exit_code})")
    if outcome.exit_code:
        raise SystemExit(outcome.exit_code)
