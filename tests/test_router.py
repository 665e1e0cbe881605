from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from omnichannel import (
    Address,
    Capabilities,
    Content,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidAddress,
    PluginHost,
    PolicyViolation,
    ProviderError,
    Router,
    Sensitivity,
    StatusUpdate,
    Template,
    UnknownChannel,
    Visibility,
    hookimpl,
)
from omnichannel.errors import ConfigurationError, InvalidRecipient, SendError
from omnichannel.plugins import Outbound
from omnichannel.testing import FakeAdapter, make_envelope, make_inbound

pytestmark = pytest.mark.anyio

PHONE = Capabilities(
    address_kind="phone",
    max_text_length=160,
    sms_segments=True,
    statuses={"accepted", "sent", "delivered", "failed"},
)
WINDOWED = Capabilities(
    address_kind="phone",
    templates=True,
    session_window=timedelta(hours=24),
    statuses={"accepted", "sent", "delivered", "read", "failed"},
)
PUBLIC = Capabilities(address_kind="handle", public_posting=True, max_text_length=280)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _router(
    *adapters: FakeAdapter, clock: Callable[[], datetime] | None = None, **kwargs: object
) -> Router:
    return Router(list(adapters), host=PluginHost(), clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]


async def test_send_returns_the_receipt_of_the_adapter_that_carried_it() -> None:
    adapter = FakeAdapter(lambda envelope: "P-1")
    router = _router(adapter)
    envelope = make_envelope(text="hello")
    receipt = await router.send(envelope)
    assert receipt.provider_ids == ("P-1",)
    assert receipt.envelope_id == envelope.id
    assert receipt.adapter == "fake.fake"
    assert adapter.sent == [envelope]
    assert router.status_of(envelope.id) is DeliveryStatus.ACCEPTED


async def test_unknown_channel_names_the_installed_ones() -> None:
    router = _router(FakeAdapter(channel="sms", capabilities=PHONE), FakeAdapter(channel="email"))
    with pytest.raises(UnknownChannel) as caught:
        await router.send(make_envelope(channel="fax"))
    assert str(caught.value) == "channel 'fax' is not installed; installed: email, sms"


async def test_an_invalid_phone_number_is_rejected_before_the_adapter_is_called() -> None:
    adapter = FakeAdapter(channel="sms", capabilities=PHONE)
    with pytest.raises(InvalidAddress, match="not a valid phone number"):
        await _router(adapter).send(make_envelope(channel="sms", to="+1555"))
    assert adapter.sent == []


async def test_recipients_are_normalised_with_the_channel_address_kind() -> None:
    adapter = FakeAdapter(channel="sms", capabilities=PHONE)
    await _router(adapter).send(make_envelope(channel="sms", to="+1 (415) 555-0199"))
    assert adapter.sent[0].recipient.value == "+14155550199"


async def test_restricted_content_is_never_sent_publicly() -> None:
    adapter = FakeAdapter(channel="twitter", capabilities=PUBLIC)
    envelope = make_envelope(
        channel="twitter",
        to="@zoe",
        text="Your card ends 4242",
        visibility=Visibility.PUBLIC,
        sensitivity=Sensitivity.RESTRICTED,
    )
    with pytest.raises(PolicyViolation, match="restricted content cannot be sent publicly"):
        await _router(adapter).send(envelope)
    assert adapter.sent == []


async def test_a_plugin_outbound_hook_that_makes_content_public_is_still_refused() -> None:
    class Publicise:
        @hookimpl
        def omnichannel_outbound(self, outbound: Outbound) -> None:
            outbound.envelope = attrs.evolve(outbound.envelope, visibility=Visibility.PUBLIC)

    host = PluginHost()
    host.register(Publicise(), name="publicise")
    adapter = FakeAdapter(channel="twitter", capabilities=PUBLIC)
    router = Router([adapter], host=host)
    with pytest.raises(PolicyViolation):
        await router.send(
            make_envelope(channel="twitter", to="@zoe", sensitivity=Sensitivity.RESTRICTED)
        )
    assert adapter.sent == []


async def test_outbound_hooks_can_change_the_envelope_before_sending() -> None:
    class Tagger:
        @hookimpl
        def omnichannel_outbound(self, outbound: Outbound) -> None:
            outbound.envelope = attrs.evolve(outbound.envelope, metadata={"tagged": True})

    host = PluginHost()
    host.register(Tagger(), name="tagger")
    adapter = FakeAdapter()
    await Router([adapter], host=host).send(make_envelope())
    assert adapter.sent[0].metadata == {"tagged": True}


async def test_expired_envelopes_are_not_sent() -> None:
    clock = Clock()
    adapter = FakeAdapter()
    envelope = make_envelope(expires_at=clock.now - timedelta(seconds=1))
    with pytest.raises(PolicyViolation, match="expired"):
        await _router(adapter, clock=clock).send(envelope)
    assert adapter.sent == []


async def test_outside_the_session_window_free_text_is_refused_without_calling_the_provider() -> (
    None
):
    adapter = FakeAdapter(channel="whatsapp", capabilities=WINDOWED)
    with pytest.raises(PolicyViolation) as caught:
        await _router(adapter).send(make_envelope(channel="whatsapp", to="+16505551234"))
    assert caught.value.reason is FailureReason.OUTSIDE_WINDOW
    assert adapter.sent == []


async def test_inside_the_session_window_free_text_is_sent_and_a_template_always_is() -> None:
    clock = Clock()
    adapter = FakeAdapter(channel="whatsapp", capabilities=WINDOWED)
    router = _router(adapter, clock=clock)
    template = Content(template=Template(name="order_update", language="en"))
    await router.send(make_envelope(channel="whatsapp", to="+16505551234", text=template))
    router.record_inbound(
        make_inbound(channel="whatsapp", sender="+16505551234", created_at=clock.now)
    )
    clock.now += timedelta(hours=23)
    await router.send(make_envelope(channel="whatsapp", to="+16505551234"))
    clock.now += timedelta(hours=2)
    with pytest.raises(PolicyViolation):
        await router.send(make_envelope(channel="whatsapp", to="+16505551234"))
    assert len(adapter.sent) == 2


async def test_long_text_is_split_and_every_provider_id_is_on_the_receipt() -> None:
    capabilities = Capabilities(address_kind="opaque", max_text_length=20, split_long_text=True)
    adapter = FakeAdapter(capabilities=capabilities)
    receipt = await _router(adapter).send(make_envelope(text="one two three four five six seven"))
    assert len(receipt.provider_ids) == len(adapter.sent) > 1
    assert receipt.fitting.parts == len(adapter.sent)
    assert receipt.fitting.notes
    assert all(len(sent.content.text) <= 20 for sent in adapter.sent)


async def test_a_permanent_failure_fails_over_along_the_chain_and_the_receipt_says_so() -> None:
    def refuse(envelope: Envelope) -> None:
        raise InvalidRecipient("not on this channel")

    whatsapp = FakeAdapter(refuse, channel="whatsapp", capabilities=PHONE)
    sms = FakeAdapter(lambda envelope: "SM1", channel="sms", capabilities=PHONE)
    router = _router(whatsapp, sms, failover={"whatsapp": ["sms"]})
    receipt = await router.send(make_envelope(channel="whatsapp", to="+14155550199"))
    assert receipt.channel == "sms"
    assert receipt.requested_channel == "whatsapp"
    assert len(receipt.attempts) == 1
    assert "invalid_recipient" in receipt.attempts[0]
    assert sms.sent[0].recipient == Address(channel="sms", value="+14155550199")


async def test_a_retryable_failure_does_not_fail_over() -> None:
    def busy(envelope: Envelope) -> None:
        raise ProviderError("try later", retryable=True)

    sms = FakeAdapter(lambda envelope: "SM1", channel="sms", capabilities=PHONE)
    router = _router(
        FakeAdapter(busy, channel="whatsapp", capabilities=PHONE),
        sms,
        failover={"whatsapp": ["sms"]},
    )
    with pytest.raises(ProviderError):
        await router.send(make_envelope(channel="whatsapp", to="+14155550199"))
    assert sms.sent == []


async def test_the_last_failure_of_the_chain_is_raised() -> None:
    def refuse(envelope: Envelope) -> None:
        raise InvalidRecipient("nope")

    router = _router(
        FakeAdapter(refuse, channel="a"), FakeAdapter(refuse, channel="b"), failover={"a": ["b"]}
    )
    with pytest.raises(SendError, match="nope"):
        await router.send(make_envelope(channel="a"))


def test_failover_to_a_channel_that_is_not_configured_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not configured; configured: a"):
        _router(FakeAdapter(channel="a"), failover={"a": ["fax"]})


async def test_reply_goes_to_the_customer_on_their_channel_and_thread() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    inbound = make_inbound(text="help", thread="t-1", provider_id="in-9")
    await router.reply(inbound, "on it")
    sent = adapter.sent[0]
    assert sent.recipient == inbound.sender
    assert sent.business_address == inbound.business_address
    assert (sent.thread, sent.in_reply_to) == ("t-1", "in-9")


async def test_a_future_send_at_is_held_until_due() -> None:
    clock = Clock()
    adapter = FakeAdapter()
    router = _router(adapter, clock=clock)
    receipt = await router.send(make_envelope(send_at=clock.now + timedelta(minutes=30)))
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider_ids == ()
    assert await router.send_due() == []
    clock.now += timedelta(minutes=31)
    (placed,) = await router.send_due()
    assert placed.provider_ids
    assert len(adapter.sent) == 1
    assert router.scheduled == []


def test_the_blocking_facade_sends_from_synchronous_code() -> None:
    adapter = FakeAdapter(lambda envelope: "sync-1")
    with _router(adapter).blocking() as router:
        receipt = router.send(make_envelope())
    assert receipt.provider_ids == ("sync-1",)
    assert adapter.closed


# -- webhooks -------------------------------------------------------------------------------

URL = "https://hooks.example.test/webhooks/fake"


def _recorded(router: Router) -> tuple[list[Envelope], list[StatusUpdate]]:
    messages: list[Envelope] = []
    statuses: list[StatusUpdate] = []
    router.on_message(messages.append)
    router.on_status(statuses.append)
    return messages, statuses


async def test_a_bad_signature_gets_403_and_reaches_no_handler() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    messages, statuses = _recorded(router)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    tampered = attrs.evolve(request, body=request.body.replace(b"hi", b"ho"))
    response = await router.handle_webhook("fake", tampered)
    assert response.status_code == 403
    assert (messages, statuses) == ([], [])


async def test_a_malformed_body_gets_400_and_reaches_no_handler() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    messages, statuses = _recorded(router)
    for payload in (
        {"type": "message"},
        {"type": "status", "status": "teleported", "provider_id": "x"},
        ["not", "an", "object"],
    ):
        response = await router.handle_webhook("fake", adapter.signed_request(URL, payload))
        assert response.status_code == 400
    assert (messages, statuses) == ([], [])


async def test_a_webhook_for_an_unconfigured_channel_gets_404() -> None:
    response = await _router(FakeAdapter()).handle_webhook(
        "fax", FakeAdapter().simulate(sender="c", text="t", url=URL)
    )
    assert response.status_code == 404


async def test_inbound_messages_are_dispatched_once_even_when_delivered_twice() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    messages, _ = _recorded(router)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    for _ in range(3):
        assert (await router.handle_webhook("fake", request)).status_code == 204
    assert [message.content.text for message in messages] == ["hi"]


async def test_a_failing_handler_answers_500_so_the_provider_retries_and_nothing_is_lost() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    calls: list[str] = []

    def flaky(message: Envelope) -> None:
        calls.append(message.content.text)
        if len(calls) == 1:
            raise RuntimeError("database down")

    router.on_message(flaky)
    request = adapter.simulate(sender="c-1", text="hi", url=URL)
    assert (await router.handle_webhook("fake", request)).status_code == 500
    assert (await router.handle_webhook("fake", request)).status_code == 204
    assert calls == ["hi", "hi"]


async def test_statuses_are_applied_by_precedence_and_mapped_to_the_envelope() -> None:
    adapter = FakeAdapter(lambda envelope: "P-7")
    router = _router(adapter)
    _, statuses = _recorded(router)
    envelope = make_envelope()
    await router.send(envelope)
    for status in ["delivered", "sent", "read", "sent", "delivered"]:
        payload = {"type": "status", "provider_id": "P-7", "status": status}
        await router.handle_webhook("fake", adapter.signed_request(URL, payload))
    assert [update.status for update in statuses] == [DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    assert {update.envelope_id for update in statuses} == {envelope.id}
    assert router.status_of(envelope.id) is DeliveryStatus.READ


async def test_a_failure_after_delivery_is_recorded_as_an_anomaly_not_applied() -> None:
    adapter = FakeAdapter(lambda envelope: "P-8")
    router = _router(adapter)
    _, statuses = _recorded(router)
    envelope = make_envelope()
    await router.send(envelope)
    for status in ["delivered", "failed"]:
        payload = {"type": "status", "provider_id": "P-8", "status": status}
        await router.handle_webhook("fake", adapter.signed_request(URL, payload))
    assert [update.status for update in statuses] == [DeliveryStatus.DELIVERED]
    assert [anomaly.update.status for anomaly in router.anomalies] == [DeliveryStatus.FAILED]
    assert router.status_of(envelope.id) is DeliveryStatus.DELIVERED


async def _dispatch(router: Router, *updates: StatusUpdate) -> None:
    for update in updates:
        await router._dispatch_status(update)


def _call_update(status: str, sequence: int, clock: Clock) -> StatusUpdate:
    return StatusUpdate(
        channel="voice",
        provider_id="CA1",
        status=DeliveryStatus(status),
        timestamp=clock.now,
        sequence=sequence,
    )


async def test_sequenced_updates_arriving_in_reverse_reach_handlers_in_order() -> None:
    clock = Clock()
    router = _router(FakeAdapter(channel="voice"), clock=clock)
    _, statuses = _recorded(router)
    await _dispatch(
        router,
        *(
            _call_update(status, seq, clock)
            for seq, status in reversed(
                list(enumerate(["initiated", "ringing", "answered", "completed"]))
            )
        ),
    )
    assert [update.status.value for update in statuses] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]


async def test_a_lost_sequenced_update_holds_the_rest_only_for_the_reorder_window() -> None:
    clock = Clock()
    router = _router(FakeAdapter(channel="voice"), clock=clock)
    _, statuses = _recorded(router)
    await _dispatch(
        router,
        _call_update("initiated", 0, clock),
        _call_update("answered", 2, clock),
        _call_update("completed", 3, clock),
    )
    assert [update.status.value for update in statuses] == ["initiated"]
    await router.release_held_statuses()
    assert len(statuses) == 1
    clock.now += router.statuses.reorder_window
    await router.release_held_statuses()
    assert [update.status.value for update in statuses] == ["initiated", "answered", "completed"]


def test_the_public_url_comes_from_the_configuration_or_the_constructor() -> None:
    from omnichannel.config import parse_config

    config = parse_config({"webhooks": {"public_url": "https://support.example.com/"}})
    assert Router.from_config(config, host=PluginHost()).public_url == "https://support.example.com"
    assert Router([], public_url="https://a.example/").public_url == "https://a.example"
    assert Router([]).public_url is None
