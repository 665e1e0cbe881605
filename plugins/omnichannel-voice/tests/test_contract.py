"""The voice adapter passes omnichannel's adapter contract."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import attrs
import httpx
from omnichannel_voice import TwilioVoiceAdapter, TwilioVoiceSimulator, hooks, webhooks

from omnichannel import WebhookRequest
from omnichannel.testing import AdapterContract


class TestTwilioVoiceContract(AdapterContract):
    adapter_class = TwilioVoiceAdapter
    simulator_class = TwilioVoiceSimulator
    hooks_module: ClassVar[object] = hooks
    rate_limit_response = httpx.Response(
        429,
        headers={"Retry-After": "7"},
        json={
            "code": 20429,
            "message": "Too Many Requests",
            "more_info": "https://www.twilio.com/docs/errors/20429",
            "status": 429,
        },
    )
    expected_retry_after = 7.0
    auth_error_response = httpx.Response(
        401,
        json={
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        },
    )

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        """Sign as Twilio does: URL plus sorted form params; a body that is no form is signed
        by the JSON-body variant (its SHA-256 in the URL, the URL signed alone)."""
        url, params = request.url, []
        try:
            params = parse_qsl(request.body.decode(), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            digest = hashlib.sha256(request.body).hexdigest()
            url = f"{url}{'&' if '?' in url else '?'}bodySHA256={digest}"
        signature = webhooks.sign(adapter.settings.auth_token, url, params)
        return attrs.evolve(
            request, url=url, headers=[*request.headers, (webhooks.SIGNATURE_HEADER, signature)]
        )
