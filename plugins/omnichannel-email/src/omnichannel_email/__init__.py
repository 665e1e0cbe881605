"""The email channel for omnichannel: SMTP submission, IMAP polling and inbound-parse
webhooks (raw MIME, SendGrid, Mailgun, Postmark).

Installing the distribution is all it takes: omnichannel finds the adapter, ``email.smtp``,
through the ``omnichannel`` entry point (``omni channels`` lists it).
"""

from __future__ import annotations

from omnichannel_email.adapter import SmtpEmailAdapter
from omnichannel_email.settings import SmtpEmailSettings
from omnichannel_email.simulator import SmtpEmailSimulator

__version__ = "0.1.0"

__all__ = [
    "SmtpEmailAdapter",
    "SmtpEmailSettings",
    "SmtpEmailSimulator",
    "__version__",
]
