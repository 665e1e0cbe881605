"""Putting a router together: the adapters a configuration names, and the routing policy
checked against the channels there are.

Both run while the router is built, so a configuration that names a channel nobody serves,
or waits for a status a channel never reports, fails at start-up with the fix in its
message rather than at the first send.
"""

from __future__ import annotations

from collections.abc import Mapping

from omnichannel.adapter import AdapterContext, ChannelAdapter
from omnichannel.config import Config, build_settings
from omnichannel.errors import ConfigurationError
from omnichannel.plugins import PluginHost
from omnichannel.policy import RoutingPolicy

__all__ = ["check_routing_policy", "configured_adapters"]


def configured_adapters(
    config: Config, *, host: PluginHost, context: AdapterContext
) -> dict[str, ChannelAdapter]:
    """The adapter of each ``[channels.<name>]``, from the plugins ``host`` loaded, with its
    settings checked and secrets wrapped."""
    adapters: dict[str, ChannelAdapter] = {}
    for channel, channel_config in config.channels.items():
        entry = host.adapter(channel_config.adapter)
        if entry.info.channel != channel:
            raise ConfigurationError(
                f"[channels.{channel}] uses adapter {entry.info.name!r}, which serves "
                f"channel {entry.info.channel!r}"
            )
        settings = build_settings(
            entry.adapter_class.settings_class,
            channel_config.settings,
            where=f"[channels.{channel}] ({entry.info.name})",
        )
        adapters[channel] = entry.adapter_class(settings, context)
    return adapters


def check_routing_policy(policy: RoutingPolicy, adapters: Mapping[str, ChannelAdapter]) -> None:
    """Raise :class:`~omnichannel.ConfigurationError` when ``policy`` names a channel that
    is not among ``adapters``, or a chain waits for a status its channel never reports."""
    configured = ", ".join(sorted(adapters)) or "none"
    for channel, fallbacks in policy.failover.items():
        for step in (channel, *fallbacks):
            if step not in adapters:
                raise ConfigurationError(
                    f"routing.failover.{channel} names channel {step!r}, which is not "
                    f"configured; configured: {configured}"
                )
    for chain in policy.chains.values():
        for link in chain.steps:
            adapter = adapters.get(link.channel)
            if adapter is None:
                raise ConfigurationError(
                    f"routing.chains.{chain.name} names channel {link.channel!r}, which is "
                    f"not configured; configured: {configured}"
                )
            reported = adapter.capabilities.statuses
            if link.until is not None and not any(
                status.reached(link.until) for status in reported
            ):
                raise ConfigurationError(
                    f"routing.chains.{chain.name}: {link.channel} never reports "
                    f"{link.until.value!r} (it reports "
                    f"{', '.join(sorted(status.value for status in reported))}); wait for "
                    "one of those"
                )
    private = policy.signpost_channel
    if private is not None and private not in adapters:
        raise ConfigurationError(
            f"routing.signpost_channel names channel {private!r}, which is not "
            f"configured; configured: {configured}"
        )
