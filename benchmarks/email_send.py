"""Sends per second through the router (email.smtp: pooled aiosmtplib connections) against
aiosmtplib called directly on one reused connection, both against the same aiosmtpd on
loopback in the same run. Prints the figures and the ratio; never part of the tests.

    python benchmarks/email_send.py [--count 2000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).parent))
from _harness import gather_rate
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSettings
from omnichannel_email.simulator import free_port

from omnichannel import Address, Envelope, PluginHost, Router
from omnichannel.plugin import AdapterContext, build_settings


class _Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


async def main(count: int, concurrency: int) -> None:
    port = free_port()
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        direct = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await direct.connect()
        lock = asyncio.Lock()

        async def bare() -> None:
            message = EmailMessage()
            message["From"], message["To"] = "support@acme.example", "customer@example.com"
            message["Subject"] = "Your order shipped"
            message.set_content("Your order shipped")
            async with lock:  # one connection carries one transaction at a time
                await direct.send_message(message)

        settings = build_settings(
            SmtpEmailSettings,
            {
                "from": "support@acme.example",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "pool_size": concurrency,
            },
            where="benchmark",
        )
        router = Router([SmtpEmailAdapter(settings, AdapterContext())], host=PluginHost())
        recipient = Address(channel="email", value="customer@example.com")

        async def ours() -> None:
            await router.send(
                Envelope(channel="email", recipient=recipient, content="Your order shipped")
            )

        baseline = await gather_rate(count, concurrency, bare)
        routed = await gather_rate(count, concurrency, ours)
        print(f"aiosmtplib direct, one connection: {baseline:8.0f} sends/s")
        print(f"router, email.smtp (pool {concurrency}):   {routed:8.0f} sends/s")
        print(f"ratio router/direct: {routed / baseline:.2f}x")
        await direct.quit()
        await router.aclose()
    finally:
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args()
    asyncio.run(main(options.count, options.concurrency))
