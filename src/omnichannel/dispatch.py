"""Inbound dispatch: what happens to verified messages and statuses before and in the handlers.

Providers deliver at least once, concurrently and in no order, and a handler may fail or
hang. The :class:`Dispatcher` makes that safe:

* every event is **claimed first**, by its dedupe key (the provider's message id; channel,
  provider id, status and sequence for a status), before anything runs: a concurrent copy
  finds the claim and is acknowledged without running a handler;
* handlers run **once each**: the claim records which handlers completed, so the provider's
  retry after a failure re-runs only the handlers that failed, and a status whose handler
  failed is delivered again on the retry (the tracker applied it only once);
* handlers **never block the server**: a sync handler runs in a worker thread, every handler
  under ``handler_timeout``; a timed-out handler counts as failed (logged; the provider gets
  a 500 and retries).

The claims are kept in a bounded in-memory :class:`InboundLedger`; the durable store keeps them
in its inbox table under a unique key, across restarts and workers.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Any, Final

import anyio
import attrs

from omnichannel.envelope import AddressKind, Envelope
from omnichannel.errors import InvalidAddress
from omnichannel.events import FailureReason, StatusUpdate
from omnichannel.hookvalues import Inbound
from omnichannel.mappings import BoundedDict
from omnichannel.plugins import PluginHost
from omnichannel.sessions import NumberedMenus, SessionWindows
from omnichannel.tracking import StatusTracker

__all__ = ["Dispatcher", "HandlerFailed", "InboundClaim", "InboundLedger"]

logger = logging.getLogger("omnichannel.dispatch")

DEFAULT_LEDGER_LIMIT: Final = 100_000

MessageHandler = Callable[[Envelope], Awaitable[None] | None]
StatusHandler = Callable[[StatusUpdate], Awaitable[None] | None]


class HandlerFailed(Exception):
    """A handler raised or ran out of time; the provider must be told to retry (or, with a
    store, the inbox retries it). ``str()`` is the handler's name; ``why`` says what went
    wrong."""

    def __init__(self, handler: str, why: str = "") -> None:
        super().__init__(handler)
        self.handler = handler
        self.why = why


@attrs.define
class InboundClaim:
    """One inbound event, claimed: what was computed for it and which handlers completed."""

    key: Hashable
    payload: Any = None
    """What the handlers get (the enriched envelope; the statuses the tracker applied)."""
    done: set[tuple[int, int]] = attrs.field(factory=set)
    """(handler index, item index) pairs that completed."""
    in_flight: bool = True
    complete: bool = False
    fresh: bool = True
    """True the first time the event is claimed; False on a provider's retry."""


# What the ledger keeps for an event handled for good: one shared marker, so the claim, its
# payload and its record of completed handlers are freed (most events complete at once).
_COMPLETE: Final = InboundClaim(key=None, in_flight=False, complete=True, fresh=False)


class InboundLedger:
    """Claims on inbound events by dedupe key, in memory and bounded."""

    def __init__(self, *, limit: int = DEFAULT_LEDGER_LIMIT) -> None:
        self._claims: BoundedDict[Hashable, InboundClaim] = BoundedDict(limit)

    def claim(self, key: Hashable) -> InboundClaim | None:
        """Claim ``key``; None when it is complete or another copy is being handled now."""
        claim = self._claims.get(key)
        if claim is None:
            claim = InboundClaim(key=key)
            self._claims[key] = claim
            return claim
        if claim.complete or claim.in_flight:
            return None
        claim.in_flight, claim.fresh = True, False
        return claim

    def release(self, claim: InboundClaim) -> None:
        """Give a claim back after a failure, so the provider's retry can take it again."""
        claim.in_flight = False

    def complete(self, claim: InboundClaim) -> None:
        """Mark a claim done for good: later copies are acknowledged and dropped."""
        claim.in_flight, claim.complete, claim.payload = False, True, None
        if self._claims.get(claim.key) is claim:
            self._claims[claim.key] = _COMPLETE


class Dispatcher:
    """Runs verified inbound events through the claims, the hooks and the handlers."""

    def __init__(
        self,
        *,
        host: PluginHost,
        statuses: StatusTracker,
        windows: SessionWindows,
        menus: NumberedMenus,
        address_kind_of: Callable[[str], AddressKind | None],
        adapter_name_of: Callable[[str], str],
        clock: Callable[[], datetime],
        handler_timeout: float,
        ledger: InboundLedger | None = None,
        on_outside_window: Callable[[StatusUpdate], Awaitable[None]] | None = None,
        has_session_window: Callable[[str], bool] | None = None,
    ) -> None:
        self.host = host
        self.statuses = statuses
        self.windows = windows
        self.menus = menus
        self.ledger = ledger if ledger is not None else InboundLedger()
        self.handler_timeout = handler_timeout
        self._address_kind_of = address_kind_of
        self._adapter_name_of = adapter_name_of
        self._clock = clock
        self._on_outside_window = on_outside_window
        # Windows are read only on channels that have one: elsewhere a record would be kept
        # (and remembered, up to the bound) for nothing.
        self._has_session_window = has_session_window or (lambda channel: True)
        self.message_handlers: list[tuple[MessageHandler, bool]] = []
        self.status_handlers: list[tuple[StatusHandler, bool]] = []

    # -- messages -----------------------------------------------------------------------------

    async def message(self, message: Envelope) -> None:
        """Claim, enrich and hand one inbound message to the handlers."""
        claim = self.ledger.claim(("message", message.channel, message.provider_id or message.id))
        if claim is None:
            logger.debug("dropping duplicate %s message %s", message.channel, message.provider_id)
            return
        try:
            if claim.fresh:
                claim.payload = self.first_sight(message)
            envelope: Envelope | None = claim.payload
            if envelope is not None:
                await self._run_all(claim, self.message_handlers, [envelope])
        except BaseException:
            self.ledger.release(claim)
            raise
        self.ledger.complete(claim)

    def first_sight(self, message: Envelope, *, record_window: bool = True) -> Envelope | None:
        """What a message is once seen: its numbered-menu choice read, its window recorded
        (unless the durable store already did), the inbound hooks run. None when a hook
        dropped it."""
        customer, business = self.customer_of(message)
        message = self._with_choice(message, customer, business)
        if record_window and customer is not None and self._has_session_window(message.channel):
            self.windows.record(message.channel, business, customer, message.created_at)
        inbound = Inbound(envelope=message, adapter=self._adapter_name_of(message.channel))
        self.host.inbound(inbound)
        if inbound.dropped is not None:
            logger.info("an inbound hook dropped %s message: %s", message.channel, inbound.dropped)
            return None
        self.host.message_received(inbound.envelope)
        return inbound.envelope

    def customer_of(self, envelope: Envelope) -> tuple[str | None, str | None]:
        """The (customer, business address) of an inbound message, the customer's address
        normalised as its channel's kind; the customer is None when the message has no
        sender."""
        sender = envelope.sender
        business = envelope.business_address or envelope.recipient
        if sender is None:
            return None, business.value
        kind = self._address_kind_of(envelope.channel)
        value = sender.value
        if kind is not None:
            # The sender came from the provider: E.164 as sent is canonical already.
            with contextlib.suppress(InvalidAddress):
                value = kind.normalize_provided(value, channel=envelope.channel)
        return value, business.value

    def record_inbound(self, envelope: Envelope) -> None:
        """Note that the customer wrote: it opens the channel's session window from then."""
        customer, business = self.customer_of(envelope)
        if customer is not None and self._has_session_window(envelope.channel):
            self.windows.record(envelope.channel, business, customer, envelope.created_at)

    def _with_choice(
        self, message: Envelope, customer: str | None, business: str | None
    ) -> Envelope:
        content = message.content
        if content.choice is not None or not content.text or customer is None:
            return message
        choice = self.menus.choice_for(
            message.channel, business, customer, content.text, self._clock()
        )
        if choice is None:
            return message
        return attrs.evolve(message, content=attrs.evolve(content, choice=choice))

    # -- statuses -----------------------------------------------------------------------------

    async def status(self, update: StatusUpdate) -> None:
        """Claim, apply by precedence and hand one status update to the handlers."""
        key = ("status", update.channel, update.provider_id, update.status.value, update.sequence)
        claim = self.ledger.claim(key)
        if claim is None:
            return
        try:
            if claim.fresh:
                claim.payload = self.statuses.receive(update)
                for applied in claim.payload:
                    self.host.status_received(applied)
            await self._run_all(claim, self.status_handlers, claim.payload)
        except BaseException:
            self.ledger.release(claim)
            raise
        applied_updates: list[StatusUpdate] = claim.payload
        self.ledger.complete(claim)
        if self._on_outside_window is not None:
            for applied in applied_updates:
                if applied.status.is_failure and applied.reason is FailureReason.OUTSIDE_WINDOW:
                    await self._on_outside_window(applied)

    async def released(self) -> None:
        """Hand on status updates whose wait for a missing predecessor has run out."""
        for applied in self.statuses.release_held():
            self.host.status_received(applied)
            await self._run_each(self.status_handlers, applied)

    # -- handlers -----------------------------------------------------------------------------

    async def _run_all(
        self,
        claim: InboundClaim,
        handlers: list[tuple[Callable[[Any], Awaitable[None] | None], bool]],
        items: list[Any],
    ) -> None:
        failed: HandlerFailed | None = None
        for item_index, item in enumerate(items):
            for handler_index, (handler, inline) in enumerate(handlers):
                if (handler_index, item_index) in claim.done:
                    continue
                try:
                    await self.run(handler, inline, item)
                except HandlerFailed as error:
                    failed = failed or error
                    continue
                claim.done.add((handler_index, item_index))
        if failed is not None:
            raise failed

    async def _run_each(
        self, handlers: list[tuple[Callable[[Any], Awaitable[None] | None], bool]], item: Any
    ) -> None:
        for handler, inline in handlers:
            try:
                await self.run(handler, inline, item)
            except HandlerFailed:
                continue

    async def run(
        self, handler: Callable[[Any], Awaitable[None] | None], inline: bool, item: Any
    ) -> None:
        """Run one handler on ``item`` under the timeout (a sync one in a worker thread unless
        ``inline``); :class:`HandlerFailed` when it raised or ran out of time."""
        try:
            if inline or inspect.iscoroutinefunction(handler):
                result = handler(item)
                if not inspect.isawaitable(result):
                    # A sync handler run inline has finished: there is nothing a timeout
                    # could have interrupted, so no cancel scope is set up for it.
                    return
                with anyio.fail_after(self.handler_timeout):
                    await result
            else:
                with anyio.fail_after(self.handler_timeout):
                    result = await anyio.to_thread.run_sync(
                        functools.partial(handler, item), abandon_on_cancel=True
                    )
                    if inspect.isawaitable(result):
                        await result
        except TimeoutError:
            name = _name_of(handler)
            logger.error(
                "handler %s took longer than %gs; answering as failed", name, self.handler_timeout
            )
            raise HandlerFailed(name, f"took longer than {self.handler_timeout:g}s") from None
        except Exception as exc:
            name = _name_of(handler)
            logger.exception("handler %s raised", name)
            raise HandlerFailed(name, f"{type(exc).__name__}: {exc}") from exc


def _name_of(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
