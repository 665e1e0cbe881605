"""The plugin's hook implementations: the entry point ``omnichannel: whatsapp`` names this
module. Hooks are cheap and declarative: they return classes and never open connections."""

from __future__ import annotations

from collections.abc import Sequence

from omnichannel import hookimpl
from omnichannel_whatsapp.adapter import MetaWhatsappAdapter
from omnichannel_whatsapp.simulator import MetaWhatsappSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[MetaWhatsappAdapter]]:
    """The ``whatsapp.meta`` adapter."""
    return [MetaWhatsappAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[MetaWhatsappSimulator]]:
    """The WhatsApp Cloud API simulator for ``omni sandbox`` and ``omni demo``."""
    return [MetaWhatsappSimulator]
