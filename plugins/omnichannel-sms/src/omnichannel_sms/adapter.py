"""The ``sms.twilio`` adapter: SMS and MMS through Twilio Programmable Messaging.

The base class does the sending, retries and receipts; this class supplies Twilio's parts:
Basic auth computed once, the form-encoded create-message request (from :mod:`.payloads`),
the reading of Twilio's answers and error codes, and the webhooks (from :mod:`.webhooks`).
Each send asks Twilio to report statuses to ``{public_url}/webhooks/sms?envelope_id=<id>``, so
every status callback names the envelope it is about.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from omnichannel import (
    AddressKind,
    DeliveryStatus,
    Envelope,
    ProviderError,
    SendError,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InboundMode,
    MediaRules,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    WebhookResult,
    basic_auth,
    retry_after_seconds,
)
from omnichannel_sms.payloads import (
    envelope_form,
    error_for,
    messages_url,
    parse_error,
    request_headers,
    send_request,
    sent_status,
    status_callback_url,
)
from omnichannel_sms.settings import TwilioSmsSettings
from omnichannel_sms.webhooks import inbound_params, parse_request, signed_request, verify_request

__all__ = ["CAPABILITIES", "TwilioSmsAdapter"]

ADAPTER_NAME: Final = "sms.twilio"
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
    statuses={
        DeliveryStatus.QUEUED,
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.CANCELED,
    },
    inbound={InboundMode.WEBHOOK},
)


class TwilioSmsAdapter(BaseAdapter[TwilioSmsSettings]):
    """SMS and MMS through Twilio Programmable Messaging."""

    info = AdapterInfo(
        name=ADAPTER_NAME,
        channel="sms",
        provider="twilio",
        description="SMS and MMS through Twilio Programmable Messaging",
    )
    capabilities = CAPABILITIES
    settings_class = TwilioSmsSettings

    def __init__(self, settings: TwilioSmsSettings, context: AdapterContext | None = None) -> None:
        super().__init__(settings, context)
        # Built once per adapter, not per send.
        self.messages_url = messages_url(settings.base_url, settings.account_sid)
        self.request_headers = request_headers(self.auth_headers)

    @property
    def business_address(self) -> str | None:
        """The configured sender number (None with a Messaging Service: Twilio picks)."""
        return self.settings.from_

    def build_auth_headers(self) -> Mapping[str, str]:
        """Basic auth: the API key when one is set, else the Account SID and Auth Token."""
        settings = self.settings
        if settings.api_key_sid and settings.api_key_secret:
            return {
                "Authorization": basic_auth(settings.api_key_sid, settings.api_key_secret.reveal())
            }
        return {"Authorization": basic_auth(settings.account_sid, settings.auth_token.reveal())}

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """The create-message request for ``envelope``."""
        webhook_url = self.webhook_url
        pairs = envelope_form(
            envelope,
            adapter_name=self.info.name,
            from_=self.settings.from_,
            messaging_service_sid=self.settings.messaging_service_sid,
            status_callback=status_callback_url(webhook_url, envelope.id) if webhook_url else None,
            now=self.now(),
        )
        return send_request(self.messages_url, pairs, self.request_headers)

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
        return SentMessage(provider_id=sid, status=sent_status(data.get("status")), raw=data)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """A typed error from Twilio's error code, else from the HTTP status."""
        return error_for(
            response.status_code,
            parse_error(response.body),
            retry_after_seconds(response.headers),
        )

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-Twilio-Signature`` with the primary, then the secondary, Auth Token."""
        verify_request(request, self.settings.webhook_tokens)
        return None

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
