"""The ``twitter.x`` adapter: the X API on BaseAdapter.

:class:`~omnichannel.BaseAdapter` does the sending, retries, error context and receipts; this
class supplies only the X parts, each delegated to a pure function in
:mod:`omnichannel_x.payloads` or :mod:`omnichannel_x.webhooks`.
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

from omnichannel_x import payloads, webhooks
from omnichannel_x.settings import XTwitterSettings

__all__ = ["CAPABILITIES", "XTwitterAdapter"]

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


class XTwitterAdapter(BaseAdapter[XTwitterSettings]):
    """Sends plain text through X and reads its signed webhooks."""

    info = AdapterInfo(
        name=payloads.ADAPTER_NAME,
        channel="twitter",
        provider="x",
        description="The twitter channel through the X API.",
    )
    capabilities = CAPABILITIES
    settings_class = XTwitterSettings

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
                "X answered the send with a body that is not JSON",
            ) from None
        return payloads.sent_message(data)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """X's error codes first, then the HTTP status."""
        return payloads.error_for_response(response)

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-X-Signature``; X has no handshake."""
        webhooks.verify(request, self.settings.webhook_secret)
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Inbound messages and status callbacks."""
        return webhooks.parse(request, channel=self.info.channel)

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A signed inbound message from ``sender``, as X would post it to ``url``."""
        event = webhooks.message_event(
            message_id=f"in-{uuid.uuid4().hex[:16]}",
            sender=sender,
            recipient=self.settings.from_ or "business",
            text=text,
            timestamp=self.now(),
        )
        return webhooks.signed_request(url, event, self.settings.webhook_secret)
