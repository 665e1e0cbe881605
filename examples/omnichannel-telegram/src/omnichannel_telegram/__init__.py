"""omnichannel-telegram: Telegram through the Bot API, as an omnichannel plugin.

Installing the distribution is all it takes: omnichannel finds the ``telegram.bot`` adapter
through the ``omnichannel`` entry point (``omni channels`` lists it).
"""

from __future__ import annotations

from omnichannel_telegram.adapter import TelegramBotAdapter
from omnichannel_telegram.settings import TelegramBotSettings
from omnichannel_telegram.simulator import TelegramBotSimulator

__version__ = "0.1.0"

__all__ = [
    "TelegramBotAdapter",
    "TelegramBotSettings",
    "TelegramBotSimulator",
    "__version__",
]
