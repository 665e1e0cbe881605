"""The plugin's hook implementations: the entry point ``omnichannel: email`` names this module."""

from __future__ import annotations

from collections.abc import Sequence

from omnichannel import hookimpl
from omnichannel_email.adapter import SmtpEmailAdapter
from omnichannel_email.simulator import SmtpEmailSimulator


@hookimpl
def omnichannel_adapters() -> Sequence[type[SmtpEmailAdapter]]:
    """The ``email.smtp`` adapter."""
    return [SmtpEmailAdapter]


@hookimpl
def omnichannel_simulators() -> Sequence[type[SmtpEmailSimulator]]:
    """The sandbox mail server (SMTP and IMAP on loopback) for ``omni sandbox``."""
    return [SmtpEmailSimulator]
