"""The plugin's hook implementations: the entry point ``omnichannel: sms`` names this module."""

from __future__ import annotations

from collections.abc import Sequence

from omnichannel import hookimpl
from omnichannel_sms.adapter import TwilioSmsAdapter
from omnichannel_sms.simulator import TwilioSmsSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[TwilioSmsAdapter]]:
    """The ``sms.twilio`` adapter."""
    return [TwilioSmsAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[TwilioSmsSimulator]]:
    """The Twilio Messaging simulator for ``omni sandbox``."""
    return [TwilioSmsSimulator]
