"""Hand checks of ``omni listen`` under cheap abuse, on loopback (never part of the tests).

Starts ``omni listen`` in its own process with a throwaway configuration (the SMS plugin's
sample settings), then measures: one ``/healthz`` round trip on a kept-alive connection;
``/healthz`` latency and the server's RSS while many clients post unsigned near-limit bodies;
how long clients that trickle a request head or a body are kept; and how long a SIGTERM takes
with such clients connected.

    python benchmarks/webhook_abuse.py [--senders 200] [--body-bytes 65000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"
CONFIG = """\
[webhooks]
public_url = "https://support.example.com"

[channels.sms]
adapter = "sms.twilio"
account_sid = "AC5a4dbe1c0ffee0ddba11ca7fe5eed5a1"
auth_token = "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6"
from = "+14155550100"
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def listening(*options: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``omni listen`` on a free port; yields the port and the process."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "omnichannel.toml"
        config.write_text(CONFIG)
        omni = [sys.executable, "-c", "from omnichannel.cli import main; main()"]
        command = [*omni, "listen", "--config", str(config)]
        server = subprocess.Popen(
            [*command, "--port", str(port), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                    break
                time.sleep(0.05)
            yield port, server
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


def rss_mb(pid: int) -> float:
    """The resident set size of process ``pid``, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def keep_alive_round_trips(port: int, count: int = 200) -> list[float]:
    """Milliseconds per ``/healthz`` on one kept-alive connection (client has TCP_NODELAY)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await _read_response(reader)
        timings.append((time.perf_counter() - started) * 1000)
    writer.close()
    return timings


async def fresh_healthz(port: int) -> float:
    """Milliseconds for one ``/healthz`` on a new connection."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await reader.read()
    writer.close()
    return (time.perf_counter() - started) * 1000


async def post_unsigned(port: int, size: int) -> str:
    """POST an unsigned form body of ``size`` bytes; the status line, or the error's name."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(
            b"POST /webhooks/sms HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % size
        )
        chunk = b"A" * 65536
        for offset in range(0, size, len(chunk)):
            writer.write(chunk[: min(len(chunk), size - offset)])
            await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
        return line.decode().strip()
    except (TimeoutError, OSError) as error:
        return type(error).__name__


async def flood(port: int, pid: int, senders: int, size: int, seconds: float) -> None:
    """``senders`` clients posting bodies back to back while ``/healthz`` is sampled."""
    answers: dict[str, int] = {}
    stop = time.perf_counter() + seconds

    async def sender() -> None:
        while time.perf_counter() < stop:
            answer = await post_unsigned(port, size)
            answers[answer] = answers.get(answer, 0) + 1

    tasks = [asyncio.create_task(sender()) for _ in range(senders)]
    await asyncio.sleep(0.2)
    latencies: list[float] = []
    peak = 0.0
    while time.perf_counter() < stop:
        latencies.append(await fresh_healthz(port))
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    latencies.sort()
    print(
        f"{senders} senders of {size}-byte unsigned bodies for {seconds:g} s: "
        f"{sum(answers.values())} requests, answers {answers}"
    )
    print(
        f"  /healthz meanwhile: {len(latencies)} samples, median "
        f"{statistics.median(latencies):.1f} ms, p95 {latencies[int(len(latencies) * 0.95)]:.1f} "
        f"ms, max {latencies[-1]:.1f} ms; server RSS peak {peak:.1f} MB"
    )


async def trickle(port: int, clients: int, patience: float, *, body: bool) -> str:
    """Clients sending one header line (or one body byte) a second; how long they are kept."""
    head = b"POST /webhooks/sms HTTP/1.1\r\nHost: x\r\n"
    if body:
        head += b"Content-Length: 1000\r\n\r\n"

    async def one() -> tuple[float, str]:
        reader, writer = await asyncio.open_connection(HOST, port)
        started = time.perf_counter()
        writer.write(head)
        with contextlib.suppress(OSError):
            while time.perf_counter() - started < patience:
                writer.write(b"A" if body else b"X-Slow: 1\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    answer = await asyncio.wait_for(reader.read(1024), 1.0)
                    return time.perf_counter() - started, answer.split(b"\r\n")[0].decode()
        writer.close()
        return float("inf"), "still open"

    results = await asyncio.gather(*(one() for _ in range(clients)))
    cut = sorted(seconds for seconds, _ in results if seconds != float("inf"))
    answers = sorted({answer or "closed" for _, answer in results})
    what = "body" if body else "request head"
    kept = f"median {statistics.median(cut):.1f} s, max {cut[-1]:.1f} s" if cut else "none"
    return (
        f"{clients} clients trickling a {what}: {len(cut)} cut off ({kept}), "
        f"{clients - len(cut)} still open after {patience:g} s; answers {answers}"
    )


async def stop_with_clients(port: int, server: subprocess.Popen[bytes]) -> None:
    """Seconds from SIGTERM to exit with slow clients connected."""
    slow = asyncio.create_task(trickle(port, 20, 40, body=True))
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    os.kill(server.pid, signal.SIGTERM)
    try:
        await asyncio.to_thread(server.wait, 30)
        took = f"exited in {time.perf_counter() - started:.2f} s"
    except subprocess.TimeoutExpired:
        took = "still running after 30 s"
    finally:
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow
    print(f"SIGTERM with 20 slow clients connected: {took}")


async def main(args: argparse.Namespace) -> None:
    with listening() as (port, server):
        timings = await keep_alive_round_trips(port)
        print(
            f"/healthz on a kept-alive connection: median {statistics.median(timings):.2f} ms, "
            f"p90 {statistics.quantiles(timings, n=10)[-1]:.2f} ms"
        )
        await flood(port, server.pid, args.senders, args.body_bytes, args.seconds)
        print(await trickle(port, 300, args.patience, body=False))
        print(await trickle(port, 50, args.patience, body=True))
        await stop_with_clients(port, server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--body-bytes", type=int, default=65_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--patience", type=float, default=20.0, help="How long a slow client waits."
    )
    asyncio.run(main(parser.parse_args()))
