"""The omnichannel adapter contract: passing it is what "this adapter conforms" means.

Besides the clauses every adapter runs, one clause runs per seam the capabilities declare
(menus, templates, uploads, the public shape, polling, reconcile, a session window), each
against the simulator over real loopback HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import httpx
from omnichannel import WebhookRequest
from omnichannel.testing import AdapterContract

import omnichannel_{{name}}.hooks
from omnichannel_{{name}} import (
    {{Provider}}{{Channel}}Adapter,
    {{Provider}}{{Channel}}Simulator,
)
from omnichannel_{{name}}.webhooks import SIGNATURE_HEADER, sign


class Test{{Provider}}{{Channel}}Contract(AdapterContract):
    adapter_class = {{Provider}}{{Channel}}Adapter
    simulator_class = {{Provider}}{{Channel}}Simulator
    hooks_module: ClassVar[object] = omnichannel_{{name}}.hooks
    rate_limit_response = httpx.Response(
        429, headers={"Retry-After": "7"}, json={"error": {"code": "rate_limited"}}
    )
    expected_retry_after = 7.0
    auth_error_response = httpx.Response(401, json={"error": {"code": "unauthorized"}})
    template_name = "order_update"  # one of the simulator's APPROVED_TEMPLATES
    sample_post_id = "post-000311"  # the customer's post a PUBLIC reply answers

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        signature = sign(adapter.settings.webhook_secret, request.body)
        return attrs.evolve(request, headers=[*request.headers, (SIGNATURE_HEADER, signature)])
