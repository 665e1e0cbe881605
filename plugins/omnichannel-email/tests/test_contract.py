"""The email.smtp adapter against omnichannel's AdapterContract (the conformance suite).

The contract's HTTP-shaped clauses (a provider 429, a 401) are answered here by the SMTP
equivalents against a real aiosmtpd: a transient 4xx and a refused login."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import attrs
import httpx
import omnichannel_email.hooks
import pytest
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSimulator

from omnichannel import (
    Address,
    Envelope,
    PluginHost,
    ProviderError,
    Router,
    Secret,
    SendError,
    WebhookRequest,
)
from omnichannel.testing import AdapterContract


class TestSmtpEmailContract(AdapterContract):
    adapter_class: ClassVar[type[Any]] = SmtpEmailAdapter
    simulator_class: ClassVar[type[Any]] = SmtpEmailSimulator
    hooks_module: ClassVar[object] = omnichannel_email.hooks
    rate_limit_response: ClassVar[httpx.Response] = httpx.Response(429)
    reports_status_callbacks: ClassVar[bool] = False
    malformed_bodies = (b"{not-json", b"\xff\xfe\x00garbage", b"", b"Subject: x\r\n\r\nno sender")

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        """Our scheme: the webhook secret as the basic-auth password."""
        secret = adapter.settings.webhook_secret.reveal()
        token = base64.b64encode(f"contract:{secret}".encode()).decode()
        return attrs.evolve(
            request, headers=[*request.headers, ("Authorization", f"Basic {token}")]
        )

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        """The secret signs nothing in the body: tampering means a wrong secret."""
        token = base64.b64encode(b"contract:not-the-secret").decode()
        kept = [(k, v) for k, v in request.headers if k.lower() != "authorization"]
        return attrs.evolve(request, headers=[*kept, ("Authorization", f"Basic {token}")])

    async def test_contract_rate_limit_becomes_rate_limited_with_retry_after(self) -> None:
        """SMTP has no 429: the transient refusal (4xx) is what says "later", retryable."""
        async with self.rig() as rig:
            envelope = Envelope(
                channel="email",
                recipient=Address(channel="email", value="busy@example.com"),
                content="later",
            )
            with pytest.raises(ProviderError) as caught:
                await rig.router.send(envelope)
        assert caught.value.retryable
        assert caught.value.provider_code == "451"

    async def test_contract_errors_and_logs_hide_secrets(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A refused login, then an unsigned webhook: no secret in errors or logs."""
        async with self.rig() as rig:
            settings = attrs.evolve(rig.adapter.settings, password=Secret("wrong-password-xyz"))
            adapter = SmtpEmailAdapter(settings, rig.adapter.context)
            router = Router([adapter], host=PluginHost())
            envelope = Envelope(
                channel="email",
                recipient=Address(channel="email", value="customer@example.com"),
                content="auth fails",
            )
            with pytest.raises(SendError) as caught:
                await router.send(envelope)
            await router.handle_webhook("email", self.strip_signature(self.simulated(adapter)))
            await adapter.aclose()
        secrets = [*self.secret_values(rig.adapter.settings), "wrong-password-xyz"]
        shown = f"{caught.value} {caught.value!r} {caplog.text}"
        assert not [value for value in secrets if value in shown]
