"""The plugin's entry point (``[project.entry-points.omnichannel]``): hook implementations only.

Hooks are cheap and declarative: they return classes and never open connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl

from omnichannel_whatsapp.adapter import MetaWhatsappAdapter
from omnichannel_whatsapp.simulator import MetaWhatsappSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``whatsapp.meta`` adapter."""
    return [MetaWhatsappAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The Meta simulator, for ``omni sandbox`` and ``omni demo``."""
    return [MetaWhatsappSimulator]
