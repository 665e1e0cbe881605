"""omnichannel-voice: voice callbacks through Twilio Voice (adapter ``voice.twilio``).

A customer asks to be called back, on any channel; the application sends an envelope on
channel ``voice`` and the business calls them: Twilio says the envelope's text and, when asked,
connects an agent. Call progress comes back as status updates.
"""

from __future__ import annotations

from omnichannel_voice.adapter import CONNECT_TO, TwilioVoiceAdapter
from omnichannel_voice.settings import TwilioVoiceSettings
from omnichannel_voice.simulator import TwilioVoiceSimulator

__version__ = "0.1.0"

__all__ = ["CONNECT_TO", "TwilioVoiceAdapter", "TwilioVoiceSettings", "TwilioVoiceSimulator"]
