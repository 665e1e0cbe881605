"""The whatsapp channel through Meta, as an omnichannel plugin.

Installing the distribution is all it takes: omnichannel finds the adapter,
``whatsapp.meta``, through the ``omnichannel`` entry point (``omni channels``
lists it).
"""

from __future__ import annotations

from omnichannel_whatsapp.adapter import MetaWhatsappAdapter
from omnichannel_whatsapp.settings import MetaWhatsappSettings
from omnichannel_whatsapp.simulator import MetaWhatsappSimulator

__version__ = "0.1.0"

__all__ = [
    "MetaWhatsappAdapter",
    "MetaWhatsappSettings",
    "MetaWhatsappSimulator",
    "__version__",
]
