"""The core's own default behaviour, registered through the same hooks as any plugin.

If the core needed a back door here, the hook would be wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnichannel.envelope import Envelope, Sensitivity, Visibility
from omnichannel.errors import PolicyViolation
from omnichannel.hookspecs import hookimpl
from omnichannel.plugins import Outbound


@hookimpl(trylast=True)
def omnichannel_outbound(outbound: Outbound) -> None:
    """RESTRICTED content never goes out PUBLIC (refused before any network call).

    Runs after the other outbound hooks, so it judges the envelope they leave behind.
    """
    envelope = outbound.envelope
    if envelope.sensitivity is Sensitivity.RESTRICTED and envelope.visibility is Visibility.PUBLIC:
        raise PolicyViolation(
            "restricted content cannot be sent publicly; send it with visibility=PRIVATE "
            "(a direct message) or on a private channel",
            channel=envelope.channel,
            envelope_id=envelope.id,
        )


@hookimpl(trylast=True)
def omnichannel_choose_channel(envelope: Envelope, candidates: Sequence[str]) -> str | None:
    """The default choice: the first candidate channel."""
    return candidates[0] if candidates else None
