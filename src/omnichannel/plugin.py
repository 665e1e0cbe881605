"""The plugin-author API: what a channel plugin builds an adapter from.

The adapter contract (:class:`BaseAdapter` and friends), capabilities, the sender and its
request values, settings helpers and the webhook signature schemes, re-exported. Envelopes,
statuses and errors come from :mod:`omnichannel` itself; the test kit is
:mod:`omnichannel.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnichannel._lazy import lazy_module

if TYPE_CHECKING:
    from omnichannel.adapter import (
        AdapterClass,
        AdapterContext,
        AdapterInfo,
        BaseAdapter,
        ChannelAdapter,
        PollResult,
        SentMessage,
        WebhookResult,
    )
    from omnichannel.capabilities import (
        Capabilities,
        InboundMode,
        InteractiveRules,
        MediaRules,
        TemplateRules,
        WeightedLength,
    )
    from omnichannel.config import (
        build_settings,
        describe_settings,
        describe_value,
        secret,
        setting,
    )
    from omnichannel.http import (
        ProviderRequest,
        ProviderResponse,
        RetryPolicy,
        SecretHeaders,
        Sender,
        Transport,
        basic_auth,
        bearer_auth,
        default_error_for_response,
        retry_after_seconds,
        urlencode_form,
    )
    from omnichannel.markup import (
        html_to_plain,
        markdown_to_plain,
    )
    from omnichannel.signing import (
        StandardWebhooks,
        constant_time_equal,
        hmac_digest,
        mac_over_parts,
        sign_body,
        sign_url_params,
        url_params_string,
        url_port_variants,
        verify_body,
        verify_url_params,
        verify_url_params_request,
    )

# The public names are imported on first use, so ``omni --help`` and plugins that need one
# module do not pay for the whole SDK.
_EXPORTS_BY_MODULE: dict[str, tuple[str, ...]] = {
    "omnichannel.adapter": (
        "AdapterClass",
        "AdapterContext",
        "AdapterInfo",
        "BaseAdapter",
        "ChannelAdapter",
        "PollResult",
        "SentMessage",
        "WebhookResult",
    ),
    "omnichannel.capabilities": (
        "Capabilities",
        "InboundMode",
        "InteractiveRules",
        "MediaRules",
        "TemplateRules",
        "WeightedLength",
    ),
    "omnichannel.config": (
        "build_settings",
        "describe_settings",
        "describe_value",
        "secret",
        "setting",
    ),
    "omnichannel.http": (
        "ProviderRequest",
        "ProviderResponse",
        "RetryPolicy",
        "SecretHeaders",
        "Sender",
        "Transport",
        "basic_auth",
        "bearer_auth",
        "default_error_for_response",
        "retry_after_seconds",
        "urlencode_form",
    ),
    "omnichannel.markup": (
        "html_to_plain",
        "markdown_to_plain",
    ),
    "omnichannel.signing": (
        "StandardWebhooks",
        "constant_time_equal",
        "hmac_digest",
        "mac_over_parts",
        "sign_body",
        "sign_url_params",
        "url_params_string",
        "url_port_variants",
        "verify_body",
        "verify_url_params",
        "verify_url_params_request",
    ),
}

__getattr__, __dir__ = lazy_module(__name__, _EXPORTS_BY_MODULE)

__all__ = [
    "AdapterClass",
    "AdapterContext",
    "AdapterInfo",
    "BaseAdapter",
    "Capabilities",
    "ChannelAdapter",
    "InboundMode",
    "InteractiveRules",
    "MediaRules",
    "PollResult",
    "ProviderRequest",
    "ProviderResponse",
    "RetryPolicy",
    "SecretHeaders",
    "Sender",
    "SentMessage",
    "StandardWebhooks",
    "TemplateRules",
    "Transport",
    "WebhookResult",
    "WeightedLength",
    "basic_auth",
    "bearer_auth",
    "build_settings",
    "constant_time_equal",
    "default_error_for_response",
    "describe_settings",
    "describe_value",
    "hmac_digest",
    "html_to_plain",
    "mac_over_parts",
    "markdown_to_plain",
    "retry_after_seconds",
    "secret",
    "setting",
    "sign_body",
    "sign_url_params",
    "url_params_string",
    "url_port_variants",
    "urlencode_form",
    "verify_body",
    "verify_url_params",
    "verify_url_params_request",
]
