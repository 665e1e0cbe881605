"""What a send would do, sending nothing: the value :meth:`Router.preview` returns.

``omni send --dry-run`` prints it; :class:`~omnichannel.sending.SendPipeline` builds it
by running every step of a send before the adapter, then asking the adapter to describe the
provider calls it would make.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from omnichannel.envelope import Envelope
from omnichannel.fitting import FittingReport

__all__ = ["Preview"]


@attrs.frozen(kw_only=True)
class Preview:
    """What a send would do, from :meth:`Router.preview`: nothing was sent."""

    envelope: Envelope
    """The envelope as it would go out (normalised, changed by hooks, on the window's terms)."""
    adapter: str
    fitting: FittingReport
    calls: tuple[Mapping[str, Any], ...]
    """One description per provider call, secrets redacted (method, url, headers, body)."""
    public_signpost: Preview | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``omni send --dry-run --json``)."""
        return {
            "envelope": self.envelope.to_dict(),
            "adapter": self.adapter,
            "fitting": self.fitting.to_dict(),
            "calls": [dict(call) for call in self.calls],
            "public_signpost": self.public_signpost.to_dict() if self.public_signpost else None,
        }
