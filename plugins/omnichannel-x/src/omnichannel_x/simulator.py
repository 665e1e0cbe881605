"""A local stand-in for the X API, mounted by ``omni sandbox`` and ``omni demo``.

It accepts the adapter's real requests, checks the bearer token as X does, answers
in X's shapes, and posts signed status callbacks (``sent``, then ``delivered``) to the
application's webhook URL. Two recipients behave differently, to exercise error paths:
``rate-limited`` gets a ``429`` with ``Retry-After: 2``, and ``unknown`` gets an
``invalid_recipient`` error.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import attrs
from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.http import bearer_auth
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel.signing import constant_time_equal

from omnichannel_x import webhooks
from omnichannel_x.payloads import ADAPTER_NAME
from omnichannel_x.settings import XTwitterSettings

__all__ = ["XTwitterSimulator"]

RATE_LIMITED_RECIPIENT: Final = "rate-limited"
UNKNOWN_RECIPIENT: Final = "unknown"


def _error(status_code: int, code: str, message: str) -> WebhookResponse:
    return WebhookResponse.json({"error": {"code": code, "message": message}}, status_code)


class XTwitterSimulator(BaseSimulator):
    """The X API: ``POST /messages``, then signed status callbacks."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    prefix: ClassVar[str] = "x"
    sample_recipient: ClassVar[str] = "customer-1"

    settings: XTwitterSettings

    def __init__(
        self,
        settings: XTwitterSettings,
        context: SimulatorContext,
    ) -> None:
        super().__init__(settings, context)
        self._ids = itertools.count(1)

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings for the adapter, pointing at the simulator mounted at ``base_url``."""
        return {
            "api_token": "sandbox-api-token",
            "webhook_secret": "sandbox-webhook-secret",
            "base_url": base_url,
        }

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request, as X would."""
        if request.method != "POST" or self.subpath(request) != "/messages":
            return _error(404, "not_found", f"no such endpoint: {request.method} {request.path}")
        expected = bearer_auth(self.settings.api_token.reveal())
        if not constant_time_equal(request.header("Authorization") or "", expected):
            return _error(401, "unauthorized", "invalid or missing API token")
        try:
            data = request.json()
        except WebhookParseError:
            return _error(400, "invalid_request", "the body is not JSON")
        if not isinstance(data, dict):
            return _error(400, "invalid_request", "the body must be a JSON object")
        to, text = data.get("to"), data.get("text")
        if not isinstance(to, str) or not to or not isinstance(text, str) or not text:
            return _error(400, "invalid_request", "'to' and 'text' are required strings")
        if to == RATE_LIMITED_RECIPIENT:
            limited = _error(429, "rate_limited", "too many requests")
            return attrs.evolve(limited, headers={"Retry-After": "2"})
        if to == UNKNOWN_RECIPIENT:
            return _error(400, "invalid_recipient", f"no such recipient: {to}")
        message_id = f"msg-{next(self._ids):06d}"
        reference = data.get("reference")
        self.context.spawn(
            lambda: self._report(message_id, reference if isinstance(reference, str) else None)
        )
        return WebhookResponse.json({"id": message_id, "status": "accepted"}, status_code=201)

    async def _report(self, message_id: str, reference: str | None) -> None:
        url = self.context.webhook_url("twitter")
        if url is None:
            return
        steps = ["sent", "delivered"]
        if self.context.out_of_order:
            steps.reverse()
        for status in steps:
            await self.context.sleep(self.context.step_delay)
            event = webhooks.status_event(
                message_id=message_id,
                status=status,
                timestamp=datetime.now(UTC),
                reference=reference,
            )
            callback = webhooks.signed_request(url, event, self.settings.webhook_secret)
            await self.context.post(url, headers=dict(callback.headers), body=callback.body)
