"""The plugin's entry point (``omnichannel: twilio``): hook implementations only.

Hooks are cheap and declarative: they return classes and never open connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl
from omnichannel_twilio.messaging.adapter import TwilioSmsAdapter
from omnichannel_twilio.messaging.simulator import TwilioSmsSimulator
from omnichannel_twilio.voice.adapter import TwilioVoiceAdapter
from omnichannel_twilio.voice.simulator import TwilioVoiceSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``sms.twilio`` and ``voice.twilio`` adapters."""
    return [TwilioSmsAdapter, TwilioVoiceAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The Twilio Messaging and Voice simulators, mounted at ``/twilio-messaging`` and
    ``/twilio-voice`` by ``omni sandbox`` and ``omni demo``."""
    return [TwilioSmsSimulator, TwilioVoiceSimulator]
