"""X's inbound objects as envelopes: what is kept, what is derived, what is tolerated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from omnichannel_x.inbound import (
    dm_event_envelope,
    message_create_envelope,
    one_to_one_conversation,
    post_envelope,
    users_by_id,
    v1_tweet_envelope,
)

from omnichannel import Visibility

ACCOUNT = "1234567890"
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "second", "conversation"),
    [("9", "10", "9-10"), ("10", "9", "9-10"), ("2244994945", ACCOUNT, f"{ACCOUNT}-2244994945")],
)
def test_a_one_to_one_conversation_id_orders_the_ids_as_numbers(
    first: str, second: str, conversation: str
) -> None:
    assert one_to_one_conversation(first, second) == conversation


def test_users_are_read_from_lists_maps_and_wrapped_entries_alike() -> None:
    flat = [{"id": "1", "username": "a"}, {"id": "bad"}, "junk"]
    wrapped = {"2": {"data": {"id": "2", "username": "b"}}}
    assert set(users_by_id(flat)) == {"1"}
    assert users_by_id(wrapped)["2"]["username"] == "b"
    assert users_by_id(None) == {}


def test_a_long_post_is_read_from_its_note_tweet() -> None:
    post = {
        "id": "5",
        "text": "short…",
        "author_id": "7",
        "note_tweet": {"text": "the whole long text"},
    }
    envelope = post_envelope(post, account=ACCOUNT, users={}, source="mention", now=NOW)
    assert envelope is not None
    assert envelope.content.text == "the whole long text"


def test_the_2026_openapi_name_for_referenced_posts_is_read_too() -> None:
    post = {
        "id": "5",
        "text": "hi",
        "author_id": "7",
        "referenced_posts": [{"type": "replied_to", "id": "4"}],
    }
    envelope = post_envelope(post, account=ACCOUNT, users={}, source="mention", now=NOW)
    assert envelope is not None
    assert envelope.in_reply_to == "4"


@pytest.mark.parametrize(
    "post",
    [
        {"id": "5", "text": "ours", "author_id": ACCOUNT},
        {
            "id": "5",
            "text": "RT",
            "author_id": "7",
            "referenced_tweets": [{"type": "retweeted", "id": "1"}],
        },
        {"text": "no id", "author_id": "7"},
        {"id": 5, "text": "numeric id", "author_id": "7"},
    ],
)
def test_our_own_posts_reposts_and_posts_without_an_id_are_not_messages(
    post: dict[str, object],
) -> None:
    assert post_envelope(post, account=ACCOUNT, users={}, source="search", now=NOW) is None


def test_a_post_with_an_unreadable_time_is_dated_now() -> None:
    post = {"id": "5", "text": "hi", "author_id": "7", "created_at": "yesterday"}
    envelope = post_envelope(post, account=ACCOUNT, users={}, source="search", now=NOW)
    assert envelope is not None
    assert envelope.created_at == NOW
    assert envelope.visibility is Visibility.PUBLIC


def test_a_dm_event_without_a_conversation_id_gets_the_one_to_one_id() -> None:
    event = {"id": "8", "event_type": "MessageCreate", "text": "hi", "sender_id": "7"}
    envelope = dm_event_envelope(event, account=ACCOUNT, users={}, media={}, now=NOW)
    assert envelope is not None
    assert envelope.thread == f"7-{ACCOUNT}"


@pytest.mark.parametrize(
    "event",
    [
        {"id": "8", "event_type": "ParticipantsJoin", "sender_id": "7"},
        {"id": "8", "event_type": "MessageCreate", "text": "mine", "sender_id": ACCOUNT},
        {"event_type": "MessageCreate", "text": "no id", "sender_id": "7"},
    ],
)
def test_joins_our_own_dms_and_events_without_an_id_are_not_messages(
    event: dict[str, object],
) -> None:
    assert dm_event_envelope(event, account=ACCOUNT, users={}, media={}, now=NOW) is None


def test_a_legacy_dm_with_an_image_keeps_its_media_url() -> None:
    event = {
        "type": "message_create",
        "id": "9",
        "created_timestamp": "bad",
        "message_create": {
            "sender_id": "7",
            "target": {"recipient_id": ACCOUNT},
            "message_data": {
                "text": "see",
                "attachment": {
                    "type": "media",
                    "media": {"type": "photo", "media_url_https": "https://ton.example/a.jpg"},
                },
            },
        },
    }
    envelope = message_create_envelope(event, account=ACCOUNT, users={}, now=NOW)
    assert envelope is not None
    assert envelope.content.media[0].url == "https://ton.example/a.jpg"
    assert envelope.created_at == NOW


def test_a_v1_quote_of_our_post_is_marked_as_a_quote() -> None:
    tweet = {
        "id_str": "20",
        "text": "look at this",
        "user": {"id_str": "7", "screen_name": "bob", "name": "Bob"},
        "quoted_status_id_str": "19",
        "quoted_status": {"user": {"id_str": ACCOUNT}},
        "timestamp_ms": "1793729551000",
    }
    envelope = v1_tweet_envelope(tweet, account=ACCOUNT, now=NOW)
    assert envelope is not None
    assert envelope.metadata["source"] == "quote"
    assert envelope.metadata["quoted_post_id"] == "19"
