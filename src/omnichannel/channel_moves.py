"""Which channel a send goes on, when it moves on, and the rules for moving an envelope.

A send names its channel, or ``auto``: then the plugins' ``choose_channel`` hook picks among
the channels whose capabilities accept the recipient. A definite failure moves on along
``routing.failover``; an ambiguous one, or one after part of the message went out, does not
(the message may exist). Moving an envelope (an explicit channel, failover, the signpost's
private channel) keeps its recipient only where the address means the same thing on the new
channel: never a provider-scoped id, never an address of another kind; the recipient is
normalised for the new channel's address kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from omnichannel.envelope import Envelope
from omnichannel.errors import (
    InvalidAddress,
    OutcomeUnknown,
    PolicyViolation,
    SendError,
    UnknownChannel,
)
from omnichannel.events import FailureReason

if TYPE_CHECKING:
    from omnichannel.adapter import ChannelAdapter
    from omnichannel.capabilities import Capabilities
    from omnichannel.plugins import PluginHost

__all__ = ["AUTO_CHANNEL", "choose_channel", "fails_over", "move_envelope", "reaches"]

AUTO_CHANNEL: Final = "auto"
"""The channel name that lets the ``choose_channel`` hook pick the channel."""


def reaches(envelope: Envelope, capabilities: Capabilities) -> bool:
    """Whether a channel with ``capabilities`` accepts ``envelope``'s recipient."""
    try:
        capabilities.recipient(envelope.recipient)
    except InvalidAddress:
        return False
    return True


def choose_channel(
    envelope: Envelope, adapters: Mapping[str, ChannelAdapter], host: PluginHost
) -> str:
    """The channel ``host``'s ``choose_channel`` hook picks for ``envelope`` among the
    channels of ``adapters`` that reach its recipient; :class:`UnknownChannel` when none."""
    reachable = [
        channel for channel in sorted(adapters) if reaches(envelope, adapters[channel].capabilities)
    ]
    choice = host.choose_channel(envelope, reachable) if reachable else None
    if choice is None:
        raise UnknownChannel(AUTO_CHANNEL, adapters)
    return choice


def fails_over(error: SendError) -> bool:
    """Whether a send that failed with ``error`` moves on to the next channel of its chain: a
    definite failure that retrying on this channel would not fix, or the session window's
    refusal; never an ambiguous outcome or a send of which a part went out."""
    if isinstance(error, OutcomeUnknown) or error.receipt is not None:
        return False  # the message may exist, or part of it went out
    if isinstance(error, PolicyViolation):
        return error.reason is FailureReason.OUTSIDE_WINDOW
    return not error.retryable


def move_envelope(
    envelope: Envelope, channel: str, *, source: Capabilities | None, target: Capabilities
) -> Envelope:
    """``envelope`` on ``channel`` (``target`` its capabilities, ``source`` those of the
    channel it is on, None when that channel is not served); :class:`InvalidAddress` when
    its recipient cannot be used there."""
    kind = target.address_kind
    if source is not None and source.is_scoped_id(envelope.recipient.value):
        raise InvalidAddress(
            envelope.recipient.value,
            kind.value,
            f"a provider-scoped id of {envelope.channel} cannot be used on {channel}; "
            f"address the {channel} envelope explicitly",
            channel=channel,
        )
    if source is not None and source.address_kind is not kind:
        raise InvalidAddress(
            envelope.recipient.value,
            kind.value,
            f"a {source.address_kind.value} address on {envelope.channel} "
            f"cannot be used on {channel}; address the {channel} envelope explicitly",
            channel=channel,
        )
    moved = envelope.moved_to(channel)
    return attrs.evolve(moved, recipient=moved.recipient.normalized(kind))
