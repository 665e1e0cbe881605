"""Inbound events into a router: provider requests verified and parsed, events dispatched.

A webhook request for a channel the router does not serve answers 404; one the adapter
refuses answers the adapter's error (403 bad signature, 400 malformed); each refusal goes to
the ``on_rejected`` handlers first. Accepted events go to the
:class:`~omnichannel.dispatch.Dispatcher` (claims, hooks, handlers), or with a store to the
inbox (:class:`~omnichannel.durable.inbound.DurableInbound`) first.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from omnichannel.adapter import ChannelAdapter, WebhookRequest, WebhookResponse
from omnichannel.dispatch import HandlerFailed
from omnichannel.envelope import Envelope
from omnichannel.errors import WebhookError
from omnichannel.events import StatusUpdate

if TYPE_CHECKING:
    from omnichannel.router import Router

__all__ = ["Receiver", "RejectedHandler"]

# The router's logger: a refused or failed webhook is the router's answer to an operator.
logger = logging.getLogger("omnichannel.router")

RejectedHandler = Callable[[str, int, str], Awaitable[None] | None]
"""Called as ``handler(channel, status_code, reason)`` for a refused webhook request."""


class Receiver:
    """A router's inbound side: its webhook requests and the events its pollers bring."""

    def __init__(self, router: Router, adapters: Mapping[str, ChannelAdapter]) -> None:
        self.router = router
        self._adapters = adapters
        self.rejected_handlers: list[RejectedHandler] = []

    async def handle_webhook(self, channel: str, request: WebhookRequest) -> WebhookResponse:
        """Verify, parse and dispatch one provider request; return the answer to give it."""
        adapter = self._adapters.get(channel)
        if adapter is None:
            if self.rejected_handlers:
                await self._rejected(channel, 404, "no such channel")
            return WebhookResponse.text("no such channel", status_code=404)
        try:
            result = await adapter.handle_webhook(request)
        except WebhookError as error:
            logger.warning("refused %s webhook (%d): %s", channel, error.status_code, error)
            if self.rejected_handlers:
                await self._rejected(channel, error.status_code, error.message)
            return WebhookResponse.for_error(error)
        try:
            await self.router.receive(result.messages, result.statuses)
        except HandlerFailed:
            return WebhookResponse.text("handler error", status_code=500)
        except Exception:
            logger.exception("a %s webhook's inbound hooks raised; answering 500", channel)
            return WebhookResponse.text("handler error", status_code=500)
        return result.response

    async def receive(self, messages: Sequence[Envelope], statuses: Sequence[StatusUpdate]) -> None:
        """Take verified inbound events: to the inbox with a store, else to the dispatcher
        (raising the first :class:`~omnichannel.dispatch.HandlerFailed` after all ran)."""
        router = self.router
        if await router.durable_store() is not None:
            assert router.inbox is not None
            await router.inbox.receive(messages, statuses)
            return
        failed: HandlerFailed | None = None
        for message in messages:
            try:
                await router.dispatcher.message(message)
            except HandlerFailed as error:
                failed = failed or error
        for update in statuses:
            try:
                await router.dispatcher.status(update)
            except HandlerFailed as error:
                failed = failed or error
        if failed is not None:
            raise failed

    async def _rejected(self, channel: str, status_code: int, reason: str) -> None:
        for handler in self.rejected_handlers:
            try:
                result = handler(channel, status_code, reason)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("a rejected-webhook handler raised; ignored")
