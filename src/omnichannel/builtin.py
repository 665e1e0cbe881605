"""The core's own default behaviour, registered through the same hooks as any plugin.

If the core needed a back door here, the hook would be wrong. The rules no plugin may
override (RESTRICTED content never goes out PUBLIC) are not hooks: the router checks them on
the envelope every outbound hook left behind.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnichannel.envelope import Envelope
from omnichannel.hookspecs import hookimpl


@hookimpl(trylast=True)
def omnichannel_choose_channel(envelope: Envelope, candidates: Sequence[str]) -> str | None:
    """The default choice: the first candidate channel."""
    return candidates[0] if candidates else None
