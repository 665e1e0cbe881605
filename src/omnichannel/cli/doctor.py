"""``omni doctor``: check a configuration and the installed plugins, printing no secret."""

from __future__ import annotations

from typing import Any

import attrs
import click

from omnichannel.cli._shared import config_option, json_option, load, print_json
from omnichannel.config import Secret, build_settings
from omnichannel.errors import ConfigurationError
from omnichannel.router import Router


def _shown(value: Any) -> Any:
    return "<secret>" if isinstance(value, Secret) else value


@click.command()
@config_option
@json_option
def doctor(config_path: str | None, as_json: bool) -> None:
    """Check the configuration, each channel's settings and the plugins. Exits 2 on problems."""
    config, host = load(config_path)
    problems: list[str] = []
    channels: list[dict[str, Any]] = []
    if config.path is None:
        problems.append(
            "no configuration file found (--config, $OMNICHANNEL_CONFIG, ./omnichannel.toml)"
        )
    if config.channels and not config.public_url:
        problems.append(
            "webhooks.public_url is not set: providers cannot reach the webhooks and "
            "signatures cannot be checked"
        )
    for channel, channel_config in config.channels.items():
        row: dict[str, Any] = {"channel": channel, "adapter": channel_config.adapter, "ok": False}
        try:
            entry = host.adapter(channel_config.adapter)
            settings = build_settings(
                entry.adapter_class.settings_class,
                channel_config.settings,
                where=f"[channels.{channel}]",
            )
        except ConfigurationError as error:
            row["error"] = error.message
            problems.append(error.message)
        else:
            row["ok"] = True
            row["settings"] = {
                name.rstrip("_"): _shown(value)
                for name, value in attrs.asdict(settings, recurse=False).items()
            }
        channels.append(row)
    if not problems:
        try:
            Router.from_config(config, host=host)
        except ConfigurationError as error:
            problems.append(error.message)
    failures = host.load_failures
    problems.extend(f"plugin failed to load: {failure}" for failure in failures)
    if as_json:
        print_json(
            {
                "config": str(config.path) if config.path else None,
                "public_url": config.public_url,
                "channels": channels,
                "plugin_failures": [failure.to_dict() for failure in failures],
                "adapters": sorted(host.adapters()),
                "problems": problems,
            }
        )
    else:
        click.echo(f"config: {config.path or '(none)'}")
        click.echo(f"public_url: {config.public_url or '(not set)'}")
        click.echo(f"installed adapters: {', '.join(sorted(host.adapters())) or 'none'}")
        for row in channels:
            state = "ok" if row["ok"] else f"ERROR {row.get('error')}"
            click.echo(f"[channels.{row['channel']}] {row['adapter']}: {state}")
            for name, value in (row.get("settings") or {}).items():
                click.echo(f"    {name} = {value}")
        for problem in problems:
            click.echo(f"problem: {problem}")
        click.echo("no problems found" if not problems else f"{len(problems)} problem(s)")
    if problems:
        raise SystemExit(2)
