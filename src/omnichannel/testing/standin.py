"""A scripted provider stand-in on loopback, for testing what happens when the network fails.

:class:`ScriptedServer` is a real TCP server on ``127.0.0.1`` that answers each request by the
next step of a script: a normal answer, or a failure at a precise moment of the exchange
(reset the connection after reading the request, close it halfway through the answer, never
answer). It records every request it read, so a test can assert how many reached the
"provider"::

    async with ScriptedServer([RESET_AFTER_REQUEST, Reply(201, b'{"sid": "SM1"}')]) as server:
        ...  # point the adapter's base_url at server.url
    assert len(server.requests) == 1

It speaks just enough HTTP/1.1 for a client library: request line, headers, a
``Content-Length`` body. No sleeping in tests: :data:`NO_ANSWER` waits until the client gives
up (its timeout) or the server stops.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from types import TracebackType
from typing import Final

import attrs

__all__ = [
    "CLOSE_MID_ANSWER",
    "NO_ANSWER",
    "RESET_AFTER_REQUEST",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
]


@attrs.frozen
class Reply:
    """A complete HTTP answer."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(("Content-Type", "application/json"),), kw_only=True
    )


@attrs.frozen
class _Failure:
    name: str


RESET_AFTER_REQUEST: Final = _Failure("reset after reading the request")
"""Read the whole request, then reset the connection (TCP RST): the request arrived."""
CLOSE_MID_ANSWER: Final = _Failure("close halfway through the answer")
"""Start a 200 answer, then close the connection before its body is complete."""
NO_ANSWER: Final = _Failure("never answer")
"""Read the request and answer nothing until the client gives up."""

Step = Reply | _Failure


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """A request the stand-in read in full."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


_REASONS: Final = {200: "OK", 201: "Created", 400: "Bad Request", 429: "Too Many Requests"}


class ScriptedServer:
    """Answers request N with step N of ``script`` (the last step repeats)."""

    def __init__(self, script: Sequence[Step]) -> None:
        if not script:
            raise ValueError("a script needs at least one step")
        self.script = list(script)
        self.requests: list[RecordedRequest] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    def _step(self) -> Step:
        index = min(len(self.requests) - 1, len(self.script) - 1)
        return self.script[index]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                step = self._step()
                if isinstance(step, Reply):
                    writer.write(_answer(step))
                    await writer.drain()
                    continue
                await self._fail(step, reader, writer)
                return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _fail(
        step: _Failure, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if step is RESET_AFTER_REQUEST:
            sock = writer.get_extra_info("socket")
            # SO_LINGER with a zero timeout turns close() into a reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif step is CLOSE_MID_ANSWER:
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
            await writer.drain()
            writer.transport.abort()
        else:  # NO_ANSWER: wait for the client to go away
            await reader.read()


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = tuple(
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    )
    length = next((int(value) for name, value in headers if name.lower() == "content-length"), 0)
    body = await reader.readexactly(length) if length else b""
    return RecordedRequest(method=method, path=path, headers=headers, body=body)


def _answer(reply: Reply) -> bytes:
    reason = _REASONS.get(reply.status, "Status")
    lines = [f"HTTP/1.1 {reply.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    lines.append(f"Content-Length: {len(reply.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
