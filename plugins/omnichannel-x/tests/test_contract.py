"""The omnichannel adapter contract: passing it is what "this adapter conforms" means."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import httpx
from omnichannel import WebhookRequest
from omnichannel.testing import AdapterContract

import omnichannel_x.hooks
from omnichannel_x import (
    XTwitterAdapter,
    XTwitterSimulator,
)
from omnichannel_x.webhooks import SIGNATURE_HEADER, sign


class TestXTwitterContract(AdapterContract):
    adapter_class = XTwitterAdapter
    simulator_class = XTwitterSimulator
    hooks_module: ClassVar[object] = omnichannel_x.hooks
    rate_limit_response = httpx.Response(
        429, headers={"Retry-After": "7"}, json={"error": {"code": "rate_limited"}}
    )
    expected_retry_after = 7.0
    auth_error_response = httpx.Response(401, json={"error": {"code": "unauthorized"}})

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        signature = sign(adapter.settings.webhook_secret, request.body)
        return attrs.evolve(request, headers=[*request.headers, (SIGNATURE_HEADER, signature)])
