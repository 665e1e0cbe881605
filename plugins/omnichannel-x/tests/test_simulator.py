"""The X simulator: the API it answers, the rules it applies, the webhooks it signs; and the
whole path end to end over loopback (the default transport, the webhook app, the router)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from omnichannel_x import XTwitterAdapter, XTwitterSettings, XTwitterSimulator, oauth1
from omnichannel_x.simulator import CLOSED_DMS, NO_SUCH_USER, RATE_LIMITED, SAMPLE_POST_ID
from omnichannel_x.webhooks import SIGNATURE_HEADER

from omnichannel import (
    ContentRejected,
    ContentTooLong,
    FailureReason,
    FittingPolicy,
    InvalidRecipient,
    PolicyViolation,
    ProviderError,
    RateLimited,
    RoutingPolicy,
    Sensitivity,
    Visibility,
    WebhookRequest,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.sandbox import Sandbox, SimulatorContext
from omnichannel.testing import make_envelope
from omnichannel.testing.loopback import LoopbackRig

pytestmark = pytest.mark.anyio

SANDBOX = "http://sandbox.test"
APP = "https://app.test"
BASE_URL = f"{SANDBOX}/x"
ACCOUNT = "1234567890"
ALICE, BOB = "2244994945", "1402351869"
BOB_POST = "1460323737035677699"  # about the brand, not addressed to it
OAUTH1 = {
    "bearer_token": None,
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
    "access_token": "sandbox-access-token",
    "access_token_secret": "sandbox-access-token-secret",
}


def values(base_url: str = BASE_URL, **changes: Any) -> dict[str, Any]:
    merged = {**XTwitterSimulator.sample_settings(base_url), **changes}
    return {key: value for key, value in merged.items() if value is not None}


def settings(**changes: Any) -> XTwitterSettings:
    return build_settings(XTwitterSettings, values(**changes), where="sample settings")


class Harness:
    """A simulator in a sandbox (in process), an adapter on it, and the webhooks it posts."""

    def __init__(self, **changes: Any) -> None:
        self.app = respx.Router(base_url=APP)
        self.webhooks = self.app.post("/webhooks/twitter").respond(200)
        self.context = SimulatorContext(
            public_url=APP, transport=httpx.MockTransport(self.app.async_handler)
        )
        self.simulator = XTwitterSimulator(settings(**changes), self.context)
        self.sandbox = Sandbox([self.simulator], self.context)
        sender = Sender(httpx.ASGITransport(app=self.sandbox), retry=RetryPolicy(max_attempts=1))
        self.adapter = XTwitterAdapter(settings(**changes), AdapterContext(sender=sender))

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.sandbox)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.request(method, path, **kwargs)

    async def authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": "Bearer sandbox-oauth2-user-token", **kwargs.pop("headers", {})}
        return await self.call(method, path, headers=headers, **kwargs)

    async def delivered(self) -> list[Mapping[str, Any]]:
        """The webhook bodies posted so far, each checked by the adapter first."""
        await self.sandbox.settle()
        bodies = []
        for call in self.webhooks.calls:
            request = WebhookRequest(
                method="POST",
                url=str(call.request.url),
                headers=call.request.headers.multi_items(),
                body=call.request.content,
            )
            await self.adapter.handle_webhook(request)  # verifies the signature, or raises
            bodies.append(json.loads(call.request.content))
        return bodies


# -- the API ------------------------------------------------------------------------------------


async def test_a_dm_is_answered_201_with_the_conversation_and_event_ids() -> None:
    harness = Harness()
    receipt = await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="hi"))
    assert receipt.provider_id is not None
    assert len(receipt.provider_id) == 19
    assert receipt.raw["data"]["dm_conversation_id"] == f"{ACCOUNT}-{ALICE}"


async def test_our_dm_is_echoed_to_the_webhook_signed_and_the_adapter_drops_it() -> None:
    harness = Harness()
    await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="hi"))
    [body] = await harness.delivered()
    assert body["data"]["event_type"] == "dm.sent"
    request = harness.webhooks.calls.last.request
    assert SIGNATURE_HEADER in request.headers
    result = await harness.adapter.handle_webhook(
        WebhookRequest(
            method="POST",
            url=str(request.url),
            headers=request.headers.multi_items(),
            body=request.content,
        )
    )
    assert not result.messages


async def test_in_account_activity_mode_the_echo_is_an_aaa_body() -> None:
    harness = Harness(activity_api="account-activity")
    await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="hi"))
    [body] = await harness.delivered()
    assert body["for_user_id"] == ACCOUNT
    assert body["direct_message_events"][0]["message_create"]["sender_id"] == ACCOUNT


async def test_a_wrong_bearer_token_is_refused_with_x_401() -> None:
    response = await Harness().call(
        "GET", "/2/dm_events", headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert response.json() == {
        "title": "Unauthorized",
        "detail": "Unauthorized",
        "type": "about:blank",
        "status": 401,
    }


async def test_every_answer_carries_rate_limit_headers_and_is_gzipped_when_asked() -> None:
    response = await Harness().authorized(
        "GET", "/2/dm_events", headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == {"meta": {"result_count": 0}}
    assert response.headers["x-rate-limit-limit"] == "900"
    assert response.headers["x-rate-limit-remaining"] == "899"
    assert int(response.headers["x-rate-limit-reset"]) > 0


async def test_past_the_rate_limit_x_answers_429_and_the_adapter_reads_the_reset() -> None:
    harness = Harness()
    harness.simulator.rate_limit = 1
    await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="one"))
    with pytest.raises(RateLimited) as caught:
        await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="two"))
    assert caught.value.retry_after is not None
    assert 890 < caught.value.retry_after <= 900


@pytest.mark.parametrize(
    ("recipient", "error", "reason"),
    [
        (CLOSED_DMS, InvalidRecipient, FailureReason.INVALID_RECIPIENT),
        (NO_SUCH_USER, InvalidRecipient, FailureReason.INVALID_RECIPIENT),
        (RATE_LIMITED, RateLimited, FailureReason.RATE_LIMITED),
    ],
)
async def test_the_misbehaving_recipients_get_xs_errors(
    recipient: str, error: type[Exception], reason: FailureReason
) -> None:
    harness = Harness()
    with pytest.raises(error) as caught:
        await harness.adapter.send(make_envelope(channel="twitter", to=recipient, text="hi"))
    assert getattr(caught.value, "reason", None) is reason
    assert not await harness.delivered()


async def test_a_dm_body_with_unknown_fields_is_refused_as_x_does() -> None:
    response = await Harness().authorized(
        "POST", f"/2/dm_conversations/with/{ALICE}/messages", json={"text": "hi", "extra": 1}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "https://api.x.com/2/problems/invalid-request"


async def test_a_reply_to_a_post_that_does_not_address_us_is_refused_as_self_serve() -> None:
    harness = Harness()
    envelope = make_envelope(
        channel="twitter",
        to=BOB,
        text="Glad you like it!",
        visibility=Visibility.PUBLIC,
        in_reply_to=BOB_POST,
    )
    with pytest.raises(ProviderError) as caught:
        await harness.adapter.send(envelope)
    assert caught.value.reason is FailureReason.POLICY


async def test_posting_the_same_text_twice_is_refused_as_duplicate_content() -> None:
    harness = Harness()

    def answer() -> Any:
        return make_envelope(
            channel="twitter",
            to=ALICE,
            text="Sorry!",
            visibility=Visibility.PUBLIC,
            in_reply_to=SAMPLE_POST_ID,
        )

    await harness.adapter.send(answer())
    with pytest.raises(ContentRejected, match="duplicate"):
        await harness.adapter.send(answer())


async def test_a_post_over_280_weighted_characters_is_refused_by_x_too() -> None:
    response = await Harness().authorized(
        "POST",
        "/2/tweets",
        json={"text": "字" * 141, "reply": {"in_reply_to_tweet_id": SAMPLE_POST_ID}},
    )
    assert response.status_code == 400


async def test_an_unknown_endpoint_is_404_and_a_bad_page_size_400() -> None:
    harness = Harness()
    assert (await harness.authorized("GET", "/2/spaces")).status_code == 404
    response = await harness.authorized(
        "GET", "/2/tweets/search/recent", params={"query": "a", "max_results": "5"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["", "from:", "(acme", "acme)", '"acme', "lang:en acme", "-acme"])
async def test_a_query_x_would_refuse_is_a_400(query: str) -> None:
    response = await Harness().authorized("GET", "/2/tweets/search/recent", params={"query": query})
    assert response.status_code == 400


async def test_a_handle_is_looked_up_and_an_unknown_one_answered_with_errors() -> None:
    harness = Harness()
    assert await harness.adapter.user_id_for("alice") == ALICE
    with pytest.raises(InvalidRecipient):
        await harness.adapter.user_id_for("nobody")


async def test_oauth1_requests_are_verified_and_a_replayed_nonce_refused() -> None:
    harness = Harness(**OAUTH1)
    harness.adapter.nonce = lambda: "same-nonce"
    await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="one"))
    with pytest.raises(ProviderError) as caught:
        await harness.adapter.send(make_envelope(channel="twitter", to=ALICE, text="two"))
    assert caught.value.reason is FailureReason.AUTH


async def test_an_oauth1_signature_from_a_stale_clock_is_refused() -> None:
    harness = Harness(**OAUTH1)
    credentials = harness.adapter.credentials
    assert credentials is not None
    url = f"{BASE_URL}/2/dm_events"
    stale = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    header = oauth1.authorization_header("GET", url, credentials, nonce="n1", timestamp=stale)
    assert (
        await harness.call("GET", "/2/dm_events", headers={"Authorization": header})
    ).status_code == 401
    fresh = int(datetime.now(UTC).timestamp())
    header = oauth1.authorization_header("GET", url, credentials, nonce="n2", timestamp=fresh)
    assert (
        await harness.call("GET", "/2/dm_events", headers={"Authorization": header})
    ).status_code == 200


async def test_a_queued_mention_is_polled_and_delivered_by_webhook_once() -> None:
    harness = Harness()
    post_id = harness.simulator.queue_post(author=BOB, text="@acme where is my parcel?")
    result = await harness.adapter.poll(None)
    found = [m for m in result.messages if m.provider_id == post_id]
    assert len(found) == 1
    assert found[0].metadata["source"] == "mention"
    [body] = await harness.delivered()
    assert body["data"]["event_type"] == "post.mention.create"


async def test_a_customer_reply_to_our_post_arrives_as_a_reply_event() -> None:
    harness = Harness()
    receipt = await harness.adapter.send(
        make_envelope(
            channel="twitter",
            to=ALICE,
            text="Fixed!",
            visibility=Visibility.PUBLIC,
            in_reply_to=SAMPLE_POST_ID,
        )
    )
    harness.simulator.queue_post(author=ALICE, text="thanks!", reply_to=receipt.provider_id)
    bodies = await harness.delivered()
    assert [body["data"]["event_type"] for body in bodies] == ["post.create", "post.reply.create"]


# -- end to end, over loopback ------------------------------------------------------------------


def rig(**changes: Any) -> LoopbackRig:
    return LoopbackRig(XTwitterAdapter, XTwitterSimulator, lambda base: values(base, **changes))


async def test_end_to_end_a_dm_send_returns_a_dm_event_id() -> None:
    async with rig() as loop:
        receipt = await loop.router.send(make_envelope(channel="twitter", to=ALICE, text="hello"))
        await loop.settle()
    assert receipt.provider_id is not None
    assert receipt.provider_id == loop.simulator.world.dm_events[-1]["id"]
    assert not loop.messages  # our own echo was dropped


async def test_end_to_end_a_long_public_reply_becomes_a_reply_chain() -> None:
    text = "We're so sorry about your order; a replacement ships today with tracking. " * 6
    async with rig() as loop:
        reply = make_envelope(
            channel="twitter",
            to=ALICE,
            text=text,
            visibility=Visibility.PUBLIC,
            in_reply_to=SAMPLE_POST_ID,
        )
        receipt = await loop.router.send(reply)
    posts = [loop.simulator.world.posts[pid] for pid in receipt.provider_ids]
    assert len(posts) == receipt.fitting.parts > 1
    parents = [post["referenced_tweets"][0]["id"] for post in posts]
    assert parents == [SAMPLE_POST_ID, *receipt.provider_ids[:-1]]
    assert "reply chain" in receipt.fitting.notes[0]


async def test_end_to_end_a_long_public_reply_is_refused_when_splitting_is_off() -> None:
    async with rig() as loop:
        loop.router.fitting_policy = FittingPolicy(split=False)
        reply = make_envelope(
            channel="twitter",
            to=ALICE,
            text="x" * 300,
            visibility=Visibility.PUBLIC,
            in_reply_to=SAMPLE_POST_ID,
        )
        with pytest.raises(ContentTooLong):
            await loop.router.send(reply)
    assert not [
        p
        for p in loop.simulator.world.posts.values()
        if p["author_id"] == ACCOUNT and p["text"].startswith("x")
    ]


async def test_end_to_end_a_restricted_answer_to_a_mention_is_signposted_and_sent_by_dm() -> None:
    async with rig() as loop:
        loop.router.policy = RoutingPolicy(
            restricted_public="signpost", allow_private_media_hosts=True
        )
        mentions = await loop.adapter.poll(None)
        mention = next(m for m in mentions.messages if m.provider_id == SAMPLE_POST_ID)
        answer = mention.reply(
            "Your card ending 4242 was refunded", sensitivity=Sensitivity.RESTRICTED
        )
        receipt = await loop.router.send(answer)
        await loop.settle()
    world = loop.simulator.world
    ours = [
        p for p in world.posts.values() if p["author_id"] == ACCOUNT and "referenced_tweets" in p
    ]
    [signpost] = ours
    assert signpost["text"] == "We've sent you a private message."
    assert signpost["referenced_tweets"] == [{"type": "replied_to", "id": SAMPLE_POST_ID}]
    [dm] = [e for e in world.dm_events if e["sender_id"] == ACCOUNT]
    assert dm["text"] == "Your card ending 4242 was refunded"
    assert dm["participant_ids"] == [ACCOUNT, ALICE]
    assert receipt.provider_id == dm["id"]
    assert receipt.public_signpost is not None
    assert receipt.public_signpost.provider_id == signpost["id"]
    assert receipt.conversation_id == receipt.public_signpost.conversation_id
    assert "4242" not in json.dumps(list(world.posts.values()))


async def test_end_to_end_restricted_content_in_public_is_refused_by_default() -> None:
    async with rig() as loop:
        answer = make_envelope(
            channel="twitter",
            to=ALICE,
            text="card 4242",
            visibility=Visibility.PUBLIC,
            in_reply_to=SAMPLE_POST_ID,
            sensitivity=Sensitivity.RESTRICTED,
        )
        with pytest.raises(PolicyViolation):
            await loop.router.send(answer)


async def test_end_to_end_the_brand_search_finds_each_matching_post_once() -> None:
    async with rig(mentions_poll_interval=0, dm_poll_interval=0) as loop:
        first = await loop.adapter.poll(None)
        loop.simulator.queue_post(author=BOB, text="acme kettles are great")
        loop.adapter.due.clear()  # the stream is due again
        second = await loop.adapter.poll(first.cursor)
    texts = [m.content.text for m in first.messages]
    assert texts == [
        "@acme my order #1234 never arrived, can you help?",
        "Loving my new acme kettle, best purchase this year",
        "Is acme support open on Sundays? Asking for a friend",
    ]  # our own "acme spring sale" is excluded by -from:acme, the weather post matches nothing
    assert all(m.visibility is Visibility.PUBLIC for m in first.messages)
    assert {m.metadata["search_query"] for m in first.messages} == {"acme -from:acme"}
    assert [m.content.text for m in second.messages] == ["acme kettles are great"]


async def test_end_to_end_oauth1_through_the_default_transport() -> None:
    async with rig(**OAUTH1) as loop:
        receipt = await loop.router.send(make_envelope(channel="twitter", to=ALICE, text="signed"))
        found = await loop.adapter.poll(None)
    assert receipt.provider_id
    assert found.messages


async def test_end_to_end_the_crc_and_a_bad_signature_through_the_webhook_app() -> None:
    async with rig() as loop, httpx.AsyncClient() as client:
        url = f"{loop.public_url}/webhooks/twitter"
        crc = await client.get(url, params={"crc_token": "crc_Zm9vYmFyYmF6LTIwMjYtMTEtMDM"})
        bad = await client.post(
            url, content=b'{"for_user_id": "1"}', headers={SIGNATURE_HEADER: "sha256=AAAA"}
        )
    assert crc.status_code == 200
    assert set(crc.json()) == {"response_token"}
    assert crc.json()["response_token"].startswith("sha256=")
    assert bad.status_code == 403


async def test_end_to_end_gzipped_answers_are_read_by_the_default_transport() -> None:
    async with rig() as loop:
        simulator = loop.simulator
        answered = simulator.handle
        encodings: list[str | None] = []

        async def recording(request: WebhookRequest) -> Any:
            response = await answered(request)
            encodings.append(dict(response.headers).get("content-encoding"))
            return response

        simulator.handle = recording  # type: ignore[method-assign]
        receipt = await loop.router.send(make_envelope(channel="twitter", to=ALICE, text="zip"))
        found = await loop.adapter.poll(None)
    assert set(encodings) == {"gzip"}  # aiohttp asks for gzip by default
    assert receipt.provider_id
    assert found.messages
