"""omnichannel: one API for customer-service messaging on every channel.

The public API, re-exported here: the envelope and status types, capabilities, the adapter
contract, the router, configuration, errors, and the plugin marker. Plugins may also import
``omnichannel.signing``, ``omnichannel.http``, ``omnichannel.sandbox`` and
``omnichannel.testing``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omnichannel.adapter import (
        AdapterClass,
        AdapterContext,
        AdapterInfo,
        BaseAdapter,
        ChannelAdapter,
        SendReceipt,
        SentMessage,
        WebhookRequest,
        WebhookResponse,
        WebhookResult,
    )
    from omnichannel.blocking import BlockingRouter
    from omnichannel.capabilities import Capabilities, InboundMode, MediaRules
    from omnichannel.config import (
        Config,
        Secret,
        build_settings,
        describe_value,
        load_config,
        secret,
        setting,
    )
    from omnichannel.envelope import (
        Address,
        AddressKind,
        Content,
        Direction,
        Envelope,
        Media,
        Sensitivity,
        Template,
        TextFormat,
        Visibility,
        new_envelope_id,
    )
    from omnichannel.errors import (
        ConfigurationError,
        ContentRejected,
        ContentTooLong,
        InvalidAddress,
        InvalidEnvelope,
        InvalidMediaUrl,
        InvalidRecipient,
        MissingVariable,
        OmnichannelError,
        PolicyViolation,
        ProviderError,
        RateLimited,
        SendError,
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
        StatusOutcome,
        StatusTransition,
        StatusUpdate,
        apply_status,
    )
    from omnichannel.fitting import FittedContent, FittingPolicy, FittingReport, MediaPolicy, fit
    from omnichannel.hookspecs import hookimpl
    from omnichannel.http import RetryPolicy, Sender
    from omnichannel.mappings import FrozenMap
    from omnichannel.plugins import AdapterEntry, Outbound, PluginHost, PluginLoadFailure
    from omnichannel.router import Router
    from omnichannel.tracking import StatusAnomaly, StatusTracker

__version__ = "0.1.0"

# The public names are imported on first use, so ``omni --help`` and plugins that need one
# module do not pay for the whole SDK.
_EXPORTS_BY_MODULE: dict[str, tuple[str, ...]] = {
    "omnichannel.adapter": (
        "AdapterClass",
        "AdapterContext",
        "AdapterInfo",
        "BaseAdapter",
        "ChannelAdapter",
        "SendReceipt",
        "SentMessage",
        "WebhookRequest",
        "WebhookResponse",
        "WebhookResult",
    ),
    "omnichannel.blocking": ("BlockingRouter",),
    "omnichannel.capabilities": (
        "Capabilities",
        "InboundMode",
        "MediaRules",
    ),
    "omnichannel.config": (
        "Config",
        "Secret",
        "build_settings",
        "describe_value",
        "load_config",
        "secret",
        "setting",
    ),
    "omnichannel.envelope": (
        "Address",
        "AddressKind",
        "Content",
        "Direction",
        "Envelope",
        "Media",
        "Sensitivity",
        "Template",
        "TextFormat",
        "Visibility",
        "new_envelope_id",
    ),
    "omnichannel.errors": (
        "ConfigurationError",
        "ContentRejected",
        "ContentTooLong",
        "InvalidAddress",
        "InvalidEnvelope",
        "InvalidMediaUrl",
        "InvalidRecipient",
        "MissingVariable",
        "OmnichannelError",
        "PolicyViolation",
        "ProviderError",
        "RateLimited",
        "SendError",
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
        "StatusOutcome",
        "StatusTransition",
        "StatusUpdate",
        "apply_status",
    ),
    "omnichannel.fitting": (
        "FittedContent",
        "FittingPolicy",
        "FittingReport",
        "MediaPolicy",
        "fit",
    ),
    "omnichannel.hookspecs": ("hookimpl",),
    "omnichannel.mappings": ("FrozenMap",),
    "omnichannel.http": (
        "RetryPolicy",
        "Sender",
    ),
    "omnichannel.plugins": (
        "AdapterEntry",
        "Outbound",
        "PluginHost",
        "PluginLoadFailure",
    ),
    "omnichannel.router": ("Router",),
    "omnichannel.tracking": (
        "StatusAnomaly",
        "StatusTracker",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS_BY_MODULE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'omnichannel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AdapterClass",
    "AdapterContext",
    "AdapterEntry",
    "AdapterInfo",
    "Address",
    "AddressKind",
    "BaseAdapter",
    "BlockingRouter",
    "Capabilities",
    "ChannelAdapter",
    "Config",
    "ConfigurationError",
    "Content",
    "ContentRejected",
    "ContentTooLong",
    "DeliveryStatus",
    "Direction",
    "Envelope",
    "FailureReason",
    "FittedContent",
    "FittingPolicy",
    "FittingReport",
    "FrozenMap",
    "InboundMode",
    "InvalidAddress",
    "InvalidEnvelope",
    "InvalidMediaUrl",
    "InvalidRecipient",
    "Media",
    "MediaPolicy",
    "MediaRules",
    "MissingVariable",
    "OmnichannelError",
    "Outbound",
    "PluginHost",
    "PluginLoadFailure",
    "PolicyViolation",
    "ProviderError",
    "RateLimited",
    "RetryPolicy",
    "Router",
    "Secret",
    "SendError",
    "SendReceipt",
    "Sender",
    "Sensitivity",
    "SentMessage",
    "StatusAnomaly",
    "StatusOutcome",
    "StatusTracker",
    "StatusTransition",
    "StatusUpdate",
    "Template",
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
    "WebhookResult",
    "WebhookVerificationError",
    "__version__",
    "apply_status",
    "build_settings",
    "describe_value",
    "fit",
    "hookimpl",
    "load_config",
    "new_envelope_id",
    "secret",
    "setting",
]
