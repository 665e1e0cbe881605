"""The pure X mapping: requests built from envelopes, and the answers read back, as tables
against the samples in ``payloads/``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from omnichannel_x import payloads

from omnichannel import (
    Content,
    ContentRejected,
    DeliveryStatus,
    Envelope,
    InvalidAddress,
    InvalidRecipient,
    Media,
    ProviderError,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.testing import make_envelope

API = "https://api.x.com"
HEADERS = {"Authorization": "Bearer token"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)


def dm(to: str = "2244994945", text: str | Content = "Hello", **changes: Any) -> Envelope:
    return make_envelope(channel="twitter", to=to, text=text, **changes)


def reply(in_reply_to: str | None = "1460323737035677698", **changes: Any) -> Envelope:
    return dm(visibility=Visibility.PUBLIC, in_reply_to=in_reply_to, **changes)


def body_of(request: Any) -> Any:
    return json.loads(request.body)


def test_a_dm_goes_to_the_recipients_one_to_one_conversation_as_json() -> None:
    request = payloads.dm_request(API, dm(text="Hi Alice"), HEADERS)
    assert request.method == "POST"
    assert request.url == f"{API}/2/dm_conversations/with/2244994945/messages"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Authorization") == "Bearer token"
    assert body_of(request) == {"text": "Hi Alice"}
    assert not request.idempotent


def test_a_reply_to_a_dm_goes_into_its_conversation() -> None:
    request = payloads.dm_request(API, dm(thread="1234567890-2244994945"), HEADERS)
    assert request.url == f"{API}/2/dm_conversations/1234567890-2244994945/messages"


@pytest.mark.parametrize(
    "thread",
    [
        "1460323737035677698",  # a public conversation id looks like a group DM's: never used
        "1234567890-1402351869",  # a conversation without the recipient
        "not-a-conversation",
    ],
)
def test_a_thread_that_is_not_the_recipients_conversation_is_not_used(thread: str) -> None:
    request = payloads.dm_request(API, dm(thread=thread), HEADERS)
    assert request.url == f"{API}/2/dm_conversations/with/2244994945/messages"


def test_an_uploaded_image_is_attached_by_media_id() -> None:
    request = payloads.dm_request(API, dm(text="see"), HEADERS, ["1880028106020515840"])
    assert body_of(request) == {"text": "see", "attachments": [{"media_id": "1880028106020515840"}]}


IMAGE_ONLY = Content(media=[Media(data=PNG, content_type="image/png")])


def test_an_image_alone_makes_a_dm_without_text() -> None:
    request = payloads.dm_request(API, dm(text=IMAGE_ONLY), HEADERS, ["1880028106020515840"])
    assert body_of(request) == {"attachments": [{"media_id": "1880028106020515840"}]}


@pytest.mark.parametrize(
    ("envelope", "media_ids", "match"),
    [
        (dm(text=IMAGE_ONLY), [], "needs text or an attachment"),
        (dm(), ["1", "2"], "one attachment at most"),
        (dm(provider_options={"twitter.x": {"x": 1}}), [], "provider_options"),
    ],
)
def test_what_a_dm_cannot_carry_is_refused_before_any_request(
    envelope: Envelope, media_ids: list[str], match: str
) -> None:
    with pytest.raises(UnsupportedFeature, match=match):
        payloads.dm_request(API, envelope, HEADERS, media_ids)


@pytest.mark.parametrize("to", ["@alice", "alice", "12ab", "1" * 20, " "])
def test_an_address_that_is_not_a_user_id_is_refused(to: str) -> None:
    with pytest.raises(InvalidAddress):
        payloads.user_id_of(to)


def test_refusing_a_handle_says_how_to_look_it_up() -> None:
    with pytest.raises(InvalidAddress, match=r"user_id_for\('alice'\)"):
        payloads.dm_request(API, dm(to="@alice"), HEADERS)


def test_a_public_reply_posts_with_the_post_it_answers() -> None:
    request = payloads.post_request(API, reply(text="We're on it"), HEADERS)
    assert request.url == f"{API}/2/tweets"
    assert body_of(request) == {
        "text": "We're on it",
        "reply": {"in_reply_to_tweet_id": "1460323737035677698"},
    }


def test_a_public_reply_carries_uploaded_images() -> None:
    request = payloads.post_request(API, reply(), HEADERS, ["11", "12"])
    assert body_of(request)["media"] == {"media_ids": ["11", "12"]}


def test_provider_options_add_fields_of_the_create_post_body() -> None:
    envelope = reply(provider_options={"twitter.x": {"reply_settings": "mentionedUsers"}})
    assert body_of(payloads.post_request(API, envelope, HEADERS))["reply_settings"] == (
        "mentionedUsers"
    )


@pytest.mark.parametrize("field", ["text", "reply", "media"])
def test_provider_options_cannot_override_what_the_adapter_sets(field: str) -> None:
    envelope = reply(provider_options={"twitter.x": {field: "x"}})
    with pytest.raises(UnsupportedFeature, match=f"cannot set {field}"):
        payloads.post_request(API, envelope, HEADERS)


@pytest.mark.parametrize("in_reply_to", [None, "abc"])
def test_a_public_message_that_answers_no_post_is_refused(in_reply_to: str | None) -> None:
    with pytest.raises(UnsupportedFeature, match="set in_reply_to"):
        payloads.send_request(API, reply(in_reply_to=in_reply_to), HEADERS)


def test_send_request_chooses_a_post_for_public_and_a_dm_for_private() -> None:
    assert payloads.send_request(API, reply(), HEADERS).url.endswith("/2/tweets")
    assert "/dm_conversations/" in payloads.send_request(API, dm(), HEADERS).url


def test_check_sendable_refuses_before_anything_is_uploaded() -> None:
    payloads.check_sendable(dm(), media_count=1)
    with pytest.raises(InvalidAddress):
        payloads.check_sendable(dm(to="@alice"), media_count=1)
    with pytest.raises(UnsupportedFeature):
        payloads.check_sendable(dm(), media_count=2)


def test_images_upload_as_dm_or_post_images_by_visibility() -> None:
    image = Media(data=PNG, content_type="image/png", filename="box.png")
    assert payloads.media_category(image, Visibility.PRIVATE) == "dm_image"
    assert payloads.media_category(image, Visibility.PUBLIC) == "tweet_image"


@pytest.mark.parametrize(
    ("media", "error"),
    [
        (Media(data=b"GIF89a", content_type="image/gif"), UnsupportedFeature),
        (Media(url="https://example.com/a.png", content_type="image/png"), UnsupportedFeature),
        (
            Media(data=b"x", content_type="image/jpeg", size=payloads.MAX_IMAGE_BYTES + 1),
            ContentRejected,
        ),
    ],
)
def test_media_the_one_shot_upload_cannot_take_are_refused(
    media: Media, error: type[Exception]
) -> None:
    with pytest.raises(error):
        payloads.media_category(media, Visibility.PRIVATE)


def test_the_upload_sends_the_image_base64_in_json_and_may_be_retried() -> None:
    image = Media(data=PNG, content_type="image/png")
    request = payloads.upload_request(API, image, "dm_image", HEADERS)
    assert request.url == f"{API}/2/media/upload"
    assert body_of(request) == {
        "media": base64.b64encode(PNG).decode("ascii"),
        "media_category": "dm_image",
    }
    assert request.idempotent


def test_a_username_lookup_is_an_idempotent_get() -> None:
    request = payloads.user_lookup_request(API, "@Alice_1", HEADERS)
    assert (request.method, request.url) == ("GET", f"{API}/2/users/by/username/Alice_1")
    assert request.idempotent
    with pytest.raises(InvalidAddress):
        payloads.user_lookup_request(API, "not a handle!", HEADERS)


def test_reads_encode_their_query_as_oauth_signs_it() -> None:
    request = payloads.api_request(
        "GET", API, "/2/tweets/search/recent", HEADERS, [("query", "acme -from:acme"), ("a", "b,c")]
    )
    assert request.url == f"{API}/2/tweets/search/recent?query=acme%20-from%3Aacme&a=b%2Cc"


def test_a_dm_answer_gives_the_dm_event_id(sample: Any) -> None:
    sent = payloads.sent_message(sample("dm_created_201.json")["body"], Visibility.PRIVATE)
    assert sent.provider_id == "1582838499983564806"
    assert sent.status is DeliveryStatus.ACCEPTED
    assert sent.raw == sample("dm_created_201.json")["body"]


def test_a_post_answer_gives_the_post_id(sample: Any) -> None:
    sent = payloads.sent_message(sample("post_created_201.json")["body"], Visibility.PUBLIC)
    assert sent.provider_id == "1793718046223298560"


@pytest.mark.parametrize(
    "body", [{}, {"data": {}}, {"data": {"dm_event_id": 15}}, {"data": {"id": "x"}}, [], None]
)
def test_an_answer_without_the_id_is_not_safe_to_resend(body: object) -> None:
    with pytest.raises(ProviderError, match="may have been created") as caught:
        payloads.sent_message(body, Visibility.PRIVATE)
    assert not caught.value.retryable


def test_the_uploaded_media_id_is_read(sample: Any) -> None:
    assert payloads.uploaded_media_id(sample("media_uploaded_200.json")["body"]) == (
        "1880028106020515840"
    )
    with pytest.raises(ProviderError):
        payloads.uploaded_media_id({"errors": []})


def test_a_found_username_gives_its_id(sample: Any) -> None:
    body = sample("user_by_username.json")["body"]
    assert payloads.looked_up_user_id(body, "alice") == "2244994945"


def test_an_unknown_username_answered_200_with_errors_is_an_invalid_recipient(
    sample: Any,
) -> None:
    with pytest.raises(InvalidRecipient, match="nobody_here_42") as caught:
        payloads.looked_up_user_id(sample("user_not_found.json")["body"], "nobody_here_42")
    assert caught.value.provider_code == "resource-not-found"


def test_made_up_ids_are_x_shaped_and_grow_with_time() -> None:
    first = payloads.new_id(NOW, 1)
    later = payloads.new_id(NOW + timedelta(milliseconds=1), 0)
    same_moment = payloads.new_id(NOW, 2)
    assert payloads.is_id(first)
    assert len(first) == 19
    assert int(first) < int(same_moment) < int(later)


def test_only_bytes_media_are_uploaded() -> None:
    items = [Media(url="https://example.com/a.png"), Media(data=PNG, content_type="image/png")]
    assert payloads.media_items(items) == [items[1]]
