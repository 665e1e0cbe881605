"""A blocking facade over :class:`~omnichannel.Router`, for synchronous code.

The router runs in an event loop on a background thread (an anyio blocking portal); each
method blocks until the coroutine it wraps is done. Use it as a context manager so the loop
and the router's connections are closed::

    with router.blocking() as sync_router:
        receipt = sync_router.send(envelope)
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from omnichannel.adapter import SendReceipt, WebhookRequest, WebhookResponse
from omnichannel.envelope import Envelope

if TYPE_CHECKING:
    from omnichannel.router import Router

__all__ = ["BlockingRouter"]


class BlockingRouter:
    """The router's API with blocking methods."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal: BlockingPortal | None = self._portal_cm.__enter__()

    def _run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        if self._portal is None:
            raise RuntimeError("this BlockingRouter is closed")
        return self._portal.call(functools.partial(function, *args, **kwargs))

    def send(self, envelope: Envelope, *, channel: str | None = None) -> SendReceipt:
        """Blocking :meth:`Router.send`."""
        receipt: SendReceipt = self._run(self.router.send, envelope, channel=channel)
        return receipt

    def reply(self, inbound: Envelope, content: Any, **changes: Any) -> SendReceipt:
        """Blocking :meth:`Router.reply`."""
        receipt: SendReceipt = self._run(self.router.reply, inbound, content, **changes)
        return receipt

    def handle_webhook(self, channel: str, request: WebhookRequest) -> WebhookResponse:
        """Blocking :meth:`Router.handle_webhook`."""
        response: WebhookResponse = self._run(self.router.handle_webhook, channel, request)
        return response

    def close(self) -> None:
        """Close the router, then stop the background event loop."""
        if self._portal is None:
            return
        try:
            self._run(self.router.aclose)
        finally:
            self._portal = None
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> BlockingRouter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
