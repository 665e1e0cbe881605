"""Real loopback servers for tests: serve an ASGI app (the sandbox, the webhook app) on
``127.0.0.1`` with uvicorn, on a free port, for as long as a block runs.

The conformance suite sends through the default transport to a plugin's simulator this way,
so the production path (aiohttp, real sockets, real HTTP) is what the tests exercise::

    async with serve_on_loopback(sandbox) as sandbox_url:
        ...
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio

__all__ = ["serve_on_loopback"]


@contextlib.asynccontextmanager
async def serve_on_loopback(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on ``127.0.0.1`` (a free port); yield its base URL, then stop it."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        with anyio.fail_after(10):
            while not server.started:  # uvicorn offers a flag, not an event  # noqa: ASYNC110
                await anyio.sleep(0.005)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
    sock.close()
