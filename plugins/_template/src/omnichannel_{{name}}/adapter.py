"""The ``{{channel}}.{{provider}}`` adapter: the {{Provider}} API on BaseAdapter.

:class:`~omnichannel.plugin.BaseAdapter` does the sending, retries, error context and receipts;
this class supplies only the {{Provider}} parts, each delegated to a pure function in
:mod:`omnichannel_{{name}}.payloads` or :mod:`omnichannel_{{name}}.webhooks`.

It declares the seams the adapter contract knows (menus, templates, uploaded media, a public
shape, polling, reconcile), so a new plugin starts from working examples:
delete what your provider lacks, from ``CAPABILITIES`` and from the class, and the contract
stops checking it. ``start()`` and ``aclose()`` are not overridden: the router's shared
sender holds the HTTP connections. A provider with a connection of its own (an SMTP pool, IMAP
IDLE) opens it in ``start()`` and closes it in ``aclose()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from omnichannel import (
    AddressKind,
    DeliveryStatus,
    Envelope,
    Media,
    OutcomeUnknown,
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
    InteractiveRules,
    MediaRules,
    PollResult,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    TemplateRules,
    WebhookResult,
    bearer_auth,
)

from omnichannel_{{name}} import payloads, webhooks
from omnichannel_{{name}}.settings import {{Provider}}{{Channel}}Settings

__all__ = ["CAPABILITIES", "PUBLIC_CAPABILITIES", "{{Provider}}{{Channel}}Adapter"]

PUBLIC_CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.OPAQUE,
    # A provider that counts posts in weighted characters (URLs as 23, CJK as 2) declares
    # weighted_length=WeightedLength(...) here; {{Provider}} counts characters.
    max_text_length=payloads.MAX_POST_LENGTH,
    split_long_text=True,
    # Each part of a long public answer replies to the part before (a thread of posts).
    reply_chain=True,
    threading=True,
    media=MediaRules(content_types={"image/*"}, max_items=4, links=True, uploads=False),
    # A post is published when the API answers; {{Provider}} sends no callbacks for posts.
    statuses={DeliveryStatus.SENT, DeliveryStatus.FAILED},
)
"""The shape of PUBLIC posts; the router fits PUBLIC envelopes to it."""

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.OPAQUE,
    max_text_length=payloads.MAX_TEXT_LENGTH,
    split_long_text=True,
    formats={TextFormat.PLAIN},
    media=MediaRules(
        content_types={"image/jpeg", "image/png", "application/pdf"},
        max_items=4,
        max_bytes=5 * 1024 * 1024,
        links=True,
        uploads=True,
    ),
    # Menus within these limits go natively; others go as numbered text, and the router
    # maps a numbered answer back to the option's id.
    interactive=InteractiveRules(
        buttons=True,
        max_buttons=3,
        max_button_title=20,
        lists=True,
        max_rows=10,
        max_sections=10,
    ),
    templates=TemplateRules(
        header_text=True,
        header_media=True,
        positional_parameters=True,
        named_parameters=True,
        button_kinds={"quick_reply", "url"},
        max_buttons=10,
    ),
    # {{Provider}} takes free text at any time. A provider that takes it only within a window
    # of the customer's last message (templates outside it) declares
    # session_window=timedelta(hours=24); the router then checks the window before sending.
    public_posting=True,
    public=PUBLIC_CAPABILITIES,
    reconcile=True,
    statuses={
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNDELIVERED,
    },
    # Webhooks where the account has one; GET /messages/inbound for the others.
    inbound={InboundMode.WEBHOOK, InboundMode.POLL},
)


class {{Provider}}{{Channel}}Adapter(BaseAdapter[{{Provider}}{{Channel}}Settings]):
    """Sends messages and public posts through {{Provider}}; reads its webhooks or polls."""

    info = AdapterInfo(
        name=payloads.ADAPTER_NAME,
        channel="{{channel}}",
        provider="{{provider}}",
        description="The {{channel}} channel through the {{Provider}} API.",
    )
    capabilities = CAPABILITIES
    settings_class = {{Provider}}{{Channel}}Settings

    @property
    def business_address(self) -> str | None:
        """The configured sender id (``from``); None when the account default sends."""
        return self.settings.from_

    def build_auth_headers(self) -> Mapping[str, str]:
        """The bearer token, computed once."""
        return {"Authorization": bearer_auth(self.settings.api_token.reveal())}

    def build_send_request(
        self, envelope: Envelope, media_ids: Mapping[Media, str] | None = None
    ) -> ProviderRequest:
        """``POST {base_url}/messages``, or ``/posts`` for a PUBLIC envelope (pure).

        ``media_ids`` are the ids :meth:`deliver` got by uploading the envelope's bytes.
        """
        return payloads.send_request(
            self.settings.base_url,
            envelope,
            self.auth_headers,
            sender=self.settings.from_,
            media_ids=media_ids,
        )

    async def deliver(self, envelope: Envelope) -> SentMessage:
        """Upload the envelope's bytes media first, then send the message that refers to them.

        Overriding the transport step, rather than uploading inside ``build_send_request``,
        keeps that method pure (a function of the envelope and the media ids) and puts both
        calls in the one step the base class wraps: each goes through the shared sender with
        the same retry rules, and errors get the same context and receipts. Without bytes it
        is the base class's single call.
        """
        items = payloads.uploads(envelope)
        if not items:
            return await super().deliver(envelope)
        media_ids = {item: await self._upload(item) for item in items}
        request = self.build_send_request(envelope, media_ids)
        response = await self.context.sender.send(request, error_for=self.error_for_response)
        return self.parse_send_response(envelope, response)

    async def _upload(self, item: Media) -> str:
        request = payloads.upload_request(self.settings.base_url, item, self.auth_headers)
        try:
            response = await self.context.sender.send(request, error_for=self.error_for_response)
        except OutcomeUnknown as unknown:
            # The upload is not idempotent, so it is never resent; but what is unknown is
            # only whether a media object was stored. The message was not sent: say so, so
            # the envelope is not taken for one that may have gone out.
            raise ProviderError(
                "the media upload's outcome is unknown, so the message was not sent; sending "
                "it again is safe ({{Provider}} may keep an unused copy of the file)",
                retryable=True,
                status_code=unknown.status_code,
            ) from unknown
        return payloads.uploaded_media_id(_json(response, "the media upload"))

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """The message (or post) id and initial status of a ``201`` answer."""
        try:
            data: object = response.json()
        except ValueError:
            data = None
        return payloads.sent_message(data)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """{{Provider}}'s error codes first, then the HTTP status."""
        return payloads.error_for_response(response)

    async def poll(self, cursor: str | None) -> PollResult:
        """The inbound messages queued since ``cursor`` (``GET /messages/inbound``)."""
        request = payloads.inbound_request(self.settings.base_url, cursor, self.auth_headers)
        response = await self.context.sender.send(request, error_for=self.error_for_response)
        data = _json(response, "the poll")
        return webhooks.inbound_page(data, self.info.channel, cursor=cursor)

    async def reconcile(self, envelope: Envelope, *, attempted_at: datetime) -> SentMessage | None:
        """The message an ambiguous send of ``envelope`` created, found by its reference.

        The reference is our envelope id, so the lookup is exact and ``attempted_at`` is not
        needed (a provider searched by recipient and time would use it as the lower bound).
        """
        request = payloads.lookup_request(self.settings.base_url, envelope, self.auth_headers)
        response = await self.context.sender.send(request, error_for=self.error_for_response)
        return payloads.found_message(_json(response, "the lookup"), envelope)

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-{{Provider}}-Signature``; {{Provider}} has no handshake."""
        webhooks.verify(request, self.settings.webhook_secret)
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Inbound messages and status callbacks."""
        return webhooks.parse(request, channel=self.info.channel)

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A signed inbound message from ``sender``, as {{Provider}} would post it to ``url``."""
        event = webhooks.message_event(
            message_id=f"in-{uuid.uuid4().hex[:16]}",
            sender=sender,
            recipient=self.settings.from_ or "business",
            text=text,
            timestamp=self.now(),
        )
        return webhooks.signed_request(url, event, self.settings.webhook_secret)


def _json(response: ProviderResponse, what: str) -> object:
    try:
        data: object = response.json()
    except ValueError:
        message = f"{{Provider}} answered {what} with a body that is not JSON"
        raise ProviderError(message) from None
    return data
