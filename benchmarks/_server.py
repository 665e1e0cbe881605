"""A minimal provider stand-in for the benchmarks: answers every POST with 201 and a small JSON
body, like a messaging API. Run as ``python benchmarks/_server.py PORT [BODY]``; ``BODY`` (JSON
text) replaces the default Twilio-shaped answer, for providers whose clients read another
shape."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

BODY = b'{"sid":"SM00000000000000000000000000000000","status":"queued"}'
if __name__ == "__main__" and len(sys.argv) > 2:
    BODY = sys.argv[2].encode()


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
