"""The X (Twitter) channel, as an omnichannel plugin: DMs, public replies and reply chains,
mentions and brand-monitoring searches, through the X API v2.

Installing the distribution is all it takes: omnichannel finds the adapter, ``twitter.x``,
through the ``omnichannel`` entry point (``omni channels`` lists it).
"""

from __future__ import annotations

from omnichannel_x.adapter import XTwitterAdapter
from omnichannel_x.settings import XTwitterSettings
from omnichannel_x.simulator import XTwitterSimulator

__version__ = "0.1.0"

__all__ = [
    "XTwitterAdapter",
    "XTwitterSettings",
    "XTwitterSimulator",
    "__version__",
]
