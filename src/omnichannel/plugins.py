"""The plugin host: loads plugins from entry points, one at a time, and calls their hooks.

pluggy's own ``load_setuptools_entrypoints`` stops at the first plugin that fails to import,
and one raising implementation stops a whole hook call. :class:`PluginHost` runs its own
loading loop instead: every entry point is loaded and registered on its own, a failure becomes
a :class:`PluginLoadFailure` (shown by ``omni channels`` and ``omni doctor``) and the other
plugins keep working. Nothing else in omnichannel calls ``pm.hook``.

``OMNICHANNEL_PLUGINS=a,b`` loads only the named entry points;
``OMNICHANNEL_DISABLE_PLUGINS=a,b`` skips those.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from omnichannel import hookspecs
from omnichannel.adapter import AdapterClass, AdapterInfo
from omnichannel.capabilities import Capabilities
from omnichannel.envelope import Envelope
from omnichannel.errors import UnknownAdapter
from omnichannel.events import StatusUpdate
from omnichannel.hookvalues import Inbound, Outbound

if TYPE_CHECKING:
    import click

__all__ = ["AdapterEntry", "PluginHost", "PluginLoadFailure", "PluginRecord"]

logger = logging.getLogger("omnichannel.plugins")

ENTRY_POINT_GROUP = "omnichannel"
ONLY_ENV_VAR = "OMNICHANNEL_PLUGINS"
DISABLE_ENV_VAR = "OMNICHANNEL_DISABLE_PLUGINS"
BUILTIN_PLUGIN = "omnichannel.builtin"


@attrs.frozen(kw_only=True)
class PluginRecord:
    """A registered plugin and where it came from."""

    name: str
    distribution: str | None = None
    version: str | None = None


@attrs.frozen(kw_only=True)
class PluginLoadFailure:
    """A plugin, or part of one, that could not be used; the others keep working."""

    plugin: str
    distribution: str | None
    version: str | None
    error: str

    def __str__(self) -> str:
        origin = " ".join(part for part in (self.distribution, self.version) if part)
        return f"plugin {self.plugin!r}{f' ({origin})' if origin else ''}: {self.error}"

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class AdapterEntry:
    """An installed adapter class and the plugin that provided it."""

    adapter_class: AdapterClass
    plugin: PluginRecord

    @property
    def info(self) -> AdapterInfo:
        """The adapter's name, channel and provider."""
        return self.adapter_class.info

    @property
    def capabilities(self) -> Capabilities:
        """What the adapter's channel can carry and report."""
        return self.adapter_class.capabilities


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _adapter_problem(candidate: object) -> str | None:
    if not isinstance(candidate, type):
        return f"returned {candidate!r}, which is not an adapter class"
    info = getattr(candidate, "info", None)
    if not isinstance(info, AdapterInfo):
        return f"{candidate.__qualname__} has no AdapterInfo 'info'"
    capabilities = getattr(candidate, "capabilities", None)
    if not isinstance(capabilities, Capabilities):
        return f"{candidate.__qualname__} has no Capabilities 'capabilities'"
    if not attrs.has(getattr(candidate, "settings_class", object)):
        return f"{candidate.__qualname__}.settings_class is not an attrs class"
    for method in ("send", "handle_webhook", "simulate", "aclose"):
        if not callable(getattr(candidate, method, None)):
            return f"{candidate.__qualname__} has no {method}() method"
    problems = capabilities.problems()
    if problems:
        return f"{candidate.__qualname__} declares inconsistent capabilities: {'; '.join(problems)}"
    return None


def _split_names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


class PluginHost:
    """A typed facade over pluggy: one method per hook, per-plugin isolation, a load report."""

    def __init__(self, *, builtins: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._records: dict[str, PluginRecord] = {}
        self._failures: list[PluginLoadFailure] = []
        self._adapters: dict[str, AdapterEntry] | None = None
        if builtins:
            from omnichannel import builtin

            self.register(builtin, name=BUILTIN_PLUGIN, distribution="omnichannel")

    @classmethod
    def from_entry_points(
        cls,
        *,
        only: Iterable[str] | None = None,
        disable: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> PluginHost:
        """A host with the built-ins and every installed plugin, honouring the environment's
        ``OMNICHANNEL_PLUGINS`` and ``OMNICHANNEL_DISABLE_PLUGINS``."""
        env = os.environ if environ is None else environ
        only_names = set(only) if only is not None else _split_names(env.get(ONLY_ENV_VAR))
        disabled = set(disable) | (_split_names(env.get(DISABLE_ENV_VAR)) or set())
        host = cls()
        for entry_point in sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name
        ):
            if entry_point.name in disabled:
                continue
            if only_names is not None and entry_point.name not in only_names:
                continue
            host.load_entry_point(entry_point)
        return host

    def load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> bool:
        """Load and register one entry point; a failure is recorded, never raised."""
        dist = entry_point.dist
        distribution = dist.name if dist is not None else None
        version = dist.version if dist is not None else None
        try:
            plugin = entry_point.load()
        except Exception as exc:
            self._fail(entry_point.name, distribution, version, f"cannot import: {_describe(exc)}")
            return False
        return self.register(
            plugin, name=entry_point.name, distribution=distribution, version=version
        )

    def register(
        self,
        plugin: object,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> bool:
        """Register a plugin object (a module or any object with hook implementations).

        Tests use this to build a host with exactly the plugins they need. Returns False and
        records a failure when pluggy refuses the plugin.
        """
        plugin_name = name or getattr(plugin, "__name__", None) or repr(plugin)
        if plugin_name in self._records:
            other = self._records[plugin_name]
            self._fail(
                plugin_name,
                distribution,
                version,
                f"a plugin named {plugin_name!r} is already registered"
                f" (from {other.distribution or 'an explicit registration'})",
            )
            return False
        try:
            self._pm.register(plugin, name=plugin_name)
        except Exception as exc:
            self._fail(plugin_name, distribution, version, f"cannot register: {_describe(exc)}")
            return False
        self._records[plugin_name] = PluginRecord(
            name=plugin_name, distribution=distribution, version=version
        )
        self._adapters = None
        return True

    def _fail(self, plugin: str, distribution: str | None, version: str | None, error: str) -> None:
        failure = PluginLoadFailure(
            plugin=plugin, distribution=distribution, version=version, error=error
        )
        logger.warning("%s", failure)
        self._failures.append(failure)

    # -- reports ------------------------------------------------------------------------------

    @property
    def plugins(self) -> list[PluginRecord]:
        """Every registered plugin, built-ins first."""
        return list(self._records.values())

    @property
    def load_failures(self) -> list[PluginLoadFailure]:
        """Every plugin, or part of one, that could not be used."""
        self.adapters()
        return list(self._failures)

    def _record_of(self, impl: pluggy.HookImpl) -> PluginRecord:
        return self._records.get(impl.plugin_name, PluginRecord(name=impl.plugin_name))

    def _isolated(self, hook: pluggy.HookCaller, **kwargs: Any) -> list[tuple[PluginRecord, Any]]:
        """Call each implementation on its own; failures are recorded, not raised."""
        results = []
        for impl in reversed(hook.get_hookimpls()):
            record = self._record_of(impl)
            try:
                results.append(
                    (record, impl.function(**{arg: kwargs[arg] for arg in impl.argnames}))
                )
            except Exception as exc:
                self._fail(
                    record.name,
                    record.distribution,
                    record.version,
                    f"{hook.name} raised {_describe(exc)}",
                )
        return results

    # -- registration hooks -------------------------------------------------------------------

    def adapters(self) -> dict[str, AdapterEntry]:
        """Every installed adapter by name. Computed once; problems become load failures."""
        if self._adapters is not None:
            return self._adapters
        found: dict[str, AdapterEntry] = {}
        for record, classes in self._isolated(self._pm.hook.omnichannel_adapters):
            if not isinstance(classes, Sequence) or isinstance(classes, str):
                classes = [classes]
            for candidate in classes:
                problem = _adapter_problem(candidate)
                if problem is not None:
                    self._fail(record.name, record.distribution, record.version, problem)
                    continue
                name = candidate.info.name
                if name in found:
                    first = found[name].plugin
                    self._fail(
                        record.name,
                        record.distribution,
                        record.version,
                        f"adapter {name!r} is provided by both {first.distribution or first.name}"
                        f" and {record.distribution or record.name}; uninstall one",
                    )
                    continue
                found[name] = AdapterEntry(adapter_class=candidate, plugin=record)
        self._adapters = dict(sorted(found.items()))
        return self._adapters

    def adapter(self, name: str) -> AdapterEntry:
        """The adapter called ``name``; :class:`UnknownAdapter` lists the installed ones."""
        adapters = self.adapters()
        if name not in adapters:
            raise UnknownAdapter(name, adapters)
        return adapters[name]

    def adapters_for_channel(self, channel: str) -> list[AdapterEntry]:
        """The installed adapters that serve ``channel``."""
        return [entry for entry in self.adapters().values() if entry.info.channel == channel]

    def _contributions(
        self, hook: pluggy.HookCaller, accept: Any, what: str
    ) -> list[tuple[PluginRecord, Any]]:
        """Each item a registration hook returned, with its plugin; an implementation that
        returned something other than a sequence of acceptable items is a load failure."""
        found = []
        for record, returned in self._isolated(hook):
            if not isinstance(returned, Sequence) or isinstance(returned, str):
                returned = [returned]
            for item in returned:
                if accept(item):
                    found.append((record, item))
                else:
                    self._fail(
                        record.name,
                        record.distribution,
                        record.version,
                        f"{hook.name} returned {type(item).__name__}, not {what}",
                    )
        return found

    def simulators(self) -> list[type[Any]]:
        """The provider simulator classes plugins contribute to the sandbox."""

        def is_simulator(candidate: object) -> bool:
            return isinstance(candidate, type) and all(
                isinstance(getattr(candidate, name, None), str)
                for name in ("adapter_name", "prefix", "sample_recipient")
            )

        return [
            cls
            for _, cls in self._contributions(
                self._pm.hook.omnichannel_simulators, is_simulator, "a simulator class"
            )
        ]

    def cli_commands(self, reserved: Iterable[str] = ()) -> list[click.Command]:
        """Extra ``omni`` commands plugins contribute. A command named like one in
        ``reserved`` (the built-in commands) or like an earlier plugin's is left out and
        reported as a load failure of its plugin."""
        import click

        taken: dict[str, str] = {name: "omni itself" for name in reserved}
        commands: list[click.Command] = []
        for record, command in self._contributions(
            self._pm.hook.omnichannel_cli_commands,
            lambda item: isinstance(item, click.Command),
            "a click command",
        ):
            name = command.name or ""
            if name in taken:
                self._fail(
                    record.name,
                    record.distribution,
                    record.version,
                    f"command {name!r} clashes with the one from {taken[name]}; it is ignored",
                )
                continue
            taken[name] = record.distribution or record.name
            commands.append(command)
        return commands

    # -- outbound hooks -----------------------------------------------------------------------

    # The per-message hooks run on every send and every inbound event: with no
    # implementation registered (the usual case), pluggy's call machinery is skipped.

    def outbound(self, outbound: Outbound) -> Outbound:
        """Run the outbound hooks; an exception from one vetoes the send and propagates."""
        hook = self._pm.hook.omnichannel_outbound
        if hook.get_hookimpls():
            hook(outbound=outbound)
        return outbound

    def inbound(self, inbound: Inbound) -> Inbound:
        """Run the inbound hooks; an exception propagates (the provider is asked to retry)."""
        hook = self._pm.hook.omnichannel_inbound
        if hook.get_hookimpls():
            hook(inbound=inbound)
        return inbound

    def choose_channel(self, envelope: Envelope, candidates: Sequence[str]) -> str | None:
        """The first channel an implementation picks for ``envelope``."""
        choice: str | None = self._pm.hook.omnichannel_choose_channel(
            envelope=envelope, candidates=list(candidates)
        )
        return choice

    # -- inbound hooks ------------------------------------------------------------------------

    def message_received(self, envelope: Envelope) -> None:
        """Tell every observer about an inbound message; a raising observer is logged only."""
        self._observe(self._pm.hook.omnichannel_message_received, envelope=envelope)

    def status_received(self, status: StatusUpdate) -> None:
        """Tell every observer about an applied status update; a raising observer is logged only."""
        self._observe(self._pm.hook.omnichannel_status_received, status=status)

    def _observe(self, hook: pluggy.HookCaller, **kwargs: Any) -> None:
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception:
                logger.exception("plugin %r: %s raised; ignored", impl.plugin_name, hook.name)
