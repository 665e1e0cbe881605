"""The exceptions omnichannel raises, grouped by what the caller should do about them.

```
OmnichannelError
├── ConfigurationError            fix the configuration or installation, then run again
│   ├── UnknownChannel            no adapter serves that channel (the message lists those that do)
│   ├── UnknownAdapter            no installed plugin provides that adapter name
│   ├── MissingVariable           an ${ENV} reference in the config is unset
│   ├── StoreSchemaOutdated       the store's tables are older than this code: `omni store upgrade`
│   └── StoreLocked               another worker process holds the SQLite file: stop it, or use
│                                 PostgreSQL for several workers
├── InvalidEnvelope               the envelope itself is wrong (a field, a value)
│   ├── InvalidAddress            a phone number, email address or handle that cannot be used
│   └── InvalidMediaUrl           a media URL that may not be fetched (scheme, credentials, host)
├── SendError                     a send did not happen; `retryable`: is trying again safe
│   ├── ProviderError             the provider answered with an error
│   │   ├── RateLimited           slow down; `retry_after` seconds when the provider said
│   │   └── ResponseTooLarge      the answer was over the request's size cap; it was not read
│   ├── TransportError            the provider could not be reached: nothing was sent
│   ├── OutcomeUnknown            the request may have been processed: never resend blindly;
│   │                             wait for a status, reconcile(), or ask an operator
│   ├── InvalidRecipient          the provider refused the address
│   ├── ContentRejected           the provider or the channel refused the content
│   │   └── ContentTooLong        the text does not fit and may not be split
│   ├── UnsupportedFeature        the channel cannot express what the envelope asks for
│   └── PolicyViolation           a routing rule refused it before any network call
│       └── EnvelopeExpired       its expires_at passed before it could be sent
├── StoreError                    the durable store refused or failed an operation
│   └── DuplicateEnvelope         that envelope id is already in the outbox: nothing was added
└── WebhookError                  an inbound provider request was refused
    ├── WebhookVerificationError  bad or missing signature: answer 403, process nothing
    └── WebhookParseError         malformed body: answer 400, process nothing
```

Every message says what happened, to what, and what to do, and names the channel, adapter
and envelope id when they are known. No exception carries a secret or a full request body.
Plugins subclass these; they never define a new root.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from omnichannel.events import DeliveryStatus, FailureReason

if TYPE_CHECKING:
    from datetime import datetime

    from omnichannel.adapter import SendReceipt
    from omnichannel.envelope import Envelope
    from omnichannel.store.records import OutboxRecord

__all__ = [
    "ConfigurationError",
    "ContentRejected",
    "ContentTooLong",
    "DuplicateEnvelope",
    "EnvelopeExpired",
    "InvalidAddress",
    "InvalidEnvelope",
    "InvalidMediaUrl",
    "MissingVariable",
    "OmnichannelError",
    "OutcomeUnknown",
    "PolicyViolation",
    "ProviderError",
    "RateLimited",
    "ResponseTooLarge",
    "SendError",
    "StoreError",
    "StoreLocked",
    "StoreSchemaOutdated",
    "TransportError",
    "UnknownAdapter",
    "UnknownChannel",
    "UnsupportedFeature",
    "WebhookError",
    "WebhookParseError",
    "WebhookVerificationError",
]


class OmnichannelError(Exception):
    """The root of every error omnichannel raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        channel: str | None = None,
        adapter: str | None = None,
        envelope_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.channel = channel
        self.adapter = adapter
        self.envelope_id = envelope_id

    def __str__(self) -> str:
        context = [
            f"{label}={value}"
            for label, value in (
                ("channel", self.channel),
                ("adapter", self.adapter),
                ("envelope", self.envelope_id),
            )
            if value
        ]
        if not context:
            return self.message
        return f"{self.message} ({', '.join(context)})"


class ConfigurationError(OmnichannelError):
    """The configuration or the installed plugins cannot do what was asked."""


def _listing(names: Iterable[str]) -> str:
    ordered = sorted(set(names))
    return ", ".join(ordered) if ordered else "none"


class UnknownChannel(ConfigurationError):
    """No adapter serves the requested channel."""

    def __init__(self, channel: str, installed: Iterable[str]) -> None:
        self.installed = tuple(sorted(set(installed)))
        super().__init__(
            f"channel {channel!r} is not installed; installed: {_listing(self.installed)}",
        )
        self.channel = channel

    def __str__(self) -> str:
        return self.message


class UnknownAdapter(ConfigurationError):
    """No installed plugin provides the requested adapter name."""

    def __init__(self, adapter: str, installed: Iterable[str]) -> None:
        self.installed = tuple(sorted(set(installed)))
        super().__init__(
            f"adapter {adapter!r} is not installed; installed: {_listing(self.installed)}",
        )
        self.adapter = adapter

    def __str__(self) -> str:
        return self.message


class MissingVariable(ConfigurationError):
    """An ``${ENV}`` reference in the configuration has no value in the environment."""

    def __init__(self, variable: str, where: str) -> None:
        super().__init__(
            f"environment variable {variable!r} is not set (referenced by {where}); "
            "set it or edit the configuration",
        )
        self.variable = variable


class StoreSchemaOutdated(ConfigurationError):
    """The store's schema is missing or older (or newer) than this omnichannel's.

    ``current`` is the store's version (None for an empty database), ``needed`` this code's.
    """

    def __init__(self, where: str, current: str | None, needed: str) -> None:
        found = "has no omnichannel schema" if current is None else f"is at version {current}"
        if current is not None and current > needed:
            advice = "upgrade omnichannel to a release that knows it"
        else:
            advice = "run `omni store upgrade`"
        super().__init__(f"the store at {where} {found}, this omnichannel needs {needed}: {advice}")
        self.where = where
        self.current = current
        self.needed = needed


class StoreLocked(ConfigurationError):
    """Another process holds the SQLite store as a worker (SQLite serves one worker process)."""

    def __init__(self, path: str, holder: str | None = None) -> None:
        held_by = f" (pid {holder})" if holder else ""
        super().__init__(
            f"another omnichannel worker holds {path}{held_by}; SQLite serves one worker "
            "process: stop it, or use PostgreSQL for several",
        )
        self.path = path
        self.holder = holder


class InvalidEnvelope(OmnichannelError, ValueError):
    """An envelope, or one of its fields, is not valid."""


class InvalidAddress(InvalidEnvelope):
    """An address cannot be used on its channel (for example an impossible phone number)."""

    def __init__(self, value: str, kind: str, reason: str, *, channel: str | None = None) -> None:
        super().__init__(f"invalid {kind} address {value!r}: {reason}", channel=channel)
        self.value = value
        self.kind = kind


class InvalidMediaUrl(InvalidEnvelope):
    """A media URL that no provider or adapter may be asked to fetch.

    ``problem`` says what is wrong with it (the scheme, credentials in the URL, an internal
    host); the message never repeats the URL's credentials, path or query.
    """

    def __init__(
        self,
        problem: str,
        *,
        hint: str = "attach an http or https URL on a public host",
        channel: str | None = None,
        envelope_id: str | None = None,
    ) -> None:
        super().__init__(
            f"media URL refused: {problem}; {hint}", channel=channel, envelope_id=envelope_id
        )
        self.problem = problem
        self.hint = hint


class SendError(OmnichannelError):
    """A message was not sent.

    ``reason`` normalises the cause across providers; ``retryable`` says whether sending the
    same envelope again is safe and may succeed; ``provider_code`` and ``provider_message``
    keep what the provider said.
    """

    default_reason = FailureReason.PROVIDER_ERROR
    default_retryable = False
    status: DeliveryStatus = DeliveryStatus.FAILED
    """The status the envelope ends in: FAILED, or UNKNOWN and EXPIRED for those errors."""

    def __init__(
        self,
        message: str,
        *,
        reason: FailureReason | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        provider_code: str | None = None,
        provider_message: str | None = None,
        status_code: int | None = None,
        channel: str | None = None,
        adapter: str | None = None,
        envelope_id: str | None = None,
    ) -> None:
        super().__init__(message, channel=channel, adapter=adapter, envelope_id=envelope_id)
        self.reason = reason if reason is not None else self.default_reason
        self.retryable = retryable if retryable is not None else self.default_retryable
        self.retry_after = retry_after
        self.provider_code = provider_code
        self.provider_message = provider_message
        self.status_code = status_code
        self.receipt: SendReceipt | None = None
        """What is known of the send when part of it happened: the parts that went out before
        this error, with their provider ids (set by the router)."""
        self.attempts: tuple[str, ...] = ()
        """After failover: one line per channel that failed before this error (set by the
        router)."""

    def __str__(self) -> str:
        base = super().__str__()
        details = [f"reason={self.reason.value}", f"retryable={'yes' if self.retryable else 'no'}"]
        if self.provider_code:
            details.append(f"provider code {self.provider_code}")
        if self.retry_after is not None:
            details.append(f"retry after {self.retry_after:g}s")
        return f"{base} [{'; '.join(details)}]"


class ProviderError(SendError):
    """The provider answered with an error."""


class RateLimited(ProviderError):
    """The provider asks us to slow down; ``retry_after`` is in seconds when it said so."""

    default_reason = FailureReason.RATE_LIMITED
    default_retryable = True


class ResponseTooLarge(ProviderError):
    """The provider's answer was over the request's ``max_response_bytes``; it was not read."""


class TransportError(SendError):
    """The provider could not be reached, or (for an idempotent request) its answer was lost.

    ``request_sent`` says whether any byte of the request was written. A request that was
    never sent (a refused connection, DNS, the TLS handshake) is safe to retry; one that was
    sent and is not idempotent becomes :class:`OutcomeUnknown` instead of this error.
    """

    default_reason = FailureReason.UNREACHABLE
    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool = False,
        retryable: bool | None = None,
        channel: str | None = None,
        adapter: str | None = None,
        envelope_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            retryable=retryable,
            channel=channel,
            adapter=adapter,
            envelope_id=envelope_id,
        )
        self.request_sent = request_sent


class OutcomeUnknown(SendError):
    """The request may have been processed: the message may exist, or may not.

    Raised when the connection closed or timed out after the request was written, or when a
    create call without an idempotency key got a 5xx answer. Never resent and never failed
    over; the outcome is settled by a later status callback, by the adapter's ``reconcile()``
    (where the provider can look a message up), or by an operator.
    """

    default_reason = FailureReason.UNKNOWN
    default_retryable = False
    status = DeliveryStatus.UNKNOWN
    envelope: Envelope | None = None
    """The envelope (as fitted) handed to the adapter: what ``Router.reconcile`` looks up."""
    attempted_at: datetime | None = None
    """When the ambiguous attempt began (the lower bound of a reconcile lookup)."""


class InvalidRecipient(SendError):
    """The provider refused the recipient address."""

    default_reason = FailureReason.INVALID_RECIPIENT


class ContentRejected(SendError):
    """The provider or the channel refused the content."""

    default_reason = FailureReason.CONTENT_REJECTED


class ContentTooLong(ContentRejected):
    """The text is longer than the channel carries, and splitting it is not allowed."""


class UnsupportedFeature(SendError):
    """The channel cannot faithfully express what the envelope asks for."""

    default_reason = FailureReason.CONTENT_REJECTED


class PolicyViolation(SendError):
    """A routing rule refused the envelope before any network call."""

    default_reason = FailureReason.POLICY


class EnvelopeExpired(PolicyViolation):
    """The envelope's ``expires_at`` passed before it could be sent; it ends EXPIRED."""

    default_reason = FailureReason.EXPIRED
    status = DeliveryStatus.EXPIRED


class StoreError(OmnichannelError):
    """The durable store refused an operation, or its database failed it."""


class DuplicateEnvelope(StoreError):
    """An envelope with this id is already in the outbox; ``record`` is the existing row.

    Nothing was written: one envelope id is one outbox row, however often it is enqueued.
    """

    def __init__(self, record: OutboxRecord) -> None:
        super().__init__(
            f"the envelope is already in the outbox ({record.state.value}); nothing was added",
            channel=record.channel,
            envelope_id=record.envelope_id,
        )
        self.record = record


class WebhookError(OmnichannelError):
    """An inbound provider request was refused; ``status_code`` is the HTTP answer to give."""

    status_code = 400


class WebhookVerificationError(WebhookError):
    """The request's signature is missing or wrong. Answer 403 and process nothing."""

    status_code = 403


class WebhookParseError(WebhookError):
    """The request is signed correctly but its body cannot be understood. Answer 400."""

    status_code = 400
