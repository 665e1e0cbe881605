"""``omni channels``: the installed channel adapters, and plugins that failed to load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from omnichannel.cli._output import warn
from omnichannel.cli._shared import INSTALL_HINT, config_option, json_option, load, print_json

if TYPE_CHECKING:
    from omnichannel.capabilities import Capabilities


@click.command()
@config_option
@json_option
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print the capability matrix and settings tables as Markdown (docs/channels.md).",
)
def channels(config_path: str | None, as_json: bool, as_markdown: bool) -> None:
    """List installed channel adapters: channel, provider, distribution, version, whether the
    configuration uses them, and their capabilities."""
    config, host = load(config_path, reports_plugin_failures=True)
    configured = {channel.adapter for channel in config.channels.values()}
    entries = host.adapters()
    if as_markdown:
        from omnichannel.cli._reference import channel_reference

        click.echo(channel_reference(entries), nl=False)
        return
    rows = [
        {
            "name": name,
            "channel": entry.info.channel,
            "provider": entry.info.provider,
            "distribution": entry.plugin.distribution,
            "version": entry.plugin.version,
            "configured": name in configured,
            "capabilities": entry.capabilities.to_dict(),
        }
        for name, entry in entries.items()
    ]
    failures = host.load_failures
    if as_json:
        print_json(rows)
        for failure in failures:
            warn(f"plugin failed to load: {failure}")
        if not rows:
            warn(INSTALL_HINT)
        return
    if not rows:
        click.echo(INSTALL_HINT[0].upper() + INSTALL_HINT[1:] + ".")
    for name, entry in entries.items():
        caps = entry.capabilities
        mark = "configured" if name in configured else "not configured"
        click.echo(
            f"{name:<16} channel={entry.info.channel:<10} {entry.plugin.distribution} "
            f"{entry.plugin.version}  ({mark})"
        )
        statuses = ",".join(sorted(status.value for status in caps.statuses))
        click.echo(
            f"{'':<16} address={caps.address_kind.value} max_text={caps.max_text_length} "
            f"statuses={statuses}"
        )
        features = describe_features(caps)
        if features:
            click.echo(f"{'':<16} {' '.join(features)}")
    for failure in failures:
        click.echo(f"FAILED  {failure}")


def describe_features(caps: Capabilities) -> list[str]:
    """What a channel carries beyond text, in a word each (``window=24h``, ``templates``,
    ``buttons<=3``, ``lists<=10-rows``, ``media=links+uploads``, ``public``, ``poll``...),
    for the human listing of ``omni channels``."""
    found: list[str] = []
    if caps.session_window is not None:
        seconds = int(caps.session_window.total_seconds())
        found.append(f"window={seconds // 3600}h" if seconds % 3600 == 0 else f"window={seconds}s")
    if caps.templates is not None:
        found.append("templates")
    if caps.interactive is not None:
        if caps.interactive.buttons:
            found.append(f"buttons<={caps.interactive.max_buttons}")
        if caps.interactive.lists:
            found.append(f"lists<={caps.interactive.max_rows}-rows")
    if caps.media is not None:
        ways = [
            name
            for name, on in (("links", caps.media.links), ("uploads", caps.media.uploads))
            if on
        ]
        found.append(f"media={'+'.join(ways) or 'none'}")
    if caps.subject:
        found.append("subject")
    if caps.threading:
        found.append("threads")
    if caps.public_posting:
        found.append("public")
    if caps.calls:
        found.append("calls")
    if caps.reconcile:
        found.append("reconcile")
    modes = sorted(mode.value for mode in caps.inbound)
    if modes != ["webhook"]:
        found.append(f"inbound={'+'.join(modes) or 'none'}")
    return found
