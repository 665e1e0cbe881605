"""Serving an ASGI app: the listening socket and the one place a uvicorn server is configured.

``omni listen``, ``omni sandbox`` and ``omni demo`` build their servers with :func:`bind` and
:func:`build_server`, so every server the SDK starts refuses cheap abuse the same way: a
client that has not sent a complete request head within ``head_timeout`` seconds is cut off,
request heads are capped at :data:`MAX_HEAD_BYTES`, connections beyond ``limit_concurrency``
are answered 503, and a shutdown (SIGTERM, Ctrl-C) waits at most ``graceful_shutdown``
seconds for requests in flight. Forwarded headers are never trusted by the server itself:
the webhook app decides that, per request, from its list of trusted proxies.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import ClassVar, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from omnichannel.errors import ConfigurationError
from omnichannel.web import ASGIApp

__all__ = [
    "DEFAULT_GRACEFUL_SHUTDOWN",
    "DEFAULT_HEAD_TIMEOUT",
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_LIMIT_CONCURRENCY",
    "MAX_HEAD_BYTES",
    "bind",
    "build_server",
]

DEFAULT_LIMIT_CONCURRENCY: Final = 1000
"""Connections served at once; uvicorn answers 503 beyond it."""
DEFAULT_HEAD_TIMEOUT: Final = 10.0
"""Seconds a client has to deliver a complete request head (request line and headers)."""
DEFAULT_KEEP_ALIVE: Final = 5
"""Seconds an idle kept-alive connection stays open."""
DEFAULT_GRACEFUL_SHUTDOWN: Final = 5
"""Seconds a shutdown waits for requests in flight before cancelling them."""
MAX_HEAD_BYTES: Final = 16 * 1024
"""The largest request head accepted; a bigger one is answered 400."""

_BACKLOG: Final = 128
_HEAD_TIMEOUT_BODY: Final = b"request head not received in time"
_HEAD_TIMEOUT_RESPONSE: Final = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s" % (len(_HEAD_TIMEOUT_BODY), _HEAD_TIMEOUT_BODY)
)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` and ``port`` (0 picks a free port).

    The socket is created for IPPROTO_TCP and with TCP_NODELAY, so the connections it accepts
    answer without waiting on Nagle's algorithm (asyncio sets TCP_NODELAY only on sockets
    whose protocol is IPPROTO_TCP; a small response written in two parts otherwise waits for
    the client's delayed ACK, about 40 ms). Failures become one-line configuration errors.
    """
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"port {port} is out of range 0-65535; pass --port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError as error:
        sock.close()
        raise ConfigurationError(_bind_failure(host, port, error)) from None
    return sock


def _bind_failure(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; pass --port"
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port} of {host}; pass --port above 1023"
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on host {host!r}: not an address of this machine; pass --host"
    return (
        f"cannot listen on {host} port {port}: {error.strerror or error}; check --host and --port"
    )


class _HardenedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head is too slow to arrive,
    and dropping requests still arriving when the server shuts down.

    uvicorn 0.54 has no head timeout: a client that opens a connection and trickles header
    lines holds it (and a file descriptor) for as long as it likes. The timer runs from the
    moment a request head is awaited (the connection opened, or the first byte of the next
    request on a kept-alive connection) until the head is complete.
    """

    head_timeout: ClassVar[float] = DEFAULT_HEAD_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_head_timer()
        super().data_received(data)
        self._disarm_when_head_is_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already buffered may have only part of its head.
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._arm_head_timer()
        self._disarm_when_head_is_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # uvicorn lets a request whose body is still arriving run until the graceful timeout,
        # then cancels it with a traceback in the log. Nothing has acted on such a request
        # yet, so it is dropped at once: the app sees a disconnect.
        cycle = self.cycle
        if (
            cycle is not None
            and not cycle.response_started
            and self.conn.their_state is h11.SEND_BODY
        ):
            self.transport.close()
            return
        super().shutdown()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _disarm_when_head_is_complete(self) -> None:
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._cancel_head_timer()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            self.transport.write(_HEAD_TIMEOUT_RESPONSE)
        self.transport.close()


def _protocol_with_head_timeout(seconds: float) -> type[H11Protocol]:
    return type("HardenedH11Protocol", (_HardenedH11Protocol,), {"head_timeout": seconds})


def build_server(
    app: ASGIApp,
    *,
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY,
    head_timeout: float = DEFAULT_HEAD_TIMEOUT,
    keep_alive: int = DEFAULT_KEEP_ALIVE,
    graceful_shutdown: int = DEFAULT_GRACEFUL_SHUTDOWN,
) -> uvicorn.Server:
    """A uvicorn server for ``app``; start it with ``await server.serve(sockets=[bind(...)])``.

    Forwarded headers are not applied (uvicorn would otherwise trust ``X-Forwarded-*`` from
    127.0.0.1), no ``server`` header is sent, and there is no access log: ``omni listen``
    prints events itself, and a log line per refused request is work an attacker controls.
    """
    config = uvicorn.Config(
        app,
        http=_protocol_with_head_timeout(head_timeout),
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=graceful_shutdown,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    return uvicorn.Server(config)
