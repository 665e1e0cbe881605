"""``omni worker``: work the durable store (outbox, inbox, timers, pollers) until stopped.

SIGTERM (and Ctrl-C) stop claiming and let the sends and handlers in flight finish before the
process exits: a deploy that stops a worker loses nothing and leaves nothing ``sending``.
"""

from __future__ import annotations

import signal
from datetime import timedelta

import anyio
import click

from omnichannel.cli._shared import (
    config_option,
    json_option,
    load,
    print_line,
    start_up_heap_frozen,
)
from omnichannel.durable import StorePolicy
from omnichannel.router import Router
from omnichannel.worker import DEFAULT_BATCH, DEFAULT_CONCURRENCY, DEFAULT_IDLE_INTERVAL, Worker

__all__ = ["run_worker", "worker"]


async def run_worker(router: Router, worker: Worker, *, announce: bool = True) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then drain it: the sends and handlers in
    flight finish and are settled. After SIGINT it raises KeyboardInterrupt (exit 130)."""
    received: list[int] = []
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as group:

            async def stop_on_signal() -> None:
                async for number in signals:
                    received.append(number)
                    if announce and worker.in_flight:
                        click.echo(
                            f"stopping: finishing {worker.in_flight} send(s) and handler(s) "
                            "in flight",
                            err=True,
                        )
                    worker.stop()
                    return

            group.start_soon(stop_on_signal)
            try:
                await worker.run()
            finally:
                group.cancel_scope.cancel()
    if signal.SIGINT in received:
        raise KeyboardInterrupt


@click.command()
@config_option
@click.option(
    "--concurrency",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sends made at once.",
)
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(min=1),
    help="Inbox events and timers claimed per pass (sends: --concurrency at a time).",
)
@click.option(
    "--idle",
    "idle_interval",
    default=DEFAULT_IDLE_INTERVAL,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between looks at the store while no wake-up arrives.",
)
@click.option(
    "--lease",
    "lease_seconds",
    default=StorePolicy().lease.total_seconds(),
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds this worker holds what it claims between heartbeats; a send left by a "
    "dead worker is settled unknown this long after its last heartbeat.",
)
@click.option("--no-poll", is_flag=True, help="Do not poll the pull channels here.")
@json_option
def worker(
    config_path: str | None,
    concurrency: int,
    batch: int,
    idle_interval: float,
    lease_seconds: float,
    no_poll: bool,
    as_json: bool,
) -> None:
    """Send the outbox, handle the inbox, fire timers and poll, until stopped (SIGTERM
    finishes the work in flight first)."""
    config, plugin_host = load(config_path)

    async def run() -> None:
        policy = StorePolicy(lease=timedelta(seconds=lease_seconds))
        router = Router.from_config(config, host=plugin_host, worker=True, store_policy=policy)
        async with router:
            store = router.store
            if store is None:
                raise click.UsageError(
                    '[store] url = "memory" keeps no outbox for a worker; set a store URL'
                )
            runner = Worker(
                router,
                concurrency=concurrency,
                batch=batch,
                idle_interval=idle_interval,
                poll=not no_poll,
            )
            if as_json:
                print_line(
                    {
                        "type": "worker",
                        "worker": router.worker_id,
                        "store": store.url,
                        "channels": router.channels,
                    }
                )
            else:
                click.echo(
                    f"worker {router.worker_id} on {store.url} for: "
                    f"{', '.join(router.channels) or 'no channels'}"
                )
            with start_up_heap_frozen():
                await run_worker(router, runner, announce=not as_json)
            if not as_json:
                click.echo("worker stopped", err=True)

    anyio.run(run)
