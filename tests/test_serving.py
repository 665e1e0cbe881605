from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from omnichannel import ConfigurationError
from omnichannel.serving import MAX_HEAD_BYTES, bind, build_server
from omnichannel.web import Receive, Scope, Send

pytestmark = pytest.mark.anyio


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


@contextlib.asynccontextmanager
async def _serving(app: Any = _hello, **options: Any) -> AsyncIterator[int]:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = build_server(app, **options)
    async with anyio.create_task_group() as group:
        # Connections queue in the listening socket's backlog until the server accepts them,
        # so the test needs no wait for start-up.
        group.start_soon(functools.partial(server.serve, sockets=[sock]))
        try:
            yield port
        finally:
            server.should_exit = True


async def _exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    received = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        with anyio.fail_after(wait):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return received


async def test_connections_accepted_on_a_bound_socket_carry_tcp_nodelay() -> None:
    accepted: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    listener = bind("127.0.0.1", 0)
    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    async with server:
        port = listener.getsockname()[1]
        await _exchange(port, b"")
    assert len(accepted) == 1
    assert accepted[0] != 0


def test_a_port_in_use_is_a_configuration_error_in_one_line() -> None:
    taken = bind("127.0.0.1", 0)
    port = taken.getsockname()[1]
    with taken, pytest.raises(ConfigurationError) as caught:
        bind("127.0.0.1", port)
    assert str(caught.value) == f"port {port} on 127.0.0.1 is in use; pass --port"


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("127.0.0.1", 70000, "port 70000 is out of range 0-65535; pass --port"),
        ("127.0.0.1", -1, "port -1 is out of range 0-65535; pass --port"),
        (
            "192.0.2.1",
            0,
            "cannot listen on host '192.0.2.1': not an address of this machine; pass --host",
        ),
    ],
)
def test_a_port_or_host_that_cannot_be_bound_is_a_configuration_error(
    host: str, port: int, message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        bind(host, port)
    assert str(caught.value) == message


def test_the_server_trusts_no_forwarded_headers_and_limits_what_it_holds() -> None:
    server = build_server(_hello, limit_concurrency=7, graceful_shutdown=3)
    config = server.config
    assert config.proxy_headers is False
    assert config.server_header is False
    assert config.access_log is False
    assert config.limit_concurrency == 7
    assert config.timeout_graceful_shutdown == 3
    assert config.h11_max_incomplete_event_size == MAX_HEAD_BYTES


async def test_a_client_that_does_not_finish_its_request_head_is_cut_off_with_408() -> None:
    async with _serving(head_timeout=0.05) as port:
        answer = await _exchange(port, b"POST /webhooks/sms HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer


async def test_a_client_that_sends_nothing_is_disconnected_silently() -> None:
    async with _serving(head_timeout=0.05) as port:
        answer = await _exchange(port, b"")
    assert answer == b""


async def test_a_request_whose_head_arrived_is_answered_however_long_the_app_takes() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(0.08)
        await _hello(scope, receive, send)

    async with _serving(slow, head_timeout=0.02) as port:
        answer = await _exchange(
            port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"hello")


async def test_the_next_request_on_a_kept_alive_connection_gets_its_own_head_timer() -> None:
    received = b""
    async with (
        _serving(head_timeout=0.05) as port,
        await anyio.connect_tcp("127.0.0.1", port) as stream,
    ):
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            while b"hello" not in received:
                received += await stream.receive()
            await stream.send(b"GET / HTTP/1.1\r\nHost: ")
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while True:
                    received += await stream.receive()
    first, _, second = received.partition(b"hello")
    assert first.startswith(b"HTTP/1.1 200 ")
    assert second.startswith(b"HTTP/1.1 408 ")


async def test_a_request_head_over_the_size_cap_is_refused_with_400() -> None:
    async with _serving() as port:
        answer = await _exchange(port, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEAD_BYTES)
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_a_shutdown_drops_a_request_whose_body_is_still_arriving() -> None:
    body_started = anyio.Event()
    seen: list[str] = []

    async def reading(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        seen.append((await receive())["type"])
        body_started.set()
        seen.append((await receive())["type"])

    sock = bind("127.0.0.1", 0)
    server = build_server(reading, graceful_shutdown=30)
    # Waiting the 30 s grace period for the rest of the body would trip the deadline.
    with anyio.fail_after(5):
        async with (
            await anyio.connect_tcp(*sock.getsockname()) as stream,
            anyio.create_task_group() as group,
        ):
            group.start_soon(functools.partial(server.serve, sockets=[sock]))
            await stream.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n01234")
            await body_started.wait()
            server.should_exit = True
    assert seen == ["http.request", "http.disconnect"]
