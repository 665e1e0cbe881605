"""Webhook throughput: verified and parsed webhooks per second through ``handle_webhook``.

For the test kit's FakeAdapter (HMAC-SHA256 over a JSON body) and every installed adapter that
ships a simulator (each signs its requests as its provider does), N distinct signed inbound
requests go through ``Router.handle_webhook`` one after another on one core, timed in process
CPU time (a shared host's steal time does not count). The baseline is the bare HMAC check of
the same bodies (``hmac.new`` + ``compare_digest``). Variants are
interleaved over several rounds; medians are printed. Target: >= 20,000 webhooks/s.

    python benchmarks/webhooks.py [--requests 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import statistics
import time
from typing import Any

import attrs

from omnichannel import PluginHost, Router, WebhookRequest
from omnichannel.plugin import AdapterContext, build_settings
from omnichannel.sandbox import simulator_classes
from omnichannel.testing import FakeAdapter

PUBLIC_URL = "https://hooks.example.test"


def _requests(adapter: Any, sender: str, count: int) -> list[WebhookRequest]:
    url = f"{PUBLIC_URL}/webhooks/{adapter.info.channel}"
    return [
        adapter.simulate(sender=sender, text=f"message {index}", url=url) for index in range(count)
    ]


def _candidates(count: int) -> list[tuple[str, Any, list[WebhookRequest]]]:
    fake = FakeAdapter()
    found = [("fake (JSON, HMAC-SHA256)", fake, _requests(fake, "customer-1", count))]
    host = PluginHost.from_entry_points()
    simulators = simulator_classes(host)
    for name, entry in host.adapters().items():
        simulator = simulators.get(name)
        if simulator is None:
            continue
        values = simulator.sample_settings("http://127.0.0.1:1/unused")
        settings = build_settings(entry.adapter_class.settings_class, values, where=name)
        adapter = entry.adapter_class(settings, AdapterContext(public_url=PUBLIC_URL))
        found.append((name, adapter, _requests(adapter, simulator.sample_recipient, count)))
    return found


async def _through_router(adapter: Any, requests: list[WebhookRequest]) -> float:
    router = Router([adapter], host=PluginHost())
    received: list[int] = [0]

    def count(message: object) -> None:  # count, not keep: a kept message is GC work
        received[0] += 1

    router.on_message(count)
    channel = adapter.info.channel
    started = time.process_time()
    for request in requests:
        response = await router.handle_webhook(channel, request)
        if response.status_code >= 300:
            raise SystemExit(f"{channel}: a simulated request was refused ({response.status_code})")
    elapsed = time.process_time() - started
    if received[0] != len(requests):
        raise SystemExit(f"{channel}: {received[0]} of {len(requests)} messages dispatched")
    return len(requests) / elapsed


def _bare_hmac(requests: list[WebhookRequest]) -> float:
    key = b"fake-webhook-secret"
    started = time.process_time()
    for request in requests:
        digest = hmac.new(key, request.body, hashlib.sha256).hexdigest()
        hmac.compare_digest(digest, request.header("X-Fake-Signature") or "")
    return len(requests) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    candidates = _candidates(args.requests)
    # The prepared requests live for the whole run; keep the collector from rescanning them.
    gc.freeze()
    fake_requests = candidates[0][2]
    results: dict[str, list[float]] = {"bare HMAC check": []}
    for _ in range(args.rounds):
        results["bare HMAC check"].append(_bare_hmac(fake_requests))
        for name, adapter, requests in candidates:
            # Fresh copies: a request caches its parsed form, and each arrives once.
            fresh = [attrs.evolve(request) for request in requests]
            rate = asyncio.run(_through_router(adapter, fresh))
            results.setdefault(name, []).append(rate)
    baseline = statistics.median(results["bare HMAC check"])
    print(
        f"{args.requests} distinct signed inbound webhooks, one core, median of "
        f"{args.rounds} interleaved rounds"
    )
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"  {name:<28} {median:>10,.0f} /s   {median / baseline:6.3f}x bare HMAC")


if __name__ == "__main__":
    main()
