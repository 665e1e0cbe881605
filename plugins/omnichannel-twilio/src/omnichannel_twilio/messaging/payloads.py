"""Pure mapping between envelopes and Twilio Programmable Messaging: the create-message form,
the status table, the messaging error codes and the lookup of a message. No I/O, so everything
here tests as a table.

Wire facts (Twilio's Message resource): a message is created by a form-encoded
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``MediaUrl`` repeated once per
item; the ``201`` answer is JSON (counts as strings, SIDs ``SM…``/``MM…``). The Messages list
is read with the filters ``To``, ``From`` and ``DateSent`` (a day, ``YYYY-MM-DD`` in GMT, or an
inequality: ``DateSent>=YYYY-MM-DD``, sent as the parameter ``DateSent>``), newest first.
What every Twilio resource shares (URLs, form encoding, errors) is in
:mod:`omnichannel_twilio.payloads`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from omnichannel import (
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    UnsupportedFeature,
    Visibility,
)
from omnichannel_twilio import payloads
from omnichannel_twilio.lookups import Lookup, lookup
from omnichannel_twilio.payloads import CodeRule, FormPairs, TwilioResource, rules

__all__ = [
    "ERROR_CODES",
    "INBOUND_STATUSES",
    "JSON_FIELDS",
    "MAX_VALIDITY_SECONDS",
    "MESSAGES",
    "MESSAGE_STATUSES",
    "OWN_FIELDS",
    "envelope_form",
    "message_form",
    "message_lookup",
    "messages_url",
    "sender_of",
    "sent_status",
    "validity_period",
]

OWN_FIELDS: Final = frozenset({"To", "From", "MessagingServiceSid", "Body", "StatusCallback"})
"""Fields the adapter sets from the envelope and settings; ``provider_options`` may not."""
JSON_FIELDS: Final = frozenset({"ContentVariables"})
"""Fields Twilio takes as a JSON string: a mapping in ``provider_options`` becomes one."""

# --- the send request ---------------------------------------------------------------------------


def messages_url(base_url: str, account_sid: str) -> str:
    """The Messages list URL of ``account_sid`` under ``base_url`` (the API root)."""
    return payloads.account_url(base_url, account_sid, MESSAGES.name)


def message_form(
    *,
    to: str,
    body: str,
    from_: str | None = None,
    messaging_service_sid: str | None = None,
    media_urls: Iterable[str] = (),
    status_callback: str | None = None,
    validity_period: int | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> FormPairs:
    """The form fields of one create-message call, in Twilio's documented order.

    ``extra`` (the envelope's provider options, as :func:`~omnichannel_twilio.payloads.
    option_pairs`) is appended last. It may add any field (``MediaUrl`` adds more items; a
    ``ValidityPeriod`` of its own replaces ``validity_period``) but not set one of
    :data:`OWN_FIELDS`: that raises :class:`~omnichannel.UnsupportedFeature`.
    """
    extra_pairs = list(extra)
    clash = sorted(OWN_FIELDS & {name for name, _ in extra_pairs})
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the adapter sets them from the "
            "envelope and the settings (choose the sender with the envelope's sender address)"
        )
    pairs: FormPairs = [("To", to)]
    if from_:
        pairs.append(("From", from_))
    if messaging_service_sid:
        pairs.append(("MessagingServiceSid", messaging_service_sid))
    if body:
        pairs.append(("Body", body))
    if status_callback:
        pairs.append(("StatusCallback", status_callback))
    pairs.extend(("MediaUrl", url) for url in media_urls)
    if validity_period is not None and all(name != "ValidityPeriod" for name, _ in extra_pairs):
        pairs.append(("ValidityPeriod", str(validity_period)))
    return pairs + extra_pairs


MAX_VALIDITY_SECONDS: Final = 36_000
"""Twilio's default and longest ``ValidityPeriod`` (10 hours)."""


def validity_period(expires_at: datetime | None, now: datetime) -> int | None:
    """The ``ValidityPeriod`` that makes Twilio drop a message still queued at ``expires_at``.

    None when the envelope does not expire, or not before Twilio's own 10-hour default; at
    least 1 second (Twilio's minimum).
    """
    if expires_at is None:
        return None
    seconds = math.ceil((expires_at - now).total_seconds())
    if seconds >= MAX_VALIDITY_SECONDS:
        return None
    return max(1, seconds)


def sender_of(envelope: Envelope, from_: str | None) -> str | None:
    """The ``From`` a send of ``envelope`` uses: the business address the customer wrote to
    when the envelope names one, else the configured sender (None: the Messaging Service's
    pool picks)."""
    own = envelope.sender or envelope.business_address
    return own.value if own is not None else from_


def envelope_form(
    envelope: Envelope,
    *,
    adapter_name: str,
    from_: str | None,
    messaging_service_sid: str | None,
    status_callback: str | None,
    now: datetime | None = None,
) -> FormPairs:
    """The form fields that send ``envelope`` (already fitted to the channel by the router).

    A reply goes out from the business address the customer wrote to (:func:`sender_of`).
    SMS has no public posts, so a PUBLIC envelope raises :class:`~omnichannel.UnsupportedFeature`.
    An envelope's ``expires_at`` becomes Twilio's ``ValidityPeriod``, counted from ``now``.
    """
    if envelope.visibility is Visibility.PUBLIC:
        raise UnsupportedFeature(
            "SMS has no public posts; send it with visibility=PRIVATE", envelope_id=envelope.id
        )
    return message_form(
        to=envelope.recipient.value,
        body=envelope.content.plain_text,
        from_=sender_of(envelope, from_),
        messaging_service_sid=messaging_service_sid,
        # Fitting sent media Twilio cannot fetch (bytes) as an error, so each item has a URL.
        media_urls=[item.url for item in envelope.content.media if item.url is not None],
        status_callback=status_callback,
        validity_period=validity_period(envelope.expires_at, now) if now else None,
        extra=payloads.options_of(envelope.provider_options, adapter_name, json_fields=JSON_FIELDS),
    )


# --- statuses -----------------------------------------------------------------------------------

MESSAGE_STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    # Twilio's lifecycle is accepted -> (scheduled) -> queued -> sending -> sent -> delivered.
    # "queued" already means Twilio holds the message for sending: ACCEPTED. "scheduled" waits
    # for SendAt, as the router's own scheduled sends do: QUEUED.
    "accepted": DeliveryStatus.ACCEPTED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.ACCEPTED,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    # Semantics unverified (providers.md 9): claim no more than "left Twilio".
    "partially_delivered": DeliveryStatus.SENT,
    # Only WhatsApp/RCS/Messenger report reads; SMS never does, so READ is not declared and a
    # read (from a Messaging Service with RCS, say) is recorded as what it implies: delivered.
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.CANCELED,
}
"""Twilio's ``status``/``MessageStatus`` values for outbound messages, normalised."""

INBOUND_STATUSES: Final = frozenset({"receiving", "received"})
"""The values that mark an inbound message rather than a status callback."""


MESSAGES: Final = TwilioResource(
    "Messages", "message", "DateSent", MESSAGE_STATUSES, new_status=DeliveryStatus.ACCEPTED
)
"""Twilio's Messages resource."""


def sent_status(value: object) -> DeliveryStatus:
    """The status of a message Twilio created (ACCEPTED when Twilio says something new)."""
    return MESSAGES.status_of(value)


# --- errors -------------------------------------------------------------------------------------

_NOT_A_MOBILE = CodeRule(
    error=InvalidRecipient,
    reason=FailureReason.INVALID_RECIPIENT,
    advice="check the recipient's number; it cannot receive SMS from this sender",
)

ERROR_CODES: Final[Mapping[int, CodeRule]] = {
    **payloads.ERROR_CODES,
    # 21408 region not enabled (geo permissions), 21612 cannot route To from this From, 21614
    # not SMS-capable, 21635 landline; 30005/30006 (status callbacks) unknown or landline.
    **rules((21408, 21612, 21614, 21635, 30005, 30006), _NOT_A_MOBILE),
    21608: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        advice="a trial account sends only to verified numbers; verify it or upgrade",
    ),
    21610: CodeRule(
        error=InvalidRecipient,
        reason=FailureReason.OPTED_OUT,
        advice="the recipient replied STOP; do not send until they reply START",
    ),
    21617: CodeRule(
        error=ContentTooLong,
        reason=FailureReason.CONTENT_REJECTED,
        advice="the body is over 1,600 characters; shorten it",
    ),
    30007: CodeRule(
        error=ContentRejected,
        reason=FailureReason.CONTENT_REJECTED,
        advice="the carrier filtered the message; review its content and sender registration",
    ),
    **rules(
        (21601, 21606),
        CodeRule(
            error=ProviderError,
            reason=FailureReason.PROVIDER_ERROR,
            advice="the sender is not an SMS-capable number of this account; check `from`",
        ),
    ),
    30001: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        retryable=True,
        advice="Twilio's queue overflowed; retry later",
    ),
    30003: CodeRule(
        error=ProviderError,
        reason=FailureReason.UNREACHABLE,
        retryable=True,
        advice="the handset is unreachable (off or out of coverage); retry later",
    ),
}
"""The shared Twilio codes and those of Messaging, classified by what the caller should do.
A code missing here is a ``provider_error`` that keeps its code and message."""


# --- the lookup (reconcile) -----------------------------------------------------------------------


def message_lookup(
    envelope: Envelope, *, from_: str | None, messaging_service_sid: str | None, since: datetime
) -> Lookup:
    """The lookup of the message a send of ``envelope`` at or after ``since`` creates: to its
    recipient, from the sender the send used (or, through a Messaging Service's pool, from that
    service), with its body."""
    sender = sender_of(envelope, from_)
    through = {} if sender else {"messaging_service_sid": messaging_service_sid}
    return lookup(
        MESSAGES,
        to=envelope.recipient.value,
        from_=sender,
        since=since,
        body=envelope.content.plain_text,
        **through,
    )
