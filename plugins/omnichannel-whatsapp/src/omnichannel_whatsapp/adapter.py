"""The ``whatsapp.meta`` adapter: WhatsApp through Meta's Cloud API, on BaseAdapter.

:class:`~omnichannel.plugin.BaseAdapter` does the retries, error context and receipts; this
class supplies Meta's parts: the bearer token computed once, the message bodies (from
:mod:`.payloads`), the upload of bytes media before the message that carries them (from
:mod:`.media`), the reading of Meta's answers and error codes (from :mod:`.codes`), and the
webhooks (from :mod:`.webhooks`). Two more calls are documented methods:
:meth:`MetaWhatsappAdapter.download_media` (an inbound media id to bytes) and
:meth:`MetaWhatsappAdapter.mark_read` (read receipt and typing indicator).

The 24-hour customer-service window is declared in the capabilities and enforced by the
router before any request, keyed on the phone-number id (the business address) and the
customer; Meta's own late refusal (a failed status with error 131047) arrives with reason
``outside_window``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

import attrs

from omnichannel import (
    AddressKind,
    ContentRejected,
    DeliveryStatus,
    Envelope,
    Media,
    ProviderError,
    ResponseTooLarge,
    SendError,
    TextFormat,
    UnsupportedFeature,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InboundMode,
    InteractiveRules,
    MediaRules,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    TemplateRules,
    WebhookResult,
    bearer_auth,
)
from omnichannel_whatsapp import codes, media, payloads, webhooks
from omnichannel_whatsapp.settings import MetaWhatsappSettings

__all__ = ["CAPABILITIES", "SIMULATED_DISPLAY_NUMBER", "MetaWhatsappAdapter"]

SIMULATED_DISPLAY_NUMBER: Final = "15550783881"
"""The display number simulated notifications carry (the settings hold only the id)."""

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.PHONE,
    # Users without a visible number are addressed by their business-scoped user id (v25).
    scoped_ids=payloads.BSUID_PATTERN,
    max_text_length=4096,
    split_long_text=True,
    formats={TextFormat.PLAIN},
    media=MediaRules(
        content_types=media.ACCEPTED_TYPES,
        # One item per message; the others go as links in the text, and the receipt says so.
        max_items=1,
        max_bytes=max(media.KIND_LIMITS.values()),
        links=True,
        uploads=True,
    ),
    templates=TemplateRules(
        header_text=True,
        header_media=True,
        positional_parameters=True,
        named_parameters=True,
        button_kinds={"quick_reply", "url"},
        max_buttons=10,
    ),
    # Meta's limits (providers.md 4.9): button ids go to 256 characters, list row ids to 200.
    interactive=InteractiveRules(
        buttons=True,
        max_buttons=3,
        max_button_title=20,
        lists=True,
        max_rows=10,
        max_sections=10,
        max_row_title=24,
        max_row_description=72,
        max_section_title=24,
        max_button_label=20,
        max_header=60,
        max_footer=60,
        max_id=200,
    ),
    session_window=timedelta(hours=24),
    statuses={
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
    },
    inbound={InboundMode.WEBHOOK},
    # Meta batches events; its notifications stay well under 3 MB.
    webhook_body_limit=3 * 1024 * 1024,
)


def _bytes_items(envelope: Envelope) -> list[Media]:
    content = envelope.content
    items = [item for item in content.media if item.is_bytes]
    header = content.template.header if content.template is not None else None
    if header is not None and header.media is not None and header.media.is_bytes:
        items.append(header.media)
    return items


class MetaWhatsappAdapter(BaseAdapter[MetaWhatsappSettings]):
    """WhatsApp through Meta's Cloud API: text, media, templates, native menus, reactions and
    locations out; messages and statuses in by signed webhook."""

    info = AdapterInfo(
        name=payloads.ADAPTER_NAME,
        channel="whatsapp",
        provider="meta",
        description="WhatsApp through the Meta WhatsApp Cloud API",
    )
    capabilities = CAPABILITIES
    settings_class = MetaWhatsappSettings

    def __init__(
        self, settings: MetaWhatsappSettings, context: AdapterContext | None = None
    ) -> None:
        super().__init__(settings, context)
        # Built once per adapter, not per send.
        self.api_root = settings.api_root
        self.messages_url = payloads.messages_url(self.api_root, settings.phone_number_id)
        self.json_headers = self.auth_headers.merged({"Content-Type": "application/json"})

    @property
    def business_address(self) -> str:
        """The phone-number id messages go out from (and session windows are keyed on)."""
        return self.settings.phone_number_id

    def build_auth_headers(self) -> Mapping[str, str]:
        """The bearer token, computed once."""
        return {"Authorization": bearer_auth(self.settings.access_token.reveal())}

    # -- sending -------------------------------------------------------------------------------

    def _check_business_address(self, envelope: Envelope) -> None:
        own = envelope.sender or envelope.business_address
        if own is not None and own.value != self.settings.phone_number_id:
            raise UnsupportedFeature(
                f"this adapter sends from phone number id {self.settings.phone_number_id}, not "
                f"{own.value!r}; configure another channel for that number",
                envelope_id=envelope.id,
            )

    def message_request(
        self, envelope: Envelope, uploaded: Mapping[Media, str] | None = None
    ) -> ProviderRequest:
        """The send request for ``envelope``, with ``uploaded`` media ids for its bytes items.

        Not idempotent: Meta's messages endpoint takes no idempotency key, so an answer lost
        after the request was written is an unknown outcome, never resent.
        """
        self._check_business_address(envelope)
        body = _json_body(payloads.message_body(envelope, uploaded=uploaded))
        return ProviderRequest(
            method="POST", url=self.messages_url, headers=self.json_headers, body=body
        )

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """The send request of an envelope with no bytes to upload (pure: no I/O)."""
        if _bytes_items(envelope):
            raise UnsupportedFeature(
                "media given as bytes are uploaded first; send the envelope with send()",
                envelope_id=envelope.id,
            )
        return self.message_request(envelope)

    async def upload(self, item: Media, *, boundary: str | None = None) -> str:
        """Upload ``item`` (bytes) to Meta for this phone number; returns its media id."""
        request = media.upload_request(
            self.api_root, self.settings.phone_number_id, item, self.auth_headers, boundary=boundary
        )
        response = await self.context.sender.send(request, error_for=self.error_for_response)
        return media.uploaded_id(_json(response, "media upload"))

    async def deliver(self, envelope: Envelope) -> SentMessage:
        """Upload the bytes items first (each becomes a media id), then send the message."""
        items = _bytes_items(envelope)
        uploaded: dict[Media, str] = {}
        if items:
            # Check the whole message first, so content Meta cannot carry uploads nothing.
            self.message_request(envelope, dict.fromkeys(items, "unsent"))
            uploaded = {item: await self.upload(item) for item in items}
        request = self.message_request(envelope, uploaded)
        response = await self.context.sender.send(request, error_for=self.error_for_response)
        return self.parse_send_response(envelope, response)

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """The wamid of Meta's ``200`` answer."""
        try:
            data: object = response.json()
        except ValueError:
            data = None
        return payloads.sent_message(data)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """A typed error from Meta's ``error.code``, else from the HTTP status."""
        return codes.error_for_response(response)

    # -- the other calls -------------------------------------------------------------------

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Mark the customer's message ``message_id`` (its wamid: the inbound envelope's
        ``provider_id``) read, the blue ticks; with ``typing``, show the typing indicator
        until we answer (at most 25 seconds). Safe to repeat."""
        request = ProviderRequest(
            method="POST",
            url=self.messages_url,
            headers=self.json_headers,
            body=_json_body(payloads.mark_read_body(message_id, typing=typing)),
            idempotent=True,
        )
        response = await self.context.sender.send(request, error_for=self.error_for_response)
        data = _json(response, "read receipt")
        if not (isinstance(data, Mapping) and data.get("success") is True):
            raise ProviderError("Meta did not confirm the read receipt", retryable=True)

    async def download_media(
        self, media_id: str, *, max_bytes: int = media.DEFAULT_DOWNLOAD_LIMIT
    ) -> Media:
        """The bytes of an inbound media item (``envelope.metadata["media_id"]``), as
        :class:`~omnichannel.Media` with its type.

        Two reads, each retried where safe: the media id gives a short-lived URL, which is
        fetched with the same bearer token. An item over ``max_bytes`` (by Meta's stated size,
        then by what arrived) raises :class:`~omnichannel.ContentRejected`, and one whose
        SHA-256 differs from Meta's a retryable :class:`~omnichannel.ProviderError`.
        """
        lookup = media.info_request(
            self.api_root,
            media_id,
            self.auth_headers,
            phone_number_id=self.settings.phone_number_id,
        )
        answer = await self.context.sender.send(lookup, error_for=self.error_for_response)
        info = media.media_info(_json(answer, "media lookup"))
        if info.file_size is not None and info.file_size > max_bytes:
            raise ContentRejected(
                f"media {media_id} is {info.file_size} bytes, over the limit of {max_bytes}"
            )
        # The cap stops the read part-way: Meta's stated size may be missing or wrong.
        download = attrs.evolve(
            media.download_request(info, self.auth_headers), max_response_bytes=max_bytes
        )
        try:
            fetched = await self.context.sender.send(download, error_for=self.error_for_response)
        except ResponseTooLarge:
            raise ContentRejected(
                f"media {media_id} is over the limit of {max_bytes} bytes"
            ) from None
        return media.downloaded_media(info, fetched.body, max_bytes=max_bytes)

    # -- webhooks ------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Answer Meta's GET subscription check; verify ``X-Hub-Signature-256`` on the rest."""
        if request.method.upper() == "GET":
            return webhooks.handshake(request, self.settings.verify_token)
        webhooks.verify_signature(request, self.settings.app_secret)
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Inbound messages and status updates for our phone number, answered 200."""
        return webhooks.parse(
            request,
            channel=self.info.channel,
            phone_number_id=self.settings.phone_number_id,
            api_root=self.api_root,
        )

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """An inbound text from ``sender`` (E.164) to our number, signed as Meta signs it."""
        event = webhooks.text_message_event(
            phone_number_id=self.settings.phone_number_id,
            display_phone_number=SIMULATED_DISPLAY_NUMBER,
            wa_id=sender.strip().lstrip("+"),
            name="Sandbox Customer",
            message_id=f"wamid.{secrets.token_urlsafe(24)}",
            text=text,
            timestamp=self.now(),
        )
        return webhooks.signed_request(url, event, self.settings.app_secret)


def _json(response: ProviderResponse, what: str) -> object:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(f"Meta answered the {what} with a body that is not JSON") from None


def _json_body(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
