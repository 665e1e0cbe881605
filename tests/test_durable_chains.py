"""Status-driven failover chains on the store's timers: whatsapp -> sms -> voice while no
step is delivered in time, ended by a delivery, moved on at once by a failure, stopped by an
ambiguous outcome; every step a row of its own, every move in the history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from omnichannel import OutcomeUnknown, PluginHost, Router, RoutingPolicy
from omnichannel.errors import InvalidRecipient
from omnichannel.plugin import Capabilities
from omnichannel.store import OutboxState, Store
from omnichannel.testing import FakeAdapter, make_envelope
from omnichannel.testing.store_contract import Clock
from omnichannel.worker import Worker

pytestmark = pytest.mark.anyio

CUSTOMER = "+14155550199"
URGENT = {
    "urgent": {
        "steps": [
            {"channel": "whatsapp", "until": "delivered", "within": "5m"},
            {"channel": "sms", "until": "delivered", "within": "10m"},
            {"channel": "voice"},
        ]
    }
}
MESSAGING = Capabilities(
    address_kind="phone", statuses={"accepted", "sent", "delivered", "read", "failed"}
)
CALLS = Capabilities(address_kind="phone", statuses={"initiated", "completed", "failed"})


class Channels:
    def __init__(self, whatsapp: Any = None, sms: Any = None) -> None:
        self.whatsapp = FakeAdapter(whatsapp, channel="whatsapp", capabilities=MESSAGING)
        self.sms = FakeAdapter(sms, channel="sms", capabilities=MESSAGING)
        self.voice = FakeAdapter(channel="voice", capabilities=CALLS)

    def sent_on(self) -> list[str]:
        return [
            channel
            for channel, adapter in (
                ("whatsapp", self.whatsapp),
                ("sms", self.sms),
                ("voice", self.voice),
            )
            for _ in adapter.sent
        ]


def _router(store: Store, clock: Clock, channels: Channels) -> Router:
    return Router(
        [channels.whatsapp, channels.sms, channels.voice],
        host=PluginHost(),
        clock=clock,
        store=store,
        policy=RoutingPolicy(chains=URGENT),
    )


async def _notes(store: Store, envelope_id: str) -> list[str]:
    return [entry.to_state for entry in await store.history(envelope_id)]


def _status(adapter: FakeAdapter, provider_id: str, status: str) -> Any:
    return adapter.signed_request(
        f"https://hooks.example.test/webhooks/{adapter.info.channel}",
        {"type": "status", "provider_id": provider_id, "status": status},
    )


async def test_the_chain_moves_whatsapp_sms_voice_on_its_timers(store: Store, clock: Clock) -> None:
    channels = Channels()
    router = _router(store, clock, channels)
    worker = Worker(router)
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER, text="your card was blocked")
    receipt = await router.send(envelope, chain="urgent")
    assert receipt.channel == "whatsapp"
    assert channels.sent_on() == ["whatsapp"]
    clock.advance(timedelta(minutes=4, seconds=59))
    await worker.run_once()
    assert channels.sent_on() == ["whatsapp"]
    clock.advance(timedelta(seconds=1))
    await worker.run_once()  # the timer fires: step 1 is queued
    await worker.run_once()
    assert channels.sent_on() == ["whatsapp", "sms"]
    clock.advance(timedelta(minutes=10))
    await worker.run_once()
    await worker.run_once()
    assert channels.sent_on() == ["whatsapp", "sms", "voice"]
    assert channels.voice.sent[0].content.text == "your card was blocked"

    hops = [await store.outbox_record(f"{envelope.id}{suffix}") for suffix in ("", ".1", ".2")]
    assert [(hop.channel, hop.chain_step, hop.state) for hop in hops if hop] == [
        ("whatsapp", 0, OutboxState.SENT),
        ("sms", 1, OutboxState.SENT),
        ("voice", 2, OutboxState.SENT),
    ]
    assert {hop.chain for hop in hops if hop} == {f"urgent:{envelope.id}"}
    assert await _notes(store, envelope.id) == [
        "queued", "sending", "sent", "superseded", "chain_next",
    ]  # fmt: skip
    history = await store.history(envelope.id)
    assert history[3].reason == "not delivered within 300s (it is accepted)"
    assert await _notes(store, f"{envelope.id}.2") == [
        "queued", "sending", "sent", "chain_last",
    ]  # fmt: skip


async def test_a_step_delivered_in_time_ends_the_chain(store: Store, clock: Clock) -> None:
    channels = Channels()
    router = _router(store, clock, channels)
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER)
    (provider_id,) = (await router.send(envelope, chain="urgent")).provider_ids
    clock.advance(timedelta(minutes=2))
    await router.handle_webhook("whatsapp", _status(channels.whatsapp, provider_id, "delivered"))
    clock.advance(timedelta(hours=1))
    worker = Worker(router)
    await worker.run_once()
    await worker.run_once()
    assert channels.sent_on() == ["whatsapp"]
    assert (await _notes(store, envelope.id))[-1] == "chain_done"


async def test_a_terminal_failure_moves_on_at_once(store: Store, clock: Clock) -> None:
    channels = Channels()
    router = _router(store, clock, channels)
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER)
    (provider_id,) = (await router.send(envelope, chain="urgent")).provider_ids
    await router.handle_webhook("whatsapp", _status(channels.whatsapp, provider_id, "failed"))
    await Worker(router).run_once()
    assert channels.sent_on() == ["whatsapp", "sms"]
    assert await store.timer(f"chain:{envelope.id}") is None


async def test_a_definite_send_failure_moves_on_at_once(store: Store, clock: Clock) -> None:
    def no_whatsapp(envelope: Any) -> str:
        raise InvalidRecipient("not a WhatsApp user")

    channels = Channels(whatsapp=no_whatsapp)
    router = _router(store, clock, channels)
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER)
    with pytest.raises(InvalidRecipient):
        await router.send(envelope, chain="urgent")
    await Worker(router).run_once()
    assert [sent.id for sent in channels.sms.sent] == [f"{envelope.id}.1"]


async def test_an_ambiguous_outcome_stops_the_chain(store: Store, clock: Clock) -> None:
    def lost(envelope: Any) -> str:
        raise OutcomeUnknown("the answer was lost")

    channels = Channels(whatsapp=lost)
    router = _router(store, clock, channels)
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER)
    with pytest.raises(OutcomeUnknown):
        await router.send(envelope, chain="urgent")
    clock.advance(timedelta(hours=1))
    await Worker(router).run_once()
    assert channels.sent_on() == ["whatsapp"]
    assert (await _notes(store, envelope.id))[-1] == "chain_stopped"


async def test_a_delivery_after_the_step_was_superseded_is_a_late_success(
    store: Store, clock: Clock
) -> None:
    channels = Channels()
    router = _router(store, clock, channels)
    envelope = make_envelope(channel="whatsapp", to=CUSTOMER)
    (provider_id,) = (await router.send(envelope, chain="urgent")).provider_ids
    clock.advance(timedelta(minutes=6))
    worker = Worker(router)
    await worker.run_once()
    await worker.run_once()
    await router.handle_webhook("whatsapp", _status(channels.whatsapp, provider_id, "delivered"))
    assert (await _notes(store, envelope.id))[-1] == "late_success"
    assert channels.sent_on() == ["whatsapp", "sms"]


async def test_an_unknown_chain_is_refused_naming_the_configured_ones(
    store: Store, clock: Clock
) -> None:
    from omnichannel.errors import ConfigurationError

    router = _router(store, clock, Channels())
    with pytest.raises(ConfigurationError, match=r"no chain 'urgnet'.*configured: urgent"):
        await router.send(make_envelope(channel="whatsapp", to=CUSTOMER), chain="urgnet")
