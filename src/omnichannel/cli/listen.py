"""``omni listen``: serve the webhook app, poll the pull channels, and print every message,
status and refused request as it arrives (``--record`` keeps the accepted requests for
``omni replay``)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio
import attrs
import click

from omnichannel.adapter import WebhookRequest, WebhookResponse
from omnichannel.cli._events import (
    DEFAULT_TEXT_LIMIT,
    printable,
    render_message,
    render_rejected,
    render_status,
)
from omnichannel.cli._output import quiet_logger, warn
from omnichannel.cli._recording import Recorder
from omnichannel.cli._shared import (
    adapter_secrets,
    config_option,
    json_option,
    load,
    print_line,
    start_up_heap_frozen,
)
from omnichannel.envelope import Envelope
from omnichannel.events import StatusUpdate
from omnichannel.forwarding import parse_networks
from omnichannel.polling import Poller
from omnichannel.router import Router
from omnichannel.serving import DEFAULT_HEAD_TIMEOUT, DEFAULT_LIMIT_CONCURRENCY, bind, build_server
from omnichannel.web import WebhookApp
from omnichannel.worker import Worker

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "EVENT_TYPES",
    "attach_printers",
    "listen",
    "printable",
    "render_message",
    "render_status",
    "run_scheduler",
]

SCHEDULER_INTERVAL_SECONDS = 1.0
EVENT_TYPES: Final = ("message", "status", "rejected")
# The answers of handle_webhook that refuse a request: anything else passed verification.
_REFUSED: Final = frozenset({400, 403, 404})

RejectedPrinter = Callable[[str, int, str], None]


def attach_printers(
    router: Router,
    as_json: bool,
    *,
    channels: Collection[str] = (),
    types: Collection[str] = (),
    text_limit: int | None = None,
) -> RejectedPrinter:
    """Print messages, statuses and refused requests as the router dispatches them, only
    those of ``channels`` and ``types`` when given; returns the printer of refusals (for the
    ones the webhook app makes itself)."""

    def shown(kind: str, channel: str) -> bool:
        return (not types or kind in types) and (not channels or channel in channels)

    def on_message(envelope: Envelope) -> None:
        if not shown("message", envelope.channel):
            return
        if as_json:
            print_line({"type": "message", "envelope": envelope.to_dict()})
        else:
            click.echo(render_message(envelope, limit=text_limit))

    def on_status(update: StatusUpdate) -> None:
        if not shown("status", update.channel):
            return
        if as_json:
            print_line({"type": "status", "status": update.to_dict()})
        else:
            click.echo(render_status(update))

    def on_rejected(channel: str, status_code: int, reason: str) -> None:
        if not shown("rejected", channel):
            return
        if as_json:
            print_line(
                {
                    "type": "rejected",
                    "channel": channel,
                    "status_code": status_code,
                    "reason": reason,
                }
            )
        else:
            click.echo(render_rejected(channel, status_code, reason))

    router.on_message(on_message, inline=True)
    router.on_status(on_status, inline=True)
    router.on_rejected(on_rejected)
    return on_rejected


async def run_scheduler(router: Router) -> None:
    """Without a store: place scheduled envelopes when they come due (kept in memory) and
    pass on held statuses. With one, the worker does this from the store."""
    while True:
        await router.send_due()
        await router.release_held_statuses()
        await anyio.sleep(SCHEDULER_INTERVAL_SECONDS)


def _recording_handler(
    router: Router, recorder: Recorder
) -> Callable[[str, WebhookRequest], Awaitable[WebhookResponse]]:
    async def handle(channel: str, request: WebhookRequest) -> WebhookResponse:
        response = await router.handle_webhook(channel, request)
        if response.status_code not in _REFUSED:
            recorder.write(channel, request)
        return response

    return handle


def _secrets_of(router: Router) -> Callable[[str], list[str]]:
    return lambda channel: adapter_secrets(router.adapter(channel))


def _banner(router: Router, bound: str, public_url: str | None) -> list[str]:
    channels = ", ".join(router.channels) or "no channels"
    lines = [f"listening on {bound} for: {channels}"]
    if public_url:
        lines.append(f"signatures checked against {public_url}/webhooks/{{channel}}")
    else:
        lines.append(
            f"signatures checked against the URL each request arrived on "
            f"({bound}/webhooks/{{channel}}); set --public-url when providers call another"
        )
    return lines


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
@click.option(
    "--channel",
    "only_channels",
    multiple=True,
    metavar="CHANNEL",
    help="Print only this channel's events (repeatable).",
)
@click.option(
    "--type",
    "only_types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Print only events of this type (repeatable).",
)
@click.option(
    "--full",
    is_flag=True,
    help=f"Print whole message texts (otherwise cut at {DEFAULT_TEXT_LIMIT} characters).",
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append every accepted request to FILE as JSON lines, for omni replay.",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Only write webhook events to the store's inbox; an omni worker handles them and "
    "sends the outbox.",
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
    only_channels: tuple[str, ...],
    only_types: tuple[str, ...],
    full: bool,
    record_path: Path | None,
    no_worker: bool,
    as_json: bool,
) -> None:
    """Serve /webhooks/{channel}; print inbound messages, statuses and refused requests
    (JSON lines: --json)."""
    # Refused requests are printed as events; the router's log line would repeat each one.
    quiet_logger("omnichannel.router")
    config, plugin_host = load(config_path)
    if public_url:
        # The adapters build their status-callback URLs from the same public URL.
        config = attrs.evolve(config, public_url=public_url.rstrip("/"))
    proxies = (*config.trusted_proxies, *trusted_proxies)
    parse_networks(trusted_proxies, where="--trust-proxy")
    sock = bind(host, port)
    bound = f"http://{host}:{sock.getsockname()[1]}"

    async def run() -> None:
        router = Router.from_config(
            config, host=plugin_host, worker=not no_worker, handle_inline=not no_worker
        )
        async with router:
            if no_worker and router.store is None:
                raise click.UsageError("--no-worker needs a durable store ([store] url)")
            unknown = sorted(set(only_channels) - set(router.channels))
            if unknown:
                warn(f"--channel {', '.join(unknown)}: not configured; nothing will match")
            on_rejected = attach_printers(
                router,
                as_json,
                channels=only_channels,
                types=only_types,
                text_limit=None if full else DEFAULT_TEXT_LIMIT,
            )
            app = WebhookApp.for_router(
                router, trusted_proxies=proxies, read_timeout=read_timeout, on_rejected=on_rejected
            )
            recorder = (
                Recorder(record_path, secrets_of=_secrets_of(router)) if record_path else None
            )
            if recorder is not None:
                app.handler = _recording_handler(router, recorder)
            if as_json:
                print_line(
                    {
                        "type": "listening",
                        "address": bound,
                        "public_url": config.public_url,
                        "channels": router.channels,
                    }
                )
            else:
                for line in _banner(router, bound, config.public_url):
                    click.echo(line)
                if recorder is not None:
                    click.echo(f"recording accepted requests to {recorder.path}")
            if config.public_url and config.public_url != bound:
                warn(
                    f"the public URL {config.public_url} is not this listener's address "
                    f"{bound}: providers reach it only through a tunnel or proxy forwarding there"
                )
            server = build_server(
                app, limit_concurrency=limit_concurrency, head_timeout=read_timeout
            )
            try:
                with start_up_heap_frozen():
                    await _serve(router, server, sock, no_worker=no_worker)
            finally:
                if recorder is not None:
                    recorder.close()

    anyio.run(run)


async def _serve(
    router: Router, server: uvicorn.Server, sock: socket.socket, *, no_worker: bool
) -> None:
    """Serve the webhook app on ``sock`` beside the router's background work (a worker on a
    store, unless ``no_worker``; else the scheduler and the pollers) until the server stops."""
    async with anyio.create_task_group() as group:
        if router.store is None:
            group.start_soon(run_scheduler, router)
            poller = Poller(router)
            if poller.channels:
                group.start_soon(poller.run)
        elif not no_worker:
            # The worker drains on shutdown: shielded passes finish their sends.
            group.start_soon(Worker(router).run)
        await server.serve(sockets=[sock])
        group.cancel_scope.cancel()
