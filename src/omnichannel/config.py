"""Configuration: ``omnichannel.toml``, ``${ENV}`` interpolation, the :class:`Secret` type and
typed adapter settings.

A configuration names, per channel, the adapter that serves it and that adapter's settings::

    [webhooks]
    public_url = "https://support.example.com"

    [channels.sms]
    adapter = "sms.example"
    auth_token = "${SMS_AUTH_TOKEN}"

Every string in a ``[channels.*]`` table is held as a :class:`Secret` from the moment the
file is parsed, so no repr or stray log of a configuration can show a token, wherever it was
put; :func:`build_settings` reveals the values of settings not declared secret when it builds
an adapter's settings. Errors about a setting's value describe it (:func:`describe_value`)
rather than repeat it.
"""

from __future__ import annotations

import hmac
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import attrs

from omnichannel.errors import ConfigurationError, MissingVariable
from omnichannel.forwarding import parse_networks
from omnichannel.policy import RestrictedPublic, RoutingPolicy

__all__ = [
    "ChannelConfig",
    "Config",
    "Secret",
    "build_settings",
    "describe_settings",
    "describe_value",
    "load_config",
    "secret",
    "secret_values",
    "setting",
]

CONFIG_ENV_VAR: Final = "OMNICHANNEL_CONFIG"
DEFAULT_CONFIG_NAME: Final = "omnichannel.toml"

SettingsT = TypeVar("SettingsT")


class Secret:
    """A secret string whose repr and str print ``<secret>``; read it with :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value = value.reveal() if isinstance(value, Secret) else str(value)

    def reveal(self) -> str:
        """The secret value itself. Call it only where the value is used (signing, auth)."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


def _to_secret(value: str | Secret | None) -> Secret | None:
    return None if value is None else Secret(value)


def _conceal(value: Any) -> Any:
    if isinstance(value, str):
        return Secret(value)
    if isinstance(value, list | tuple):
        return [_conceal(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _conceal(item) for key, item in value.items()}
    return value


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, list | tuple):
        return [_reveal(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _reveal(item) for key, item in value.items()}
    return value


def _strings(value: Any) -> list[str]:
    revealed = _reveal(value)
    if isinstance(revealed, str):
        return [revealed]
    if isinstance(revealed, list):
        return [text for item in revealed for text in _strings(item)]
    if isinstance(revealed, dict):
        return [text for item in revealed.values() for text in _strings(item)]
    return []


def describe_value(value: object) -> str:
    """A setting's value described without showing it, for error messages ("account_sid is
    not an Account SID: got a 32-character value"): a value put in the wrong setting may be a
    secret. Only booleans and a missing value are shown as they are."""
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Secret | str):
        text = value.reveal() if isinstance(value, Secret) else value
        if not text:
            return "an empty value"
        if not text.strip():
            return "a blank value"
        spaces = " with spaces around it" if text != text.strip() else ""
        return f"a {len(text)}-character value{spaces}"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__} value"


_NOTHING: Any = attrs.NOTHING


def setting(
    *, help: str, default: Any = _NOTHING, converter: Callable[[Any], Any] | None = None
) -> Any:
    """Declare a plain setting on an adapter's settings class, with its help text."""
    return attrs.field(
        default=default, converter=converter, metadata={"help": help, "secret": False}
    )


def secret(*, help: str, required: bool = True) -> Any:
    """Declare a secret setting: the value is held as a :class:`Secret`."""
    return attrs.field(
        default=_NOTHING if required else None,
        converter=_to_secret,
        metadata={"help": help, "secret": True},
        repr=False,
    )


def _config_name(field: attrs.Attribute[Any]) -> str:
    # ``from`` is a Python keyword; the attribute is ``from_`` and the setting is ``from``.
    return field.name[:-1] if field.name.endswith("_") else field.name


def build_settings(cls: type[SettingsT], values: Mapping[str, Any], *, where: str) -> SettingsT:
    """Build the settings object ``cls`` (an attrs class) from configuration values.

    Unknown names, missing required names and values that fail validation become one
    :class:`ConfigurationError` naming ``where`` and the setting, never its value.
    """
    fields = {_config_name(field): field for field in attrs.fields(cast(Any, cls))}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    missing = sorted(
        name
        for name, field in fields.items()
        if field.default is attrs.NOTHING and name not in values
    )
    if missing:
        raise ConfigurationError(f"{where}: missing required setting(s) {', '.join(missing)}")
    # Secret fields get the Secret itself (``secret()`` accepts one); the others the value.
    kwargs = {
        fields[name].name: value if fields[name].metadata.get("secret") else _reveal(value)
        for name, value in values.items()
    }
    try:
        return cls(**kwargs)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc.message}") from None
    except (TypeError, ValueError) as exc:
        # attrs validators pass (message, attribute, ...) as arguments: the message suffices.
        text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise ConfigurationError(f"{where}: {_redacted(text, values)}") from None


def _redacted(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with every string value of ``values`` replaced: quoted as a repr shows it,
    bare anywhere when it is 4 characters or more, and bare as a whole word when shorter."""
    for raw in sorted(set(_strings(dict(values))), key=len, reverse=True):
        if not raw:
            continue
        text = text.replace(repr(raw), "<redacted>")
        if len(raw) >= 4:
            text = text.replace(raw, "<redacted>")
        else:
            text = re.sub(rf"(?<!\w){re.escape(raw)}(?!\w)", "<redacted>", text)
    return text


def secret_values(settings: object) -> list[str]:
    """The revealed value of every :class:`Secret` field of an attrs settings object: what a
    preview, a log line or an error must never show."""
    if not attrs.has(type(settings)):
        return []
    values = attrs.asdict(cast(Any, settings), recurse=False).values()
    return [value.reveal() for value in values if isinstance(value, Secret) and value.reveal()]


def describe_settings(cls: type[Any]) -> list[dict[str, Any]]:
    """One row per setting of ``cls``: name, required, secret, default and help text."""
    rows = []
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = None
        rows.append(
            {
                "name": _config_name(field),
                "required": field.default is attrs.NOTHING,
                "secret": bool(field.metadata.get("secret")),
                "default": None if default is attrs.NOTHING else default,
                "help": field.metadata.get("help", ""),
            }
        )
    return rows


def _concealed_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(name): _conceal(value) for name, value in values.items()}


@attrs.frozen(kw_only=True)
class ChannelConfig:
    """One ``[channels.NAME]`` table: the adapter name and its (interpolated) settings."""

    channel: str
    adapter: str
    settings: Mapping[str, Any] = attrs.field(repr=False, converter=_concealed_settings)
    """Setting values as read, with every string (nested ones too) held as a :class:`Secret`;
    :func:`build_settings` reveals those of settings that are not secret."""


@attrs.frozen(kw_only=True)
class Config:
    """A loaded ``omnichannel.toml``."""

    public_url: str | None = None
    """The URL providers call (``https://support.example.com``); webhook signatures depend on it."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses and networks of reverse proxies whose forwarded headers are believed when no
    public URL is configured (``webhooks.trusted_proxies``)."""
    channels: Mapping[str, ChannelConfig] = attrs.field(factory=dict)
    routing: RoutingPolicy = attrs.field(factory=RoutingPolicy)
    """The ``[routing]`` table: failover, the signpost rule, handler timeouts."""
    store_url: str | None = None
    """``[store] url``: the durable store's database (``omnichannel.store.configured_url``
    supplies the default, a SQLite file next to this configuration)."""
    path: Path | None = None


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise MissingVariable(name, where)

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: _interpolate(item, environ, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, environ, where) for item in value]
    return value


def find_config_path(
    path: str | Path | None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The file to read: ``path``, then ``$OMNICHANNEL_CONFIG``, then ./omnichannel.toml."""
    env = os.environ if environ is None else environ
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR])
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_config(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and check a configuration file; with no file found, an empty configuration."""
    env = os.environ if environ is None else environ
    found = find_config_path(path, env)
    if found is None:
        return Config()
    try:
        data = tomllib.loads(found.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {str(found)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{found}: not valid TOML: {exc}") from None
    return parse_config(data, environ=env, path=found)


def parse_config(
    data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, path: Path | None = None
) -> Config:
    """Build a :class:`Config` from already-parsed TOML data."""
    env = os.environ if environ is None else environ
    where = str(path) if path else "configuration"
    known = {"webhooks", "channels", "routing", "store"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(f"{where}: unknown section(s) {', '.join(unknown)}")
    webhooks = _table(data, "webhooks", where)
    public_url = _interpolate(webhooks.get("public_url"), env, "webhooks.public_url")
    proxies = _interpolate(webhooks.get("trusted_proxies", []), env, "webhooks.trusted_proxies")
    if not isinstance(proxies, list) or not all(isinstance(item, str) for item in proxies):
        raise ConfigurationError(
            f"{where}: webhooks.trusted_proxies must be a list of addresses or networks"
        )
    parse_networks(proxies, where=f"{where}: webhooks.trusted_proxies")
    channels: dict[str, ChannelConfig] = {}
    for channel, table in _table(data, "channels", where).items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}: [channels.{channel}] must be a table")
        options = dict(table)
        adapter = options.pop("adapter", None)
        if not isinstance(adapter, str) or not adapter:
            raise ConfigurationError(
                f'{where}: [channels.{channel}] needs adapter = "<name>" (see omni channels)'
            )
        settings = _interpolate(options, env, f"channels.{channel}")
        channels[channel] = ChannelConfig(channel=channel, adapter=adapter, settings=settings)
    routing = _routing(_interpolate(_table(data, "routing", where), env, "routing"), where)
    return Config(
        public_url=public_url.rstrip("/") if public_url else None,
        trusted_proxies=tuple(item.strip() for item in proxies),
        channels=channels,
        routing=routing,
        store_url=_store_url(_interpolate(_table(data, "store", where), env, "store"), where),
        path=path,
    )


def _store_url(table: Mapping[str, Any], where: str) -> str | None:
    unknown = sorted(set(table) - {"url"})
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown [store] setting(s) {', '.join(unknown)}; known: url"
        )
    url = table.get("url")
    if url is not None and (not isinstance(url, str) or not url):
        raise ConfigurationError(f'{where}: store.url must be a database URL ("sqlite:///...")')
    return url


_ROUTING_KEYS: Final[dict[str, type | tuple[type, ...]]] = {
    "failover": dict,
    "restricted_public": str,
    "signpost_text": str,
    "signpost_channel": str,
    "handler_timeout": (int, float),
    "allow_private_media_hosts": bool,
    "window_templates": dict,
    "chains": dict,
}


def _routing(table: Mapping[str, Any], where: str) -> RoutingPolicy:
    unknown = sorted(set(table) - set(_ROUTING_KEYS))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown [routing] setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_ROUTING_KEYS))}"
        )
    failover: dict[str, tuple[str, ...]] = {}
    for channel, chain in (table.get("failover") or {}).items():
        if not isinstance(chain, list) or not all(isinstance(item, str) for item in chain):
            raise ConfigurationError(
                f"{where}: routing.failover.{channel} must be a list of channels"
            )
        failover[channel] = tuple(chain)
    values: dict[str, Any] = {"failover": failover}
    for name, chain in (table.get("chains") or {}).items():
        steps = chain.get("steps") if isinstance(chain, dict) else None
        if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
            raise ConfigurationError(
                f"{where}: routing.chains.{name} needs steps = [{{ channel = ..., until = ..., "
                "within = ... }, ...]"
            )
        for step in steps:
            unknown_keys = ", ".join(sorted(set(step) - {"channel", "until", "within"}))
            if unknown_keys or not isinstance(step.get("channel"), str):
                extra = f"; unknown: {unknown_keys}" if unknown_keys else ""
                raise ConfigurationError(
                    f"{where}: routing.chains.{name}: each step has a channel and may have "
                    f"until and within{extra}"
                )
    for channel, template in (table.get("window_templates") or {}).items():
        valid_name = isinstance(template, str) or (
            isinstance(template, dict) and isinstance(template.get("name"), str)
        )
        if not valid_name:
            raise ConfigurationError(
                f"{where}: routing.window_templates.{channel} must be a template name or "
                '{ name = "...", language = "..." }'
            )
    for name, kind in _ROUTING_KEYS.items():
        if name == "failover" or name not in table:
            continue
        value = table[name]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigurationError(f"{where}: routing.{name} has the wrong type")
        values[name] = value
    if "restricted_public" in values and values["restricted_public"] not in set(RestrictedPublic):
        raise ConfigurationError(
            f"{where}: routing.restricted_public must be one of: "
            f"{', '.join(sorted(RestrictedPublic))}"
        )
    try:
        return RoutingPolicy(**values)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: [routing]: {exc}") from None


def _table(data: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: [{name}] must be a table")
    return value
