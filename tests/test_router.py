"""The router's send pipeline: channels, addresses, policies, fitting, failover, outcomes."""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta

import attrs
import httpx
import pytest

from omnichannel import (
    Address,
    Choice,
    Content,
    ContentRejected,
    DeliveryStatus,
    Envelope,
    EnvelopeExpired,
    FailureReason,
    Interactive,
    InvalidAddress,
    Outbound,
    OutcomeUnknown,
    PluginHost,
    PolicyViolation,
    ProviderError,
    RestrictedPublic,
    Router,
    RoutingPolicy,
    Secret,
    Sensitivity,
    StatusUpdate,
    Template,
    UnknownChannel,
    UnsupportedFeature,
    Visibility,
    WebhookRequest,
    hookimpl,
)
from omnichannel.errors import ConfigurationError, InvalidRecipient, SendError
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InteractiveRules,
    ProviderRequest,
    Sender,
    SentMessage,
    WeightedLength,
    basic_auth,
    secret,
)
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
    interactive=InteractiveRules(),
    session_window=timedelta(hours=24),
    statuses={"accepted", "sent", "delivered", "read", "failed"},
)
EMAIL = Capabilities(address_kind="email", subject=True)
PUBLIC = Capabilities(address_kind="handle", public_posting=True, max_text_length=280)
# An X-like channel: long private messages, 280 weighted characters in public, reply chains.
SOCIAL = Capabilities(
    address_kind="opaque",
    max_text_length=10_000,
    public_posting=True,
    threading=True,
    public=Capabilities(
        address_kind="opaque",
        max_text_length=280,
        weighted_length=WeightedLength(),
        split_long_text=True,
        reply_chain=True,
        public_posting=True,
        url_note="A public post with a link costs more.",
    ),
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _router(
    *adapters: FakeAdapter,
    clock: Callable[[], datetime] | None = None,
    host: PluginHost | None = None,
    **policy: object,
) -> Router:
    return Router(
        list(adapters),
        host=host or PluginHost(),
        clock=clock or Clock(),
        policy=RoutingPolicy(**policy),  # type: ignore[arg-type]
    )


def _refuse(envelope: Envelope) -> None:
    raise InvalidRecipient("not on this channel")


# -- channels and addresses ---------------------------------------------------------------


async def test_send_returns_the_receipt_of_the_adapter_that_carried_it() -> None:
    adapter = FakeAdapter(lambda envelope: "P-1")
    receipt = await _router(adapter).send(make_envelope())
    assert receipt.provider_ids == ("P-1",)
    assert receipt.adapter == "fake.fake"
    assert receipt.status is DeliveryStatus.ACCEPTED


async def test_unknown_channel_names_the_installed_ones() -> None:
    with pytest.raises(UnknownChannel, match=r"installed: fake"):
        await _router(FakeAdapter()).send(make_envelope(channel="fax"))


async def test_an_invalid_phone_number_is_rejected_before_the_adapter_is_called() -> None:
    adapter = FakeAdapter(channel="sms", capabilities=PHONE)
    with pytest.raises(InvalidAddress, match="not a valid phone number"):
        await _router(adapter).send(make_envelope(channel="sms", to="+1555"))
    assert adapter.sent == []


async def test_recipients_are_normalised_with_the_channel_address_kind() -> None:
    adapter = FakeAdapter(channel="sms", capabilities=PHONE)
    await _router(adapter).send(make_envelope(channel="sms", to="+1 (415) 555-0199"))
    assert adapter.sent[0].recipient.value == "+14155550199"


async def test_auto_channel_choice_is_offered_only_channels_that_reach_the_address() -> None:
    offered: list[list[str]] = []

    class Chooser:
        @hookimpl(tryfirst=True)
        def omnichannel_choose_channel(self, candidates: list[str]) -> str | None:
            offered.append(list(candidates))
            return None

    host = PluginHost()
    host.register(Chooser(), name="chooser")
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    email = FakeAdapter(channel="email", capabilities=EMAIL)
    router = _router(sms, email, host=host)
    await router.send(make_envelope(channel="auto", to="+14155550199"), channel="auto")
    assert offered == [["sms"]]
    assert len(sms.sent) == 1


async def test_an_explicit_channel_moves_the_envelope_without_its_channel_fields() -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    voice = FakeAdapter(channel="voice", capabilities=PHONE)
    envelope = make_envelope(
        channel="sms",
        to="+14155550199",
        thread="t-1",
        in_reply_to="SM-9",
        business_address=Address(channel="sms", value="+14155550100"),
        sender=Address(channel="sms", value="+14155550100"),
    )
    await _router(sms, voice).send(envelope, channel="voice")
    (moved,) = voice.sent
    assert moved.recipient == Address(channel="voice", value="+14155550199")
    assert (moved.thread, moved.in_reply_to, moved.sender, moved.business_address) == (
        None,
        None,
        None,
        None,
    )


async def test_a_phone_number_cannot_move_to_an_email_channel() -> None:
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    email = FakeAdapter(channel="email", capabilities=EMAIL)
    with pytest.raises(InvalidAddress, match="a phone address on sms cannot be used on email"):
        await _router(sms, email).send(make_envelope(channel="sms", to="+1415"), channel="email")
    assert email.sent == []


# -- policies -------------------------------------------------------------------------------


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


class Publicise:
    """A plugin that makes every envelope public in its last-running hook."""

    @hookimpl(trylast=True)
    def omnichannel_outbound(self, outbound: Outbound) -> None:
        outbound.envelope = attrs.evolve(outbound.envelope, visibility=Visibility.PUBLIC)


class PubliciseAfterTheOthers:
    """A wrapper that makes the envelope public after every other hook ran."""

    @hookimpl(wrapper=True)
    def omnichannel_outbound(self, outbound: Outbound) -> Generator[None, None, None]:
        yield
        outbound.envelope = attrs.evolve(outbound.envelope, visibility=Visibility.PUBLIC)


@pytest.mark.parametrize("plugin", [Publicise(), PubliciseAfterTheOthers()])
async def test_no_outbound_hook_can_send_restricted_content_publicly(plugin: object) -> None:
    host = PluginHost()
    host.register(plugin, name="publicise")
    adapter = FakeAdapter(channel="twitter", capabilities=PUBLIC)
    with pytest.raises(PolicyViolation, match="restricted"):
        await _router(adapter, host=host).send(
            make_envelope(channel="twitter", to="@zoe", sensitivity=Sensitivity.RESTRICTED)
        )
    assert adapter.sent == []


async def test_a_public_envelope_on_a_channel_without_public_posting_never_reaches_it() -> None:
    adapter = FakeAdapter(channel="sms", capabilities=PHONE)
    envelope = make_envelope(channel="sms", to="+14155550199", visibility=Visibility.PUBLIC)
    with pytest.raises(PolicyViolation, match="cannot post publicly"):
        await _router(adapter).send(envelope)
    assert adapter.sent == []


async def test_outbound_hooks_can_change_the_envelope_before_sending() -> None:
    class Tagger:
        @hookimpl
        def omnichannel_outbound(self, outbound: Outbound) -> None:
            outbound.envelope = attrs.evolve(outbound.envelope, metadata={"tagged": True})

    host = PluginHost()
    host.register(Tagger(), name="tagger")
    adapter = FakeAdapter()
    await _router(adapter, host=host).send(make_envelope())
    assert adapter.sent[0].metadata == {"tagged": True}


async def test_the_signpost_policy_answers_publicly_and_sends_the_content_privately() -> None:
    ids = iter(["dm-1", "post-1"])
    social = FakeAdapter(lambda envelope: next(ids), channel="social", capabilities=SOCIAL)
    router = _router(social, restricted_public="signpost", signpost_text="Check your DMs.")
    envelope = make_envelope(
        channel="social",
        to="2244994945",
        text="Your refund of $42 went to the card ending 4242.",
        visibility=Visibility.PUBLIC,
        sensitivity=Sensitivity.RESTRICTED,
        in_reply_to="1460323737035677698",
    )
    receipt = await router.send(envelope)
    private, public = social.sent
    assert private.visibility is Visibility.PRIVATE
    assert private.content.text == envelope.content.text
    assert private.in_reply_to is None
    assert public.visibility is Visibility.PUBLIC
    assert public.sensitivity is Sensitivity.NORMAL
    assert public.content.text == "Check your DMs."
    assert public.in_reply_to == "1460323737035677698"
    assert receipt.provider_ids == ("dm-1",)
    assert receipt.public_signpost is not None
    assert receipt.public_signpost.provider_ids == ("post-1",)
    assert receipt.conversation_id
    assert private.conversation_id == public.conversation_id == receipt.conversation_id
    assert receipt.public_signpost.conversation_id == receipt.conversation_id


async def test_the_signpost_needs_a_private_channel_where_the_channel_has_no_private_mode() -> None:
    public_only = FakeAdapter(channel="forum", capabilities=PUBLIC)
    email = FakeAdapter(channel="email", capabilities=EMAIL)
    envelope = make_envelope(
        channel="forum", to="zoe", visibility="public", sensitivity="restricted"
    )
    with pytest.raises(PolicyViolation, match="signpost_channel"):
        await _router(public_only, email, restricted_public="signpost").send(envelope)
    with pytest.raises(InvalidAddress):  # a handle is not an email address
        await _router(
            public_only,
            email,
            restricted_public=RestrictedPublic.SIGNPOST,
            signpost_channel="email",
        ).send(envelope)
    assert public_only.sent == email.sent == []


async def test_expired_envelopes_end_expired_and_are_not_sent() -> None:
    clock = Clock()
    adapter = FakeAdapter()
    router = _router(adapter, clock=clock)
    envelope = make_envelope(expires_at=clock.now - timedelta(seconds=1))
    with pytest.raises(EnvelopeExpired) as caught:
        await router.send(envelope)
    assert caught.value.reason is FailureReason.EXPIRED
    assert caught.value.status is DeliveryStatus.EXPIRED
    assert router.status_of(envelope.id) is DeliveryStatus.EXPIRED
    assert adapter.sent == []


async def test_outside_the_session_window_free_text_is_refused_without_calling_the_provider() -> (
    None
):
    adapter = FakeAdapter(channel="whatsapp", capabilities=WINDOWED)
    with pytest.raises(PolicyViolation) as caught:
        await _router(adapter).send(make_envelope(channel="whatsapp", to="+16505551234"))
    assert caught.value.reason is FailureReason.OUTSIDE_WINDOW
    assert adapter.sent == []


async def test_the_window_is_kept_per_business_address_and_normalised_customer() -> None:
    clock = Clock()
    adapter = FakeAdapter(channel="whatsapp", capabilities=WINDOWED, business_address="B1")
    router = _router(adapter, clock=clock)
    template = Content(template=Template(name="order_update", language="en"))
    await router.send(make_envelope(channel="whatsapp", to="+16505551234", text=template))
    router.record_inbound(
        make_inbound(
            channel="whatsapp", sender="+1 650-555-1234", business="B1", created_at=clock.now
        )
    )
    clock.now += timedelta(hours=23)
    await router.send(make_envelope(channel="whatsapp", to="+16505551234"))
    to_b2 = make_envelope(
        channel="whatsapp",
        to="+16505551234",
        business_address=Address(channel="whatsapp", value="B2"),
    )
    with pytest.raises(PolicyViolation, match="session window"):
        await router.send(to_b2)
    clock.now += timedelta(hours=2)
    with pytest.raises(PolicyViolation):
        await router.send(make_envelope(channel="whatsapp", to="+16505551234"))
    assert len(adapter.sent) == 2


# -- fitting --------------------------------------------------------------------------------


async def test_long_text_is_split_and_every_provider_id_is_on_the_receipt() -> None:
    capabilities = Capabilities(address_kind="opaque", max_text_length=20, split_long_text=True)
    adapter = FakeAdapter(capabilities=capabilities)
    receipt = await _router(adapter).send(make_envelope(text="one two three four five six seven"))
    assert len(receipt.provider_ids) == len(adapter.sent) > 1
    assert receipt.fitting.parts == len(adapter.sent)
    assert receipt.fitting.notes
    assert all(len(sent.content.text) <= 20 for sent in adapter.sent)


async def test_a_public_reply_uses_the_public_shape_and_chains_its_parts() -> None:
    ids = iter(["p1", "p2", "p3"])
    social = FakeAdapter(lambda envelope: next(ids), channel="social", capabilities=SOCIAL)
    text = ("café " * 60) + "https://support.example.com/orders/42"
    envelope = make_envelope(
        channel="social", to="2244994945", text=text, visibility="public", in_reply_to="t-0"
    )
    receipt = await _router(social).send(envelope)
    assert [sent.in_reply_to for sent in social.sent] == ["t-0", "p1"]
    assert receipt.provider_ids == ("p1", "p2")
    assert "reply chain" in receipt.fitting.notes[0]
    assert "A public post with a link costs more." in receipt.fitting.notes
    private = await _router(social).send(attrs.evolve(envelope, visibility="private"))
    assert private.fitting.parts == 1


async def test_buttons_on_a_channel_without_them_go_as_numbered_text_and_the_reply_maps_back() -> (
    None
):
    sms = FakeAdapter(channel="sms", capabilities=PHONE, business_address="+14155550100")
    router = _router(sms)
    menu = Content(
        text="When should we call you?",
        interactive=Interactive(
            buttons=[Choice(id="cb_now", title="Now"), Choice(id="cb_later", title="In 1 hour")]
        ),
    )
    receipt = await router.send(make_envelope(channel="sms", to="+14155550199", text=menu))
    assert (
        sms.sent[0].content.text == "When should we call you?\n\nReply 1 for Now, 2 for In 1 hour."
    )
    assert sms.sent[0].content.interactive is None
    assert receipt.fitting.interactive_as_text
    assert receipt.fitting.choices == ("cb_now", "cb_later")
    assert any("numbered text" in note for note in receipt.fitting.notes)
    messages: list[Envelope] = []
    router.on_message(messages.append, inline=True)
    answer = make_inbound(channel="sms", sender="+14155550199", business="+14155550100", text="2")
    await router.receive([answer])
    assert messages[0].content.choice == "cb_later"


async def test_buttons_within_the_channel_limits_go_natively() -> None:
    adapter = FakeAdapter(channel="whatsapp", capabilities=WINDOWED)
    router = _router(adapter)
    router.record_inbound(make_inbound(channel="whatsapp", sender="+16505551234"))
    menu = Content(text="Pick", interactive=Interactive(buttons=[Choice(id="a", title="A")]))
    receipt = await router.send(make_envelope(channel="whatsapp", to="+16505551234", text=menu))
    assert adapter.sent[0].content.interactive == menu.interactive
    assert not receipt.fitting.interactive_as_text


# -- failover and outcomes ------------------------------------------------------------------


async def test_a_permanent_failure_fails_over_along_the_chain_and_the_receipt_says_so() -> None:
    whatsapp = FakeAdapter(_refuse, channel="whatsapp", capabilities=PHONE)
    sms = FakeAdapter(lambda envelope: "SM1", channel="sms", capabilities=PHONE)
    router = _router(whatsapp, sms, failover={"whatsapp": ["sms"]})
    receipt = await router.send(make_envelope(channel="whatsapp", to="+14155550199"))
    assert receipt.channel == "sms"
    assert receipt.requested_channel == "whatsapp"
    assert len(receipt.attempts) == 1
    assert "invalid_recipient" in receipt.attempts[0]
    assert sms.sent[0].recipient == Address(channel="sms", value="+14155550199")


async def test_failover_tries_each_fallback_in_order_and_clears_the_channel_fields() -> None:
    a = FakeAdapter(_refuse, channel="a", capabilities=PHONE)
    b = FakeAdapter(_refuse, channel="b", capabilities=PHONE)
    c = FakeAdapter(lambda envelope: "C1", channel="c", capabilities=PHONE)
    envelope = make_envelope(
        channel="a",
        to="+14155550199",
        thread="thread-a",
        in_reply_to="in-a",
        business_address=Address(channel="a", value="+14155550100"),
    )
    receipt = await _router(a, b, c, failover={"a": ["b", "c"]}).send(envelope)
    assert receipt.channel == "c"
    assert [line.split(":")[0] for line in receipt.attempts] == ["a", "b"]
    for sent in (*b.sent, *c.sent):
        assert (sent.thread, sent.in_reply_to, sent.business_address) == (None, None, None)
    assert len(a.sent) == len(b.sent) == len(c.sent) == 1


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


async def test_an_ambiguous_outcome_ends_unknown_and_stops_the_failover_chain() -> None:
    def lost(envelope: Envelope) -> None:
        raise OutcomeUnknown("the connection closed after the request was sent")

    sms = FakeAdapter(lost, channel="sms", capabilities=PHONE)
    voice = FakeAdapter(channel="voice", capabilities=PHONE)
    router = _router(sms, voice, failover={"sms": ["voice"]})
    envelope = make_envelope(channel="sms", to="+14155550199")
    with pytest.raises(OutcomeUnknown) as caught:
        await router.send(envelope)
    assert voice.sent == []
    assert router.status_of(envelope.id) is DeliveryStatus.UNKNOWN
    assert caught.value.receipt is not None
    assert caught.value.receipt.status is DeliveryStatus.UNKNOWN
    assert caught.value.envelope is not None
    assert caught.value.envelope.id == envelope.id


async def test_a_failure_after_part_of_a_split_text_went_out_does_not_fail_over() -> None:
    sent: list[str] = []

    def second_fails(envelope: Envelope) -> str:
        if sent:
            raise InvalidRecipient("blocked")
        sent.append("P1")
        return "P1"

    capabilities = Capabilities(address_kind="opaque", max_text_length=10, split_long_text=True)
    a = FakeAdapter(second_fails, channel="a", capabilities=capabilities)
    b = FakeAdapter(channel="b", capabilities=capabilities)
    with pytest.raises(InvalidRecipient) as caught:
        await _router(a, b, failover={"a": ["b"]}).send(
            make_envelope(channel="a", text="one two three four")
        )
    assert b.sent == []
    assert caught.value.receipt is not None
    assert caught.value.receipt.provider_ids == ("P1",)


async def test_the_last_failure_of_the_chain_is_raised_listing_every_attempt() -> None:
    router = _router(
        FakeAdapter(_refuse, channel="a"), FakeAdapter(_refuse, channel="b"), failover={"a": ["b"]}
    )
    with pytest.raises(SendError, match="not on this channel") as caught:
        await router.send(make_envelope(channel="a"))
    assert [line.split(":")[0] for line in caught.value.attempts] == ["a"]


def test_failover_to_a_channel_that_is_not_configured_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not configured; configured: a"):
        _router(FakeAdapter(channel="a"), failover={"a": ["fax"]})


async def test_reconcile_settles_an_unknown_send_from_what_the_provider_has() -> None:
    def lost(envelope: Envelope) -> None:
        raise OutcomeUnknown("no answer")

    found: list[SentMessage | None] = [SentMessage(provider_id="SM7", status="sent"), None]
    capabilities = attrs.evolve(PHONE, reconcile=True)
    sms = FakeAdapter(
        lost, channel="sms", capabilities=capabilities, reconcile=lambda envelope: found.pop(0)
    )
    router = _router(sms)
    with pytest.raises(OutcomeUnknown) as caught:
        await router.send(make_envelope(channel="sms", to="+14155550199"))
    assert caught.value.envelope is not None
    receipt = await router.reconcile(caught.value.envelope, attempted_at=caught.value.attempted_at)
    assert receipt is not None
    assert receipt.provider_ids == ("SM7",)
    assert router.status_of(caught.value.envelope.id) is DeliveryStatus.SENT
    assert await router.reconcile(caught.value.envelope) is None
    with pytest.raises(UnsupportedFeature, match="cannot look messages up"):
        await _router(FakeAdapter()).reconcile(make_envelope())


# -- replies, scheduling, blocking -----------------------------------------------------------


async def test_reply_goes_to_the_customer_on_their_channel_and_thread() -> None:
    adapter = FakeAdapter()
    router = _router(adapter)
    inbound = make_inbound(text="help", thread="t-1", provider_id="in-9")
    await router.reply(inbound, "on it")
    sent = adapter.sent[0]
    assert sent.recipient == inbound.sender
    assert sent.business_address == inbound.business_address
    assert (sent.thread, sent.in_reply_to) == ("t-1", "in-9")


async def test_scheduled_sends_wait_until_due_and_go_out_soonest_first() -> None:
    clock = Clock()
    adapter = FakeAdapter()
    router = _router(adapter, clock=clock)
    late = make_envelope(text="late", send_at=clock.now + timedelta(minutes=40))
    early = make_envelope(text="early", send_at=clock.now + timedelta(minutes=30))
    receipt = await router.send(late)
    await router.send(early)
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider_ids == ()
    assert router.scheduled == [early, late]
    assert await router.send_due() == []
    clock.now += timedelta(minutes=41)
    placed = await router.send_due()
    assert [sent.content.text for sent in adapter.sent] == ["early", "late"]
    assert all(receipt.provider_ids for receipt in placed)
    assert router.scheduled == []


def test_the_blocking_facade_sends_from_synchronous_code() -> None:
    adapter = FakeAdapter(lambda envelope: "sync-1")
    with _router(adapter).blocking() as router:
        receipt = router.send(make_envelope())
    assert receipt.provider_ids == ("sync-1",)
    assert adapter.closed


async def test_the_router_starts_its_adapters_when_entered() -> None:
    adapter = FakeAdapter()
    async with _router(adapter):
        assert adapter.started
    assert adapter.closed


async def test_outside_the_window_the_configured_template_goes_instead_of_free_text() -> None:
    adapter = FakeAdapter(channel="whatsapp", capabilities=WINDOWED)
    router = _router(
        adapter, window_templates={"whatsapp": {"name": "follow_up", "language": "en"}}
    )
    receipt = await router.send(make_envelope(channel="whatsapp", to="+16505551234", text="hi"))
    (sent,) = adapter.sent
    assert sent.content.template == Template(name="follow_up", language="en")
    assert sent.content.fallback_text == "hi"
    assert receipt.fitting.template_used == "follow_up"
    assert "session window" in receipt.fitting.notes[0]


def _late_window_failure(provider_id: str, envelope_id: str) -> StatusUpdate:
    return StatusUpdate(
        channel="whatsapp",
        provider_id=provider_id,
        envelope_id=envelope_id,
        status="failed",
        reason="outside_window",
        provider_code="131047",
        timestamp=datetime(2026, 11, 3, 18, 5, tzinfo=UTC),
    )


async def test_a_late_outside_window_failure_resends_the_configured_template() -> None:
    ids = iter(["wamid.1", "wamid.2"])
    adapter = FakeAdapter(lambda envelope: next(ids), channel="whatsapp", capabilities=WINDOWED)
    router = _router(adapter, window_templates={"whatsapp": "follow_up"})
    router.record_inbound(make_inbound(channel="whatsapp", sender="+16505551234"))
    envelope = make_envelope(channel="whatsapp", to="+16505551234", text="your order")
    await router.send(envelope)
    await router.receive(statuses=[_late_window_failure("wamid.1", envelope.id)])
    first, retry = adapter.sent
    assert first.content.template is None
    assert retry.id == envelope.id
    assert retry.content.template == Template(name="follow_up")
    assert retry.content.fallback_text == "your order"
    await router.receive(statuses=[_late_window_failure("wamid.1", envelope.id)])
    assert len(adapter.sent) == 2  # the duplicate callback changes nothing


async def test_a_late_outside_window_failure_fails_over_without_a_template() -> None:
    whatsapp = FakeAdapter(lambda envelope: "wamid.1", channel="whatsapp", capabilities=WINDOWED)
    sms = FakeAdapter(lambda envelope: "SM1", channel="sms", capabilities=PHONE)
    router = _router(whatsapp, sms, failover={"whatsapp": ["sms"]})
    router.record_inbound(make_inbound(channel="whatsapp", sender="+16505551234"))
    envelope = make_envelope(channel="whatsapp", to="+16505551234", text="your order")
    await router.send(envelope)
    await router.receive(statuses=[_late_window_failure("wamid.1", envelope.id)])
    assert [sent.content.text for sent in sms.sent] == ["your order"]
    assert sms.sent[0].recipient.value == "+16505551234"


def test_the_public_url_comes_from_the_configuration_or_the_constructor() -> None:
    from omnichannel.config import parse_config

    config = parse_config({"webhooks": {"public_url": "https://support.example.com/"}})
    assert Router.from_config(config, host=PluginHost()).public_url == "https://support.example.com"
    assert Router([], public_url="https://a.example/").public_url == "https://a.example"
    assert Router([]).public_url is None


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "javascript:alert(1)", "http://169.254.169.254/latest/meta-data"]
)
async def test_a_media_url_no_provider_should_fetch_is_refused_before_the_adapter(url: str) -> None:
    from omnichannel import InvalidMediaUrl, Media

    adapter = FakeAdapter(channel="sms", capabilities=PHONE)
    content = Content(text="see", media=[Media(url=url)])
    with pytest.raises(InvalidMediaUrl):
        await _router(adapter).send(make_envelope(channel="sms", to="+14155550199", text=content))
    assert adapter.sent == []


@attrs.frozen(kw_only=True)
class _TokenSettings:
    token: Secret = secret(help="The API token.")


class _FormAdapter(BaseAdapter[_TokenSettings]):
    info = AdapterInfo(name="sms.form", channel="sms", provider="form")
    capabilities = PHONE
    settings_class = _TokenSettings

    def build_auth_headers(self) -> dict[str, str]:
        return {"Authorization": basic_auth("acct", self.settings.token.reveal())}

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        pairs = [("To", envelope.recipient.value), ("Body", envelope.content.text)]
        pairs.append(("Token", self.settings.token.reveal()))  # type: ignore[attr-defined]
        return ProviderRequest.form(
            "POST", "https://api.example.com/m", pairs, headers=self.auth_headers
        )


async def test_a_preview_shows_the_request_with_secrets_redacted_and_sends_nothing() -> None:
    def never(request: object) -> object:
        raise AssertionError("a preview sends nothing")

    sender = Sender(httpx.MockTransport(never))  # type: ignore[arg-type]
    settings = _TokenSettings(token=Secret("t0k-secret"))
    adapter = _FormAdapter(settings, AdapterContext(sender=sender))
    router = Router([adapter], host=PluginHost(), clock=Clock())
    preview = await router.preview(make_envelope(channel="sms", to="+1 415 555 0199", text="hi ☕"))
    (call,) = preview.calls
    assert call["method"] == "POST"
    assert call["headers"]["Authorization"] == "<redacted>"
    assert "t0k-secret" not in str(preview.to_dict())
    assert "To=%2B14155550199" in call["body"]
    assert preview.envelope.recipient.value == "+14155550199"
    assert preview.fitting.encoding == "UCS-2"
    assert router.status_of(preview.envelope.id) is None


def test_a_chain_waiting_for_a_status_the_channel_never_reports_is_a_configuration_error() -> None:
    whatsapp = FakeAdapter(channel="whatsapp", capabilities=WINDOWED)
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    steps = [
        {"channel": "whatsapp", "until": "read", "within": "5m"},
        {"channel": "sms", "until": "read", "within": "10m"},
    ]
    with pytest.raises(ConfigurationError, match="sms never reports 'read'"):
        _router(whatsapp, sms, chains={"urgent": {"steps": steps}})
    with pytest.raises(ConfigurationError, match="names channel 'voice'"):
        _router(whatsapp, sms, chains={"urgent": {"steps": [{"channel": "voice"}]}})
    ok = [steps[0], {"channel": "sms", "until": "delivered", "within": "10m"}, {"channel": "sms"}]
    assert _router(whatsapp, sms, chains={"urgent": {"steps": ok}}).policy.chains["urgent"]


async def test_a_provider_scoped_id_is_a_recipient_of_its_channel_only() -> None:
    scoped = attrs.evolve(WINDOWED, scoped_ids=r"[A-Z]{2}\.[0-9]+")
    whatsapp = FakeAdapter(channel="whatsapp", capabilities=scoped)
    sms = FakeAdapter(channel="sms", capabilities=PHONE)
    router = _router(whatsapp, sms, failover={"whatsapp": ["sms"]})
    router.record_inbound(make_inbound(channel="whatsapp", sender="US.13491208655302741918"))
    await router.send(make_envelope(channel="whatsapp", to="US.13491208655302741918"))
    assert whatsapp.sent[0].recipient.value == "US.13491208655302741918"
    with pytest.raises(InvalidAddress, match="provider-scoped id of whatsapp cannot be used"):
        await router.send(make_envelope(channel="whatsapp", to="US.1349"), channel="sms")
    with pytest.raises(InvalidAddress, match="not a valid phone number"):
        await router.send(make_envelope(channel="whatsapp", to="+1555"))
    assert sms.sent == []


async def test_the_signpost_text_names_the_customer_and_a_failed_post_says_the_dm_went() -> None:
    sent: list[Envelope] = []

    def dm_then_refuse(envelope: Envelope) -> str:
        sent.append(envelope)
        if envelope.visibility is Visibility.PUBLIC:
            raise ContentRejected("duplicate content")
        return "dm-1"

    social = FakeAdapter(dm_then_refuse, channel="social", capabilities=SOCIAL)
    router = _router(
        social, restricted_public="signpost", signpost_text="@{name} check your DMs ({reference})"
    )
    envelope = make_envelope(
        channel="social",
        to="2244994945",
        text="your refund",
        visibility="public",
        sensitivity="restricted",
        conversation_id="01JCONVERSATION42",
    )
    envelope = attrs.evolve(
        envelope, recipient=Address(channel="social", value="2244994945", name="alice")
    )
    with pytest.raises(ContentRejected) as caught:
        await router.send(envelope)
    assert sent[1].content.text == "@alice check your DMs (TION42)"
    assert caught.value.receipt is not None
    assert caught.value.receipt.provider_ids == ("dm-1",)
    assert "the content itself went privately" in str(caught.value)


def test_a_signpost_text_with_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"only \{name\}, \{recipient\} and \{reference\}"):
        RoutingPolicy(signpost_text="hi {handle}")


async def test_on_rejected_hears_every_refused_webhook_with_its_reason() -> None:
    adapter = FakeAdapter()
    router = Router([adapter], host=PluginHost())
    heard: list[tuple[str, int, str]] = []
    later: list[tuple[str, int, str]] = []

    @router.on_rejected
    def sync(channel: str, status_code: int, reason: str) -> None:
        heard.append((channel, status_code, reason))

    async def asynchronous(channel: str, status_code: int, reason: str) -> None:
        later.append((channel, status_code, reason))

    router.on_rejected(asynchronous)
    url = "https://hooks.example.test/webhooks/fake"
    unsigned = WebhookRequest(method="POST", url=url, body=b"{}")
    malformed = adapter.signed_request(url, {"type": "nonsense"})
    answers = [
        (await router.handle_webhook("fake", unsigned)).status_code,
        (await router.handle_webhook("fake", malformed)).status_code,
        (await router.handle_webhook("fax", unsigned)).status_code,
        (
            await router.handle_webhook("fake", adapter.simulate(sender="c", text="hi", url=url))
        ).status_code,
    ]
    assert answers == [403, 400, 404, 204]
    assert (
        heard
        == later
        == [
            ("fake", 403, "missing or wrong X-Fake-Signature"),
            ("fake", 400, "expected a message or status event"),
            ("fax", 404, "no such channel"),
        ]
    )


async def test_a_raising_rejected_handler_is_logged_and_the_refusal_still_answered() -> None:
    router = Router([FakeAdapter()], host=PluginHost())

    @router.on_rejected
    def broken(channel: str, status_code: int, reason: str) -> None:
        raise RuntimeError("printer broke")

    request = WebhookRequest(method="POST", url="https://h.example.test/webhooks/fake", body=b"")
    assert (await router.handle_webhook("fake", request)).status_code == 403
