"""The plugin's entry point (``[project.entry-points.omnichannel]``): hook implementations only.

Hooks are cheap and declarative: they return classes and never open connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl

from omnichannel_{{name}}.adapter import {{Provider}}{{Channel}}Adapter
from omnichannel_{{name}}.simulator import {{Provider}}{{Channel}}Simulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``{{channel}}.{{provider}}`` adapter."""
    return [{{Provider}}{{Channel}}Adapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The {{Provider}} simulator, for ``omni sandbox`` and ``omni demo``."""
    return [{{Provider}}{{Channel}}Simulator]
