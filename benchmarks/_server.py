"""A minimal provider stand-in for the benchmarks: answers every request once its body is read.

Run as ``python benchmarks/_server.py PORT [ANSWERS_JSON]``. ``ANSWERS_JSON`` maps a path
prefix to ``{"status": ..., "content_type": ..., "body": ...}`` (the longest matching prefix
wins); in a body, ``{n}`` becomes a per-request counter and ``{hex}`` the same counter in 32
hex digits, so every answer names a new provider id, as a provider's do. Other paths get 201
and a small JSON message resource.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

DEFAULT = {
    "status": 201,
    "content_type": "application/json",
    "body": '{"sid":"SM{hex}","status":"queued"}',
}


def build_app(answers: dict[str, dict[str, Any]]) -> Callable[..., Awaitable[None]]:
    """The ASGI app answering by path prefix."""
    prefixes = sorted(answers, key=len, reverse=True)
    counter = itertools.count(1)

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
        path = scope["path"]
        prefix = next((p for p in prefixes if path.startswith(p)), "")
        answer = answers.get(prefix, DEFAULT)
        number = next(counter)
        body = answer["body"].replace("{n}", str(number)).replace("{hex}", f"{number:032x}")
        body = body.encode()
        await send(
            {
                "type": "http.response.start",
                "status": answer["status"],
                "headers": [
                    (b"content-type", answer["content_type"].encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    given = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    uvicorn.run(
        build_app(given),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
