"""``omni send CHANNEL TO TEXT``: send one message and print the receipt."""

from __future__ import annotations

import anyio
import click

from omnichannel.adapter import SendReceipt
from omnichannel.cli import exit_code_for
from omnichannel.cli._shared import config_option, json_option, load, print_json
from omnichannel.config import Config
from omnichannel.content import Content, Media
from omnichannel.envelope import Address, Envelope
from omnichannel.errors import ConfigurationError, SendError, UnknownChannel
from omnichannel.media_urls import check_media_urls
from omnichannel.plugins import PluginHost
from omnichannel.router import Router


def require_channel(config: Config, host: PluginHost, channel: str) -> None:
    """Raise :class:`UnknownChannel` (naming what is configured and installed) unless usable."""
    if channel in config.channels:
        return
    installed = sorted({entry.info.channel for entry in host.adapters().values()})
    if channel in installed:
        where = str(config.path) if config.path else "omnichannel.toml"
        adapters = ", ".join(entry.info.name for entry in host.adapters_for_channel(channel))
        raise ConfigurationError(
            f"channel {channel!r} is installed but not configured in {where}; add "
            f"[channels.{channel}] with adapter = one of: {adapters}"
        )
    raise UnknownChannel(channel, installed)


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
    }


def render_receipt(receipt: SendReceipt) -> str:
    """The human form of a receipt, with its fitting report."""
    lines = [
        f"sent {receipt.envelope_id} on {receipt.channel} via {receipt.adapter}: "
        f"provider id {', '.join(receipt.provider_ids) or '-'} ({receipt.status.value})"
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


@click.command()
@click.argument("channel")
@click.argument("to")
@click.argument("text")
@click.option("--subject", default=None, help="Subject, where the channel has one.")
@click.option("--media", "media_urls", multiple=True, metavar="URL", help="Attach media by URL.")
@config_option
@json_option
def send(
    channel: str,
    to: str,
    text: str,
    subject: str | None,
    media_urls: tuple[str, ...],
    config_path: str | None,
    as_json: bool,
) -> None:
    """Send TEXT to TO on CHANNEL and print the receipt."""
    config, host = load(config_path)
    require_channel(config, host, channel)
    envelope = Envelope(
        channel=channel,
        recipient=Address(channel=channel, value=to),
        content=Content(text=text, subject=subject, media=[Media(url=url) for url in media_urls]),
    )

    async def run() -> SendReceipt:
        await check_media_urls(
            media_urls,
            allow_private=config.routing.allow_private_media_hosts,
            channel=channel,
            envelope_id=envelope.id,
        )
        async with Router.from_config(config, host=host) as router:
            return await router.send(envelope)

    try:
        receipt = anyio.run(run)
    except SendError as error:
        if as_json:
            print_json(failure_report(envelope, error))
            raise SystemExit(exit_code_for(error)) from None
        raise
    if as_json:
        print_json(receipt.to_dict())
    else:
        click.echo(render_receipt(receipt))
