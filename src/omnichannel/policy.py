"""The routing policy: the choices the router makes on the application's behalf.

One frozen value, read from ``[routing]`` in ``omnichannel.toml`` (``Config.routing``) or built
in Python, and given to :class:`~omnichannel.Router`::

    [routing]
    failover = { chat = ["sms"] }
    restricted_public = "signpost"
    signpost_text = "We've sent you a private message."
    signpost_channel = "sms"
    handler_timeout = 10
    window_templates = { chat = { name = "follow_up", language = "en_US" } }
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from omnichannel.content import Template

__all__ = ["DEFAULT_HANDLER_TIMEOUT", "DEFAULT_SIGNPOST_TEXT", "RestrictedPublic", "RoutingPolicy"]

DEFAULT_SIGNPOST_TEXT: Final = "We've sent you a private message."
DEFAULT_HANDLER_TIMEOUT: Final = 10.0
"""Seconds a handler may take: well under the 15 s the slowest-waiting providers allow."""


class RestrictedPublic(enum.StrEnum):
    """What the router does with RESTRICTED content addressed PUBLIC."""

    REFUSE = "refuse"
    """Refuse it with :class:`~omnichannel.PolicyViolation`, before any network call."""
    SIGNPOST = "signpost"
    """Post a short public answer (``signpost_text``) and send the content privately."""


def _failover(value: Mapping[str, Sequence[str]]) -> Mapping[str, tuple[str, ...]]:
    return {str(channel): tuple(chain) for channel, chain in value.items()}


def _templates(value: Mapping[str, Template | Mapping[str, Any] | str]) -> Mapping[str, Template]:
    templates: dict[str, Template] = {}
    for channel, given in value.items():
        if isinstance(given, Template):
            templates[str(channel)] = given
        elif isinstance(given, str):
            templates[str(channel)] = Template(name=given)
        else:
            templates[str(channel)] = Template(
                name=str(given["name"]), language=given.get("language")
            )
    return templates


@attrs.frozen(kw_only=True)
class RoutingPolicy:
    """What the router may decide by itself: failover, the signpost rule, handler timeouts."""

    failover: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_failover)
    """Per channel, the channels to try next, at once, when a send fails for good."""
    restricted_public: RestrictedPublic = attrs.field(
        default=RestrictedPublic.REFUSE, converter=RestrictedPublic
    )
    signpost_text: str = DEFAULT_SIGNPOST_TEXT
    """The public answer posted under the signpost policy."""
    signpost_channel: str | None = None
    """Where the private part goes when the channel has no private mode of its own."""
    handler_timeout: float = DEFAULT_HANDLER_TIMEOUT
    """Seconds an inbound handler may run before the provider is answered with a failure."""
    allow_private_media_hosts: bool = False
    """Let media URLs point at loopback or private addresses (the sandbox needs it)."""
    window_templates: Mapping[str, Template] = attrs.field(factory=dict, converter=_templates)
    """Per windowed channel, the template sent instead of free text outside the session
    window (the free text is its fallback text); without one the send fails over or is
    refused with reason ``outside_window``."""

    def __attrs_post_init__(self) -> None:
        if self.handler_timeout <= 0:
            raise ValueError("handler_timeout must be a positive number of seconds")
        if not self.signpost_text.strip():
            raise ValueError("signpost_text must not be empty")
