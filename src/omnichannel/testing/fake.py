"""FakeAdapter: an adapter whose ``send`` calls a plain function.

For application tests that need neither HTTP mocks nor a plugin (the idea of httpx's
``MockTransport``). Its webhooks are JSON bodies signed with HMAC-SHA256 (hex) in the
``X-Fake-Signature`` header, so webhook paths can be tested too::

    {"type": "message", "from": "customer-1", "to": "business-1", "text": "hi", "id": "in-1"}
    {"type": "status", "provider_id": "fake-1", "status": "delivered"}
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from omnichannel.adapter import (
    AdapterInfo,
    PollResult,
    SendReceipt,
    SentMessage,
    WebhookRequest,
    WebhookResponse,
    WebhookResult,
)
from omnichannel.capabilities import Capabilities, MediaRules
from omnichannel.config import Secret, secret
from omnichannel.content import TextFormat
from omnichannel.envelope import Address, AddressKind, Direction, Envelope
from omnichannel.errors import UnsupportedFeature, WebhookParseError, WebhookVerificationError
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.signing import sign_body, verify_body

__all__ = ["FakeAdapter", "FakeSettings"]

SIGNATURE_HEADER = "X-Fake-Signature"

SendResult = SentMessage | str | None
SendHandler = Callable[[Envelope], SendResult | Awaitable[SendResult]]
PollHandler = Callable[[str | None], PollResult | Awaitable[PollResult]]
ReconcileHandler = Callable[[Envelope], SentMessage | None]


@attrs.frozen(kw_only=True)
class FakeSettings:
    """Settings of the fake adapter: only the webhook secret."""

    webhook_secret: Secret = secret(help="HMAC-SHA256 key of the X-Fake-Signature header.")


DEFAULT_CAPABILITIES = Capabilities(
    address_kind=AddressKind.OPAQUE,
    max_text_length=4096,
    split_long_text=True,
    formats={TextFormat.PLAIN, TextFormat.MARKDOWN},
    media=MediaRules(content_types={"image/*"}, max_items=4),
    threading=True,
    statuses={
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
    },
)


class FakeAdapter:
    """An adapter whose ``send`` calls ``handler(envelope)`` (sync or async).

    The handler may return None (a provider id is made up), a provider id, a
    :class:`~omnichannel.plugin.SentMessage`, or raise a :class:`~omnichannel.SendError` to
    simulate a failure. Every envelope sent is kept in :attr:`sent`. ``poll`` and
    ``reconcile`` give the adapter those seams too (declare them in ``capabilities``: an
    inbound mode of ``poll``, ``reconcile=True``).
    """

    settings_class = FakeSettings

    def __init__(
        self,
        handler: SendHandler | None = None,
        *,
        channel: str = "fake",
        capabilities: Capabilities = DEFAULT_CAPABILITIES,
        settings: FakeSettings | None = None,
        business_address: str | None = None,
        poll: PollHandler | None = None,
        reconcile: ReconcileHandler | None = None,
    ) -> None:
        self.info: AdapterInfo = AdapterInfo(
            name=f"{channel}.fake", channel=channel, provider="fake"
        )
        self.capabilities: Capabilities = capabilities
        self.settings = settings or FakeSettings(webhook_secret=Secret("fake-webhook-secret"))
        self.handler = handler
        self.business_address = business_address
        self.poll_handler = poll
        self.reconcile_handler = reconcile
        self.sent: list[Envelope] = []
        self.polls: list[str | None] = []
        self.started = False
        self.closed = False
        self._ids = itertools.count(1)

    async def start(self) -> None:
        """Mark the adapter started."""
        self.started = True

    async def poll(self, cursor: str | None) -> PollResult:
        """Call the poll handler with ``cursor``."""
        self.polls.append(cursor)
        if self.poll_handler is None:
            raise UnsupportedFeature(f"{self.info.name} does not poll", adapter=self.info.name)
        result: Any = self.poll_handler(cursor)
        if inspect.isawaitable(result):
            result = await result
        polled: PollResult = result
        return polled

    def preview(self, envelope: Envelope) -> list[dict[str, Any]]:
        """The one call a send would make: the handler, with the envelope's recipient."""
        return [
            {"method": "CALL", "url": f"fake://{self.info.channel}", "to": envelope.recipient.value}
        ]

    async def reconcile(self, envelope: Envelope, *, attempted_at: datetime) -> SentMessage | None:
        """Call the reconcile handler with ``envelope``."""
        if self.reconcile_handler is None:
            raise UnsupportedFeature(f"{self.info.name} cannot reconcile", adapter=self.info.name)
        return self.reconcile_handler(envelope)

    async def send(self, envelope: Envelope) -> SendReceipt:
        """Call the handler and build a receipt."""
        self.sent.append(envelope)
        result: Any = self.handler(envelope) if self.handler else None
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            result = f"{self.info.channel}-{next(self._ids)}"
        sent = result if isinstance(result, SentMessage) else SentMessage(provider_id=str(result))
        return SendReceipt(
            envelope_id=envelope.id,
            channel=self.info.channel,
            adapter=self.info.name,
            provider_ids=(sent.provider_id,),
            status=sent.status,
            conversation_id=envelope.conversation_id,
            raw=sent.raw,
        )

    def sign(self, body: bytes) -> str:
        """The ``X-Fake-Signature`` value for ``body``."""
        return sign_body(self.settings.webhook_secret, body, encoding="hex")

    def signed_request(self, url: str, payload: object) -> WebhookRequest:
        """A correctly signed webhook request carrying ``payload`` as JSON."""
        body = json.dumps(payload).encode()
        return WebhookRequest(
            method="POST",
            url=url,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: self.sign(body)},
            body=body,
        )

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A signed inbound message request."""
        payload = {
            "type": "message",
            "from": sender,
            "to": "business-1",
            "text": text,
            "id": f"in-{next(self._ids)}",
        }
        return self.signed_request(url, payload)

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Verify the HMAC, then parse one message or status event."""
        if not verify_body(
            self.settings.webhook_secret,
            request.body,
            request.header(SIGNATURE_HEADER),
            encoding="hex",
        ):
            raise WebhookVerificationError(
                "missing or wrong X-Fake-Signature", channel=self.info.channel
            )
        data = request.json()
        if not isinstance(data, dict) or data.get("type") not in ("message", "status"):
            raise WebhookParseError("expected a message or status event", channel=self.info.channel)
        channel = self.info.channel
        try:
            if data["type"] == "message":
                business = Address(channel=channel, value=str(data.get("to", "business-1")))
                message = Envelope(
                    channel=channel,
                    direction=Direction.INBOUND,
                    sender=Address(channel=channel, value=str(data["from"])),
                    recipient=business,
                    business_address=business,
                    content=str(data["text"]),
                    provider_id=str(data["id"]),
                    raw=data,
                )
                return WebhookResult(response=WebhookResponse(status_code=204), messages=[message])
            update = StatusUpdate(
                channel=channel,
                provider_id=str(data["provider_id"]),
                status=DeliveryStatus(data["status"]),
                timestamp=datetime.now(UTC),
                raw=data,
            )
        except (KeyError, ValueError) as exc:
            raise WebhookParseError(f"malformed fake event: {exc!r}", channel=channel) from None
        return WebhookResult(response=WebhookResponse(status_code=204), statuses=[update])

    async def aclose(self) -> None:
        """Mark the adapter closed."""
        self.closed = True
