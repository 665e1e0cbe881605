"""The values the router passes to its wrapper hooks, below every module that uses them.

:class:`Outbound` goes to :func:`~omnichannel.hookspecs.omnichannel_outbound` before a send;
:class:`Inbound` to :func:`~omnichannel.hookspecs.omnichannel_inbound` before the handlers see
a verified, deduplicated message. Implementations change them in place.
"""

from __future__ import annotations

import attrs

from omnichannel.capabilities import Capabilities
from omnichannel.envelope import Envelope

__all__ = ["Inbound", "Outbound"]


@attrs.define(kw_only=True)
class Outbound:
    """The envelope about to be sent; implementations may replace ``envelope``."""

    envelope: Envelope
    adapter: str
    capabilities: Capabilities


@attrs.define(kw_only=True)
class Inbound:
    """An inbound message about to reach the handlers; implementations may replace
    ``envelope`` (enrich it: a contact, a FAQ match) or :meth:`drop` it."""

    envelope: Envelope
    adapter: str
    dropped: str | None = None
    """Why a hook dropped the message, when one did; the handlers then never see it."""

    def drop(self, reason: str) -> None:
        """Keep the message from the handlers (it is still acknowledged to the provider)."""
        self.dropped = reason
