"""omnichannel: one API for customer-service messaging on every channel.

The public API, re-exported here: the envelope and status types, capabilities, the adapter
contract, the router, configuration, errors, and the plugin marker. Plugins may also import
``omnichannel.signing``, ``omnichannel.http``, ``omnichannel.sandbox`` and
``omnichannel.testing``.
"""

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
from omnichannel.config import Config, Secret, build_settings, load_config, secret, setting
from omnichannel.envelope import (
    Address,
    AddressKind,
    Content,
    Direction,
    Envelope,
    FrozenMap,
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
from omnichannel.plugins import AdapterEntry, Outbound, PluginHost, PluginLoadFailure
from omnichannel.router import Router, StatusAnomaly

__version__ = "0.1.0"

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
    "fit",
    "hookimpl",
    "load_config",
    "new_envelope_id",
    "secret",
    "setting",
]
