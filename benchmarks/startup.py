"""CLI start-up: whole-process wall time of ``omni --help`` and ``omni channels --json`` against
a bare ``python -c pass``, run in turn (A B A B ...), medians printed with the difference.

The processes run with bytecode caches written and read, as an installed package does (the
first, unrecorded, run writes them). Goals: ``omni --help`` under 60 ms and ``omni channels
--json`` under 150 ms over ``python -c pass``.

    python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _harness import CLIENT_CPU, pin

OMNI = [sys.executable, "-c", "from omnichannel.cli import main; main()"]
COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "omni --help": ([*OMNI, "--help"], 60.0),
    "omni channels --json": ([*OMNI, "channels", "--json"], 150.0),
}


def _once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True
    )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"pinned to CPU {CLIENT_CPU}" if pin(CLIENT_CPU) else "not pinned")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    timings: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command, _ in COMMANDS.values():
        _once(command, env)
    for _ in range(args.runs):
        for name, (command, _) in COMMANDS.items():
            timings[name].append(_once(command, env))
    base = statistics.median(timings["python -c pass"])
    print(f"median of {args.runs} interleaved runs, wall ms")
    for name, (_, goal) in COMMANDS.items():
        median = statistics.median(timings[name])
        over = median - base
        verdict = ""
        if goal is not None:
            verdict = f"   goal < {goal:g} ms over: {'met' if over < goal else 'NOT met'}"
        print(f"  {name:<24} {median:7.1f} ms   {over:+7.1f} ms over python -c pass{verdict}")


if __name__ == "__main__":
    main()
