"""The plugin's entry point: the ``@hookimpl`` functions omnichannel calls, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnichannel import hookimpl
from omnichannel_voice.adapter import TwilioVoiceAdapter
from omnichannel_voice.simulator import TwilioVoiceSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[Any]]:
    """The ``voice.twilio`` adapter."""
    return [TwilioVoiceAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[Any]]:
    """The Twilio Voice simulator, mounted at ``/twilio-voice`` in the sandbox."""
    return [TwilioVoiceSimulator]
