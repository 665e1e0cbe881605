"""The sms.twilio adapter against omnichannel's AdapterContract (the conformance suite)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import attrs
import httpx
import omnichannel_sms.hooks
from omnichannel_sms import TwilioSmsAdapter, TwilioSmsSimulator
from omnichannel_sms.webhooks import SIGNATURE_HEADER, sign

from omnichannel import WebhookParseError, WebhookRequest
from omnichannel.testing import AdapterContract


def _json_variant(request: WebhookRequest) -> WebhookRequest:
    # A body that is not a form is signed the way Twilio signs JSON bodies: the URL carries
    # the body's SHA-256 and the signature covers the URL alone.
    digest = hashlib.sha256(request.body).hexdigest()
    separator = "&" if "?" in request.url else "?"
    return attrs.evolve(request, url=f"{request.url}{separator}bodySHA256={digest}")


class TestTwilioSmsContract(AdapterContract):
    adapter_class: ClassVar[type[Any]] = TwilioSmsAdapter
    simulator_class: ClassVar[type[Any]] = TwilioSmsSimulator
    hooks_module: ClassVar[object] = omnichannel_sms.hooks
    rate_limit_response: ClassVar[httpx.Response] = httpx.Response(
        429,
        headers={"Retry-After": "7"},
        json={
            "code": 20429,
            "message": "Too Many Requests",
            "more_info": "https://www.twilio.com/docs/errors/20429",
            "status": 429,
        },
    )
    expected_retry_after: ClassVar[float | None] = 7.0
    auth_error_response: ClassVar[httpx.Response] = httpx.Response(
        401,
        headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
        json={
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        },
    )
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

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        """Sign as Twilio does: URL plus sorted form params; JSON bodies by their hash."""
        try:
            params = request.form()
        except WebhookParseError:
            request, params = _json_variant(request), []
        token = adapter.settings.auth_token
        return attrs.evolve(
            request,
            headers=[*request.headers, (SIGNATURE_HEADER, sign(token, request.url, params))],
        )
