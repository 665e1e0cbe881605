"""The {{channel}} channel through {{Provider}}, as an omnichannel plugin.

Installing the distribution is all it takes: omnichannel finds the adapter,
``{{channel}}.{{provider}}``, through the ``omnichannel`` entry point (``omni channels``
lists it).
"""

from __future__ import annotations

from omnichannel_{{name}}.adapter import {{Provider}}{{Channel}}Adapter
from omnichannel_{{name}}.settings import {{Provider}}{{Channel}}Settings
from omnichannel_{{name}}.simulator import {{Provider}}{{Channel}}Simulator

__version__ = "0.1.0"

__all__ = [
    "{{Provider}}{{Channel}}Adapter",
    "{{Provider}}{{Channel}}Settings",
    "{{Provider}}{{Channel}}Simulator",
    "__version__",
]
