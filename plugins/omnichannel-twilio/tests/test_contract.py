"""Both Twilio adapters against omnichannel's AdapterContract (the conformance suite), each
sending through the default transport to its own simulator over loopback; their ``reconcile``
is checked by the contract's reconcile clause."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import attrs
import httpx
import omnichannel_twilio.hooks
from omnichannel_twilio import (
    TwilioSmsAdapter,
    TwilioSmsSimulator,
    TwilioVoiceAdapter,
    TwilioVoiceSimulator,
)
from omnichannel_twilio.webhooks import SIGNATURE_HEADER, sign

from omnichannel import WebhookParseError, WebhookRequest
from omnichannel.testing import AdapterContract


def _twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}


class _TwilioContract(AdapterContract):
    """What both adapters' contracts share: Twilio's answers and its signature."""

    hooks_module: ClassVar[object] = omnichannel_twilio.hooks
    rate_limit_response: ClassVar[httpx.Response] = httpx.Response(
        429, headers={"Retry-After": "7"}, json=_twilio_error(429, 20429, "Too Many Requests")
    )
    expected_retry_after: ClassVar[float | None] = 7.0
    auth_error_response: ClassVar[httpx.Response] = httpx.Response(
        401,
        headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
        json=_twilio_error(401, 20003, "Authenticate"),
    )

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        """Sign as Twilio does: URL plus sorted form params; a body that is no form is signed
        by the JSON-body variant (its SHA-256 in the URL, the URL signed alone)."""
        try:
            params = request.form()
        except WebhookParseError:
            digest = hashlib.sha256(request.body).hexdigest()
            separator = "&" if "?" in request.url else "?"
            request = attrs.evolve(request, url=f"{request.url}{separator}bodySHA256={digest}")
            params = []
        token = adapter.settings.auth_token
        return attrs.evolve(
            request,
            headers=[*request.headers, (SIGNATURE_HEADER, sign(token, request.url, params))],
        )


class TestTwilioSmsContract(_TwilioContract):
    adapter_class: ClassVar[type[Any]] = TwilioSmsAdapter
    simulator_class: ClassVar[type[Any]] = TwilioSmsSimulator
    malformed_bodies: ClassVar[Sequence[bytes]] = (
        b"{not-json",
        b"\xff\xfe\x00garbage",
        b"",
        b"Body=hello",
        urlencode({"MessageSid": "SM" + "0" * 32, "Body": "hello"}).encode(),
        urlencode({"MessageStatus": "delivered", "To": "+14155550199"}).encode(),
        urlencode(
            {"MessageSid": "SM" + "0" * 32, "NumMedia": "1", "From": "+14155550199", "To": "+1"}
        ).encode(),
    )


class TestTwilioVoiceContract(_TwilioContract):
    adapter_class: ClassVar[type[Any]] = TwilioVoiceAdapter
    simulator_class: ClassVar[type[Any]] = TwilioVoiceSimulator
