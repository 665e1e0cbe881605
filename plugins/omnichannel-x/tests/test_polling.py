"""The pollers: DM events, mentions and brand searches read page by page with respx as X, the
cursor that remembers each stream, and rate limits that schedule the next poll."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import respx
from omnichannel_x import XTwitterAdapter, XTwitterSettings, polling
from omnichannel_x.polling import Stream, StreamCursor, StreamKind

from omnichannel import PluginHost, ProviderError, Router, Visibility
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings
from omnichannel.polling import MemoryCursorStore, Poller

pytestmark = pytest.mark.anyio

API = "https://api.x.test"
ACCOUNT = "1234567890"
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)
DM = Stream(kind=StreamKind.DM, interval=60)
MENTIONS = Stream(kind=StreamKind.MENTIONS, interval=60)
SEARCH = Stream(kind=StreamKind.SEARCH, interval=60, query="acme -from:acme")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def api() -> respx.Router:
    return respx.Router(base_url=API, assert_all_called=False)


def make_adapter(
    api: respx.Router, clock: Callable[[], datetime] = lambda: NOW, **settings: Any
) -> XTwitterAdapter:
    values = {
        "user_id": ACCOUNT,
        "bearer_token": "user-token",
        "base_url": API,
        "dm_poll_interval": 0,
        "mentions_poll_interval": 0,
        "search_poll_interval": 0,
        **settings,
    }
    sender = Sender(httpx.MockTransport(api.async_handler), retry=RetryPolicy(max_attempts=1))
    return XTwitterAdapter(
        build_settings(XTwitterSettings, values, where="test"),
        AdapterContext(sender=sender, clock=clock),
    )


def query_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))


# -- the cursor ---------------------------------------------------------------------------------


def test_the_cursor_round_trips_every_streams_position() -> None:
    cursors = {
        "dm": StreamCursor(since="2117682900000000003"),
        "search:acme -from:acme": StreamCursor(since="1", next="tok", newest="9"),
    }
    text = polling.encode_cursor(cursors)
    assert json.loads(text) == {
        "v": 1,
        "streams": {
            "dm": {"since": "2117682900000000003"},
            "search:acme -from:acme": {"since": "1", "next": "tok", "newest": "9"},
        },
    }
    assert polling.decode_cursor(text) == cursors


@pytest.mark.parametrize(
    "cursor", [None, "", "not json", "[]", '{"v": 99, "streams": {}}', '{"v": 1, "streams": 3}']
)
def test_an_unreadable_cursor_starts_every_stream_afresh(cursor: str | None) -> None:
    assert polling.decode_cursor(cursor) == {}


def test_a_cursor_value_that_is_not_an_id_is_dropped() -> None:
    cursor = '{"v": 1, "streams": {"dm": {"since": "12ab"}, "mentions": "x"}}'
    assert polling.decode_cursor(cursor) == {"dm": StreamCursor()}


# -- the requests -------------------------------------------------------------------------------


def page_params(stream: Stream, cursor: StreamCursor, token: str | None = None) -> dict[str, str]:
    request = polling.page_request(
        stream,
        base_url=API,
        account=ACCOUNT,
        headers={},
        cursor=cursor,
        token=token,
        now=NOW,
        lookback=900,
    )
    assert request.method == "GET"
    assert request.idempotent
    return dict(parse_qsl(urlsplit(request.url).query))


def test_a_first_search_looks_back_with_start_time_and_asks_for_the_author() -> None:
    params = page_params(SEARCH, StreamCursor())
    assert params["query"] == "acme -from:acme"
    assert params["start_time"] == "2026-11-03T18:05:00Z"
    assert "since_id" not in params
    assert params["expansions"] == "author_id"
    assert {"author_id", "created_at", "conversation_id"} <= set(params["tweet.fields"].split(","))
    assert params["max_results"] == "100"


def test_a_later_search_uses_since_id_and_next_token() -> None:
    params = page_params(SEARCH, StreamCursor(since="2117683100000000031"), token="b26v")
    assert params["since_id"] == "2117683100000000031"
    assert params["next_token"] == "b26v"
    assert "start_time" not in params


def test_mentions_page_with_pagination_token() -> None:
    request = polling.page_request(
        MENTIONS,
        base_url=API,
        account=ACCOUNT,
        headers={},
        cursor=StreamCursor(since="5"),
        token="t2",
        now=NOW,
        lookback=900,
    )
    assert urlsplit(request.url).path == f"/2/users/{ACCOUNT}/mentions"
    assert dict(parse_qsl(urlsplit(request.url).query))["pagination_token"] == "t2"


def test_dm_events_ask_for_messages_with_their_conversation_and_sender() -> None:
    params = page_params(DM, StreamCursor(since="5"), token="t")
    assert params["event_types"] == "MessageCreate"
    assert {"dm_conversation_id", "sender_id", "created_at"} <= set(
        params["dm_event.fields"].split(",")
    )
    assert params["pagination_token"] == "t"
    assert "since_id" not in params  # GET /2/dm_events has none


# -- the pages ----------------------------------------------------------------------------------


FRESH = StreamCursor()


def read(stream: Stream, body: object, cursor: StreamCursor = FRESH) -> polling.Page:
    return polling.read_page(stream, body, account=ACCOUNT, cursor=cursor, now=NOW, lookback=900)


def test_a_dm_page_gives_the_customers_messages_and_drops_ours(sample: Any) -> None:
    page = read(DM, sample("dm_events_page.json")["body"])
    texts = [message.content.text for message in page.messages]
    assert texts == ["Hi, my order 5521 never arrived", "Here is the damaged box"]
    first, second = page.messages
    assert first.visibility is Visibility.PRIVATE
    assert first.thread == "1234567890-2244994945"
    assert first.sender is not None
    assert first.sender.name == "Alice Example"
    assert second.content.media[0].url is not None
    assert second.content.media[0].content_type == "image/jpeg"
    assert page.next == "18LAA581J5II7LA00C00ZZZZ"
    assert page.newest == "2117682900000000003"
    assert page.usernames == {"alice": "2244994945", "bob": "1402351869"}


def test_a_dm_page_stops_at_what_was_already_seen(sample: Any) -> None:
    page = read(
        DM, sample("dm_events_page.json")["body"], StreamCursor(since="2117682800000000002")
    )
    assert [m.provider_id for m in page.messages] == ["2117682900000000003"]
    assert page.reached_known
    assert page.next is None


def test_a_first_dm_poll_ignores_history_older_than_the_lookback(sample: Any) -> None:
    body = sample("dm_events_page.json")["body"]
    page = polling.read_page(
        DM, body, account=ACCOUNT, cursor=StreamCursor(), now=NOW, lookback=400
    )
    assert [m.provider_id for m in page.messages] == ["2117682900000000003"]
    assert page.next is None


def test_search_hits_are_public_and_marked_with_their_query(sample: Any) -> None:
    page = read(SEARCH, sample("search_recent_page.json")["body"])
    first = page.messages[0]
    assert first.visibility is Visibility.PUBLIC
    assert first.metadata["source"] == "search"
    assert first.metadata["search_query"] == "acme -from:acme"
    assert first.metadata["author_username"] == "bob"
    assert first.business_address is not None
    assert first.business_address.value == ACCOUNT
    assert page.newest == "2117683100000000031"
    assert page.next == "b26v89c19zqg8o3fobd8v73egzbdt3qao235oql"


def test_mentions_keep_the_post_they_answer_and_the_post_they_quote(sample: Any) -> None:
    reply, quote = read(MENTIONS, sample("mentions_page.json")["body"]).messages
    assert reply.metadata["source"] == "mention"
    assert reply.in_reply_to == "2117670000000000000"
    assert reply.thread == "2117670000000000000"
    assert quote.metadata["quoted_post_id"] == "2117660000000000000"


def test_a_post_without_its_fields_or_expansions_is_still_delivered(sample: Any) -> None:
    [message] = read(SEARCH, sample("search_recent_sparse.json")["body"]).messages
    assert message.content.text == "acme??"
    assert message.sender is None
    assert message.created_at == NOW
    assert message.thread == "2117683200000000040"
    assert "author_username" not in message.metadata


@pytest.mark.parametrize("body", [{"meta": {"result_count": 0}}, {}, [], None, {"data": "x"}])
def test_an_answer_with_nothing_in_it_is_an_empty_page(body: object) -> None:
    page = read(SEARCH, body)
    assert page.messages == ()
    assert page.next is None


# -- the adapter's poll -------------------------------------------------------------------------


async def test_a_search_reads_every_page_then_polls_from_the_newest_post(
    api: respx.Router, sample_response: Any
) -> None:
    route = api.get("/2/tweets/search/recent").mock(
        side_effect=[
            sample_response("search_recent_page.json"),
            sample_response("search_recent_last_page.json"),
            sample_response("search_recent_empty.json"),
        ]
    )
    clock = Clock()
    adapter = make_adapter(api, clock, search_queries=["acme -from:acme"], search_poll_interval=30)
    first = await adapter.poll(None)
    assert [m.provider_id for m in first.messages] == [
        "2117682000000000001",
        "2117683000000000020",
        "2117683100000000031",
    ]  # oldest first
    assert (
        query_of(route.calls[1].request)["next_token"] == "b26v89c19zqg8o3fobd8v73egzbdt3qao235oql"
    )
    assert polling.decode_cursor(first.cursor) == {
        "search:acme -from:acme": StreamCursor(since="2117683100000000031")
    }
    assert first.next_poll_seconds == 30
    clock.now += timedelta(seconds=30)
    again = await adapter.poll(first.cursor)
    assert query_of(route.calls[2].request)["since_id"] == "2117683100000000031"
    assert again.messages == ()


async def test_a_stream_not_yet_due_is_not_read(api: respx.Router) -> None:
    route = api.get("/2/tweets/search/recent").respond(200, json={"meta": {"result_count": 0}})
    clock = Clock()
    adapter = make_adapter(api, clock, search_queries=["acme"], search_poll_interval=60)
    first = await adapter.poll(None)
    clock.now += timedelta(seconds=20)
    second = await adapter.poll(first.cursor)
    assert len(route.calls) == 1
    assert second.next_poll_seconds == 40


async def test_an_exhausted_rate_limit_schedules_the_stream_at_its_reset(
    api: respx.Router, sample_response: Any
) -> None:
    answer = sample_response("search_recent_empty.json")  # x-rate-limit-remaining: 0
    api.get("/2/tweets/search/recent").mock(return_value=answer)
    adapter = make_adapter(api, search_queries=["acme"], search_poll_interval=60)
    result = await adapter.poll(None)
    assert result.next_poll_seconds == 900  # x-rate-limit-reset is NOW + 900


async def test_a_429_on_one_stream_leaves_the_others_to_deliver(
    api: respx.Router, sample_response: Any
) -> None:
    api.get("/2/dm_events").mock(return_value=sample_response("error_429_too_many_requests.json"))
    api.get(f"/2/users/{ACCOUNT}/mentions").mock(return_value=sample_response("mentions_page.json"))
    adapter = make_adapter(api, dm_poll_interval=60, mentions_poll_interval=60)
    result = await adapter.poll(None)
    assert [m.metadata["source"] for m in result.messages] == ["mention", "mention"]
    cursors = polling.decode_cursor(result.cursor)
    assert "dm" not in cursors
    assert cursors["mentions"] == StreamCursor(since="2117683000000000020")
    assert result.next_poll_seconds == 60
    assert adapter.due["dm"] == NOW + timedelta(seconds=900)


async def test_a_post_found_by_mentions_and_a_search_is_delivered_once(
    api: respx.Router, sample_response: Any
) -> None:
    api.get(f"/2/users/{ACCOUNT}/mentions").mock(return_value=sample_response("mentions_page.json"))
    api.get("/2/tweets/search/recent").mock(
        side_effect=[
            sample_response("search_recent_page.json"),
            sample_response("search_recent_last_page.json"),
        ]
    )
    adapter = make_adapter(
        api, mentions_poll_interval=60, search_queries=["acme"], search_poll_interval=60
    )
    result = await adapter.poll(None)
    ids = [m.provider_id for m in result.messages]
    assert len(ids) == len(set(ids)) == 4
    both = next(m for m in result.messages if m.provider_id == "2117683000000000020")
    assert both.metadata["source"] == "mention"


async def test_a_long_backlog_is_resumed_by_the_next_poll(api: respx.Router, sample: Any) -> None:
    page = sample("search_recent_page.json")
    api.get("/2/tweets/search/recent").mock(
        return_value=httpx.Response(
            200, headers={"x-rate-limit-remaining": "400"}, json=page["body"]
        )
    )
    clock = Clock()
    adapter = make_adapter(api, clock, search_queries=["acme"], search_poll_interval=1)
    result = await adapter.poll(None)
    assert len(api.calls) == polling.MAX_PAGES
    cursor = polling.decode_cursor(result.cursor)["search:acme"]
    assert cursor == StreamCursor(
        since=None, next="b26v89c19zqg8o3fobd8v73egzbdt3qao235oql", newest="2117683100000000031"
    )


async def test_dm_events_page_until_what_was_seen(api: respx.Router, sample_response: Any) -> None:
    route = api.get("/2/dm_events").mock(
        side_effect=[
            sample_response("dm_events_page.json"),
            sample_response("dm_events_last_page.json"),
        ]
    )
    adapter = make_adapter(api, dm_poll_interval=60, poll_lookback=3600)
    result = await adapter.poll(None)
    assert [m.provider_id for m in result.messages] == [
        "2117682600000000000",
        "2117682700000000001",
        "2117682900000000003",
    ]
    assert query_of(route.calls[1].request)["pagination_token"] == "18LAA581J5II7LA00C00ZZZZ"
    assert polling.decode_cursor(result.cursor)["dm"] == StreamCursor(since="2117682900000000003")


async def test_gzip_encoded_answers_are_read(api: respx.Router, sample: Any) -> None:
    body = json.dumps(sample("search_recent_last_page.json")["body"]).encode()
    answer = httpx.Response(
        200,
        headers={"content-encoding": "gzip", "content-type": "application/json"},
        content=gzip.compress(body),
    )
    api.get("/2/tweets/search/recent").mock(return_value=answer)
    adapter = make_adapter(api, search_queries=["acme"], search_poll_interval=60)
    [message] = (await adapter.poll(None)).messages
    assert message.content.text == "is acme support open on sundays?"


async def test_an_answer_that_is_not_json_fails_the_poll(api: respx.Router) -> None:
    api.get("/2/tweets/search/recent").respond(200, text="<html>")
    adapter = make_adapter(api, search_queries=["acme"], search_poll_interval=60)
    with pytest.raises(ProviderError, match="not JSON"):
        await adapter.poll(None)


async def test_the_authors_seen_warm_the_handle_cache(
    api: respx.Router, sample_response: Any
) -> None:
    api.get(f"/2/users/{ACCOUNT}/mentions").mock(return_value=sample_response("mentions_page.json"))
    adapter = make_adapter(api, mentions_poll_interval=60)
    await adapter.poll(None)
    assert await adapter.user_id_for("@Alice") == "2244994945"
    assert len(api.calls) == 1


async def test_with_every_stream_off_the_adapter_asks_to_be_polled_rarely(
    api: respx.Router,
) -> None:
    result = await make_adapter(api).poll(None)
    assert result.messages == ()
    assert result.next_poll_seconds == 3600
    assert not api.calls


async def test_the_core_poller_hands_the_hits_to_the_handlers_once(
    api: respx.Router, sample_response: Any
) -> None:
    api.get("/2/tweets/search/recent").mock(
        side_effect=[
            sample_response("search_recent_page.json"),
            sample_response("search_recent_last_page.json"),
            sample_response("search_recent_empty.json"),
        ]
    )
    clock = Clock()
    adapter = make_adapter(api, clock, search_queries=["acme"], search_poll_interval=5)
    router = Router([adapter], host=PluginHost(), clock=clock)
    seen: list[str] = []
    router.on_message(lambda envelope: seen.append(envelope.provider_id), inline=True)
    poller = Poller(router, cursors=MemoryCursorStore())
    assert poller.channels == ["twitter"]
    assert await poller.poll_once("twitter") == 5
    clock.now += timedelta(seconds=5)
    await poller.poll_once("twitter")
    assert seen == ["2117682000000000001", "2117683000000000020", "2117683100000000031"]


async def test_a_position_x_no_longer_accepts_restarts_the_stream_from_its_lookback(
    api: respx.Router, sample_response: Any
) -> None:
    too_old = httpx.Response(
        400,
        json={
            "errors": [{"parameters": {"since_id": ["1"]}, "message": "since_id is too old"}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.x.com/2/problems/invalid-request",
        },
    )
    route = api.get("/2/tweets/search/recent").mock(
        side_effect=[too_old, sample_response("search_recent_last_page.json")]
    )
    adapter = make_adapter(api, search_queries=["acme"], search_poll_interval=60)
    cursor = polling.encode_cursor({"search:acme": StreamCursor(since="1")})
    result = await adapter.poll(cursor)
    assert query_of(route.calls[0].request)["since_id"] == "1"
    assert "since_id" not in query_of(route.calls[1].request)
    assert query_of(route.calls[1].request)["start_time"] == "2026-11-03T18:05:00Z"
    assert [m.provider_id for m in result.messages] == ["2117682000000000001"]


async def test_a_refusal_of_a_fresh_stream_fails_the_poll(api: respx.Router) -> None:
    api.get("/2/tweets/search/recent").respond(400, json={"title": "Invalid Request"})
    adapter = make_adapter(api, search_queries=["acme"], search_poll_interval=60)
    with pytest.raises(ProviderError):
        await adapter.poll(None)
