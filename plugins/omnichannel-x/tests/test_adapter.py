"""The adapter against a mocked X API (respx, strictly: method, path, auth, body): DMs, public
replies and reply chains through the router, uploads, OAuth 1.0a per attempt, errors."""

from __future__ import annotations

import base64
import gzip
import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from omnichannel_x import XTwitterAdapter, XTwitterSettings, oauth1
from omnichannel_x.adapter import URL_NOTE

from omnichannel import (
    Content,
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    FailureReason,
    FittingPolicy,
    InvalidAddress,
    InvalidRecipient,
    Media,
    OutcomeUnknown,
    PluginHost,
    ProviderError,
    RateLimited,
    Router,
    Visibility,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.testing import make_envelope

pytestmark = pytest.mark.anyio

API = "https://api.x.test"
ACCOUNT = "1234567890"
CUSTOMER = "2244994945"
MENTION = "1460323737035677698"
TOKEN = "oauth2-user-token-0123456789"
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
OAUTH1 = {
    "consumer_key": "xvz1evFS4wEEPTGEFPHBog",
    "consumer_secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    "access_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    "access_token_secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}


@pytest.fixture
def api() -> respx.Router:
    """The mocked API: an unmatched request fails the test."""
    return respx.Router(base_url=API, assert_all_called=False)


def make_adapter(
    api: respx.Router, *, retry: RetryPolicy | None = None, **settings: Any
) -> XTwitterAdapter:
    values: dict[str, Any] = {"user_id": ACCOUNT, "base_url": API, **settings}
    if not any(key in values for key in ("bearer_token", "access_token")):
        values["bearer_token"] = TOKEN
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sender = Sender(
        httpx.MockTransport(api.async_handler),
        retry=retry or RetryPolicy(max_attempts=1),
        sleep=sleep,
    )
    return XTwitterAdapter(
        build_settings(XTwitterSettings, values, where="test"),
        AdapterContext(sender=sender, clock=lambda: NOW),
    )


def router_for(adapter: XTwitterAdapter, **policy: Any) -> Router:
    return Router([adapter], host=PluginHost(), fitting_policy=FittingPolicy(**policy))


def dm(text: str | Content = "Hello", **changes: Any) -> Any:
    return make_envelope(channel="twitter", to=CUSTOMER, text=text, **changes)


def reply(text: str | Content = "Thanks, we're on it", **changes: Any) -> Any:
    return dm(text, visibility=Visibility.PUBLIC, in_reply_to=MENTION, **changes)


def body_of(call: Any) -> Any:
    return json.loads(call.request.content)


def post_answer(post_id: str) -> httpx.Response:
    return httpx.Response(201, json={"data": {"id": post_id, "text": "…"}})


# -- DMs ----------------------------------------------------------------------------------------


async def test_a_dm_is_posted_with_the_bearer_token_and_returns_the_dm_event_id(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("dm_created_201.json")
    )
    envelope = dm("Your refund is on its way")
    receipt = await make_adapter(api).send(envelope)
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(route.calls.last) == {"text": "Your refund is on its way"}
    assert receipt.provider_id == "1582838499983564806"
    assert receipt.status is DeliveryStatus.ACCEPTED
    assert (receipt.channel, receipt.adapter) == ("twitter", "twitter.x")
    assert receipt.raw["data"]["dm_conversation_id"] == "1234567890-2244994945"


async def test_a_reply_to_a_dm_is_sent_into_its_conversation(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.post("/2/dm_conversations/1234567890-2244994945/messages").mock(
        return_value=sample_response("dm_created_201.json")
    )
    await make_adapter(api).send(dm(thread="1234567890-2244994945"))
    assert route.called


async def test_a_handle_as_recipient_is_refused_before_any_request(api: respx.Router) -> None:
    with pytest.raises(InvalidAddress, match="user_id_for"):
        await router_for(make_adapter(api)).send(
            make_envelope(channel="twitter", to="@alice", text="hi")
        )
    assert not api.calls


async def test_an_image_is_uploaded_as_dm_image_then_attached(
    api: respx.Router, sample_response: Any
) -> None:
    upload = api.post("/2/media/upload").mock(
        return_value=sample_response("media_uploaded_200.json")
    )
    send = api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("dm_created_201.json")
    )
    image = Media(data=PNG, content_type="image/png", filename="label.png")
    receipt = await router_for(make_adapter(api)).send(
        dm(Content(text="Your label", media=[image]))
    )
    assert body_of(upload.calls.last) == {
        "media": base64.b64encode(PNG).decode("ascii"),
        "media_category": "dm_image",
    }
    assert body_of(send.calls.last) == {
        "text": "Your label",
        "attachments": [{"media_id": "1880028106020515840"}],
    }
    assert receipt.fitting.media_as_links == 0


async def test_nothing_is_uploaded_for_an_envelope_that_cannot_be_sent(api: respx.Router) -> None:
    image = Media(data=PNG, content_type="image/png")
    envelope = make_envelope(channel="twitter", to="@alice", text=Content(text="x", media=[image]))
    with pytest.raises(InvalidAddress):
        await make_adapter(api).send(envelope)
    assert not api.calls


async def test_media_by_url_go_as_links_since_x_attaches_only_uploads(
    api: respx.Router, sample_response: Any
) -> None:
    send = api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("dm_created_201.json")
    )
    media = Media(url="https://cdn.example.com/label.pdf", content_type="application/pdf")
    receipt = await router_for(make_adapter(api)).send(dm(Content(text="Label:", media=[media])))
    assert body_of(send.calls.last) == {"text": "Label:\nhttps://cdn.example.com/label.pdf"}
    assert receipt.fitting.media_as_links == 1


async def test_a_long_dm_is_split_into_parts(api: respx.Router, sample_response: Any) -> None:
    send = api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("dm_created_201.json")
    )
    receipt = await router_for(make_adapter(api)).send(dm("word " * 2500))
    assert len(send.calls) == 2
    assert all(len(body_of(call)["text"]) <= 10_000 for call in send.calls)
    assert receipt.fitting.parts == 2


# -- public replies -----------------------------------------------------------------------------


async def test_a_public_reply_posts_in_reply_to_the_mention(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.post("/2/tweets").mock(return_value=sample_response("post_created_201.json"))
    receipt = await router_for(make_adapter(api)).send(reply())
    assert body_of(route.calls.last) == {
        "text": "Thanks, we're on it",
        "reply": {"in_reply_to_tweet_id": MENTION},
    }
    assert receipt.provider_id == "1793718046223298560"
    assert not receipt.fitting.notes


async def test_a_reply_over_280_weighted_characters_becomes_a_reply_chain(
    api: respx.Router,
) -> None:
    route = api.post("/2/tweets").mock(side_effect=[post_answer(f"30{n}") for n in range(1, 4)])
    text = "We're sorry about the delay with your order. " * 15
    receipt = await router_for(make_adapter(api)).send(reply(text))
    bodies = [body_of(call) for call in route.calls]
    assert [body["reply"]["in_reply_to_tweet_id"] for body in bodies] == [MENTION, "301", "302"]
    assert [body["text"][:6] for body in bodies] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert all(len(body["text"]) <= 280 for body in bodies)
    assert receipt.provider_ids == ("301", "302", "303")
    assert "into a reply chain of 3 parts" in receipt.fitting.notes[0]


async def test_wide_characters_weigh_two_so_140_fit_and_141_do_not(api: respx.Router) -> None:
    route = api.post("/2/tweets").mock(side_effect=[post_answer(f"40{n}") for n in range(1, 4)])
    router = router_for(make_adapter(api))
    await router.send(reply("字" * 140))
    assert len(route.calls) == 1
    await router.send(reply("字" * 141))
    assert len(route.calls) == 3


async def test_a_long_reply_is_refused_before_any_request_when_splitting_is_off(
    api: respx.Router,
) -> None:
    with pytest.raises(ContentTooLong, match="281 weighted characters"):
        await router_for(make_adapter(api), split=False).send(reply("x" * 281))
    assert not api.calls


async def test_a_url_counts_23_and_the_fitting_report_names_its_price(api: respx.Router) -> None:
    route = api.post("/2/tweets").mock(return_value=post_answer("501"))
    url = "https://support.example.com/orders/5521/tracking?with=a&very=long&query=string"
    receipt = await router_for(make_adapter(api)).send(reply("x" * 250 + " " + url))
    assert len(route.calls) == 1  # 250 + 1 + 23 = 274 weighted
    assert receipt.fitting.notes == (URL_NOTE,)
    assert "over ten times" in URL_NOTE


async def test_a_public_image_is_uploaded_as_tweet_image(
    api: respx.Router, sample_response: Any
) -> None:
    upload = api.post("/2/media/upload").mock(
        return_value=sample_response("media_uploaded_200.json")
    )
    post = api.post("/2/tweets").mock(return_value=post_answer("601"))
    image = Media(data=PNG, content_type="image/png")
    await router_for(make_adapter(api)).send(reply(Content(text="Like this?", media=[image])))
    assert body_of(upload.calls.last)["media_category"] == "tweet_image"
    assert body_of(post.calls.last)["media"] == {"media_ids": ["1880028106020515840"]}


# -- OAuth 1.0a ---------------------------------------------------------------------------------


async def test_oauth1_signs_each_attempt_with_a_fresh_nonce_and_the_clock(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        side_effect=[
            httpx.Response(429, headers={"x-rate-limit-reset": str(int(NOW.timestamp()) + 2)}),
            sample_response("dm_created_201.json"),
        ]
    )
    adapter = make_adapter(api, retry=RetryPolicy(max_attempts=2), **OAUTH1)
    nonces = iter(["nonce-one", "nonce-two"])
    adapter.nonce = lambda: next(nonces)
    await adapter.send(dm())
    assert adapter.credentials is not None
    seen = []
    for call in route.calls:
        request = call.request
        header = request.headers["Authorization"]
        given = oauth1.verify(request.method, str(request.url), header, adapter.credentials)
        assert given is not None
        seen.append((given["oauth_nonce"], given["oauth_timestamp"]))
    assert seen == [
        ("nonce-one", str(int(NOW.timestamp()))),
        ("nonce-two", str(int(NOW.timestamp()))),
    ]


async def test_oauth1_reads_sign_their_query_string(api: respx.Router) -> None:
    route = api.get("/2/tweets/search/recent").respond(200, json={"meta": {"result_count": 0}})
    adapter = make_adapter(
        api,
        search_queries=["acme -from:acme"],
        dm_poll_interval=0,
        mentions_poll_interval=0,
        **OAUTH1,
    )
    await adapter.poll(None)
    request = route.calls.last.request
    assert adapter.credentials is not None
    assert oauth1.verify(
        "GET", str(request.url), request.headers["Authorization"], adapter.credentials
    )


# -- errors -------------------------------------------------------------------------------------


async def test_a_rate_limited_dm_carries_the_wait_until_reset(
    api: respx.Router, sample_response: Any
) -> None:
    api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("error_429_too_many_requests.json")
    )
    envelope = dm()
    with pytest.raises(RateLimited) as caught:
        await make_adapter(api).send(envelope)
    assert caught.value.retry_after == 900
    assert caught.value.envelope_id == envelope.id
    assert caught.value.adapter == "twitter.x"


@pytest.mark.parametrize(
    ("name", "public", "error", "reason"),
    [
        ("error_403_duplicate_content.json", True, ContentRejected, FailureReason.CONTENT_REJECTED),
        ("error_403_reply_not_allowed.json", True, ProviderError, FailureReason.POLICY),
        ("error_403_dm_not_allowed.json", False, InvalidRecipient, FailureReason.INVALID_RECIPIENT),
        (
            "error_400_invalid_participant.json",
            False,
            InvalidRecipient,
            FailureReason.INVALID_RECIPIENT,
        ),
        ("error_401_unauthorized.json", False, ProviderError, FailureReason.AUTH),
    ],
)
async def test_refusals_become_typed_errors_with_the_problem_detail(
    api: respx.Router,
    sample_response: Any,
    sample: Any,
    name: str,
    public: bool,
    error: type[Exception],
    reason: FailureReason,
) -> None:
    api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response(name)
    )
    api.post("/2/tweets").mock(return_value=sample_response(name))
    with pytest.raises(error) as caught:
        await make_adapter(api).send(reply() if public else dm())
    assert getattr(caught.value, "reason", None) is reason
    body = sample(name)["body"]
    assert getattr(caught.value, "provider_message", None) in (
        body.get("detail"),
        body.get("title"),
    )


async def test_a_5xx_answer_to_a_dm_is_an_unknown_outcome_never_resent(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("error_503_service_unavailable.json")
    )
    with pytest.raises(OutcomeUnknown):
        await make_adapter(api, retry=RetryPolicy(max_attempts=3)).send(dm())
    assert len(route.calls) == 1


async def test_an_upload_whose_answer_failed_is_retried(
    api: respx.Router, sample_response: Any
) -> None:
    upload = api.post("/2/media/upload").mock(
        side_effect=[
            sample_response("error_503_service_unavailable.json"),
            sample_response("media_uploaded_200.json"),
        ]
    )
    api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("dm_created_201.json")
    )
    adapter = make_adapter(api, retry=RetryPolicy(max_attempts=2))
    await adapter.send(dm(Content(text="x", media=[Media(data=PNG, content_type="image/png")])))
    assert len(upload.calls) == 2


async def test_a_2xx_without_json_is_not_safe_to_resend(api: respx.Router) -> None:
    api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").respond(201, text="<html>")
    with pytest.raises(ProviderError, match="may have been created") as caught:
        await make_adapter(api).send(dm())
    assert not caught.value.retryable


async def test_a_gzip_encoded_answer_is_decompressed(api: respx.Router, sample: Any) -> None:
    raw = json.dumps(sample("dm_created_201.json")["body"]).encode()
    api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").respond(
        201, headers={"content-encoding": "gzip"}, content=gzip.compress(raw)
    )
    receipt = await make_adapter(api).send(dm())
    assert receipt.provider_id == "1582838499983564806"


# -- handles ------------------------------------------------------------------------------------


async def test_a_handle_is_looked_up_once_and_cached(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.get("/2/users/by/username/alice").mock(
        return_value=sample_response("user_by_username.json")
    )
    adapter = make_adapter(api)
    assert await adapter.user_id_for("@alice") == CUSTOMER
    assert await adapter.user_id_for("Alice") == CUSTOMER
    assert len(route.calls) == 1
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_an_unknown_handle_is_an_invalid_recipient(
    api: respx.Router, sample_response: Any
) -> None:
    api.get("/2/users/by/username/nobody_here_42").mock(
        return_value=sample_response("user_not_found.json")
    )
    with pytest.raises(InvalidRecipient, match="no user @nobody_here_42"):
        await make_adapter(api).user_id_for("nobody_here_42")


async def test_errors_and_logs_never_show_a_token_or_secret(
    api: respx.Router, sample_response: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post(f"/2/dm_conversations/with/{CUSTOMER}/messages").mock(
        return_value=sample_response("error_401_unauthorized.json")
    )
    adapter = make_adapter(api, **OAUTH1)
    with pytest.raises(ProviderError) as caught:
        await adapter.send(dm())
    shown = f"{caught.value} {caught.value!r} {adapter!r} {adapter.settings!r} {caplog.text}"
    for name in ("consumer_secret", "access_token", "access_token_secret"):
        assert OAUTH1[name] not in shown
