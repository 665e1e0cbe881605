"""A small support desk: replies on the customer's channel and escalates to a voice callback.

A customer texts; the desk answers on the same channel, thread and business number. When the
customer asks to be called ("call me"), the desk places a voice callback to the same number,
connecting an agent, in the same conversation, then confirms on the original channel.

    python examples/support_desk.py [--config examples/omnichannel.toml] [--port 8080]
"""

from __future__ import annotations

import argparse
import re

import anyio

from omnichannel import Config, Envelope, Router, StatusUpdate, load_config
from omnichannel.plugin import Sender
from omnichannel.serving import bind, build_server
from omnichannel.web import WebhookApp

CALL_ME = re.compile(r"\b(call|phone|ring)\s+me\b", re.IGNORECASE)


def build_router(config: Config, sender: Sender | None = None) -> Router:
    """The router with the desk's handlers attached (``sender``: tests inject a transport)."""
    router = Router.from_config(config, sender=sender)

    @router.on_message
    async def answer(message: Envelope) -> None:
        print(
            f"<- {message.channel} {message.sender.value if message.sender else '?'}: "
            f"{message.content.text}"
        )
        if message.metadata.get("opt_out") == "stop":
            return  # the customer opted out: the provider blocks further messages anyway
        if CALL_ME.search(message.content.text) and "voice" in router.channels:
            call = message.reply(
                "Hello, this is Acme support calling you back as requested.", channel="voice"
            )
            receipt = await router.send(call)
            print(f"-> voice callback {receipt.provider_id}")
            await router.reply(message, "We are calling you now.")
            return
        receipt = await router.reply(message, "Thanks, an agent will answer shortly.")
        print(f"-> {receipt.channel} {receipt.provider_id}")

    @router.on_status
    def track(update: StatusUpdate) -> None:
        print(f"   status {update.channel} {update.provider_id}: {update.status.value}")

    return router


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="examples/omnichannel.toml")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    router = build_router(load_config(args.config))
    app = WebhookApp.for_router(router)

    sock = bind("127.0.0.1", args.port)

    async def serve() -> None:
        async with router:
            await build_server(app).serve(sockets=[sock])

    anyio.run(serve)


if __name__ == "__main__":
    main()
