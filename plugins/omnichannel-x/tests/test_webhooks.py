"""X webhooks: the CRC answer and the signature (the project's vectors), then the X Activity API
and Account Activity API payloads (samples from X's docs) as inbound envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from omnichannel_x import XTwitterAdapter, XTwitterSettings
from omnichannel_x.webhooks import SIGNATURE_HEADER, crc_response_token, sign, signed_request

from omnichannel import (
    ConfigurationError,
    Direction,
    InvalidAddress,
    PluginHost,
    Router,
    Visibility,
    WebhookParseError,
    WebhookRequest,
    WebhookVerificationError,
)
from omnichannel.plugin import AdapterContext, build_settings

pytestmark = pytest.mark.anyio

URL = "https://support.example.test/webhooks/twitter"
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)


def make_adapter(
    account: str, consumer_secret: str = "test-consumer-secret", **extra: Any
) -> XTwitterAdapter:
    values = {"user_id": account, "bearer_token": "t", "consumer_secret": consumer_secret, **extra}
    settings = build_settings(XTwitterSettings, values, where="test")
    return XTwitterAdapter(settings, AdapterContext(clock=lambda: NOW))


def delivered(sample: Any, name: str, **extra: Any) -> tuple[XTwitterAdapter, WebhookRequest]:
    data = sample(name)
    adapter = make_adapter(data["account"], **extra)
    secret = adapter.settings.consumer_secret
    assert secret is not None
    return adapter, signed_request(URL, data["body"], secret)


# -- CRC and signatures -------------------------------------------------------------------------


@pytest.mark.parametrize("vector_id", ["x-crc-devrel-sample", "x-crc-omni"])
async def test_the_crc_get_is_answered_with_the_exact_response_token(
    sample: Any, vector_id: str
) -> None:
    vector = next(v for v in sample("x_vectors.json")["crc"] if v["id"] == vector_id)
    adapter = make_adapter("1234567890", consumer_secret=vector["consumer_secret"])
    request = WebhookRequest(method="GET", url=f"{URL}?crc_token={vector['crc_token']}")
    result = await adapter.handle_webhook(request)
    assert result.response.status_code == 200
    assert result.response.content_type == "application/json"
    assert json.loads(result.response.body) == vector["expected_response_json"]
    assert not result.messages


async def test_a_crc_get_without_a_token_is_a_400() -> None:
    with pytest.raises(WebhookParseError, match="crc_token"):
        await make_adapter("1").handle_webhook(WebhookRequest(method="GET", url=URL))


def test_the_post_signature_vector_is_reproduced(sample: Any) -> None:
    vector = sample("x_vectors.json")["post_signature"][0]
    adapter = make_adapter("4337869213", consumer_secret=vector["consumer_secret"])
    assert adapter.settings.consumer_secret is not None
    assert (
        sign(adapter.settings.consumer_secret, vector["raw_body"].encode())
        == (vector["expected_header_value"])
    )


async def test_a_post_signed_as_the_vector_is_accepted(sample: Any) -> None:
    vector = sample("x_vectors.json")["post_signature"][0]
    adapter = make_adapter("4337869213", consumer_secret=vector["consumer_secret"])
    request = WebhookRequest(
        method="POST",
        url=URL,
        headers={vector["header"]: vector["expected_header_value"]},
        body=vector["raw_body"].encode(),
    )
    result = await adapter.handle_webhook(request)
    [message] = result.messages
    assert (message.sender.value if message.sender else None, message.content.text) == (
        "3001969357",
        "Hello World!",
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda r: attrs.evolve(r, headers=[("Content-Type", "application/json")]),
        lambda r: attrs.evolve(r, body=r.body.replace(b"Hello", b"Jello")),
        lambda r: attrs.evolve(r, body=json.dumps(json.loads(r.body), indent=2).encode()),
        lambda r: attrs.evolve(r, headers=[(SIGNATURE_HEADER, "sha256=" + "A" * 44)]),
        lambda r: attrs.evolve(
            r,
            headers=[(SIGNATURE_HEADER, dict(r.headers)[SIGNATURE_HEADER].removeprefix("sha256="))],
        ),
    ],
    ids=["missing", "tampered", "reserialised", "wrong", "no-prefix"],
)
async def test_a_post_without_its_exact_signature_is_refused_before_parsing(
    sample: Any, change: Any
) -> None:
    adapter, request = delivered(sample, "aaa_dm_received.json")
    router = Router([adapter], host=PluginHost())
    seen: list[object] = []
    router.on_message(seen.append, inline=True)
    response = await router.handle_webhook("twitter", change(request))
    assert response.status_code == 403
    assert not seen


async def test_without_a_consumer_secret_nothing_can_be_verified() -> None:
    values = {"user_id": "1", "bearer_token": "t"}
    adapter = XTwitterAdapter(build_settings(XTwitterSettings, values, where="test"))
    request = WebhookRequest(method="GET", url=f"{URL}?crc_token=abc")
    with pytest.raises(WebhookVerificationError, match="consumer_secret"):
        await adapter.handle_webhook(request)


def test_the_crc_token_is_base64_hmac_sha256_with_the_prefix(sample: Any) -> None:
    vector = sample("x_vectors.json")["crc"][0]
    adapter = make_adapter("1", consumer_secret=vector["consumer_secret"])
    assert adapter.settings.consumer_secret is not None
    token = crc_response_token(adapter.settings.consumer_secret, vector["crc_token"])
    assert token == vector["expected_response_json"]["response_token"]


# -- X Activity API -----------------------------------------------------------------------------


async def test_an_xaa_dm_received_becomes_a_private_inbound_envelope(sample: Any) -> None:
    adapter, request = delivered(sample, "xaa_dm_received.json")
    result = await adapter.handle_webhook(request)
    assert result.response.status_code == 200
    [message] = result.messages
    assert message.direction is Direction.INBOUND
    assert message.visibility is Visibility.PRIVATE
    assert message.sender is not None
    assert (message.sender.value, message.sender.name) == ("2222222222222222222", "OtherUser")
    assert message.business_address == message.recipient
    assert message.recipient.value == "1111111111111111111"
    assert message.content.text == "hello!"
    assert message.provider_id == "2080765901528535096"
    assert message.thread == "1111111111111111111-2222222222222222222"
    assert message.created_at == datetime.fromtimestamp(1784928224.372, UTC)


async def test_our_own_dm_echoed_as_dm_sent_is_dropped(sample: Any) -> None:
    adapter, request = delivered(sample, "xaa_dm_sent.json")
    result = await adapter.handle_webhook(request)
    assert result.response.status_code == 200
    assert not result.messages


@pytest.mark.parametrize(
    ("name", "source", "text", "post_id"),
    [
        ("xaa_post_mention.json", "mention", "hey @ExampleUser", "2080765813578191303"),
        (
            "xaa_post_reply.json",
            "reply",
            "@ExampleUser Great post — thanks for sharing!",
            "2090000000000000001",
        ),
        (
            "xaa_post_quote.json",
            "quote",
            "Adding some context to this. https://t.co/xxxxxxxx",
            "2090000000000000002",
        ),
    ],
)
async def test_xaa_mentions_replies_and_quotes_become_public_inbound_envelopes(
    sample: Any, name: str, source: str, text: str, post_id: str
) -> None:
    adapter, request = delivered(sample, name)
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.visibility is Visibility.PUBLIC
    assert message.content.text == text
    assert message.provider_id == post_id
    assert message.metadata["source"] == source
    assert message.sender is not None
    assert message.sender.value == "2222222222222222222"
    assert message.thread == sample(name)["body"]["data"]["payload"]["conversation_id"]


async def test_a_reply_keeps_the_post_it_answers_and_a_quote_the_quoted_post(sample: Any) -> None:
    adapter, request = delivered(sample, "xaa_post_reply.json")
    [answer] = (await adapter.handle_webhook(request)).messages
    assert answer.in_reply_to == "2080761390344937796"
    adapter, request = delivered(sample, "xaa_post_quote.json")
    [quote] = (await adapter.handle_webhook(request)).messages
    assert quote.metadata["quoted_post_id"] == "2080761390344937796"


async def test_the_mention_author_comes_from_the_includes(sample: Any) -> None:
    adapter, request = delivered(sample, "xaa_post_mention.json")
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.sender is not None
    assert message.sender.name == "OtherUser"
    assert message.metadata["author_username"] == "OtherUser"


async def test_replying_to_a_public_mention_answers_it_in_public(sample: Any) -> None:
    adapter, request = delivered(sample, "xaa_post_mention.json")
    [message] = (await adapter.handle_webhook(request)).messages
    answer = message.reply("Thanks, looking into it")
    assert answer.visibility is Visibility.PUBLIC
    assert answer.in_reply_to == "2080765813578191303"
    assert answer.recipient.value == "2222222222222222222"


@pytest.mark.parametrize("name", ["xaa_post_create.json", "xaa_follow.json"])
async def test_our_own_posts_and_other_events_are_acknowledged_and_ignored(
    sample: Any, name: str
) -> None:
    adapter, request = delivered(sample, name)
    result = await adapter.handle_webhook(request)
    assert result.response.status_code == 200
    assert not result.messages


async def test_events_for_another_account_on_a_shared_url_are_ignored(sample: Any) -> None:
    data = sample("xaa_dm_received.json")
    adapter = make_adapter("999")
    assert adapter.settings.consumer_secret is not None
    request = signed_request(URL, data["body"], adapter.settings.consumer_secret)
    assert not (await adapter.handle_webhook(request)).messages


# -- Account Activity API -----------------------------------------------------------------------


async def test_an_aaa_dm_becomes_a_private_inbound_envelope_named_from_the_users_map(
    sample: Any,
) -> None:
    adapter, request = delivered(sample, "aaa_dm_received.json")
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.visibility is Visibility.PRIVATE
    assert message.sender is not None
    assert (message.sender.value, message.sender.name) == ("3001969357", "Jordan Brinks")
    assert message.provider_id == "954491830116155396"
    assert message.thread == "3001969357-4337869213"
    assert message.created_at == datetime.fromtimestamp(1516403560.557, UTC)


async def test_an_aaa_echo_of_our_own_dm_is_dropped(sample: Any) -> None:
    adapter, request = delivered(sample, "aaa_dm_echo.json")
    assert not (await adapter.handle_webhook(request)).messages


async def test_an_aaa_mention_becomes_a_public_inbound_envelope(sample: Any) -> None:
    adapter, request = delivered(sample, "aaa_tweet_mention.json")
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.visibility is Visibility.PUBLIC
    assert message.provider_id == "2117681343096946688"
    assert message.content.text == "@Harris_0ff my parcel is a week late, order 5521"
    assert message.metadata["source"] == "reply"
    assert message.metadata["author_username"] == "furiouscamper"
    assert message.created_at == datetime.fromtimestamp(1793729551, UTC)


async def test_aaa_retweets_and_our_own_replies_are_dropped(sample: Any) -> None:
    adapter, request = delivered(sample, "aaa_tweet_retweet_and_own_reply.json")
    assert not (await adapter.handle_webhook(request)).messages


async def test_an_aaa_longform_post_arrives_whole(sample: Any) -> None:
    adapter, request = delivered(sample, "aaa_tweet_longform.json")
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.content.text.endswith("off the Greek island of Antikythera... @xai")
    assert message.created_at == datetime(2025, 5, 19, 14, 1, 46, tzinfo=UTC)


async def test_aaa_typing_indicators_are_acknowledged_and_ignored(sample: Any) -> None:
    adapter, request = delivered(sample, "aaa_typing.json")
    result = await adapter.handle_webhook(request)
    assert result.response.status_code == 200
    assert not result.messages


# -- Malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'{"hello": "there"}',
        b'{"data": {"payload": {}}}',
        b'{"data": {"event_type": "dm.received"}}',
        b'{"data": {"event_type": "dm.received", "payload": {"direct_message_events": 5}}}',
        b'{"for_user_id": 4337869213}',
        b'{"for_user_id": "1", "tweet_create_events": [1]}',
        b"not json",
    ],
)
async def test_a_signed_but_malformed_body_is_a_400(body: bytes) -> None:
    adapter = make_adapter("1")
    assert adapter.settings.consumer_secret is not None
    request = WebhookRequest(
        method="POST",
        url=URL,
        headers={SIGNATURE_HEADER: sign(adapter.settings.consumer_secret, body)},
        body=body,
    )
    router = Router([adapter], host=PluginHost())
    assert (await router.handle_webhook("twitter", request)).status_code == 400


# -- simulate() ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["x-activity", "account-activity"])
async def test_simulate_builds_a_signed_dm_in_the_configured_api_that_is_accepted(api: str) -> None:
    adapter = make_adapter("1234567890", activity_api=api)
    request = adapter.simulate(sender="2244994945", text="hi", url=URL)
    body = json.loads(request.body)
    assert ("data" in body) is (api == "x-activity")
    [message] = (await adapter.handle_webhook(request)).messages
    assert message.sender is not None
    assert (message.sender.value, message.content.text) == ("2244994945", "hi")
    assert message.created_at == NOW


def test_simulate_refuses_a_sender_that_is_not_a_user_id() -> None:
    with pytest.raises(InvalidAddress):
        make_adapter("1234567890").simulate(sender="@alice", text="hi", url=URL)


def test_simulate_needs_the_consumer_secret_it_signs_with() -> None:
    values = {"user_id": "1", "bearer_token": "t"}
    adapter = XTwitterAdapter(build_settings(XTwitterSettings, values, where="test"))
    with pytest.raises(ConfigurationError, match="consumer_secret"):
        adapter.simulate(sender="2244994945", text="hi", url=URL)
