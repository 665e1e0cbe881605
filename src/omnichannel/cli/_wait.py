"""``omni send --wait``: send with a temporary listener, and follow the message's statuses.

The listener is bound on a free loopback port and the router is built with its address as
the public URL, so the adapters put it in the message's own status-callback URL: providers
(and simulators) that post to the per-message callback reach it even while an ``omni
listen`` runs on the configured URL. A provider that posts every status to one webhook URL
configured at the provider reaches that ``omni listen`` instead: with a durable store, the
status it records there is read back every second and reported too.

The outcome (:func:`verdict`): 0 once the message is delivered (or read), or reached the best
status its channel reports (a completed call, a sent message where delivery is never
reported); 1 when it failed (failed, undelivered, busy, no answer, canceled, expired);
3 when the time ran out first.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import anyio
import anyio.abc
import attrs
import uvicorn

from omnichannel.adapter import SendReceipt
from omnichannel.capabilities import Capabilities, InboundMode
from omnichannel.cli import EXIT_FAILURE, EXIT_OK, EXIT_TIMEOUT
from omnichannel.config import Config
from omnichannel.envelope import Envelope
from omnichannel.errors import ConfigurationError
from omnichannel.events import DeliveryStatus, StatusUpdate
from omnichannel.plugins import PluginHost
from omnichannel.polling import Poller
from omnichannel.router import Router
from omnichannel.serving import bind, build_server
from omnichannel.web import WebhookApp

if TYPE_CHECKING:
    from omnichannel.store import Store

__all__ = ["Outcome", "goal_for", "send_and_follow", "store_statuses", "verdict"]

LOOPBACK: Final = "127.0.0.1"
_RELEASE_INTERVAL_SECONDS: Final = 0.5
_STORE_INTERVAL_SECONDS: Final = 1.0
# The best news each kind of channel can give, best first: a channel is followed until the
# first of these it declares in capabilities.statuses.
_GOALS: Final = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.COMPLETED,
    DeliveryStatus.ANSWERED,
    DeliveryStatus.SENT,
    DeliveryStatus.ACCEPTED,
)


@attrs.frozen(kw_only=True)
class Outcome:
    """How a followed send ended."""

    receipt: SendReceipt
    status: DeliveryStatus
    """The last status known."""
    goal: DeliveryStatus | None
    """What was waited for (None: the channel reports no statuses)."""
    exit_code: int
    note: str

    def to_dict(self) -> dict[str, object]:
        """The ``{"type": "outcome", ...}`` line of ``omni send --wait --json``."""
        return {
            "type": "outcome",
            "envelope_id": self.receipt.envelope_id,
            "status": self.status.value,
            "goal": self.goal.value if self.goal else None,
            "exit": self.exit_code,
            "note": self.note,
        }


def goal_for(capabilities: Capabilities) -> DeliveryStatus | None:
    """The status that counts as success on a channel: delivered (read implies it), else
    the best one the channel reports; None when it reports none."""
    return next((status for status in _GOALS if status in capabilities.statuses), None)


def verdict(status: DeliveryStatus, goal: DeliveryStatus | None) -> int | None:
    """The exit code ``status`` settles (0 reached ``goal``, 1 failed), or None: keep waiting."""
    if status.is_failure:
        return EXIT_FAILURE
    if goal is None or status.reached(goal):
        return EXIT_OK
    if goal is not DeliveryStatus.DELIVERED and status.reached(DeliveryStatus.DELIVERED):
        return EXIT_OK
    return None


async def _release_held(router: Router) -> None:
    # Statuses that arrived ahead of a missing predecessor wait in the tracker until then.
    while True:
        await anyio.sleep(_RELEASE_INTERVAL_SECONDS)
        await router.release_held_statuses()


async def _started(server: uvicorn.Server) -> None:
    while not server.started:  # uvicorn offers a flag, not an event  # noqa: ASYNC110
        await anyio.sleep(0.01)


async def store_statuses(
    store: Store,
    receipt: SendReceipt,
    report: Callable[[StatusUpdate], None],
    *,
    pause: Callable[[], Awaitable[None]],
) -> None:
    """After each ``pause``, read the status ``store`` holds for the receipt's envelope and
    ``report`` it when it changed (as a :class:`StatusUpdate` of the receipt's message):
    what a listener in another process recorded. Runs until cancelled."""
    last = receipt.status
    while True:
        await pause()
        status = await store.status_of(receipt.envelope_id)
        if status is None or status is last:
            continue
        last = status
        report(
            StatusUpdate(
                channel=receipt.channel,
                provider_id=receipt.provider_id or receipt.envelope_id,
                status=status,
                timestamp=datetime.now(UTC),
                envelope_id=receipt.envelope_id,
            )
        )


async def _follow(
    router: Router,
    envelope: Envelope,
    statuses: anyio.abc.ObjectReceiveStream[StatusUpdate],
    report: Callable[[StatusUpdate], None],
    *,
    seconds: float,
    on_receipt: Callable[[SendReceipt], None],
    on_status: Callable[[StatusUpdate], None],
) -> Outcome:
    receipt = await router.send(envelope)
    on_receipt(receipt)
    goal = goal_for(router.adapter(receipt.channel).capabilities)
    status = receipt.status
    code = verdict(status, goal)
    if code is not None:
        note = "the channel reports no statuses" if goal is None else f"{status.value}"
        return Outcome(receipt=receipt, status=status, goal=goal, exit_code=code, note=note)
    async with anyio.create_task_group() as group:
        store = router.store
        if store is not None:
            pause = functools.partial(anyio.sleep, _STORE_INTERVAL_SECONDS)
            group.start_soon(functools.partial(store_statuses, pause=pause), store, receipt, report)
        with anyio.move_on_after(seconds):
            async for update in statuses:
                if update.status is status:  # heard both here and through the store
                    continue
                on_status(update)
                status = update.status
                code = verdict(status, goal)
                if code is not None:
                    group.cancel_scope.cancel()
                    return Outcome(
                        receipt=receipt, status=status, goal=goal, exit_code=code, note=status.value
                    )
        group.cancel_scope.cancel()
    assert goal is not None
    return Outcome(
        receipt=receipt,
        status=status,
        goal=goal,
        exit_code=EXIT_TIMEOUT,
        note=f"timed out after {seconds:g}s waiting for {goal.value} (last status: {status.value})",
    )


async def send_and_follow(
    config: Config,
    host: PluginHost,
    envelope: Envelope,
    *,
    seconds: float,
    on_receipt: Callable[[SendReceipt], None],
    on_status: Callable[[StatusUpdate], None],
) -> Outcome:
    """Send ``envelope`` with a temporary listener receiving its status callbacks; call
    ``on_receipt`` and then ``on_status`` for each of its statuses as they come, until the
    :class:`Outcome` is known or ``seconds`` have passed.

    Raises what :meth:`Router.send` raises; the listener is shut down cleanly first.
    """
    sock = bind(LOOPBACK, 0)
    public_url = f"http://{LOOPBACK}:{sock.getsockname()[1]}"
    config = attrs.evolve(config, public_url=public_url)
    outcomes: list[Outcome] = []
    failures: list[Exception] = []
    sender, statuses = anyio.create_memory_object_stream[StatusUpdate](math.inf)
    async with Router.from_config(config, host=host) as router, sender, statuses:

        def follow(update: StatusUpdate) -> None:
            if update.envelope_id == envelope.id:
                sender.send_nowait(update)

        router.on_status(follow, inline=True)
        server = build_server(WebhookApp.for_router(router))

        async def exchange() -> None:
            try:
                await _started(server)
                outcomes.append(
                    await _follow(
                        router,
                        envelope,
                        statuses,
                        sender.send_nowait,
                        seconds=seconds,
                        on_receipt=on_receipt,
                        on_status=on_status,
                    )
                )
            except Exception as error:  # re-raised once the listener has shut down
                failures.append(error)
            finally:
                server.should_exit = True

        async with anyio.create_task_group() as group:
            group.start_soon(exchange)
            group.start_soon(_release_held, router)
            if InboundMode.POLL in router.adapter(envelope.channel).capabilities.inbound:
                group.start_soon(Poller(router).run)
            await functools.partial(server.serve, sockets=[sock])()
            group.cancel_scope.cancel()
    if failures:
        raise failures[0]
    if not outcomes:
        raise ConfigurationError(f"the temporary listener on {public_url} did not start")
    return outcomes[0]
