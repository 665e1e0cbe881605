"""The plugin contract: every hook a plugin may implement.

Plugins are Python modules named by an entry point in the ``omnichannel`` group::

    [project.entry-points.omnichannel]
    fax = "omnichannel_fax.hooks"

and implement hooks with the :data:`hookimpl` marker. Hooks are synchronous, cheap and
declarative: registration hooks return classes and never open connections. Only
:class:`~omnichannel.plugins.PluginHost` calls them. The core registers its own default
behaviour through these same hooks.

Hooks by phase:

* registration: :func:`omnichannel_adapters`, :func:`omnichannel_simulators`,
  :func:`omnichannel_cli_commands`
* outbound: :func:`omnichannel_outbound`, :func:`omnichannel_choose_channel`
* inbound: :func:`omnichannel_inbound`, :func:`omnichannel_message_received`,
  :func:`omnichannel_status_received`
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from omnichannel.envelope import Envelope
    from omnichannel.events import StatusUpdate
    from omnichannel.hookvalues import Inbound, Outbound

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "omnichannel"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin function as an implementation of the hook of the same name."""


# -- registration ----------------------------------------------------------------------------


@hookspec
def omnichannel_adapters() -> Sequence[type[Any]]:
    """Return the adapter classes this plugin provides.

    Called once, when the plugin host loads plugins. Each class follows
    :class:`~omnichannel.ChannelAdapter` (usually by subclassing
    :class:`~omnichannel.BaseAdapter`) and has a unique ``info.name``. Return a list (empty
    when the plugin has none); never open connections here. A class that is not an adapter, or
    a name another plugin already claimed, is reported as a load failure of this plugin.
    """
    raise NotImplementedError


@hookspec
def omnichannel_simulators() -> Sequence[type[Any]]:
    """Return the provider simulator classes this plugin contributes to the sandbox.

    Called when ``omni sandbox`` or ``omni demo`` starts. Each class follows
    :class:`~omnichannel.sandbox.ProviderSimulator`: it names the adapter whose requests it
    accepts and the URL prefix it is mounted at. Return a list (empty when none).
    """
    raise NotImplementedError


@hookspec
def omnichannel_cli_commands() -> Sequence[click.Command]:
    """Return extra ``click`` commands to add to the ``omni`` group.

    Called when ``omni`` runs a command it does not define itself, and by ``omni plugin
    commands``. Import heavy modules inside the command function, not at module level, so
    ``omni`` stays fast. A command whose name clashes with a built-in one (or with another
    plugin's) is ignored and reported as a load failure of this plugin; so is a returned item
    that is not a ``click.Command``.
    """
    raise NotImplementedError


# -- outbound --------------------------------------------------------------------------------


@hookspec
def omnichannel_outbound(outbound: Outbound) -> None:
    """Inspect, change or veto an envelope before it is sent.

    Called by the router for every send, after the channel is chosen and the recipient
    normalised, before any network call. ``outbound.envelope`` may be replaced
    (``outbound.envelope = attrs.evolve(...)``); raising :class:`~omnichannel.SendError`
    (usually :class:`~omnichannel.PolicyViolation`) vetoes the send. Implementations may be
    ``wrapper=True`` to see the envelope both before and after the others ran (to log what
    was decided). The return value is ignored. The rules no plugin may override (RESTRICTED
    content never goes out PUBLIC; PUBLIC only where the channel posts publicly) are checked
    by the router on the envelope every implementation, wrappers included, left behind.
    """


@hookspec(firstresult=True)
def omnichannel_choose_channel(envelope: Envelope, candidates: Sequence[str]) -> str | None:
    """Pick the channel for an envelope sent with ``channel="auto"``.

    ``candidates`` are the configured channels that can reach the recipient's address kind.
    First result wins: return a channel name to decide, or None to let the next
    implementation (finally the core default, the first candidate) decide.
    """


# -- inbound ---------------------------------------------------------------------------------


@hookspec
def omnichannel_inbound(inbound: Inbound) -> None:
    """Enrich or drop an inbound message before the application's handlers see it.

    Called by the router once per message, after the signature was verified, the message
    parsed and claimed (a duplicate never gets here) and before the handlers.
    ``inbound.envelope`` may be replaced (a contact attached in ``metadata``, a FAQ answer
    found); ``inbound.drop(reason)`` keeps the handlers from seeing it (it is still
    acknowledged to the provider). Implementations may be ``wrapper=True``. An exception
    makes the provider's request fail with 500, so the provider retries; keep it fast, the
    provider is waiting. The return value is ignored.
    """


@hookspec
def omnichannel_message_received(envelope: Envelope) -> None:
    """Observe an inbound message after it was verified, parsed and deduplicated.

    Called one implementation at a time; an exception is logged with the plugin's name and
    never reaches the provider (a broken observer does not turn a webhook into a 5xx). Keep it
    fast: the provider is waiting for the webhook's answer.
    """


@hookspec
def omnichannel_status_received(status: StatusUpdate) -> None:
    """Observe a status update after it was applied by precedence.

    Called one implementation at a time, like :func:`omnichannel_message_received`; stale
    duplicates are not passed on.
    """
