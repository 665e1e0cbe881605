"""The whatsapp.meta adapter against omnichannel's AdapterContract (the conformance suite).

The capabilities declare reply buttons and lists, templates with their rules, bytes uploads
and the 24-hour session window, so those seam clauses run against the simulator over
loopback. A customer's message opens the window at the simulator too (it enforces the window
as Meta does, with a late 131047), so the window is opened by relaying the simulated message
through the simulator, as Meta relays what a customer writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import omnichannel_whatsapp.hooks
from omnichannel_whatsapp import MetaWhatsappAdapter, MetaWhatsappSimulator
from omnichannel_whatsapp.webhooks import SIGNATURE_HEADER, sign

from omnichannel import WebhookRequest
from omnichannel.testing import AdapterContract
from omnichannel.testing.loopback import LoopbackRig

PAYLOADS = Path(__file__).parent / "payloads"


def _answer(name: str) -> httpx.Response:
    data = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return httpx.Response(data["status"], headers=data["headers"], json=data["body"])


class TestMetaWhatsappContract(AdapterContract):
    adapter_class: ClassVar[type[Any]] = MetaWhatsappAdapter
    simulator_class: ClassVar[type[Any]] = MetaWhatsappSimulator
    hooks_module: ClassVar[object] = omnichannel_whatsapp.hooks
    # Meta answers its throughput limit with HTTP 400 and code 130429, and no Retry-After.
    rate_limit_response: ClassVar[httpx.Response] = _answer("error_130429_rate_limit.json")
    expected_retry_after: ClassVar[float | None] = None
    auth_error_response: ClassVar[httpx.Response] = _answer("error_190_token_expired.json")
    malformed_bodies: ClassVar[Sequence[bytes]] = (
        b"{not-json",
        b"\xff\xfe\x00garbage",
        b"",
        b"[1, 2]",
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", '
        b'"value": {"metadata": {}}}]}]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", '
        b'"value": {"metadata": {"phone_number_id": "106540352242922"}, "messages": [{"id": '
        b'"wamid.x", "type": "text", "from": "16505551234", "timestamp": "yesterday", '
        b'"text": {"body": "hello"}}]}}]}]}',
    )

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        """Sign as Meta does: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
        signature = sign(adapter.settings.app_secret, request.body)
        return attrs.evolve(request, headers=[*request.headers, (SIGNATURE_HEADER, signature)])

    async def open_window(self, rig: LoopbackRig) -> None:
        """Relay the sample customer's message through the simulator to the webhook app."""
        request = rig.adapter.simulate(
            sender=self.simulator_class.sample_recipient,
            text="hello there",
            url=f"{rig.public_url}/webhooks/whatsapp",
        )
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{rig.sandbox_url}/{self.simulator_class.prefix}/inbound",
                headers=list(request.headers),
                content=request.body,
            )
        assert response.status_code == 200, response.text
