"""omnichannel-twilio: Twilio for omnichannel, SMS and MMS over Programmable Messaging and
voice callbacks over Twilio Voice.

Installs the adapters ``sms.twilio`` (channel ``sms``) and ``voice.twilio`` (channel
``voice``) and their sandbox simulators through the ``omnichannel`` entry point; applications
normally use them through the router and ``omnichannel.toml`` rather than importing them.

What both adapters share (auth, the account settings, errors, signatures, lookups) lives once
in the package's own modules; Messaging and Voice each add theirs in :mod:`.messaging` and
:mod:`.voice`.
"""

from __future__ import annotations

from omnichannel_twilio.messaging.adapter import TwilioSmsAdapter
from omnichannel_twilio.messaging.simulator import TwilioSmsSimulator
from omnichannel_twilio.settings import TwilioSmsSettings, TwilioVoiceSettings
from omnichannel_twilio.voice.adapter import CONNECT_TO, TwilioVoiceAdapter
from omnichannel_twilio.voice.simulator import TwilioVoiceSimulator

__version__ = "0.1.0"

__all__ = [
    "CONNECT_TO",
    "TwilioSmsAdapter",
    "TwilioSmsSettings",
    "TwilioSmsSimulator",
    "TwilioVoiceAdapter",
    "TwilioVoiceSettings",
    "TwilioVoiceSimulator",
    "__version__",
]
