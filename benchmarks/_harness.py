"""What the benchmarks share: pinning to cores, a provider stand-in in its own process, meters
for wall and CPU time, interleaved rounds with medians, and distinct addresses.

Every helper is general (no adapter, no provider): ``send.py``, ``webhooks.py``, ``memory.py``
and the plugins' ``benchmarks/<plugin>_send.py`` build on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path

import attrs

CLIENT_CPU = 0
"""The core the measuring process runs on."""
SERVER_CPU = 1
"""The core a server under test, or a provider stand-in, runs on."""


def pin(cpu: int, pid: int = 0) -> bool:
    """Pin process ``pid`` (0: this one) to ``cpu`` where the platform can; True when done."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    try:
        if cpu not in os.sched_getaffinity(0) and pid == 0:
            return False
        os.sched_setaffinity(pid, {cpu})
    except OSError:
        return False
    return True


def pin_client() -> str:
    """Pin this process to :data:`CLIENT_CPU`; a line saying where things run."""
    if pin(CLIENT_CPU):
        return f"client pinned to CPU {CLIENT_CPU}, server to CPU {SERVER_CPU}"
    return "client and server not pinned (no sched_setaffinity or a single CPU)"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    """Return once something accepts connections on ``port``; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listened on {host}:{port} within {timeout:g}s")


@contextlib.contextmanager
def server_process(
    command: Sequence[str],
    port: int,
    *,
    stdout: int | None = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (a server listening on ``port``) pinned to :data:`SERVER_CPU`."""
    process = subprocess.Popen(
        list(command), stdout=stdout, env=dict(env) if env is not None else None
    )
    try:
        pin(SERVER_CPU, process.pid)
        wait_for_port(port)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def local_server(answers: Mapping[str, Answer] | None = None) -> Iterator[str]:
    """Start the provider stand-in (``_server.py``) on a free loopback port, on its own core;
    yield its base URL. ``answers`` maps a path prefix to the answer given there (default:
    201 and a small JSON body with a fresh ``sid`` for every request)."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).with_name("_server.py")), str(port)]
    if answers:
        command.append(json.dumps({prefix: attrs.asdict(a) for prefix, a in answers.items()}))
    with server_process(command, port):
        yield f"http://127.0.0.1:{port}"


@attrs.frozen(kw_only=True)
class Answer:
    """What the stand-in answers under one path prefix. In ``body``, ``{n}`` becomes a
    counter and ``{hex}`` the counter in 32 hex digits: every answer names a new provider id."""

    status: int
    content_type: str
    body: str


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | None = None) -> int:
    """The resident set size of process ``pid`` (this one by default), in bytes."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


@attrs.frozen(kw_only=True)
class Sample:
    """One timed run: ``count`` operations in ``wall`` seconds, using ``cpu`` seconds of this
    process (every thread), or of the process measured."""

    count: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        """Operations per second of wall time."""
        return self.count / self.wall

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per operation."""
        return self.cpu / self.count * 1e6


class Meter:
    """Times a block: wall clock and this process's CPU time."""

    def __enter__(self) -> Meter:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def sample(self, count: int) -> Sample:
        """The block's figures for ``count`` operations."""
        return Sample(count=count, wall=self.wall, cpu=self.cpu)


async def gather_sample(
    count: int, concurrency: int, one: Callable[[int], Awaitable[object]]
) -> Sample:
    """Call ``one(i)`` for i in ``range(count)``, ``concurrency`` at a time (a fixed pool of
    workers, so nothing is created per call but the call itself); wall and CPU time."""
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:
            await one(index)

    with Meter() as meter:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return meter.sample(count)


async def gather_rate(count: int, concurrency: int, one: Callable[[], Awaitable[object]]) -> float:
    """Run ``one`` ``count`` times, ``concurrency`` at a time; return calls per second."""
    sample = await gather_sample(count, concurrency, lambda _: one())
    return sample.rate


def interleaved(
    variants: Mapping[str, Callable[[], Sample]], rounds: int, *, warmup: bool = True
) -> dict[str, list[Sample]]:
    """Run every variant once per round, in turn (A B C A B C ...), so a drift of the machine's
    speed touches each alike; a first unrecorded round warms imports, pools and caches."""
    results: dict[str, list[Sample]] = {name: [] for name in variants}
    if warmup:
        for run in variants.values():
            run()
    for _ in range(rounds):
        for name, run in variants.items():
            results[name].append(run())
    return results


@attrs.frozen(kw_only=True)
class Summary:
    """The medians of one variant's rounds."""

    rate: float
    cpu_us: float

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        """Medians of ``samples``' rates and CPU per operation."""
        return cls(
            rate=statistics.median(s.rate for s in samples),
            cpu_us=statistics.median(s.cpu_us for s in samples),
        )


def summaries(results: Mapping[str, Sequence[Sample]]) -> dict[str, Summary]:
    """:meth:`Summary.of` for every variant."""
    return {name: Summary.of(samples) for name, samples in results.items()}


def print_table(title: str, figures: Mapping[str, Summary], baseline: str, unit: str) -> None:
    """One line per variant: rate, its ratio to ``baseline``, CPU per operation and the
    baseline's CPU over it (above 1.0: cheaper than the baseline)."""
    base = figures[baseline]
    if title:
        print(title)
    width = max(34, *(len(name) for name in figures))
    print(f"  {'variant':<{width}} {unit + '/s':>10} {'wall':>8} {'CPU us':>8} {'CPU':>8}")
    for name, figure in figures.items():
        print(
            f"  {name:<{width}} {figure.rate:>10,.0f} {figure.rate / base.rate:>7.2f}x "
            f"{figure.cpu_us:>8.1f} {base.cpu_us / figure.cpu_us:>7.2f}x"
        )
    print(f"  (ratios against {baseline}: wall = rate / its rate, CPU = its CPU / CPU)")


def paired_ratios(results: Mapping[str, Sequence[Sample]], baseline: str) -> dict[str, list[float]]:
    """Every variant's rate over the baseline's in the same round, round by round (the rounds
    of :func:`interleaved`): a drift of the machine's speed between rounds cancels out of
    each ratio, where it moves the ratio of two medians."""
    base = results[baseline]
    return {
        name: [ours.rate / theirs.rate for ours, theirs in zip(samples, base, strict=True)]
        for name, samples in results.items()
        if name != baseline
    }


def print_paired(results: Mapping[str, Sequence[Sample]], baseline: str) -> None:
    """Under a :func:`print_table`: each variant's per-round ratios to ``baseline``, their
    median and their spread (a wide one says the host was noisy)."""
    for name, ratios in paired_ratios(results, baseline).items():
        rounds = " ".join(f"{ratio:.2f}" for ratio in ratios)
        print(
            f"  {name}: per round {rounds}; median {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}x-{max(ratios):.2f}x)"
        )


def ratio_line(name: str, ours: Summary, theirs: Summary, goal: float | None = None) -> str:
    """``ours`` against ``theirs`` by rate and by CPU, with the goal when there is one."""
    wall = ours.rate / theirs.rate
    cpu = theirs.cpu_us / ours.cpu_us
    verdict = ""
    if goal is not None:
        verdict = f"   goal >= {goal:.2f}x: {'met' if wall >= goal else 'NOT met'}"
    return f"  {name:<58} {wall:5.2f}x wall  {cpu:5.2f}x CPU{verdict}"


def phone_numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct, valid North American numbers in E.164 (+1 415 2xx xxxx)."""
    return [f"+1415{2_000_000 + start + index:07d}" for index in range(count)]
