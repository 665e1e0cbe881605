"""The production path under test: an adapter on the default transport, its provider's
simulator and the webhook app, each on a real loopback port.

:class:`LoopbackRig` is what the conformance suite sends through: the adapter's ``base_url``
points at the simulator (served by uvicorn), requests go through the Sender's default aiohttp
transport, and the simulator's status callbacks come back over HTTP to the webhook app,
signed for the public URL the adapter announced. Plugin tests can use it too::

    async with LoopbackRig(MyAdapter, MySimulator, settings_values) as rig:
        receipt = await rig.router.send(envelope)
        await rig.settle()
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from omnichannel.adapter import AdapterContext
from omnichannel.config import build_settings
from omnichannel.envelope import Envelope
from omnichannel.events import StatusUpdate
from omnichannel.http import RetryPolicy, Sender
from omnichannel.plugins import PluginHost
from omnichannel.policy import RoutingPolicy
from omnichannel.router import Router
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.testing.servers import serve_on_loopback
from omnichannel.web import WebhookApp

__all__ = ["LoopbackRig"]


class LoopbackRig:
    """An adapter, its simulator and a webhook app on loopback, for one test."""

    def __init__(
        self,
        adapter_class: Any,
        simulator_class: Any,
        settings_values: Callable[[str], Mapping[str, Any]],
    ) -> None:
        self.adapter_class = adapter_class
        self.simulator_class = simulator_class
        self._settings_values = settings_values
        self.messages: list[Envelope] = []
        self.statuses: list[StatusUpdate] = []
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> LoopbackRig:
        stack = self._stack

        # The servers start before the router and sandbox exist (their URLs go into the
        # settings), so each serves through an indirection filled in below.
        async def webhooks(scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

        self.public_url = await stack.enter_async_context(serve_on_loopback(webhooks))
        self.context = SimulatorContext(public_url=self.public_url)
        sandbox_holder: dict[str, Sandbox] = {}

        async def sandbox_app(scope: Any, receive: Any, send: Any) -> None:
            await sandbox_holder["sandbox"](scope, receive, send)

        self.sandbox_url = await stack.enter_async_context(serve_on_loopback(sandbox_app))
        base_url = f"{self.sandbox_url}/{self.simulator_class.prefix}"
        settings = build_settings(
            self.adapter_class.settings_class,
            self._settings_values(base_url),
            where="loopback settings",
        )
        self.simulator = self.simulator_class(settings, self.context)
        self.sandbox = Sandbox([self.simulator], self.context)
        sandbox_holder["sandbox"] = self.sandbox
        await self.sandbox.start()
        self.sender = Sender(retry=RetryPolicy(max_attempts=1))
        adapter_context = AdapterContext(sender=self.sender, public_url=self.public_url)
        self.adapter = self.adapter_class(settings, adapter_context)
        router = Router(
            [self.adapter],
            host=PluginHost(),
            sender=self.sender,
            public_url=self.public_url,
            policy=RoutingPolicy(allow_private_media_hosts=True),
        )
        router.on_message(self.messages.append, inline=True)
        router.on_status(self.statuses.append, inline=True)
        self.router = router
        self.app = WebhookApp.for_router(router)
        await router.start()
        stack.push_async_callback(router.aclose)
        stack.push_async_callback(self.sandbox.aclose)
        return self

    async def settle(self) -> None:
        """Wait until the simulator has posted every pending callback."""
        await self.sandbox.settle()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
