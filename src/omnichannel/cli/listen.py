"""``omni listen``: serve the webhook app, poll the pull channels, and print every message and
status as it arrives."""

from __future__ import annotations

import logging

import anyio
import attrs
import click

from omnichannel.cli._shared import config_option, json_option, load, print_line
from omnichannel.envelope import Envelope
from omnichannel.events import StatusUpdate
from omnichannel.forwarding import parse_networks
from omnichannel.polling import Poller
from omnichannel.router import Router
from omnichannel.serving import DEFAULT_HEAD_TIMEOUT, DEFAULT_LIMIT_CONCURRENCY, bind, build_server
from omnichannel.web import WebhookApp

SCHEDULER_INTERVAL_SECONDS = 1.0

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional controls
# (a right-to-left override can make a line read as something else).
_UNPRINTABLE = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPES = {
    code: _NAMED_ESCAPES.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _UNPRINTABLE
}


def _printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so what a customer
    or provider sent cannot forge a line or drive the terminal."""
    return text.translate(_ESCAPES)


def render_message(envelope: Envelope) -> str:
    """The human form of an inbound message, on one line whatever the message holds."""
    sender = envelope.sender.value if envelope.sender else "?"
    flags = "".join(f" [{key}={value}]" for key, value in envelope.metadata.items())
    return _printable(f"message {envelope.channel} from {sender}: {envelope.content.text}{flags}")


def render_status(update: StatusUpdate) -> str:
    """The human form of a status update, on one line whatever the provider sent."""
    reason = f" ({update.reason.value}: {update.provider_code})" if update.reason else ""
    about = update.envelope_id or "unknown envelope"
    return _printable(
        f"status {update.channel} {update.provider_id} -> {update.status.value}{reason} [{about}]"
    )


def attach_printers(router: Router, as_json: bool) -> None:
    """Print messages and statuses as the router dispatches them."""

    def on_message(envelope: Envelope) -> None:
        if as_json:
            print_line({"type": "message", "envelope": envelope.to_dict()})
        else:
            click.echo(render_message(envelope))

    def on_status(update: StatusUpdate) -> None:
        if as_json:
            print_line({"type": "status", "status": update.to_dict()})
        else:
            click.echo(render_status(update))

    router.on_message(on_message, inline=True)
    router.on_status(on_status, inline=True)


async def run_scheduler(router: Router) -> None:
    """Place scheduled envelopes when they come due (kept in memory until an outbox exists)."""
    while True:
        await router.send_due()
        await router.release_held_statuses()
        await anyio.sleep(SCHEDULER_INTERVAL_SECONDS)


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--public-url",
    default=None,
    help="The URL providers call (overrides webhooks.public_url); signatures use it.",
)
@click.option(
    "--trust-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDR",
    help="Believe X-Forwarded-*/Forwarded headers from this proxy address or network "
    "(repeatable; added to webhooks.trusted_proxies). Used only without a public URL.",
)
@click.option(
    "--limit-concurrency",
    default=DEFAULT_LIMIT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(min=1),
    help="Connections served at once; more are answered 503.",
)
@click.option(
    "--read-timeout",
    default=DEFAULT_HEAD_TIMEOUT,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send its request head, and again its body.",
)
@json_option
def listen(
    config_path: str | None,
    host: str,
    port: int,
    public_url: str | None,
    trusted_proxies: tuple[str, ...],
    limit_concurrency: int,
    read_timeout: float,
    as_json: bool,
) -> None:
    """Serve /webhooks/{channel}; print inbound messages and statuses (JSON lines: --json)."""
    logging.basicConfig(level=logging.WARNING, format="omni: %(levelname)s %(name)s: %(message)s")
    config, plugin_host = load(config_path)
    if public_url:
        # The adapters build their status-callback URLs from the same public URL.
        config = attrs.evolve(config, public_url=public_url.rstrip("/"))
    proxies = (*config.trusted_proxies, *trusted_proxies)
    parse_networks(trusted_proxies, where="--trust-proxy")
    sock = bind(host, port)
    base = config.public_url or f"http://{host}:{sock.getsockname()[1]}"

    async def run() -> None:
        async with Router.from_config(config, host=plugin_host) as router:
            attach_printers(router, as_json)
            app = WebhookApp.for_router(router, trusted_proxies=proxies, read_timeout=read_timeout)
            if not as_json:
                click.echo(
                    f"listening on {base}/webhooks/{{channel}} for: "
                    f"{', '.join(router.channels) or 'no channels'}"
                )
            server = build_server(
                app, limit_concurrency=limit_concurrency, head_timeout=read_timeout
            )
            async with anyio.create_task_group() as group:
                group.start_soon(run_scheduler, router)
                poller = Poller(router)
                if poller.channels:
                    group.start_soon(poller.run)
                await server.serve(sockets=[sock])
                group.cancel_scope.cancel()

    anyio.run(run)
