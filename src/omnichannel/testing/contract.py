"""AdapterContract: the conformance suite every adapter plugin runs.

A plugin subclasses it in ``tests/test_contract.py`` and sets a few attributes::

    class TestAcmeFaxContract(AdapterContract):
        adapter_class = AcmeFaxAdapter
        simulator_class = AcmeFaxSimulator
        hooks_module = omnichannel_fax.hooks
        rate_limit_response = httpx.Response(429, headers={"Retry-After": "7"}, json={...})
        expected_retry_after = 7.0

        def sign(self, adapter, request):
            return attrs.evolve(request, headers=[*request.headers, ("X-Acme-Signature", ...)])

The inherited tests check each clause of the contract; a failure names the clause it broke.
Passing them is what "this adapter conforms" means.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import httpx
import pytest

from omnichannel.adapter import AdapterContext, WebhookRequest
from omnichannel.config import build_settings, secret_values
from omnichannel.envelope import Address, Direction, Envelope
from omnichannel.errors import RateLimited, SendError
from omnichannel.events import StatusUpdate
from omnichannel.http import RetryPolicy, Sender
from omnichannel.plugins import PluginHost
from omnichannel.router import Router
from omnichannel.testing.seams import SeamClauses

__all__ = ["AdapterContract"]

SAMPLE_TEXT = "contract hello"


def _clause(name: str, detail: str) -> str:
    return f"contract clause {name!r} broke: {detail}"


class AdapterContract(SeamClauses):
    """Inherited conformance tests for one adapter class. See the module docstring.

    ``send`` is exercised through the default transport against the plugin's own simulator
    over real loopback HTTP (:class:`~omnichannel.testing.loopback.LoopbackRig`), so the
    production path is the one tested; the optional seams an adapter declares are checked by
    the clauses of :mod:`omnichannel.testing.seams`.
    """

    pytestmark: ClassVar[Any] = pytest.mark.anyio

    adapter_class: ClassVar[type[Any]]
    """The adapter under test."""
    simulator_class: ClassVar[type[Any]]
    """Its provider simulator (the sandbox's stand-in for the provider)."""
    hooks_module: ClassVar[object]
    """The plugin's entry-point module, with the ``@hookimpl`` functions."""
    rate_limit_response: ClassVar[httpx.Response]
    """A provider-shaped 429 (or the provider's own rate-limit answer)."""
    expected_retry_after: ClassVar[float | None] = None
    """The ``retry_after`` the adapter must read from :attr:`rate_limit_response`."""
    auth_error_response: ClassVar[httpx.Response] = httpx.Response(401, json={"error": "auth"})
    """A provider-shaped authentication failure."""
    malformed_bodies: ClassVar[Sequence[bytes]] = (b"{not-json", b"\xff\xfe\x00garbage")
    """Bodies that must be refused with 400 even when correctly signed."""
    reports_status_callbacks: ClassVar[bool] = True
    """Whether the provider posts delivery-status callbacks after a send. A channel whose
    provider reports nothing after the synchronous answer sets False: its simulator must then
    post no status callbacks either (an honest simulator, not a faked one)."""
    public_url: ClassVar[str] = "https://hooks.example.test"
    sandbox_url: ClassVar[str] = "http://sandbox.test"

    # -- what a plugin may override -------------------------------------------------------------

    def sign(self, adapter: Any, request: WebhookRequest) -> WebhookRequest:
        """Return ``request`` signed as the provider would sign it (must be overridden)."""
        raise NotImplementedError(
            _clause("the test can sign requests", f"{type(self).__name__}.sign() is not written")
        )

    @property
    def sample_sender(self) -> str:
        """A customer address inbound messages come from."""
        return str(self.simulator_class.sample_recipient)

    def settings_values(self, base_url: str) -> dict[str, Any]:
        """Configuration values for the adapter (by default the simulator's sample settings)."""
        return dict(self.simulator_class.sample_settings(base_url))

    def strip_signature(self, request: WebhookRequest) -> WebhookRequest:
        """``request`` without its signature: every header but Content-Type removed."""
        kept = [(k, v) for k, v in request.headers if k.lower() == "content-type"]
        return attrs.evolve(request, headers=kept)

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        """``request`` changed after signing, so its signature no longer matches.

        The default changes the sample text in the body (or the URL). A provider whose scheme
        does not sign the content (a static secret token in a header) overrides this to send
        a wrong token instead.
        """
        if b"hello" in request.body:
            return attrs.evolve(request, body=request.body.replace(b"hello", b"jello"))
        return attrs.evolve(request, url=request.url.replace("hello", "jello"))

    # -- plumbing -------------------------------------------------------------------------------

    def make_settings(self, base_url: str | None = None) -> Any:
        """The adapter's settings object built from :meth:`settings_values`."""
        values = self.settings_values(
            base_url or f"{self.sandbox_url}/{self.simulator_class.prefix}"
        )
        return build_settings(self.adapter_class.settings_class, values, where="contract settings")

    def make_adapter(self, transport: httpx.AsyncBaseTransport | None = None) -> Any:
        """An adapter whose sender uses ``transport`` and fails fast (no retries)."""
        sender = Sender(
            transport or httpx.MockTransport(lambda request: httpx.Response(599)),
            retry=RetryPolicy(max_attempts=1),
        )
        context = AdapterContext(sender=sender, public_url=self.public_url)
        return self.adapter_class(self.make_settings(), context)

    def webhook_url(self) -> str:
        """The public webhook URL of the adapter's channel."""
        return f"{self.public_url}/webhooks/{self.adapter_class.info.channel}"

    def secret_values(self, settings: Any) -> list[str]:
        """Every secret value in ``settings``."""
        return secret_values(settings)

    async def customer_writes_first(self, router: Router, adapter: Any) -> None:
        """Have the sample recipient write first on a windowed channel, so a free-text send
        reaches the provider (the clauses that check provider answers need it to)."""
        if adapter.capabilities.session_window is None:
            return
        request = adapter.simulate(
            sender=self.simulator_class.sample_recipient, text="hello there", url=self.webhook_url()
        )
        response = await router.handle_webhook(adapter.info.channel, request)
        assert response.status_code < 300, _clause(
            "a simulated message opens the session window", f"answered {response.status_code}"
        )

    @staticmethod
    def _recording_router(adapter: Any) -> tuple[Router, list[Envelope], list[StatusUpdate]]:
        router = Router([adapter], host=PluginHost())
        messages: list[Envelope] = []
        statuses: list[StatusUpdate] = []
        router.on_message(messages.append, inline=True)
        router.on_status(statuses.append, inline=True)
        return router, messages, statuses

    def simulated(self, adapter: Any) -> WebhookRequest:
        """A simulated inbound message from :attr:`sample_sender`."""
        request: WebhookRequest = adapter.simulate(
            sender=self.sample_sender, text=SAMPLE_TEXT, url=self.webhook_url()
        )
        return request

    # -- the clauses ----------------------------------------------------------------------------

    def test_contract_capabilities_are_self_consistent(self) -> None:
        problems = self.adapter_class.capabilities.problems()
        assert not problems, _clause("capabilities are self-consistent", "; ".join(problems))

    def test_contract_plugin_registers_the_adapter(self) -> None:
        host = PluginHost()
        host.register(self.hooks_module, name="plugin-under-test")
        name = self.adapter_class.info.name
        failures = [str(failure) for failure in host.load_failures]
        assert not failures, _clause("the plugin loads cleanly", "; ".join(failures))
        assert name in host.adapters(), _clause(
            "the plugin registers its adapter", f"{name!r} not in {sorted(host.adapters())}"
        )
        registered: object = host.adapters()[name].adapter_class
        assert registered is self.adapter_class, _clause(
            "the plugin registers its adapter", f"{registered!r} is not {self.adapter_class!r}"
        )

    def test_contract_settings_and_adapter_repr_hide_secrets(self) -> None:
        settings = self.make_settings()
        secrets = self.secret_values(settings)
        assert secrets, _clause("secrets are Secret values", "no Secret field found in settings")
        adapter = self.make_adapter()
        shown = f"{settings!r} {settings} {adapter!r} {adapter}"
        leaked = [value for value in secrets if value in shown]
        assert not leaked, _clause("no secret in repr", f"{len(leaked)} secret value(s) printed")

    async def test_contract_simulated_inbound_message_is_accepted(self) -> None:
        adapter = self.make_adapter()
        router, messages, _ = self._recording_router(adapter)
        response = await router.handle_webhook(adapter.info.channel, self.simulated(adapter))
        assert 200 <= response.status_code < 300, _clause(
            "simulate() output is accepted by handle_webhook",
            f"answered {response.status_code}: {response.body[:200]!r}",
        )
        assert len(messages) == 1, _clause("a good request yields its message", f"got {messages}")
        message = messages[0]
        assert message.direction is Direction.INBOUND
        assert message.channel == adapter.info.channel
        assert SAMPLE_TEXT in message.content.text, _clause(
            "inbound text is parsed", f"{message.content.text!r}"
        )
        assert message.sender is not None
        kind = adapter.capabilities.address_kind
        expected = Address(channel=message.channel, value=self.sample_sender).normalized(kind)
        assert message.sender.value == expected.value, _clause(
            "the sender address is normalised", f"{message.sender.value!r} != {expected.value!r}"
        )
        assert message.provider_id, _clause("inbound messages carry the provider id", "none")

    async def test_contract_unsigned_request_is_refused_with_403(self) -> None:
        adapter = self.make_adapter()
        router, messages, statuses = self._recording_router(adapter)
        request = self.strip_signature(self.simulated(adapter))
        response = await router.handle_webhook(adapter.info.channel, request)
        assert response.status_code == 403, _clause(
            "a missing signature is refused with 403", f"answered {response.status_code}"
        )
        assert not messages, _clause("refused requests reach no handler", f"{messages}")
        assert not statuses, _clause("refused requests reach no handler", f"{statuses}")

    async def test_contract_tampered_request_is_refused_with_403(self) -> None:
        adapter = self.make_adapter()
        router, messages, statuses = self._recording_router(adapter)
        request = self.simulated(adapter)
        tampered = self.tamper(request)
        assert tampered != request, _clause("the test can tamper", "tamper() changed nothing")
        response = await router.handle_webhook(adapter.info.channel, tampered)
        assert response.status_code == 403, _clause(
            "a wrong signature is refused with 403", f"answered {response.status_code}"
        )
        assert not messages, _clause("refused requests reach no handler", f"{messages}")
        assert not statuses, _clause("refused requests reach no handler", f"{statuses}")

    async def test_contract_malformed_signed_body_is_refused_with_400(self) -> None:
        adapter = self.make_adapter()
        router, messages, statuses = self._recording_router(adapter)
        template = self.simulated(adapter)
        for body in self.malformed_bodies:
            request = self.sign(adapter, attrs.evolve(self.strip_signature(template), body=body))
            response = await router.handle_webhook(adapter.info.channel, request)
            assert response.status_code == 400, _clause(
                "a malformed body is refused with 400",
                f"body {body[:30]!r} answered {response.status_code}",
            )
        assert not messages, _clause("refused requests reach no handler", f"{messages}")
        assert not statuses, _clause("refused requests reach no handler", f"{statuses}")

    async def test_contract_send_against_the_simulator_returns_a_receipt(self) -> None:
        async with self.rig() as rig:
            await self.open_window(rig)
            envelope = self.envelope(rig, "contract send")
            receipt = await rig.router.send(envelope)
            await rig.settle()
        callbacks = rig.statuses
        assert receipt.provider_id, _clause("send returns a provider id", f"{receipt}")
        assert receipt.envelope_id == envelope.id
        assert receipt.adapter == rig.adapter.info.name
        if not self.reports_status_callbacks:
            assert not callbacks, _clause(
                "a channel without status callbacks gets none from its simulator",
                f"{len(callbacks)} arrived",
            )
            return
        assert callbacks, _clause("the simulator posts signed status callbacks", "none arrived")
        assert all(update.envelope_id == envelope.id for update in callbacks), _clause(
            "status callbacks map back to the envelope",
            f"{[update.envelope_id for update in callbacks]}",
        )

    async def test_contract_rate_limit_becomes_rate_limited_with_retry_after(self) -> None:
        adapter = self.make_adapter(httpx.MockTransport(lambda request: self.rate_limit_response))
        envelope = Envelope(
            channel=adapter.info.channel,
            recipient=Address(
                channel=adapter.info.channel, value=self.simulator_class.sample_recipient
            ),
            content="rate limited",
        )
        router = Router([adapter], host=PluginHost())
        await self.customer_writes_first(router, adapter)
        with pytest.raises(RateLimited) as caught:
            await router.send(envelope)
        assert caught.value.retryable, _clause("a rate limit is retryable", str(caught.value))
        if self.expected_retry_after is not None:
            assert caught.value.retry_after == pytest.approx(self.expected_retry_after, abs=1), (
                _clause("retry-after is read", f"{caught.value.retry_after!r}")
            )

    async def test_contract_errors_and_logs_hide_secrets(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        adapter = self.make_adapter(httpx.MockTransport(lambda request: self.auth_error_response))
        secrets = self.secret_values(adapter.settings)
        router = Router([adapter], host=PluginHost())
        await self.customer_writes_first(router, adapter)
        envelope = Envelope(
            channel=adapter.info.channel,
            recipient=Address(
                channel=adapter.info.channel, value=self.simulator_class.sample_recipient
            ),
            content="auth fails",
        )
        with pytest.raises(SendError) as caught:
            await router.send(envelope)
        await router.handle_webhook(
            adapter.info.channel, self.strip_signature(self.simulated(adapter))
        )
        shown = f"{caught.value} {caught.value!r} {caplog.text}"
        leaked = [value for value in secrets if value in shown]
        assert not leaked, _clause(
            "no secret in errors or logs", f"{len(leaked)} secret value(s) appeared"
        )
