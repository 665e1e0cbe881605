"""The yardstick for ``omni listen`` in ``webhooks.py``: the least a correct webhook endpoint
for URL-plus-sorted-params signed forms does, as a bare uvicorn ASGI app.

It reads the body, parses the form (``parse_qsl``, blanks kept), checks the signature (the
base64 HMAC-SHA1 of the public URL followed by the sorted names and values, compared in
constant time), prints one JSON line of the params and answers with an empty XML document.
Run as ``python benchmarks/_minimal_app.py PORT PUBLIC_URL KEY SIGNATURE_HEADER``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

ANSWER = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


def build_app(public_url: str, key: bytes, header: str) -> Callable[..., Awaitable[None]]:
    """The app checking ``header`` with ``key`` against ``public_url`` plus the path."""
    wanted = header.lower().encode("latin-1")

    async def app(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        params = parse_qsl(b"".join(chunks).decode(), keep_blank_values=True)
        url = public_url + scope["path"]
        signed = url + "".join(name + value for name, value in sorted(params))
        digest = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha1).digest())
        given = next((value for name, value in scope["headers"] if name == wanted), b"")
        if not hmac.compare_digest(digest, given):
            status, body = 403, b"bad signature"
        else:
            print(json.dumps(dict(params), separators=(",", ":")), flush=True)
            status, body = 200, ANSWER
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/xml; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    port, public_url, key, header = sys.argv[1:5]
    uvicorn.run(
        build_app(public_url.rstrip("/"), key.encode(), header),
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
