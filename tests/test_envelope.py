from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnichannel import (
    Address,
    AddressKind,
    Choice,
    ChoiceSection,
    Content,
    Direction,
    Envelope,
    Interactive,
    InvalidAddress,
    InvalidEnvelope,
    Media,
    Sensitivity,
    Template,
    TemplateButton,
    TemplateHeader,
    TextFormat,
    Visibility,
    new_envelope_id,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+14155550199", "+14155550199"),
        ("+1 (415) 555-0199", "+14155550199"),
        ("  +44 20 7946 0958 ", "+442079460958"),
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_phone_addresses_are_normalised_to_e164(given: str, expected: str) -> None:
    assert AddressKind.PHONE.normalize(given) == expected


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("4155550199", "international"),
        ("+1555", "not a valid phone number"),
        ("+1415555019912345", "not a valid phone number"),
        ("+abc", "phone"),
        ("", "empty"),
    ],
)
def test_impossible_phone_numbers_are_rejected_with_the_reason(given: str, why: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        AddressKind.PHONE.normalize(given, channel="sms")
    assert why in str(caught.value)
    assert "channel=sms" in str(caught.value)


@pytest.mark.parametrize("given", ["+14155550199", "+442079460958", "+6831234"])
def test_provider_phone_numbers_in_strict_e164_are_taken_as_sent(given: str) -> None:
    assert AddressKind.PHONE.normalize_provided(given) == given


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+1 (415) 555-0199", "+14155550199"),
        (" +14155550199", "+14155550199"),
        ("+١٤١٥٥٥٥٠١٩٩", "+14155550199"),  # Arabic-Indic digits: parsed, not passed through
    ],
)
def test_provider_phone_numbers_not_in_strict_e164_are_parsed(given: str, expected: str) -> None:
    assert AddressKind.PHONE.normalize_provided(given) == expected


@pytest.mark.parametrize("given", ["+0123456789", "+1415555019912345", "+1555"])
def test_values_outside_strict_e164_get_no_fast_path(given: str) -> None:
    with pytest.raises(InvalidAddress):
        AddressKind.PHONE.normalize_provided(given, channel="sms")


def test_provider_addresses_are_normalised_or_kept_as_sent() -> None:
    assert Address.from_provider("sms", "+1 415 555 0199", AddressKind.PHONE).value == (
        "+14155550199"
    )
    assert Address.from_provider("sms", "+14155550199", AddressKind.PHONE).value == ("+14155550199")
    assert Address.from_provider("voice", "anonymous", AddressKind.PHONE).value == "anonymous"
    assert Address.from_provider("sms", "SHOPCO", AddressKind.PHONE, name="Shop").name == "Shop"
    assert Address.from_provider("email", "A@Example.COM", AddressKind.EMAIL).value == (
        "A@example.com"
    )


def test_email_domains_are_lower_cased_and_local_parts_kept() -> None:
    assert AddressKind.EMAIL.normalize("Zoe.Smith@Example.COM") == "Zoe.Smith@example.com"


@pytest.mark.parametrize("given", ["no-at-sign", "a@b", "a b@example.com", "@example.com"])
def test_invalid_email_addresses_are_rejected(given: str) -> None:
    with pytest.raises(InvalidAddress):
        AddressKind.EMAIL.normalize(given)


def test_handles_and_opaque_ids_are_kept_as_given() -> None:
    assert AddressKind.HANDLE.normalize("@Support") == "@Support"
    assert AddressKind.OPAQUE.normalize("1234567890123456789") == "1234567890123456789"


def test_envelope_ids_are_unique_and_sort_by_creation_time() -> None:
    ids = [new_envelope_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(len(value) == 26 for value in ids)
    earlier = new_envelope_id()
    import time

    time.sleep(0.002)
    assert new_envelope_id()[:10] > earlier[:10]


def test_a_string_is_shorthand_for_plain_text_content() -> None:
    envelope = Envelope(channel="sms", recipient=Address(channel="sms", value="+1"), content="hi")
    assert envelope.content == Content(text="hi", format=TextFormat.PLAIN)


def test_empty_content_is_refused() -> None:
    with pytest.raises(InvalidEnvelope, match="content is empty"):
        Content(text="")


def test_recipient_on_another_channel_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidEnvelope, match=r"Address.on\('sms'\)"):
        Envelope(channel="sms", recipient=Address(channel="email", value="a@b.c"), content="x")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidEnvelope, match="timezone-aware"):
        Envelope(
            channel="sms",
            recipient=Address(channel="sms", value="+1"),
            content="x",
            expires_at=datetime(2030, 1, 1),
        )


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"nested": {"a": 1}}, "flat"),
        ({f"k{i}": i for i in range(65)}, "at most 64"),
        ({"big": "x" * 5000}, "at most 4096"),
    ],
)
def test_metadata_must_be_flat_and_small(metadata: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEnvelope, match=message):
        Envelope(
            channel="sms",
            recipient=Address(channel="sms", value="+1"),
            content="x",
            metadata=metadata,
        )


def test_envelopes_are_frozen_and_hashable_with_raw_left_out() -> None:
    first = Envelope(
        channel="sms", recipient=Address(channel="sms", value="+1"), content="x", raw={"a": 1}
    )
    second = attrs.evolve(first, raw={"different": True})
    assert first == second
    assert hash(first) == hash(second)
    assert "raw" not in repr(first)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.channel = "email"  # type: ignore[misc]


def _inbound() -> Envelope:
    business = Address(channel="whatsapp", value="106540352242922")
    return Envelope(
        channel="whatsapp",
        direction=Direction.INBOUND,
        sender=Address(channel="whatsapp", value="+16505551234", name="Sheena"),
        recipient=business,
        business_address=business,
        content="Where is order 42?",
        thread="thread-7",
        provider_id="wamid.ABC",
        conversation_id="conv-1",
    )


def test_reply_keeps_thread_and_swaps_addresses() -> None:
    inbound = _inbound()
    reply = inbound.reply("It ships today.")
    assert reply.direction is Direction.OUTBOUND
    assert reply.channel == "whatsapp"
    assert reply.recipient == inbound.sender
    assert reply.sender == inbound.business_address
    assert reply.business_address == inbound.business_address
    assert reply.thread == "thread-7"
    assert reply.in_reply_to == "wamid.ABC"
    assert reply.conversation_id == "conv-1"


def test_reply_on_another_channel_moves_the_customer_and_drops_the_thread() -> None:
    reply = _inbound().reply("Calling you now.", channel="voice")
    assert reply.channel == "voice"
    assert reply.recipient == Address(channel="voice", value="+16505551234", name="Sheena")
    assert reply.thread is None
    assert reply.in_reply_to is None
    assert reply.business_address is None
    assert reply.conversation_id == "conv-1"


def test_provider_options_are_read_per_adapter_and_ignored_by_others() -> None:
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+1"),
        content="x",
        provider_options={"sms.twilio": {"ValidityPeriod": 600, "tags": ["a", "b"]}},
    )
    assert envelope.options_for("sms.twilio")["ValidityPeriod"] == 600
    assert envelope.options_for("sms.other") == {}
    assert envelope.to_dict()["provider_options"] == {
        "sms.twilio": {"ValidityPeriod": 600, "tags": ["a", "b"]}
    }


def _full_envelope() -> Envelope:
    return Envelope(
        channel="email",
        direction=Direction.OUTBOUND,
        sender=Address(channel="email", value="support@acme.example", name="Acme"),
        recipient=Address(channel="email", value="zoe@example.com", name="Zoë"),
        business_address=Address(channel="email", value="support@acme.example"),
        content=Content(
            text="**Hi**",
            format=TextFormat.MARKDOWN,
            subject="Re: Café order #42 ☕",
            plain_alternative="Hi",
            media=[Media(url="https://cdn.example.com/a.png", content_type="image/png", size=10)],
            template=Template(
                name="order_update",
                language="en",
                parameters=["Zoë"],
                header=TemplateHeader(media=Media(data=b"%PDF-1", filename="invoice.pdf")),
                buttons=[TemplateButton(index=0, kind="url", value="orders/42")],
            ),
            interactive=Interactive(
                sections=[ChoiceSection(title="Today", rows=[Choice(id="s1", title="18:00")])],
                button_label="Pick a slot",
            ),
            fallback_text="Hi",
        ),
        thread="<a@b>",
        in_reply_to="<c@d>",
        provider_id=None,
        conversation_id="c1",
        visibility=Visibility.PRIVATE,
        sensitivity=Sensitivity.RESTRICTED,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        send_at=datetime(2029, 1, 1, tzinfo=UTC) + timedelta(hours=1),
        metadata={"ticket": 42, "vip": True, "score": 0.5, "agent": "ana"},
        provider_options={"email.smtp": {"headers": {"X-Tag": "1"}}},
    )


def test_to_dict_and_from_dict_round_trip_every_field() -> None:
    envelope = _full_envelope()
    data = envelope.to_dict()
    assert data["v"] == 1
    assert Envelope.from_dict(data) == envelope


def test_to_dict_writes_the_enumerations_as_plain_text() -> None:
    # Plain str, not the members: the store binds these values to its driver, which takes
    # only exact built-in types without an adapter lookup per value.
    data = _full_envelope().to_dict()
    fields = (data["direction"], data["visibility"], data["sensitivity"])
    assert fields == ("outbound", "private", "restricted")
    assert {type(field) for field in (*fields, data["content"]["format"])} == {str}


def test_readers_ignore_fields_a_newer_writer_added() -> None:
    envelope = _full_envelope()
    data = envelope.to_dict()
    data["added_later"] = {"x": 1}
    data["content"]["added_later"] = True
    data["recipient"]["added_later"] = 1
    assert Envelope.from_dict(data) == envelope


def test_a_newer_schema_version_is_refused_with_advice() -> None:
    data = _full_envelope().to_dict()
    data["v"] = 2
    with pytest.raises(InvalidEnvelope, match="upgrade omnichannel"):
        Envelope.from_dict(data)


def test_garbage_is_refused_as_an_invalid_envelope() -> None:
    with pytest.raises(InvalidEnvelope, match="not a serialised envelope"):
        Envelope.from_dict({"v": 1, "channel": "sms"})


_text = st.text(min_size=1, max_size=40).filter(lambda value: value.strip() != "")
_flat = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False))


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    channel = draw(st.sampled_from(["sms", "email", "x-new-channel"]))
    return Envelope(
        channel=channel,
        direction=draw(st.sampled_from(list(Direction))),
        sender=draw(st.none() | st.builds(Address, channel=st.just(channel), value=_text)),
        recipient=Address(channel=channel, value=draw(_text), name=draw(st.none() | _text)),
        content=Content(
            text=draw(_text),
            format=draw(st.sampled_from(list(TextFormat))),
            subject=draw(st.none() | st.text(max_size=30)),
            media=draw(
                st.lists(st.builds(Media, url=_text, size=st.none() | st.integers(0)), max_size=2)
            ),
        ),
        thread=draw(st.none() | _text),
        visibility=draw(st.sampled_from(list(Visibility))),
        sensitivity=draw(st.sampled_from(list(Sensitivity))),
        created_at=draw(st.datetimes(timezones=st.just(UTC))),
        metadata=draw(st.dictionaries(st.text(min_size=1, max_size=8), _flat, max_size=5)),
    )


@given(envelopes())
def test_every_envelope_survives_serialisation(envelope: Envelope) -> None:
    import json

    assert Envelope.from_dict(json.loads(json.dumps(envelope.to_dict()))) == envelope


def test_reply_takes_thread_and_visibility_and_moves_channel_without_channel_fields() -> None:
    inbound = Envelope(
        channel="twitter",
        direction=Direction.INBOUND,
        sender=Address(channel="twitter", value="2244994945"),
        recipient=Address(channel="twitter", value="acme"),
        business_address=Address(channel="twitter", value="acme"),
        content="where is my order?",
        provider_id="1460323737035677698",
        thread="1460323737035677698",
        visibility=Visibility.PUBLIC,
    )
    public = inbound.reply("Checking now", thread="t-2")
    assert (public.thread, public.visibility, public.in_reply_to) == (
        "t-2",
        Visibility.PUBLIC,
        "1460323737035677698",
    )
    private = inbound.reply("Your order number?", visibility=Visibility.PRIVATE)
    assert private.visibility is Visibility.PRIVATE
    moved = inbound.reply("Calling you", channel="voice")
    assert moved.channel == "voice"
    assert moved.recipient == Address(channel="voice", value="2244994945")
    assert (moved.thread, moved.in_reply_to, moved.sender, moved.business_address) == (
        None,
        None,
        None,
        None,
    )
    assert moved.visibility is Visibility.PRIVATE


def test_times_are_kept_in_utc() -> None:
    from datetime import timezone

    tokyo = timezone(timedelta(hours=9))
    envelope = Envelope(
        channel="sms",
        recipient=Address(channel="sms", value="+14155550199"),
        content="hi",
        created_at=datetime(2026, 11, 4, 9, 0, tzinfo=tokyo),
        send_at=datetime(2026, 11, 4, 10, 0, tzinfo=tokyo),
    )
    assert envelope.created_at.tzinfo is UTC
    assert envelope.created_at == datetime(2026, 11, 4, 0, 0, tzinfo=UTC)
    assert envelope.send_at is not None
    assert envelope.send_at.hour == 1


def test_media_holds_a_url_or_bytes_and_never_shows_the_bytes() -> None:
    attachment = Media(data=b"secret-bytes", filename="invoice.pdf", content_id="inv1")
    assert attachment.size == 12
    assert attachment.is_bytes
    assert "secret-bytes" not in repr(attachment)
    assert Media.from_dict(attachment.to_dict()) == attachment
    with pytest.raises(InvalidEnvelope, match="exactly one of url and data"):
        Media(url="https://cdn.example.com/a.png", data=b"x")
    with pytest.raises(InvalidEnvelope, match="exactly one of url and data"):
        Media()


def test_interactive_parts_need_distinct_ids_and_one_kind() -> None:
    with pytest.raises(InvalidEnvelope, match="distinct ids"):
        Interactive(buttons=[Choice(id="a", title="A"), Choice(id="a", title="B")])
    with pytest.raises(InvalidEnvelope, match="either buttons or list sections"):
        Interactive()
    menu = Interactive(
        sections=[
            ChoiceSection(title="Today", rows=[Choice(id="s1", title="18:00")]),
            ChoiceSection(rows=[Choice(id="s2", title="19:00", description="late")]),
        ]
    )
    assert [choice.id for choice in menu.choices] == ["s1", "s2"]
    assert Interactive.from_dict(menu.to_dict()) == menu


def test_a_template_takes_positional_or_named_parameters_not_both() -> None:
    with pytest.raises(InvalidEnvelope, match="not both"):
        Template(name="t", parameters=["a"], named_parameters={"first_name": "Zoë"})
    named = Template(name="t", named_parameters={"first_name": "Zoë"})
    assert Template.from_dict(named.to_dict()) == named
