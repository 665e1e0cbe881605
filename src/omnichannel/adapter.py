"""The adapter contract: what every channel adapter provides, and the base class that does the
common work.

An adapter is one object per (channel, provider): it sends envelopes, turns the provider's
webhooks into envelopes and status updates, and declares what its channel can do.
:class:`ChannelAdapter` is the protocol (a third party may implement it with no base class);
:class:`BaseAdapter` is the recommended path, where a provider writes only its own parts:

========================  ==================================================================
override                  what it does
========================  ==================================================================
``build_auth_headers``    headers sent with every request, computed once per adapter
``build_send_request``    envelope -> :class:`~omnichannel.http.ProviderRequest` (pure: no I/O)
``parse_send_response``   2xx :class:`~omnichannel.http.ProviderResponse` -> :class:`SentMessage`
``error_for_response``    non-2xx response -> a typed :class:`~omnichannel.SendError`
``sign_request``          a per-request signature (OAuth 1.0a), applied before every attempt
``deliver``               the transport step itself, for a provider that is not HTTP (mail)
``verify_webhook``        check the signature; answer handshakes (GET challenges)
``parse_webhook``         verified request -> :class:`WebhookResult`
``simulate``              a correctly signed, provider-shaped inbound request
``poll``                  pull channels: fetch what arrived since a cursor (``InboundMode.POLL``)
``reconcile``             look a message up after an ambiguous send (``Capabilities.reconcile``)
``start`` / ``aclose``    open and close long-lived connections (a mail pool, a push session)
========================  ==================================================================

Optional behaviour is declared in :class:`~omnichannel.plugin.Capabilities`, never discovered:
the router calls ``poll`` only on adapters whose capabilities include ``InboundMode.POLL``,
and ``reconcile`` only where ``capabilities.reconcile`` is true.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

import attrs

from omnichannel.capabilities import Capabilities, InboundMode
from omnichannel.config import secret_values
from omnichannel.envelope import Envelope
from omnichannel.errors import (
    OmnichannelError,
    SendError,
    UnsupportedFeature,
    WebhookError,
    WebhookParseError,
)
from omnichannel.events import DeliveryStatus
from omnichannel.fitting import FittingReport
from omnichannel.http import (
    ProviderRequest,
    ProviderResponse,
    SecretHeaders,
    Sender,
    default_error_for_response,
)
from omnichannel.inbound import PollResult, WebhookRequest, WebhookResponse, WebhookResult

__all__ = [
    "AdapterClass",
    "AdapterContext",
    "AdapterInfo",
    "BaseAdapter",
    "ChannelAdapter",
    "PollResult",
    "SendReceipt",
    "SentMessage",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookResult",
]

logger = logging.getLogger("omnichannel.adapter")

SettingsT = TypeVar("SettingsT")


def utc_now() -> datetime:
    """The current time, timezone-aware (the default clock)."""
    return datetime.now(UTC)


@attrs.frozen(kw_only=True)
class AdapterInfo:
    """Who an adapter is: ``name`` is ``"<channel>.<provider>"`` (``"sms.example"``)."""

    name: str
    channel: str
    provider: str
    description: str = ""

    def __attrs_post_init__(self) -> None:
        if self.name != f"{self.channel}.{self.provider}":
            raise ValueError(
                f"adapter name {self.name!r} must be '<channel>.<provider>' "
                f"({self.channel}.{self.provider})"
            )


@attrs.frozen(kw_only=True)
class SendReceipt:
    """What happened to one send: which channel and adapter carried it, and the provider ids.

    After failover, ``channel`` and ``adapter`` name what actually carried the message and
    ``requested_channel`` the channel that was asked for. When fitting split the text, each
    part has its own provider id in ``provider_ids``. Under the signpost policy (restricted
    content answering in public) this is the private message's receipt and
    ``public_signpost`` the public one; both carry the same ``conversation_id``.
    """

    envelope_id: str
    channel: str
    adapter: str
    provider_ids: tuple[str, ...]
    status: DeliveryStatus = attrs.field(converter=DeliveryStatus)
    fitting: FittingReport = attrs.field(factory=FittingReport)
    requested_channel: str | None = None
    attempts: tuple[str, ...] = ()
    """For failover: one line per channel tried before the one that carried the message."""
    conversation_id: str | None = None
    public_signpost: SendReceipt | None = None
    """The short public answer posted when restricted content went privately instead."""
    raw: object = attrs.field(default=None, eq=False, repr=False)

    @property
    def provider_id(self) -> str | None:
        """The provider id of the first (usually only) provider message."""
        return self.provider_ids[0] if self.provider_ids else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``raw`` left out), the shape ``omni send --json`` prints."""
        return {
            "envelope_id": self.envelope_id,
            "channel": self.channel,
            "adapter": self.adapter,
            "provider_id": self.provider_id,
            "provider_ids": list(self.provider_ids),
            "status": self.status._value_,
            "requested_channel": self.requested_channel,
            "attempts": list(self.attempts),
            "conversation_id": self.conversation_id,
            "public_signpost": self.public_signpost.to_dict() if self.public_signpost else None,
            "fitting": self.fitting.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SendReceipt:
        """Read the output of :meth:`to_dict`; unknown keys are ignored."""
        signpost = data.get("public_signpost")
        return cls(
            envelope_id=data["envelope_id"],
            channel=data["channel"],
            adapter=data["adapter"],
            provider_ids=tuple(data.get("provider_ids") or ()),
            status=DeliveryStatus(data["status"]),
            fitting=FittingReport.from_dict(data.get("fitting") or {}),
            requested_channel=data.get("requested_channel"),
            attempts=tuple(data.get("attempts") or ()),
            conversation_id=data.get("conversation_id"),
            public_signpost=cls.from_dict(signpost) if signpost else None,
        )


@attrs.frozen(kw_only=True)
class SentMessage:
    """What an adapter read from the provider's answer to one send (or found by
    ``reconcile``)."""

    provider_id: str
    status: DeliveryStatus = attrs.field(default=DeliveryStatus.ACCEPTED, converter=DeliveryStatus)
    raw: object = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class AdapterContext:
    """What the router gives every adapter it builds: the shared sender, the public URL, a clock."""

    sender: Sender = attrs.field(factory=Sender)
    public_url: str | None = None
    """The base URL providers call; webhooks go to ``{public_url}/webhooks/{channel}``."""
    clock: Callable[[], datetime] = utc_now

    def webhook_url(self, channel: str) -> str | None:
        """Where the provider should send this channel's webhooks, or None when not configured."""
        return f"{self.public_url.rstrip('/')}/webhooks/{channel}" if self.public_url else None


class ChannelAdapter(Protocol):
    """The protocol every adapter implements. Construct as ``Adapter(settings, context)``.

    ``info``, ``capabilities`` and ``settings_class`` are class attributes on installed
    adapters (the plugin host reads them without building an adapter). ``poll`` is called only
    when the capabilities' ``inbound`` includes ``InboundMode.POLL``, and ``reconcile`` only
    when ``capabilities.reconcile`` is true; the others may raise
    :class:`~omnichannel.UnsupportedFeature`.
    """

    @property
    def info(self) -> AdapterInfo:
        """The adapter's name, channel and provider."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the channel can carry and report."""
        ...

    @property
    def settings_class(self) -> type[Any]:
        """The attrs class of the adapter's settings."""
        ...

    @property
    def business_address(self) -> str | None:
        """The configured sender identity (a number, a phone-number id, a mailbox), or None.

        The router keys session windows on it when an outbound envelope names none.
        """
        ...

    async def start(self) -> None:
        """Open long-lived connections; called once when the router starts."""
        ...

    async def send(self, envelope: Envelope) -> SendReceipt:
        """Send one envelope whose content already fits the channel; one provider message."""
        ...

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Verify, then parse, a provider request.

        Raises :class:`~omnichannel.WebhookVerificationError` (403) before parsing anything when
        the signature is missing or wrong, and :class:`~omnichannel.WebhookParseError` (400) when
        the body cannot be understood.
        """
        ...

    async def poll(self, cursor: str | None) -> PollResult:
        """Fetch what arrived since ``cursor`` (None: from now on, or the start)."""
        ...

    def preview(self, envelope: Envelope) -> list[dict[str, Any]]:
        """Describe, secrets redacted, each provider call sending ``envelope`` would make."""
        ...

    async def reconcile(self, envelope: Envelope, *, attempted_at: datetime) -> SentMessage | None:
        """Look up at the provider whether an ambiguous send of ``envelope`` (attempted at
        ``attempted_at``) created a message: the message found, or None when the provider shows
        none. Raise :class:`~omnichannel.SendError` when the provider cannot tell."""
        ...

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A correctly signed, provider-shaped inbound message request addressed to ``url``."""
        ...

    async def aclose(self) -> None:
        """Release what the adapter holds (the shared sender is closed by its owner)."""
        ...


class AdapterClass(Protocol):
    """An adapter class as the plugin host sees it: class attributes plus the constructor."""

    @property
    def info(self) -> AdapterInfo:
        """The adapter's name, channel and provider."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the channel can carry and report."""
        ...

    @property
    def settings_class(self) -> type[Any]:
        """The attrs class of the adapter's settings."""
        ...

    def __call__(self, settings: Any, context: AdapterContext, /) -> ChannelAdapter:
        """Build the adapter from its settings and the router's context."""
        ...


class BaseAdapter(Generic[SettingsT]):
    """The recommended base for adapters: a provider overrides the methods listed in the
    module docstring; this class does requests, error context, receipts and webhook framing.

    :meth:`send` is a template method: it calls :meth:`deliver`, whose default builds the
    request, sends it through the shared :class:`~omnichannel.plugin.Sender` (retries by the
    one set of rules) and reads the answer. A provider that is not HTTP overrides
    :meth:`deliver` alone and keeps the receipts, error context and fitting report.
    """

    info: ClassVar[AdapterInfo]
    capabilities: ClassVar[Capabilities]
    settings_class: ClassVar[type[Any]]

    def __init__(self, settings: SettingsT, context: AdapterContext | None = None) -> None:
        self.settings = settings
        self.context = context if context is not None else AdapterContext()
        self.auth_headers: SecretHeaders = SecretHeaders(self.build_auth_headers())
        """The headers of :meth:`build_auth_headers`, held so that no repr shows their values."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.name}>"

    @property
    def webhook_url(self) -> str | None:
        """This channel's public webhook URL, when a public URL is configured."""
        return self.context.webhook_url(self.info.channel)

    @property
    def business_address(self) -> str | None:
        """The configured sender identity; None unless the adapter overrides it."""
        return None

    def now(self) -> datetime:
        """The current time from the injected clock."""
        return self.context.clock()

    # -- what a provider overrides ----------------------------------------------------------

    def build_auth_headers(self) -> Mapping[str, str]:
        """Headers sent with every request (``Authorization``), computed once."""
        return {}

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """The provider request that sends ``envelope``. Pure: no I/O."""
        raise NotImplementedError

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """Read the provider id and initial status from a 2xx answer."""
        raise NotImplementedError

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """Map a non-2xx answer to a typed error; the default looks at the status code only."""
        return default_error_for_response(response)

    def sign_request(self, request: ProviderRequest) -> ProviderRequest:
        """``request`` with a per-request signature added; applied before every attempt.

        The default adds nothing (fixed auth lives in :meth:`build_auth_headers`). OAuth 1.0a
        style schemes override it: a fresh nonce and timestamp for each attempt.
        """
        return request

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Raise :class:`~omnichannel.WebhookVerificationError` unless ``request`` is genuine.

        Return a response to end the exchange there (a subscription handshake), or None to go on
        to :meth:`parse_webhook`.
        """
        raise NotImplementedError

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Turn a verified request into messages and status updates, and the answer to give."""
        raise NotImplementedError

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A correctly signed, provider-shaped inbound message request addressed to ``url``."""
        raise UnsupportedFeature(
            f"{self.info.name} cannot simulate inbound messages", adapter=self.info.name
        )

    async def poll(self, cursor: str | None) -> PollResult:
        """Fetch what arrived since ``cursor`` (pull channels override this)."""
        raise UnsupportedFeature(f"{self.info.name} does not poll", adapter=self.info.name)

    async def reconcile(self, envelope: Envelope, *, attempted_at: datetime) -> SentMessage | None:
        """Look a message up after an ambiguous send (adapters whose provider can, override)."""
        raise UnsupportedFeature(
            f"{self.info.name} cannot look messages up to settle an unknown outcome",
            adapter=self.info.name,
        )

    async def start(self) -> None:
        """Open long-lived connections; nothing by default."""

    def preview(self, envelope: Envelope) -> list[dict[str, Any]]:
        """What :meth:`deliver` would send for ``envelope``, for people (``omni send
        --dry-run``): by default the request of :meth:`build_send_request`, with auth headers
        and every secret setting's value redacted. An adapter that is not HTTP overrides it
        (and one whose deliver makes several calls, an upload first, describes each)."""
        return [self.build_send_request(envelope).redacted(self.secret_values())]

    def secret_values(self) -> list[str]:
        """Every secret setting's value: what a preview or a log must never show."""
        return secret_values(self.settings)

    # -- what the base does -------------------------------------------------------------------

    async def deliver(self, envelope: Envelope) -> SentMessage:
        """The transport step: build the request, send it, read the answer.

        Override it for a provider that is not reached over HTTP; raise the
        :class:`~omnichannel.SendError` taxonomy (and use ``self.context.sender.run`` for the
        retry rules) so errors mean the same whatever the transport.
        """
        request = self.build_send_request(envelope)
        sign = (
            self.sign_request if type(self).sign_request is not BaseAdapter.sign_request else None
        )
        response = await self.context.sender.send(
            request, error_for=self.error_for_response, sign=sign, secret_values=self.secret_values
        )
        return self.parse_send_response(envelope, response)

    async def send(self, envelope: Envelope) -> SendReceipt:
        """Deliver one envelope and build the receipt; errors gain the adapter's context."""
        return await self._send_fitted(envelope, _NOT_FITTED)

    async def _send_fitted(self, envelope: Envelope, fitting: FittingReport) -> SendReceipt:
        # What send does, with the router's fitting report in the receipt: the router calls
        # this directly on adapters that keep the base send, so each send builds one receipt.
        try:
            sent = await self.deliver(envelope)
        except OmnichannelError as error:
            raise self.with_context(error, envelope) from error.__cause__
        return SendReceipt(
            envelope_id=envelope.id,
            channel=self.info.channel,
            adapter=self.info.name,
            provider_ids=(sent.provider_id,),
            status=sent.status,
            fitting=fitting,
            conversation_id=envelope.conversation_id,
            raw=sent.raw,
        )

    def with_context(self, error: OmnichannelError, envelope: Envelope) -> OmnichannelError:
        """``error`` with this adapter's channel and name and ``envelope``'s id filled in
        where it names none (for errors an adapter raises outside :meth:`send`)."""
        error.channel = error.channel or self.info.channel
        error.adapter = error.adapter or self.info.name
        error.envelope_id = error.envelope_id or envelope.id
        return error

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Verify first; parse only what verified; map parse failures to 400."""
        try:
            handshake = self.verify_webhook(request)
            if handshake is not None:
                return WebhookResult(response=handshake)
            return self.parse_webhook(request)
        except WebhookError as error:
            error.channel = error.channel or self.info.channel
            error.adapter = error.adapter or self.info.name
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise WebhookParseError(
                f"malformed {self.info.provider} webhook: {type(exc).__name__}",
                channel=self.info.channel,
                adapter=self.info.name,
            ) from None

    async def aclose(self) -> None:
        """Nothing to release by default: the sender belongs to the router."""


_NOT_FITTED: Final = FittingReport()


def fitted_sender(
    adapter: ChannelAdapter,
) -> Callable[[Envelope, FittingReport], Awaitable[SendReceipt]] | None:
    """The adapter's send taking the fitting report, when the adapter keeps
    :meth:`BaseAdapter.send` (the router then builds no second receipt); None otherwise."""
    if isinstance(adapter, BaseAdapter) and type(adapter).send is BaseAdapter.send:
        return adapter._send_fitted
    return None


def polls(capabilities: Capabilities) -> bool:
    """Whether adapters with ``capabilities`` are polled for inbound messages."""
    return InboundMode.POLL in capabilities.inbound
