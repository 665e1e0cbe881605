"""``omni init [--sandbox] [CHANNEL...]``: write a commented ``omnichannel.toml`` for the
installed channels.

Without ``--sandbox`` every secret, every required setting and every setting the provider's
simulator needs without a default is an ``${ENV}`` placeholder (``${ACME_AUTH_TOKEN}``:
the provider's name and the setting's), so the file can be committed and ``omni doctor``
lists what to set; the other settings are written commented out with their defaults. With
``--sandbox`` the file holds the simulators' working values instead, pointing every channel
at ``omni sandbox`` and its callbacks at ``omni listen``, both at their default addresses.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import click

from omnichannel.cli._shared import json_option, plugin_host, print_json
from omnichannel.cli._webhooks import DEFAULT_LISTENER
from omnichannel.cli.sandbox import DEFAULT_PORT
from omnichannel.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_NAME, describe_settings
from omnichannel.errors import ConfigurationError, UnknownChannel
from omnichannel.plugins import AdapterEntry, PluginHost
from omnichannel.sandbox import simulator_classes

__all__ = ["PUBLIC_URL_VARIABLE", "SANDBOX_URL", "init", "render_config"]

SANDBOX_URL: Final = f"http://127.0.0.1:{DEFAULT_PORT}"
PUBLIC_URL_VARIABLE: Final = "OMNICHANNEL_PUBLIC_URL"
_WIDTH: Final = 96
_TOML_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
_TOML_ESCAPES_MORE: Final = {"\f": "\\f", "\r": "\\r"}


def toml_value(value: object) -> str:
    """``value`` written as TOML (strings, booleans, numbers and lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    text = str(value)
    escaped = []
    for char in text:
        code = ord(char)
        if char in _TOML_ESCAPES or char in _TOML_ESCAPES_MORE:
            escaped.append({**_TOML_ESCAPES, **_TOML_ESCAPES_MORE}[char])
        elif code < 0x20 or code == 0x7F:
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def variable_name(provider: str, setting: str) -> str:
    """The environment variable a setting's placeholder names: ``ACME_AUTH_TOKEN``."""
    return re.sub(r"[^A-Z0-9]+", "_", f"{provider}_{setting}".upper()).strip("_")


def _comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text, width=_WIDTH, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# "
    )


def _default(value: object) -> str:
    return toml_value(value if value is not None else "")


def _channel_lines(
    entry: AdapterEntry, sample: Mapping[str, Any] | None, sandbox: bool
) -> list[str]:
    info = entry.info
    origin = " ".join(part for part in (entry.plugin.distribution, entry.plugin.version) if part)
    lines = ["", f"[channels.{info.channel}]"]
    lines += _comment(f"{info.description or info.name} ({origin or entry.plugin.name}).")
    lines.append(f"adapter = {toml_value(info.name)}")
    for row in describe_settings(entry.adapter_class.settings_class):
        name = row["name"]
        flags = "secret, " if row["secret"] else ""
        state = "required" if row["required"] else "optional"
        lines += _comment(f"({flags}{state}) {row['help']}")
        if sandbox and sample is not None:
            if name in sample:
                lines.append(f"{name} = {toml_value(sample[name])}")
            else:
                lines.append(f"# {name} = {_default(row['default'])}")
            continue
        # A setting the simulator needs and that has no default is one the provider needs.
        simulated = sample is not None and name in sample and row["default"] is None
        if row["required"] or simulated:
            placeholder = "${" + variable_name(info.provider, name) + "}"
            lines.append(f"{name} = {toml_value(placeholder)}")
        else:
            lines.append(f"# {name} = {_default(row['default'])}")
    return lines


def render_config(
    entries: Sequence[AdapterEntry],
    samples: Mapping[str, Mapping[str, Any]],
    *,
    sandbox: bool,
) -> str:
    """The text of ``omnichannel.toml`` for ``entries`` (``samples``: each adapter's sandbox
    settings, by adapter name, from its simulator)."""
    channels = ", ".join(entry.info.channel for entry in entries) or "no channel"
    if sandbox:
        intro = (
            f"Written by `omni init --sandbox` for {channels}: working values for the local "
            f"simulators, so `omni sandbox`, `omni listen` and `omni send CHANNEL TO TEXT --wait`"
            " work with this file as it is. The credentials are fake; never use them elsewhere."
        )
    else:
        intro = (
            f"Written by `omni init` for {channels}. Secrets and required settings are read "
            "from the environment (${NAME}); `omni doctor` lists the ones not set. Optional "
            "settings are commented out with their defaults."
        )
    lines = _comment(intro)
    lines += ["", "[webhooks]"]
    lines += _comment(
        "The URL providers call: webhook signatures are checked against it, and status "
        "callbacks go to {public_url}/webhooks/{channel}."
    )
    public_url = DEFAULT_LISTENER if sandbox else "${" + PUBLIC_URL_VARIABLE + "}"
    lines.append(f"public_url = {toml_value(public_url)}")
    lines.append("# trusted_proxies = []")
    lines += ["", "[routing]"]
    lines += _comment('Channels to try when one fails: failover = { sms = ["voice"] }')
    lines.append("# failover = {}")
    if sandbox:
        lines += _comment("The simulators serve media on loopback, which sends otherwise refuse.")
        lines.append("allow_private_media_hosts = true")
    else:
        lines.append("# allow_private_media_hosts = false")
    for entry in entries:
        lines += _channel_lines(entry, samples.get(entry.info.name), sandbox)
    return "\n".join(lines) + "\n"


def _choose(host: PluginHost, names: Sequence[str], sandbox: bool) -> list[AdapterEntry]:
    adapters = host.adapters()
    simulated = simulator_classes(host)
    installed = sorted({entry.info.channel for entry in adapters.values()})
    chosen: dict[str, AdapterEntry] = {}
    for name in names or installed:
        if name in adapters:
            entry = adapters[name]
        else:
            candidates = host.adapters_for_channel(name)
            if not candidates:
                raise UnknownChannel(name, installed)
            if sandbox:
                candidates = [c for c in candidates if c.info.name in simulated] or candidates
            entry = candidates[0]
        if sandbox and entry.info.name not in simulated:
            if names:
                raise ConfigurationError(
                    f"adapter {entry.info.name!r} ships no simulator, so --sandbox cannot "
                    "configure it; leave it out or run omni init without --sandbox"
                )
            continue
        chosen.setdefault(entry.info.channel, entry)
    return list(chosen.values())


@click.command()
@click.argument("names", nargs=-1, metavar="[CHANNEL...]")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Write the simulators' working values (omni sandbox and omni listen defaults).",
)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: $OMNICHANNEL_CONFIG, then ./omnichannel.toml).",
)
@json_option
def init(
    names: tuple[str, ...], sandbox: bool, force: bool, config_path: Path | None, as_json: bool
) -> None:
    """Write a commented omnichannel.toml for CHANNEL... (channel or adapter names; default:
    every installed channel)."""
    path = config_path or Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_NAME)
    if path.exists() and not force:
        raise ConfigurationError(f"{path} already exists; pass --force to overwrite it")
    host = plugin_host()
    entries = _choose(host, names, sandbox)
    if not entries:
        raise ConfigurationError(
            "no installed channel to configure"
            + (" has a simulator" if sandbox else "")
            + "; see omni channels"
        )
    simulators = simulator_classes(host)
    samples = {
        entry.info.name: simulators[entry.info.name].sample_settings(
            f"{SANDBOX_URL}/{simulators[entry.info.name].prefix}"
        )
        for entry in entries
        if entry.info.name in simulators
    }
    text = render_config(entries, samples, sandbox=sandbox)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None
    settings = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    variables = sorted(set(re.findall(r"\$\{([A-Z0-9_]+)\}", settings)))
    channels = [entry.info.channel for entry in entries]
    if as_json:
        print_json(
            {"path": str(path), "channels": channels, "sandbox": sandbox, "variables": variables}
        )
        return
    click.echo(f"wrote {path} for {', '.join(channels)}")
    if sandbox:
        sample = simulators[entries[0].info.name].sample_recipient
        where = "" if path == Path(DEFAULT_CONFIG_NAME) else f" --config {path}"
        click.echo(
            f"next: omni sandbox{where} & omni listen{where} & "
            f"omni send{where} {entries[0].info.channel} {sample} hi --wait"
        )
    else:
        click.echo(f"next: set {', '.join(variables)}, then run omni doctor")
