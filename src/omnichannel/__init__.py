"""omnichannel: one API for customer-service messaging on every channel.

The application API, re-exported here: envelopes and their content, statuses, the router and
its policy, configuration, errors, and what hooks written by an application need. Plugin
authors find the adapter contract in :mod:`omnichannel.plugin`; the test kit is
:mod:`omnichannel.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnichannel._lazy import lazy_module

if TYPE_CHECKING:
    from omnichannel.adapter import (
        SendReceipt,
        WebhookRequest,
        WebhookResponse,
    )
    from omnichannel.blocking import (
        BlockingRouter,
    )
    from omnichannel.config import (
        Config,
        Secret,
        load_config,
    )
    from omnichannel.content import (
        Choice,
        ChoiceSection,
        Content,
        Interactive,
        Media,
        Template,
        TemplateButton,
        TemplateButtonKind,
        TemplateHeader,
        TextFormat,
    )
    from omnichannel.envelope import (
        Address,
        AddressKind,
        Direction,
        Envelope,
        Sensitivity,
        Visibility,
        new_envelope_id,
    )
    from omnichannel.errors import (
        ConfigurationError,
        ContentRejected,
        ContentTooLong,
        DuplicateEnvelope,
        EnvelopeExpired,
        InvalidAddress,
        InvalidEnvelope,
        InvalidMediaUrl,
        InvalidRecipient,
        MissingVariable,
        OmnichannelError,
        OutcomeUnknown,
        PolicyViolation,
        ProviderError,
        RateLimited,
        ResponseTooLarge,
        SendError,
        StoreError,
        StoreLocked,
        StoreSchemaOutdated,
        TransportError,
        UnknownAdapter,
        UnknownChannel,
        UnsupportedFeature,
        WebhookError,
        WebhookParseError,
        WebhookVerificationError,
    )
    from omnichannel.events import (
        DeliveryStatus,
        FailureReason,
        StatusUpdate,
    )
    from omnichannel.fitting import (
        FittingPolicy,
        FittingReport,
        MediaPolicy,
    )
    from omnichannel.hookspecs import (
        hookimpl,
    )
    from omnichannel.hookvalues import (
        Inbound,
        Outbound,
    )
    from omnichannel.plugins import (
        PluginHost,
        PluginLoadFailure,
    )
    from omnichannel.policy import (
        RestrictedPublic,
        RoutingPolicy,
    )
    from omnichannel.router import (
        Router,
    )
    from omnichannel.tracking import (
        StatusAnomaly,
    )

__version__ = "0.1.0"

# The public names are imported on first use, so ``omni --help`` and plugins that need one
# module do not pay for the whole SDK.
_EXPORTS_BY_MODULE: dict[str, tuple[str, ...]] = {
    "omnichannel.adapter": (
        "SendReceipt",
        "WebhookRequest",
        "WebhookResponse",
    ),
    "omnichannel.blocking": ("BlockingRouter",),
    "omnichannel.config": (
        "Config",
        "Secret",
        "load_config",
    ),
    "omnichannel.content": (
        "Choice",
        "ChoiceSection",
        "Content",
        "Interactive",
        "Media",
        "Template",
        "TemplateButton",
        "TemplateButtonKind",
        "TemplateHeader",
        "TextFormat",
    ),
    "omnichannel.envelope": (
        "Address",
        "AddressKind",
        "Direction",
        "Envelope",
        "Sensitivity",
        "Visibility",
        "new_envelope_id",
    ),
    "omnichannel.errors": (
        "ConfigurationError",
        "ContentRejected",
        "ContentTooLong",
        "DuplicateEnvelope",
        "EnvelopeExpired",
        "InvalidAddress",
        "InvalidEnvelope",
        "InvalidMediaUrl",
        "InvalidRecipient",
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
    ),
    "omnichannel.events": (
        "DeliveryStatus",
        "FailureReason",
        "StatusUpdate",
    ),
    "omnichannel.fitting": (
        "FittingPolicy",
        "FittingReport",
        "MediaPolicy",
    ),
    "omnichannel.hookspecs": ("hookimpl",),
    "omnichannel.hookvalues": (
        "Inbound",
        "Outbound",
    ),
    "omnichannel.plugins": (
        "PluginHost",
        "PluginLoadFailure",
    ),
    "omnichannel.policy": (
        "RestrictedPublic",
        "RoutingPolicy",
    ),
    "omnichannel.router": ("Router",),
    "omnichannel.tracking": ("StatusAnomaly",),
}

__getattr__, __dir__ = lazy_module(__name__, _EXPORTS_BY_MODULE)

__all__ = [
    "Address",
    "AddressKind",
    "BlockingRouter",
    "Choice",
    "ChoiceSection",
    "Config",
    "ConfigurationError",
    "Content",
    "ContentRejected",
    "ContentTooLong",
    "DeliveryStatus",
    "Direction",
    "DuplicateEnvelope",
    "Envelope",
    "EnvelopeExpired",
    "FailureReason",
    "FittingPolicy",
    "FittingReport",
    "Inbound",
    "Interactive",
    "InvalidAddress",
    "InvalidEnvelope",
    "InvalidMediaUrl",
    "InvalidRecipient",
    "Media",
    "MediaPolicy",
    "MissingVariable",
    "OmnichannelError",
    "Outbound",
    "OutcomeUnknown",
    "PluginHost",
    "PluginLoadFailure",
    "PolicyViolation",
    "ProviderError",
    "RateLimited",
    "ResponseTooLarge",
    "RestrictedPublic",
    "Router",
    "RoutingPolicy",
    "Secret",
    "SendError",
    "SendReceipt",
    "Sensitivity",
    "StatusAnomaly",
    "StatusUpdate",
    "StoreError",
    "StoreLocked",
    "StoreSchemaOutdated",
    "Template",
    "TemplateButton",
    "TemplateButtonKind",
    "TemplateHeader",
    "TextFormat",
    "TransportError",
    "UnknownAdapter",
    "UnknownChannel",
    "UnsupportedFeature",
    "Visibility",
    "WebhookError",
    "WebhookParseError",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookVerificationError",
    "__version__",
    "hookimpl",
    "load_config",
    "new_envelope_id",
]
