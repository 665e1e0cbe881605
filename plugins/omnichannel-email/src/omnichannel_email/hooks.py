"""The plugin's entry point (``[project.entry-points.omnichannel]``): hook implementations only.

Hooks are cheap and declarative: they return classes and never open connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl

from omnichannel_email.adapter import SmtpEmailAdapter
from omnichannel_email.simulator import SmtpEmailSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``email.smtp`` adapter."""
    return [SmtpEmailAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The Smtp simulator, for ``omni sandbox`` and ``omni demo``."""
    return [SmtpEmailSimulator]
