"""The omnichannel adapter contract: passing it is what "this adapter conforms" means.

The seams ``twitter.x`` declares all run here against the X simulator over loopback: the
public shape (a reply to :data:`SAMPLE_POST_ID`, a post that mentions the account), polling
(``queue_inbound`` queues a DM that ``GET /2/dm_events`` finds once) and image uploads.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import httpx
import omnichannel_x.hooks
from omnichannel_x import XTwitterAdapter, XTwitterSimulator
from omnichannel_x.simulator import SAMPLE_POST_ID
from omnichannel_x.webhooks import SIGNATURE_HEADER, sign

from omnichannel import WebhookRequest
from omnichannel.testing import AdapterContract


class TestXTwitterContract(AdapterContract):
    adapter_class = XTwitterAdapter
    simulator_class = XTwitterSimulator
    hooks_module: ClassVar[object] = omnichannel_x.hooks
    # X sends no Retry-After, only x-rate-limit-reset (an epoch second); the wait it gives is
    # checked with a fixed clock in test_adapter.py.
    rate_limit_response = httpx.Response(
        429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": "4102444800"},
        json={
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
    )
    auth_error_response = httpx.Response(
        401,
        json={
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        },
    )
    # X posts no delivery statuses: only echoes of our own messages, which are dropped.
    reports_status_callbacks = False
    sample_post_id = SAMPLE_POST_ID

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        signature = sign(adapter.settings.consumer_secret, request.body)
        return attrs.evolve(request, headers=[*request.headers, (SIGNATURE_HEADER, signature)])
