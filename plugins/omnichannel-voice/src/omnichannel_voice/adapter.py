"""The ``voice.twilio`` adapter: a callback is an outbound Twilio call that says the envelope's
text and, when asked, connects an agent; call progress comes back as status updates.

Sending builds ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` with inline TwiML
(:mod:`omnichannel_voice.payloads`); webhooks are verified and read by
:mod:`omnichannel_voice.webhooks`. Scheduling (``Envelope.send_at``) is the router's: it keeps
the envelope until it is due, then calls :meth:`send`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

from omnichannel import (
    AddressKind,
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    InvalidAddress,
    InvalidEnvelope,
    ProviderError,
    SendError,
    TextFormat,
    UnsupportedFeature,
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
    basic_auth,
)
from omnichannel_voice import payloads, webhooks
from omnichannel_voice.settings import TwilioVoiceSettings

__all__ = ["CAPABILITIES", "CONNECT_TO", "TwilioVoiceAdapter"]

CONNECT_TO: Final = "connect_to"
"""The envelope metadata key naming the number to connect after the message (E.164)."""

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.PHONE,
    max_text_length=payloads.MAX_SPEECH_CHARS,
    formats={TextFormat.PLAIN},
    subject=False,
    media=None,
    calls=True,
    statuses={
        DeliveryStatus.INITIATED,
        DeliveryStatus.RINGING,
        DeliveryStatus.ANSWERED,
        DeliveryStatus.COMPLETED,
        DeliveryStatus.BUSY,
        DeliveryStatus.NO_ANSWER,
        DeliveryStatus.FAILED,
        DeliveryStatus.CANCELED,
    },
    inbound={InboundMode.WEBHOOK},
)

# The geographic params Twilio adds to every voice webhook; blank when it knows nothing.
_GEO_PARAMS: Final = tuple(
    f"{side}{field}"
    for side in ("Called", "Caller", "From", "To")
    for field in ("City", "Country", "State", "Zip")
)


class TwilioVoiceAdapter(BaseAdapter[TwilioVoiceSettings]):
    """Voice callbacks through Twilio Voice: the business calls the customer."""

    info: ClassVar[AdapterInfo] = AdapterInfo(
        name="voice.twilio",
        channel="voice",
        provider="twilio",
        description="Voice callbacks through Twilio Voice (calls, TwiML, call statuses)",
    )
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    settings_class: ClassVar[type[Any]] = TwilioVoiceSettings

    # -- sending ------------------------------------------------------------------------------

    @property
    def business_address(self) -> str | None:
        """The number calls come from."""
        return self.settings.from_

    def build_auth_headers(self) -> Mapping[str, str]:
        """HTTP Basic auth with the Account SID and Auth Token, computed once."""
        return {
            "Authorization": basic_auth(
                self.settings.account_sid, self.settings.auth_token.reveal()
            )
        }

    def agent_for(self, envelope: Envelope) -> str | None:
        """The number to connect after the message: ``metadata["connect_to"]``, else the
        ``agent`` setting, else None. Raises :class:`InvalidAddress` for a number that is not
        E.164."""
        connect_to = envelope.metadata.get(CONNECT_TO)
        if connect_to is None:
            return self.settings.agent
        if not isinstance(connect_to, str):
            raise InvalidAddress(
                str(connect_to),
                "phone",
                f"metadata {CONNECT_TO} must be a string",
                channel=self.info.channel,
            )
        return AddressKind.PHONE.normalize(connect_to, channel=self.info.channel)

    def build_twiml(self, envelope: Envelope) -> str:
        """The inline TwiML of the call placed for ``envelope``."""
        text = envelope.content.plain_text.strip()
        if not text:
            raise ContentRejected("a callback needs text to say; the envelope has none")
        if len(text) > payloads.MAX_SPEECH_CHARS:
            raise ContentTooLong(
                f"the text is {len(text)} characters; a call says at most "
                f"{payloads.MAX_SPEECH_CHARS}"
            )
        settings = self.settings
        twiml = payloads.callback_twiml(
            text,
            voice=settings.voice,
            language=settings.language,
            agent=self.agent_for(envelope),
            caller_id=settings.from_,
            voicemail_message=settings.voicemail_message if settings.machine_detection else None,
        )
        if len(twiml) > payloads.TWIML_MAX_CHARS:
            raise ContentTooLong(
                f"the call's TwiML is {len(twiml)} characters once escaped; Twilio takes at most "
                f"{payloads.TWIML_MAX_CHARS}: shorten the text (or the voicemail_message)"
            )
        return twiml

    def _option_fields(self, envelope: Envelope) -> list[tuple[str, str]]:
        options = envelope.provider_options.get(self.info.name)
        if options is None:
            return []
        if not isinstance(options, Mapping):
            raise InvalidEnvelope(f'provider_options["{self.info.name}"] must be a mapping')
        try:
            return payloads.option_fields(options)
        except TypeError as exc:
            raise InvalidEnvelope(f'provider_options["{self.info.name}"]: {exc}') from None

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """The create-call request for ``envelope`` (pure: no I/O)."""
        if envelope.send_at is not None and envelope.send_at > self.now():
            raise UnsupportedFeature(
                "Twilio Voice cannot schedule a call; send through the Router, which keeps "
                "the envelope until send_at"
            )
        webhook_url = self.webhook_url
        form = payloads.create_call_form(
            to=envelope.recipient.value,
            from_=self.settings.from_,
            twiml=self.build_twiml(envelope),
            status_callback=(
                payloads.status_callback_url(webhook_url, envelope.id) if webhook_url else None
            ),
            machine_detection=payloads.MACHINE_DETECTION
            if self.settings.machine_detection
            else None,
            extra=self._option_fields(envelope),
        )
        return payloads.create_call_request(
            self.settings.base_url, self.settings.account_sid, form, self.auth_headers
        )

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """The call's ``CA...`` sid from the 201 answer; the call starts as INITIATED."""
        try:
            body: object = response.json()
        except ValueError:
            body = None
        sid = payloads.read_call_sid(body)
        if sid is None:
            raise ProviderError(
                f"Twilio answered HTTP {response.status_code} without a call sid; "
                "check base_url points at the Twilio API"
            )
        return SentMessage(provider_id=sid, status=DeliveryStatus.INITIATED, raw=body)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """Twilio's error code (legacy or RFC 9457 body) mapped by :data:`payloads.ERROR_CODES`."""
        return payloads.error_for_response(response.status_code, response.headers, response.body)

    # -- webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-Twilio-Signature`` against the Auth Token (and the secondary one)."""
        tokens = [self.settings.auth_token]
        if self.settings.secondary_auth_token is not None:
            tokens.append(self.settings.secondary_auth_token)
        webhooks.verify_signature(request, tokens)
        return None

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """A call status callback becomes a status update; an inbound call (or the words of a
        speech ``<Gather>``) becomes an inbound message. Twilio gets empty TwiML back."""
        params = webhooks.webhook_params(request)
        envelope_id = request.query_value(webhooks.ENVELOPE_PARAM) or None
        response = WebhookResponse.xml(payloads.EMPTY_TWIML)
        channel = self.info.channel
        if webhooks.is_status_callback(params, envelope_id):
            update = webhooks.parse_status_callback(
                params, channel=channel, envelope_id=envelope_id, now=self.now()
            )
            return WebhookResult(response=response, statuses=[update] if update else [])
        message = webhooks.parse_inbound_call(params, channel=channel, now=self.now())
        return WebhookResult(response=response, messages=[message])

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A signed webhook as Twilio posts it to a speech ``<Gather>`` action during an inbound
        call from ``sender``: ``text`` is the ``SpeechResult``.

        Voice has no text messages; a caller's spoken words are the closest thing Twilio
        sends, and they become an inbound message whose text is the words.
        """
        params: list[tuple[str, str]] = [
            ("AccountSid", self.settings.account_sid),
            ("ApiVersion", payloads.API_VERSION),
            ("CallSid", f"CA{secrets.token_hex(16)}"),
            ("CallStatus", "in-progress"),
            ("Called", self.settings.from_),
            ("Caller", sender),
            ("Confidence", "0.9"),
            ("Direction", "inbound"),
            ("From", sender),
            ("Language", self.settings.language),
            ("SpeechResult", text),
            ("To", self.settings.from_),
            *((name, "") for name in _GEO_PARAMS),
        ]
        return WebhookRequest(
            method="POST",
            url=url,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                webhooks.SIGNATURE_HEADER: webhooks.sign(self.settings.auth_token, url, params),
            },
            body=urlencode(params).encode(),
        )
