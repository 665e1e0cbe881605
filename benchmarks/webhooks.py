"""Webhook cost, in process and end to end through ``omni listen``, against the least a correct
handler does.

In process: for the test kit's FakeAdapter and every installed adapter whose plugin ships a
simulator, N signed inbound messages from N distinct senders go through
``Router.handle_webhook`` (verify, parse, normalise, claim, dispatch to a handler) one after
another; CPU microseconds per webhook are compared with the parse + HMAC baseline on the same
requests: the body parsed (``parse_qsl`` with blanks kept for a form, ``json.loads`` otherwise),
the params sorted, one HMAC (SHA-1 over the URL and the params for a form, SHA-256 over the
body otherwise), a constant-time compare and a dict of the params.

End to end: ``omni listen --json`` (stdout to a file) and a minimal uvicorn app that parses,
checks the signature and prints (``_minimal_app.py``) each serve on their own core, and N
distinct signed requests are posted at concurrency C from this process on the other core:
requests per second and the server's CPU per request. Then single requests on a kept-alive
connection: the median round trip of ``/healthz`` and of a signed webhook.

Variants are interleaved over rounds; medians are printed, with the goals' ratios.

    python benchmarks/webhooks.py [--requests 3000] [--rounds 5] [--concurrency 32]
                                  [--adapter sms.twilio]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import attrs
from _harness import (
    Meter,
    Sample,
    free_port,
    interleaved,
    phone_numbers,
    pin_client,
    print_table,
    process_cpu_seconds,
    ratio_line,
    server_process,
    summaries,
)

from omnichannel import PluginHost, Router, WebhookRequest
from omnichannel.plugin import AdapterContext, build_settings
from omnichannel.sandbox import simulator_classes
from omnichannel.testing import FakeAdapter

PUBLIC_URL = "https://hooks.example.test"
GOAL_IN_PROCESS = 0.5
GOAL_END_TO_END = 0.7
# What the minimal app needs to check a form webhook: the settings field holding the key and
# the signature header (the end-to-end comparison runs for these adapters).
FORM_SIGNED: dict[str, tuple[str, str]] = {
    "sms.twilio": ("auth_token", "X-Twilio-Signature"),
    "voice.twilio": ("auth_token", "X-Twilio-Signature"),
}


@attrs.frozen(kw_only=True)
class Candidate:
    name: str
    adapter: Any
    settings: dict[str, Any]
    sender_of: Any
    """index -> a distinct sender address for this adapter."""


def _candidates() -> list[Candidate]:
    found = [
        Candidate(
            name="fake (JSON, HMAC-SHA256)",
            adapter=FakeAdapter(),
            settings={},
            sender_of=lambda index: f"customer-{index}",
        )
    ]
    host = PluginHost.from_entry_points()
    simulators = simulator_classes(host)
    for name, entry in host.adapters().items():
        simulator = simulators.get(name)
        if simulator is None:
            continue
        values = simulator.sample_settings("http://127.0.0.1:1/unused")
        settings = build_settings(entry.adapter_class.settings_class, values, where=name)
        adapter = entry.adapter_class(settings, AdapterContext(public_url=PUBLIC_URL))
        phone = entry.adapter_class.capabilities.address_kind.value == "phone"
        sender = phone_numbers(1, 999_999)[0] if phone else "123456789"
        sample = adapter.simulate(sender=sender, text="x", url=f"{PUBLIC_URL}/webhooks/x")
        kind = sample.header("content-type") or ""
        if "form" not in kind and "json" not in kind:
            # The baseline parses forms and JSON; a raw MIME post has no such baseline.
            print(f"({name} posts {kind or 'bodies'} webhooks: left out)")
            continue
        # Each adapter's senders are its own: one must not find numbers another parsed.
        offset = 1_000_000 * len(found)
        found.append(
            Candidate(
                name=name,
                adapter=adapter,
                settings=values,
                sender_of=(lambda i, o=offset: phone_numbers(1, o + i)[0])
                if phone
                else (lambda i, o=offset: str(200_000_000 + o + i)),
            )
        )
    return found


def _requests(candidate: Candidate, start: int, count: int) -> list[WebhookRequest]:
    url = f"{PUBLIC_URL}/webhooks/{candidate.adapter.info.channel}"
    return [
        candidate.adapter.simulate(
            sender=candidate.sender_of(index), text=f"message {index}", url=url
        )
        for index in range(start, start + count)
    ]


# --- In process ---------------------------------------------------------------------------------


def _through_router(adapter: Any, requests: list[WebhookRequest]) -> Sample:
    router = Router([adapter], host=PluginHost())
    received = [0]

    def count(message: object) -> None:  # count, not keep: a kept message is GC work
        received[0] += 1

    router.on_message(count, inline=True)
    channel = adapter.info.channel

    async def run() -> Sample:
        with Meter() as meter:
            for request in requests:
                response = await router.handle_webhook(channel, request)
                if response.status_code >= 300:
                    raise SystemExit(f"{channel}: a request was refused ({response.status_code})")
        return meter.sample(len(requests))

    sample = asyncio.run(run())
    if received[0] != len(requests):
        raise SystemExit(f"{channel}: {received[0]} of {len(requests)} messages dispatched")
    return sample


_KEY = b"0123456789abcdef0123456789abcdef"
_SIGNATURE = "c2lnbmF0dXJlIG9mIGEgd2ViaG9vaw=="


def _parse_and_hmac(requests: list[WebhookRequest]) -> Sample:
    """The baseline: what any correct handler of these requests does, and no more."""
    with Meter() as meter:
        for request in requests:
            if "form" in (request.header("content-type") or ""):
                params = parse_qsl(request.body.decode(), keep_blank_values=True)
                signed = request.url + "".join(name + value for name, value in sorted(params))
                mac = hmac.new(_KEY, signed.encode(), hashlib.sha1).digest()
                fields = dict(params)
            else:
                fields = json.loads(request.body)
                mac = hmac.new(_KEY, request.body, hashlib.sha256).digest()
            hmac.compare_digest(base64.b64encode(mac).decode(), _SIGNATURE)
            assert fields
    return meter.sample(len(requests))


def in_process(candidates: list[Candidate], count: int, rounds: int) -> None:
    batches = {
        c.name: [_requests(c, r * count, count) for r in range(rounds + 1)] for c in candidates
    }
    used = {name: iter(batch) for name, batch in batches.items()}

    def ours(candidate: Candidate) -> Sample:
        # Every round gets requests (and message ids) never seen before: a repeat would be
        # answered as a duplicate, which is cheaper.
        return _through_router(candidate.adapter, next(used[candidate.name]))

    runs: dict[str, Any] = {}
    for candidate in candidates:
        first = batches[candidate.name][0]
        fresh = [[attrs.evolve(r) for r in first] for _ in range(rounds + 1)]
        baseline_batches = iter(fresh)
        runs[f"{candidate.name}: parse + HMAC"] = lambda b=baseline_batches: _parse_and_hmac(
            next(b)
        )
        runs[f"{candidate.name}: handle_webhook"] = lambda c=candidate: ours(c)
    figures = summaries(interleaved(runs, rounds))
    print(
        f"\nin process: {count} distinct signed inbound messages per round, median of {rounds} "
        "interleaved rounds, CPU per webhook"
    )
    print(f"  {'variant':<52} {'/s':>9} {'CPU us':>8}")
    for name, figure in figures.items():
        print(f"  {name:<52} {1e6 / figure.cpu_us:>9,.0f} {figure.cpu_us:>8.1f}")
    print("  goals (CPU of parse + HMAC / CPU of handle_webhook):")
    for candidate in candidates:
        ours_figure = figures[f"{candidate.name}: handle_webhook"]
        base = figures[f"{candidate.name}: parse + HMAC"]
        ratio = base.cpu_us / ours_figure.cpu_us
        goal = GOAL_IN_PROCESS if candidate.name in FORM_SIGNED else None
        verdict = f"   goal >= {goal:.2f}x: {'met' if ratio >= goal else 'NOT met'}" if goal else ""
        print(f"  {candidate.name:<52} {ratio:5.2f}x{verdict}")


# --- End to end ---------------------------------------------------------------------------------


def _config(candidate: Candidate) -> str:
    channel = candidate.adapter.info.channel
    lines = [
        "[webhooks]",
        f'public_url = "{PUBLIC_URL}"',
        "",
        f"[channels.{channel}]",
        f'adapter = "{candidate.adapter.info.name}"',
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in candidate.settings.items()]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _servers(candidate: Candidate, directory: Path) -> Iterator[dict[str, tuple[int, int]]]:
    """``omni listen --json`` and the minimal app, each on a free port on the server core;
    yields name -> (port, pid)."""
    config = directory / "omnichannel.toml"
    config.write_text(_config(candidate))
    field, header = FORM_SIGNED[candidate.name]
    omni_port, minimal_port = free_port(), free_port()
    omni = [sys.executable, "-c", "from omnichannel.cli import main; main()", "listen"]
    omni += ["--config", str(config), "--port", str(omni_port), "--json"]
    minimal = [sys.executable, str(Path(__file__).with_name("_minimal_app.py")), str(minimal_port)]
    minimal += [PUBLIC_URL, str(candidate.settings[field]), header]
    with (
        (directory / "omni.out").open("wb") as omni_out,
        (directory / "minimal.out").open("wb") as minimal_out,
        server_process(omni, omni_port, stdout=omni_out.fileno()) as omni_process,
        server_process(minimal, minimal_port, stdout=minimal_out.fileno()) as minimal_process,
    ):
        yield {
            "omni listen --json": (omni_port, omni_process.pid),
            "minimal uvicorn app (parse, HMAC, print)": (minimal_port, minimal_process.pid),
        }


def _raw(request: WebhookRequest, port: int, path: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    head += [f"{name}: {value}" for name, value in request.headers]
    head.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> bytes:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return head[9:12]


def _post_all(
    port: int, pid: int, requests: list[WebhookRequest], concurrency: int, path: str
) -> Sample:
    """Post every request once over ``concurrency`` kept-alive connections. The client
    writes prebuilt bytes and reads the answers itself, a few microseconds a request, so the
    server is what limits the rate."""
    raws = [_raw(request, port, path) for request in requests]

    async def run() -> Sample:
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
        for _, writer in connections:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = iter(raws)
        failures = 0

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal failures
            for raw in pending:
                failures += await _exchange(reader, writer, raw) != b"200"

        cpu = process_cpu_seconds(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker(reader, writer) for reader, writer in connections))
        wall = time.perf_counter() - started
        used = process_cpu_seconds(pid) - cpu
        for _, writer in connections:
            writer.close()
        if failures:
            raise SystemExit(f"{failures} of {len(requests)} webhooks were not answered 200")
        return Sample(count=len(requests), wall=wall, cpu=used)

    return asyncio.run(run())


async def _round_trips(port: int, path: str, requests: list[WebhookRequest] | None) -> list[float]:
    """Milliseconds per request on one kept-alive connection: 300 ``/healthz``, or each of
    ``requests`` posted once."""
    timings = []
    posted: list[WebhookRequest | None] = list(requests) if requests else [None] * 300
    async with aiohttp.ClientSession() as session:
        for request in posted:
            started = time.perf_counter()
            if request is None:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    await response.read()
            else:
                async with session.post(
                    f"http://127.0.0.1:{port}{path}",
                    data=request.body,
                    headers=dict(request.headers),
                ) as response:
                    await response.read()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def end_to_end(candidate: Candidate, count: int, rounds: int, concurrency: int) -> None:
    path = f"/webhooks/{candidate.adapter.info.channel}"
    batches = _requests(candidate, 500_000, count * (rounds + 1) * 2)
    chunks = iter([batches[i : i + count] for i in range(0, len(batches), count)])
    with tempfile.TemporaryDirectory() as directory, _servers(candidate, Path(directory)) as ports:
        runs = {
            name: lambda port=port, pid=pid: _post_all(port, pid, next(chunks), concurrency, path)
            for name, (port, pid) in ports.items()
        }
        figures = summaries(interleaved(runs, rounds))
        print(
            f"\nend to end: {candidate.name}, {count} distinct signed webhooks per round at "
            f"concurrency {concurrency}, median of {rounds} interleaved rounds "
            "(CPU: the server's, per request)"
        )
        baseline = "minimal uvicorn app (parse, HMAC, print)"
        print_table("", figures, baseline, "req")
        print("  goals:")
        print(
            ratio_line(
                "omni listen --json vs minimal uvicorn app",
                figures["omni listen --json"],
                figures[baseline],
                GOAL_END_TO_END,
            )
        )
        omni_port = ports["omni listen --json"][0]
        healthz = asyncio.run(_round_trips(omni_port, path, None))
        singles = _requests(candidate, 900_000, 300)
        webhook = asyncio.run(_round_trips(omni_port, path, singles))
        print(
            f"  one request to omni listen on a kept-alive connection, median of 300: "
            f"/healthz {statistics.median(healthz):.2f} ms, signed webhook "
            f"{statistics.median(webhook):.2f} ms, distinct senders (goal < 2 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--adapter", default="sms.twilio", help="the end-to-end adapter")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()
    print(pin_client())
    candidates = _candidates()
    in_process(candidates, args.requests, args.rounds)
    chosen = next((c for c in candidates if c.name == args.adapter), None)
    if args.skip_end_to_end:
        return
    if chosen is None or chosen.name not in FORM_SIGNED:
        print(f"\n(end to end needs an installed form-signed adapter: {', '.join(FORM_SIGNED)})")
        return
    end_to_end(chosen, args.requests, args.rounds, args.concurrency)


if __name__ == "__main__":
    main()
