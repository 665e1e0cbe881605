"""The ``sms.twilio`` adapter: SMS and MMS through Twilio Programmable Messaging.

:class:`~omnichannel_twilio.adapter.TwilioAdapter` does what both Twilio adapters share (auth,
errors, signatures, the lookup behind ``reconcile``); this class supplies Messaging's parts: the
form-encoded create-message request (from :mod:`.payloads`), the reading of the answer, the
webhooks (from :mod:`.webhooks`) and how a listed message is recognised. Each send asks Twilio
to report statuses to ``{public_url}/webhooks/sms?envelope_id=<id>``, so every status callback
names the envelope it is about.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from omnichannel import AddressKind, Envelope, ProviderError, WebhookRequest
from omnichannel.plugin import (
    AdapterInfo,
    Capabilities,
    InboundMode,
    MediaRules,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    WebhookResult,
)
from omnichannel_twilio.adapter import TwilioAdapter
from omnichannel_twilio.lookups import Lookup
from omnichannel_twilio.messaging import payloads
from omnichannel_twilio.messaging.webhooks import inbound_params, parse_request
from omnichannel_twilio.payloads import create_request, status_callback_url
from omnichannel_twilio.settings import TwilioSmsSettings
from omnichannel_twilio.webhooks import signed_request

__all__ = ["CAPABILITIES", "TwilioSmsAdapter"]

_SIMULATED_TO: Final = "+14155550100"

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.PHONE,
    # Twilio concatenates up to 1,600 characters itself (error 21617 above that), so the
    # router never needs to split: one envelope is one Twilio message.
    max_text_length=1600,
    sms_segments=True,
    split_long_text=False,
    # MMS: up to 10 items; jpeg/png/gif up to 5 MB (Twilio resizes them). Other types are
    # limited to 500 KB and mostly US/CA only, so they go as links (README, Limitations).
    media=MediaRules(
        content_types={"image/jpeg", "image/png", "image/gif"},
        max_items=10,
        max_bytes=5 * 1024 * 1024,
    ),
    # Every status the status table maps to: queued (scheduled sends), accepted, sent,
    # delivered, undelivered, failed, canceled; never read.
    statuses=frozenset(payloads.MESSAGE_STATUSES.values()),
    inbound={InboundMode.WEBHOOK},
    # The Messages list can be read by To, From and DateSent: an unknown send is looked up.
    reconcile=True,
)


class TwilioSmsAdapter(TwilioAdapter[TwilioSmsSettings]):
    """SMS and MMS through Twilio Programmable Messaging."""

    info = AdapterInfo(
        name="sms.twilio",
        channel="sms",
        provider="twilio",
        description="SMS and MMS through Twilio Programmable Messaging",
    )
    capabilities = CAPABILITIES
    settings_class = TwilioSmsSettings
    resource = payloads.MESSAGES
    error_codes = payloads.ERROR_CODES

    @property
    def business_address(self) -> str | None:
        """The configured sender number (None with a Messaging Service: Twilio picks)."""
        return self.settings.from_

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """The create-message request for ``envelope``."""
        webhook_url = self.webhook_url
        pairs = payloads.envelope_form(
            envelope,
            adapter_name=self.info.name,
            from_=self.settings.from_,
            messaging_service_sid=self.settings.messaging_service_sid,
            status_callback=status_callback_url(webhook_url, envelope.id) if webhook_url else None,
            now=self.now(),
        )
        return create_request(self.resource_url, pairs, self.form_headers)

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """The message SID and initial status from Twilio's ``201`` answer."""
        try:
            data = json.loads(response.body)
        except (UnicodeDecodeError, ValueError):
            data = None
        sid = data.get("sid") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(sid, str) or not sid:
            # The message may exist: never report this as safe to resend.
            raise ProviderError(
                f"Twilio answered HTTP {response.status_code} without a message sid; the "
                "message may have been created, check the Twilio console before resending",
                retryable=False,
                status_code=response.status_code,
            )
        return SentMessage(
            provider_id=sid, status=payloads.sent_status(data.get("status")), raw=data
        )

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """An inbound message or a status update, answered with empty TwiML."""
        return parse_request(request, channel=self.info.channel, now=self.now())

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """An inbound SMS from ``sender`` to our number, signed as Twilio signs it."""
        params = inbound_params(
            sender=sender,
            to=self.settings.from_ or _SIMULATED_TO,
            text=text,
            account_sid=self.settings.account_sid,
            messaging_service_sid=self.settings.messaging_service_sid,
        )
        return signed_request(self.settings.auth_token, url, params)

    def lookup(self, envelope: Envelope, since: datetime) -> Lookup:
        """To the recipient, from the sender (or Messaging Service) the send used, its body."""
        return payloads.message_lookup(
            envelope,
            from_=self.settings.from_,
            messaging_service_sid=self.settings.messaging_service_sid,
            since=since,
        )
