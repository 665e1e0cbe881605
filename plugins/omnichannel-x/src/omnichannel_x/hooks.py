"""The plugin's entry point (``[project.entry-points.omnichannel]``): hook implementations only.

Hooks are cheap and declarative: they return classes and never open connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl
from omnichannel_x.adapter import XTwitterAdapter
from omnichannel_x.simulator import XTwitterSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``twitter.x`` adapter."""
    return [XTwitterAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The X simulator, for ``omni sandbox`` and ``omni demo``."""
    return [XTwitterSimulator]
