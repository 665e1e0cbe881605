"""omnichannel-whatsapp: the WhatsApp channel for omnichannel, over Meta's WhatsApp Cloud API.

Installs the adapter ``whatsapp.meta`` (channel ``whatsapp``) and its sandbox simulator through
the ``omnichannel`` entry point; applications use it through the router and
``omnichannel.toml``. :func:`location` and :func:`reaction` build the ``provider_options`` of
WhatsApp's native location and reaction messages.
"""

from __future__ import annotations

from omnichannel_whatsapp.adapter import MetaWhatsappAdapter
from omnichannel_whatsapp.payloads import location, reaction
from omnichannel_whatsapp.settings import MetaWhatsappSettings
from omnichannel_whatsapp.simulator import MetaWhatsappSimulator

__version__ = "0.1.0"

__all__ = [
    "MetaWhatsappAdapter",
    "MetaWhatsappSettings",
    "MetaWhatsappSimulator",
    "__version__",
    "location",
    "reaction",
]
