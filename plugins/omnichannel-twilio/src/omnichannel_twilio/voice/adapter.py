"""The ``voice.twilio`` adapter: a callback is an outbound Twilio call that says the envelope's
text and, when asked, connects an agent; call progress comes back as status updates.

:class:`~omnichannel_twilio.adapter.TwilioAdapter` does what both Twilio adapters share (auth,
errors, signatures, the lookup behind ``reconcile``); this class builds
``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` with inline TwiML (:mod:`.payloads`) and
reads call webhooks (:mod:`.webhooks`). Scheduling (``Envelope.send_at``) is the router's: it
keeps the envelope until it is due, then calls :meth:`send`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from omnichannel import (
    AddressKind,
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    InvalidAddress,
    ProviderError,
    TextFormat,
    UnsupportedFeature,
    WebhookRequest,
)
from omnichannel.plugin import (
    AdapterInfo,
    Capabilities,
    InboundMode,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    WebhookResult,
)
from omnichannel_twilio.adapter import TwilioAdapter
from omnichannel_twilio.lookups import Lookup
from omnichannel_twilio.payloads import create_request, options_of, status_callback_url
from omnichannel_twilio.settings import TwilioVoiceSettings
from omnichannel_twilio.voice import payloads
from omnichannel_twilio.voice.webhooks import parse_request, speech_params
from omnichannel_twilio.webhooks import signed_request

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
    statuses=frozenset(payloads.CALL_STATUSES.values()),
    inbound={InboundMode.WEBHOOK},
    # The Calls list can be read by To, From and StartTime: an unknown send is looked up.
    reconcile=True,
)


class TwilioVoiceAdapter(TwilioAdapter[TwilioVoiceSettings]):
    """Voice callbacks through Twilio Voice: the business calls the customer."""

    info: ClassVar[AdapterInfo] = AdapterInfo(
        name="voice.twilio",
        channel="voice",
        provider="twilio",
        description="Voice callbacks through Twilio Voice (calls, TwiML, call statuses)",
    )
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    settings_class: ClassVar[type[Any]] = TwilioVoiceSettings
    resource = payloads.CALLS
    error_codes = payloads.ERROR_CODES

    # -- sending ------------------------------------------------------------------------------

    @property
    def business_address(self) -> str | None:
        """The number calls come from."""
        return self.settings.from_

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
                status_callback_url(webhook_url, envelope.id) if webhook_url else None
            ),
            machine_detection=payloads.MACHINE_DETECTION
            if self.settings.machine_detection
            else None,
            extra=options_of(envelope.provider_options, self.info.name),
        )
        return create_request(self.resource_url, form, self.form_headers)

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

    # -- webhooks -----------------------------------------------------------------------------

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """A call status callback becomes a status update; an inbound call (or the words of a
        speech ``<Gather>``) becomes an inbound message. Twilio gets empty TwiML back."""
        return parse_request(request, channel=self.info.channel, now=self.now())

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A signed webhook as Twilio posts it to a speech ``<Gather>`` action during an inbound
        call from ``sender``: ``text`` is the ``SpeechResult``.

        Voice has no text messages; a caller's spoken words are the closest thing Twilio
        sends, and they become an inbound message whose text is the words.
        """
        params = speech_params(
            sender=sender,
            to=self.settings.from_,
            text=text,
            account_sid=self.settings.account_sid,
            language=self.settings.language,
        )
        return signed_request(self.settings.auth_token, url, params)

    def lookup(self, envelope: Envelope, since: datetime) -> Lookup:
        """To the recipient, from the business number."""
        return payloads.call_lookup(envelope, from_=self.settings.from_, since=since)
