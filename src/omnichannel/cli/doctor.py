"""``omni doctor``: check a configuration and the installed plugins, reporting every problem
at once and printing no secret."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import click

from omnichannel.cli import EXIT_USAGE
from omnichannel.cli._shared import (
    config_option,
    json_option,
    plugin_host,
    print_json,
    where_config_was_looked_for,
)
from omnichannel.config import Config, Secret, build_settings, find_config_path, parse_config
from omnichannel.errors import ConfigurationError, MissingVariable
from omnichannel.plugins import PluginHost
from omnichannel.router import Router

# What an unset variable reads as while the rest is checked; nothing it feeds is judged.
_PLACEHOLDER: Final = "127.0.0.1"


@attrs.define
class Report:
    """What the doctor found."""

    path: Path | None = None
    config: Config | None = None
    problems: list[str] = attrs.Factory(list)
    missing: dict[str, str] = attrs.Factory(dict)
    """Unset variables: where each is referenced -> its name."""
    channels: list[dict[str, Any]] = attrs.Factory(list)

    def waits_for(self, prefix: str) -> list[str]:
        """The unset variables referenced under ``prefix`` (``channels.sms``)."""
        return sorted({name for where, name in self.missing.items() if where.startswith(prefix)})


def _shown(value: Any) -> Any:
    return "<secret>" if isinstance(value, Secret) else value


def _read(report: Report, config_path: str | None) -> dict[str, Any] | None:
    path = find_config_path(config_path)
    report.path = path
    if path is None:
        report.problems.append(f"no configuration file found ({where_config_was_looked_for()})")
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.problems.append(f"configuration file {str(path)!r} does not exist")
    except UnicodeDecodeError:
        report.problems.append(f"{path} is not UTF-8 text; save it as UTF-8")
    except tomllib.TOMLDecodeError as exc:
        report.problems.append(f"{path}: not valid TOML: {exc}")
    except OSError as exc:
        report.problems.append(f"cannot read {path}: {exc.strerror or exc}")
    return None


def _parse(report: Report, data: dict[str, Any]) -> None:
    """Parse with every unset variable found, not only the first."""
    environ = dict(os.environ)
    while True:
        try:
            report.config = parse_config(data, environ=environ, path=report.path)
            return
        except MissingVariable as error:
            for where in _references(data, error.variable) or ["?"]:
                report.missing[where] = error.variable
            report.problems.append(error.message)
            environ[error.variable] = _PLACEHOLDER
        except ConfigurationError as error:
            report.problems.append(error.message)
            return


def _references(value: Any, variable: str, where: str = "") -> list[str]:
    """The dotted keys whose value mentions ``${variable}`` (or ``${variable:-...}``)."""
    if isinstance(value, str):
        mentioned = f"${{{variable}}}" in value or f"${{{variable}:-" in value
        return [where] if mentioned else []
    if isinstance(value, dict):
        items = [(f"{where}.{key}" if where else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(where, item) for item in value]
    else:
        return []
    return [found for key, item in items for found in _references(item, variable, key)]


def _check_public_url(report: Report, config: Config) -> None:
    if report.waits_for("webhooks.public_url"):
        return
    if config.public_url is None:
        if config.channels:
            report.problems.append(
                "webhooks.public_url is not set: providers cannot reach the webhooks and "
                "signatures cannot be checked"
            )
        return
    parts = urlsplit(config.public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        report.problems.append(
            "webhooks.public_url is not an http(s) URL (such as https://support.example.com)"
        )


def _check_channels(report: Report, config: Config, host: PluginHost) -> None:
    for channel, channel_config in config.channels.items():
        row: dict[str, Any] = {"channel": channel, "adapter": channel_config.adapter, "ok": False}
        report.channels.append(row)
        waiting = report.waits_for(f"channels.{channel}.")
        problem: str | None = None
        try:
            entry = host.adapter(channel_config.adapter)
        except ConfigurationError as error:
            problem = error.message
        else:
            if entry.info.channel != channel:
                problem = (
                    f"[channels.{channel}] uses adapter {entry.info.name!r}, which serves "
                    f"channel {entry.info.channel!r}"
                )
            elif waiting:
                row["error"] = f"waits for {', '.join(waiting)}"
                continue
            else:
                try:
                    settings = build_settings(
                        entry.adapter_class.settings_class,
                        channel_config.settings,
                        where=f"[channels.{channel}]",
                    )
                except ConfigurationError as error:
                    problem = error.message
                else:
                    row["ok"] = True
                    row["settings"] = {
                        name.rstrip("_"): _shown(value)
                        for name, value in attrs.asdict(settings, recurse=False).items()
                    }
        if problem is not None:
            row["error"] = problem
            report.problems.append(problem)


def _check_routing(report: Report, config: Config) -> None:
    configured = set(config.channels)
    listing = ", ".join(sorted(configured)) or "none"
    policy = config.routing
    for channel, chain in policy.failover.items():
        for step in (channel, *chain):
            if step not in configured:
                report.problems.append(
                    f"routing.failover.{channel} names channel {step!r}, which is not "
                    f"configured; configured: {listing}"
                )
    if policy.signpost_channel is not None and policy.signpost_channel not in configured:
        report.problems.append(
            f"routing.signpost_channel names channel {policy.signpost_channel!r}, which is "
            f"not configured; configured: {listing}"
        )
    for channel in policy.window_templates:
        if channel not in configured:
            report.problems.append(
                f"routing.window_templates names channel {channel!r}, which is not "
                f"configured; configured: {listing}"
            )


def examine(config_path: str | None, host: PluginHost) -> Report:
    """Every problem of the configuration at ``config_path`` (or the default one)."""
    report = Report()
    data = _read(report, config_path)
    if data is not None:
        _parse(report, data)
    config = report.config
    if config is not None:
        _check_public_url(report, config)
        _check_channels(report, config, host)
        _check_routing(report, config)
        if not report.problems:
            try:
                Router.from_config(config, host=host)
            except ConfigurationError as error:
                report.problems.append(error.message)
    report.problems.extend(f"plugin failed to load: {failure}" for failure in host.load_failures)
    return report


@click.command()
@config_option
@json_option
def doctor(config_path: str | None, as_json: bool) -> None:
    """Check the configuration, each channel's settings and the plugins; report every
    problem. Exits 2 on problems."""
    host = plugin_host(reports_plugin_failures=True)
    report = examine(config_path, host)
    config = report.config
    public_url = config.public_url if config is not None else None
    if as_json:
        print_json(
            {
                "config": str(report.path) if report.path else None,
                "public_url": public_url,
                "channels": report.channels,
                "missing_variables": sorted(set(report.missing.values())),
                "plugin_failures": [failure.to_dict() for failure in host.load_failures],
                "adapters": sorted(host.adapters()),
                "problems": report.problems,
                "exit": EXIT_USAGE if report.problems else 0,
            }
        )
    else:
        click.echo(f"config: {report.path or '(none)'}")
        click.echo(f"public_url: {public_url or '(not set)'}")
        click.echo(f"installed adapters: {', '.join(sorted(host.adapters())) or 'none'}")
        for row in report.channels:
            state = "ok" if row["ok"] else f"ERROR {row.get('error')}"
            click.echo(f"[channels.{row['channel']}] {row['adapter']}: {state}")
            for name, value in (row.get("settings") or {}).items():
                click.echo(f"    {name} = {value}")
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        count = len(report.problems)
        click.echo("no problems found" if not count else f"{count} problem(s)")
    if report.problems:
        raise SystemExit(EXIT_USAGE)
