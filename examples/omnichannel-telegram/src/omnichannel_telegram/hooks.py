"""The plugin's entry point (``[project.entry-points.omnichannel]``): hook implementations only.

Hooks are cheap and declarative: they return classes and never open connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl
from omnichannel_telegram.adapter import TelegramBotAdapter
from omnichannel_telegram.simulator import TelegramBotSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``telegram.bot`` adapter."""
    return [TelegramBotAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The Bot API simulator, for ``omni sandbox`` and ``omni demo``."""
    return [TelegramBotSimulator]
