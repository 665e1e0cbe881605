"""The ``whatsapp.meta`` adapter: the Meta API on BaseAdapter.

:class:`~omnichannel.BaseAdapter` does the sending, retries, error context and receipts; this
class supplies only the Meta parts, each delegated to a pure function in
:mod:`omnichannel_whatsapp.payloads` or :mod:`omnichannel_whatsapp.webhooks`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Final

from omnichannel import (
    AddressKind,
    DeliveryStatus,
    Envelope,
    ProviderError,
    SendError,
    TextFormat,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import (
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InboundMode,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    WebhookResult,
    bearer_auth,
)

from omnichannel_whatsapp import payloads, webhooks
from omnichannel_whatsapp.settings import MetaWhatsappSettings

__all__ = ["CAPABILITIES", "MetaWhatsappAdapter"]

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.OPAQUE,
    max_text_length=2000,
    split_long_text=True,
    formats={TextFormat.PLAIN},
    media=None,
    statuses={
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNDELIVERED,
    },
    inbound={InboundMode.WEBHOOK},
)


class MetaWhatsappAdapter(BaseAdapter[MetaWhatsappSettings]):
    """Sends plain text through Meta and reads its signed webhooks."""

    info = AdapterInfo(
        name=payloads.ADAPTER_NAME,
        channel="whatsapp",
        provider="meta",
        description="The whatsapp channel through the Meta API.",
    )
    capabilities = CAPABILITIES
    settings_class = MetaWhatsappSettings

    def build_auth_headers(self) -> Mapping[str, str]:
        """The bearer token, computed once."""
        return {"Authorization": bearer_auth(self.settings.api_token.reveal())}

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """``POST {base_url}/messages`` with the JSON body of :func:`payloads.send_body`."""
        return ProviderRequest.json(
            "POST",
            f"{self.settings.base_url}/messages",
            payloads.send_body(envelope, sender=self.settings.from_),
            headers=self.auth_headers,
        )

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """The message id and initial status of a ``201`` answer."""
        try:
            data: object = response.json()
        except ValueError:
            raise ProviderError(
                "Meta answered the send with a body that is not JSON",
            ) from None
        return payloads.sent_message(data)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """Meta's error codes first, then the HTTP status."""
        return payloads.error_for_response(response)

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-Meta-Signature``; Meta has no handshake."""
        webhooks.verify(request, self.settings.webhook_secret)
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Inbound messages and status callbacks."""
        return webhooks.parse(request, channel=self.info.channel)

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A signed inbound message from ``sender``, as Meta would post it to ``url``."""
        event = webhooks.message_event(
            message_id=f"in-{uuid.uuid4().hex[:16]}",
            sender=sender,
            recipient=self.settings.from_ or "business",
            text=text,
            timestamp=self.now(),
        )
        return webhooks.signed_request(url, event, self.settings.webhook_secret)
