"""WhatsApp webhook throughput: signed status webhooks through ``Router.handle_webhook`` against
the bare parse and HMAC check of the same bodies, in the same run.

N distinct ``delivered`` status notifications (one wamid each, our envelope id in
``biz_opaque_callback_data``, per-message pricing), signed with ``X-Hub-Signature-256`` as Meta
signs them, go one after another through a router over ``whatsapp.meta``: verification, parsing,
the dedupe claim, status precedence and a counting handler. The baseline is what any receiver
must do at least: ``hmac.new`` + ``compare_digest`` over the raw body, then ``json.loads``.
Timed in process CPU time on one core; variants interleaved over several rounds, medians
printed with their ratio to the baseline.

    python benchmarks/whatsapp_webhooks.py [--requests 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import statistics
import time

import attrs
from omnichannel_whatsapp import MetaWhatsappAdapter, MetaWhatsappSettings
from omnichannel_whatsapp.webhooks import SIGNATURE_HEADER, notification, signed_request

from omnichannel import PluginHost, Router, StatusUpdate, WebhookRequest
from omnichannel.plugin import AdapterContext, build_settings

APP_SECRET = "6f1c2b3a4d5e6f708192a3b4c5d6e7f8"
PHONE_NUMBER_ID = "106540352242922"
URL = "https://hooks.example.test/webhooks/whatsapp"


def _adapter() -> MetaWhatsappAdapter:
    values = {
        "access_token": "EAAbenchmark0access0token",
        "phone_number_id": PHONE_NUMBER_ID,
        "app_secret": APP_SECRET,
        "verify_token": "benchmark-verify-token",
    }
    settings = build_settings(MetaWhatsappSettings, values, where="benchmark")
    return MetaWhatsappAdapter(settings, AdapterContext(public_url="https://hooks.example.test"))


def _requests(count: int) -> list[WebhookRequest]:
    requests = []
    for index in range(count):
        status = {
            "id": f"wamid.HBgLMTQxNTU1NTAxOTkVAgARGBI{index:012d}",
            "status": "delivered",
            "timestamp": str(1749416995 + index),
            "recipient_id": "14155550199",
            "biz_opaque_callback_data": f"01JC{index:022d}",
            "pricing": {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            },
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [status],
        }
        requests.append(signed_request(URL, notification(value), APP_SECRET))
    return requests


async def _through_router(requests: list[WebhookRequest]) -> float:
    router = Router([_adapter()], host=PluginHost())
    received = [0]

    def count(update: StatusUpdate) -> None:  # count, not keep: a kept update is GC work
        received[0] += 1

    router.on_status(count, inline=True)
    started = time.process_time()
    for request in requests:
        response = await router.handle_webhook("whatsapp", request)
        if response.status_code != 200:
            raise SystemExit(f"a signed status webhook was refused ({response.status_code})")
    elapsed = time.process_time() - started
    if received[0] != len(requests):
        raise SystemExit(f"{received[0]} of {len(requests)} statuses dispatched")
    return len(requests) / elapsed


def _bare(requests: list[WebhookRequest]) -> float:
    key = APP_SECRET.encode()
    started = time.process_time()
    for request in requests:
        digest = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(digest, request.header(SIGNATURE_HEADER) or ""):
            raise SystemExit("the baseline refused a genuine signature")
        json.loads(request.body)
    return len(requests) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    requests = _requests(args.requests)
    gc.freeze()  # the prepared requests live for the whole run
    results: dict[str, list[float]] = {
        "bare HMAC check + json.loads": [],
        "Router.handle_webhook": [],
    }
    for _ in range(args.rounds):
        results["bare HMAC check + json.loads"].append(_bare(requests))
        # Fresh copies: a request caches what it parsed, and each arrives once.
        fresh = [attrs.evolve(request) for request in requests]
        results["Router.handle_webhook"].append(asyncio.run(_through_router(fresh)))
    baseline = statistics.median(results["bare HMAC check + json.loads"])
    print(
        f"{args.requests} distinct signed WhatsApp status webhooks, one core, median of "
        f"{args.rounds} interleaved rounds"
    )
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"  {name:<30} {median:>10,.0f} /s   {median / baseline:6.3f}x bare")


if __name__ == "__main__":
    main()
