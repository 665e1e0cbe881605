"""omnichannel-sms: the SMS channel for omnichannel, over Twilio Programmable Messaging.

Installs the adapter ``sms.twilio`` (channel ``sms``) and its sandbox simulator through the
``omnichannel`` entry point; applications normally use it through the router and
``omnichannel.toml`` rather than importing it.
"""

from __future__ import annotations

from omnichannel_sms.adapter import TwilioSmsAdapter
from omnichannel_sms.settings import TwilioSmsSettings
from omnichannel_sms.simulator import TwilioSmsSimulator

__version__ = "0.1.0"

__all__ = ["TwilioSmsAdapter", "TwilioSmsSettings", "TwilioSmsSimulator", "__version__"]
