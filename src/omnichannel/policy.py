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

    [routing.chains.urgent]
    steps = [
      { channel = "chat", until = "delivered", within = "5m" },
      { channel = "sms", until = "delivered", within = "10m" },
      { channel = "voice" },
    ]
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

import attrs

from omnichannel.content import Template
from omnichannel.events import DeliveryStatus

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "DEFAULT_SIGNPOST_TEXT",
    "Chain",
    "ChainStep",
    "RestrictedPublic",
    "RoutingPolicy",
    "parse_duration",
]

DEFAULT_SIGNPOST_TEXT: Final = "We've sent you a private message."
DEFAULT_HANDLER_TIMEOUT: Final = 10.0
"""Seconds a handler may take: well under the 15 s the slowest-waiting providers allow."""


class RestrictedPublic(enum.StrEnum):
    """What the router does with RESTRICTED content addressed PUBLIC."""

    REFUSE = "refuse"
    """Refuse it with :class:`~omnichannel.PolicyViolation`, before any network call."""
    SIGNPOST = "signpost"
    """Post a short public answer (``signpost_text``) and send the content privately."""


_DURATION: Final = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h30m"`` as a :class:`timedelta`; :class:`ValueError` otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration such as 90s, 5m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _duration(value: timedelta | str | None) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return parse_duration(value)


def _status(value: DeliveryStatus | str | None) -> DeliveryStatus | None:
    return None if value is None else DeliveryStatus(value)


@attrs.frozen(kw_only=True)
class ChainStep:
    """One step of a status-driven failover chain: send on ``channel``, and move on unless the
    message reaches ``until`` within ``within`` of the channel accepting it."""

    channel: str
    until: DeliveryStatus | None = attrs.field(default=None, converter=_status)
    within: timedelta | None = attrs.field(default=None, converter=_duration)

    def __attrs_post_init__(self) -> None:
        if (self.until is None) != (self.within is None):
            raise ValueError(
                f"chain step on {self.channel!r}: give both until and within (or neither, for "
                "the last step)"
            )
        if self.within is not None and self.within <= timedelta(0):
            raise ValueError(f"chain step on {self.channel!r}: within must be positive")


def _steps(values: Sequence[ChainStep | Mapping[str, Any]]) -> tuple[ChainStep, ...]:
    return tuple(
        value if isinstance(value, ChainStep) else ChainStep(**dict(value)) for value in values
    )


@attrs.frozen(kw_only=True)
class Chain:
    """A status-driven failover chain: its steps, tried in order while none reaches its goal.

    A step's timer starts when the provider accepts it; reaching ``until`` ends the chain; a
    terminal failure moves on at once; a timer that runs out marks the step SUPERSEDED and
    moves on; an ambiguous outcome stops the chain. Chains run from the durable store, so their
    timers survive restarts and any worker fires them.
    """

    name: str
    steps: tuple[ChainStep, ...] = attrs.field(converter=_steps)

    def __attrs_post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"chain {self.name!r} has no steps")
        for step in self.steps[:-1]:
            if step.until is None:
                raise ValueError(
                    f"chain {self.name!r}: only the last step may leave out until and within"
                )


def _chains(value: Mapping[str, Chain | Mapping[str, Any]]) -> Mapping[str, Chain]:
    chains: dict[str, Chain] = {}
    for name, given in value.items():
        if isinstance(given, Chain):
            chains[str(name)] = given
        else:
            chains[str(name)] = Chain(name=str(name), steps=given.get("steps") or ())
    return chains


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
    """The public answer posted under the signpost policy. ``{name}`` (the customer's display
    name, else their address), ``{recipient}`` (their address) and ``{reference}`` (a short
    reference of the conversation) are filled in: some public channels refuse a post that
    repeats a recent one word for word."""
    signpost_channel: str | None = None
    """Where the private part goes when the channel has no private mode of its own."""
    handler_timeout: float = DEFAULT_HANDLER_TIMEOUT
    """Seconds an inbound handler may run before the provider is answered with a failure."""
    allow_private_media_hosts: bool = False
    """Let media URLs point at loopback or private addresses (the sandbox needs it)."""
    chains: Mapping[str, Chain] = attrs.field(factory=dict, converter=_chains)
    """Named status-driven failover chains (``router.send(envelope, chain="urgent")``)."""
    window_templates: Mapping[str, Template] = attrs.field(factory=dict, converter=_templates)
    """Per windowed channel, the template sent instead of free text outside the session
    window (the free text is its fallback text); without one the send fails over or is
    refused with reason ``outside_window``."""

    def __attrs_post_init__(self) -> None:
        if self.handler_timeout <= 0:
            raise ValueError("handler_timeout must be a positive number of seconds")
        if not self.signpost_text.strip():
            raise ValueError("signpost_text must not be empty")
        try:
            self.signpost_for(recipient="r", name=None, reference="c")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                "signpost_text may use only {name}, {recipient} and {reference}"
            ) from None

    def signpost_for(self, *, recipient: str, name: str | None, reference: str) -> str:
        """The signpost text for one customer, its placeholders filled in."""
        return self.signpost_text.format_map(
            {"recipient": recipient, "name": name or recipient, "reference": reference[-6:]}
        )
