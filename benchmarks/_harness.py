"""What the benchmarks share: a provider stand-in in its own process, and a rate meter."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path


async def gather_rate(count: int, concurrency: int, one: Callable[[], Awaitable[object]]) -> float:
    """Run ``one`` ``count`` times, ``concurrency`` at a time; return calls per second."""
    semaphore = asyncio.Semaphore(concurrency)

    async def limited() -> None:
        async with semaphore:
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(limited() for _ in range(count)))
    return count / (time.perf_counter() - started)


@contextlib.contextmanager
def local_server(body: str | None = None) -> Iterator[str]:
    """Start ``_server.py`` on a free loopback port (answering ``body``, JSON text, when given
    instead of its default answer); yield its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(Path(__file__).with_name("_server.py")), str(port)]
    server = subprocess.Popen(command if body is None else [*command, body])
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)
