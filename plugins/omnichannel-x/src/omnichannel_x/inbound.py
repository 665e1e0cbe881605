"""X's inbound objects as inbound envelopes: v2 posts and DM events (polled, and in X Activity
API webhooks), and the legacy ``message_create`` DM events and v1.1 tweets of the Account
Activity API.

Pure functions. Every one drops what is ours (X echoes the account's own DMs and posts to it,
and answering them would loop) and tolerates absent fields and expansions: a post without
``created_at`` is dated now, one without an author has no sender, one without a
``conversation_id`` is its own thread. Public posts arrive PUBLIC, marked by where they were
found in ``metadata["source"]`` (``mention``, ``reply``, ``quote`` or ``search``, with the
``search_query``), so an application can answer people who never wrote to it; DMs arrive
PRIVATE, threaded on their ``dm_conversation_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

from omnichannel import Address, Content, Direction, Envelope, Media, Visibility
from omnichannel_x.payloads import CHANNEL, is_id

__all__ = [
    "Users",
    "dm_event_envelope",
    "iso_time",
    "message_create_envelope",
    "one_to_one_conversation",
    "post_envelope",
    "users_by_id",
    "v1_tweet_envelope",
]

logger = logging.getLogger(__name__)

Users = Mapping[str, Mapping[str, Any]]
"""Expanded users by id (``includes.users``, or the webhook ``users`` map)."""

_MEDIA_TYPES: Final = {"photo": "image/jpeg", "animated_gif": "video/mp4", "video": "video/mp4"}


def users_by_id(users: object) -> dict[str, Mapping[str, Any]]:
    """A user list (``includes.users``) or map (a webhook's ``users``) keyed by id; entries
    wrapped as ``{"data": {...}}`` (X Activity API) are unwrapped; anything else is skipped."""
    items: Iterable[object]
    if isinstance(users, Mapping):
        items = users.values()
    elif isinstance(users, list):
        items = users
    else:
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for item in items:
        user = item.get("data", item) if isinstance(item, Mapping) else None
        if isinstance(user, Mapping) and is_id(user.get("id")):
            found[user["id"]] = user
    return found


def _address(user_id: object, users: Users) -> Address | None:
    if not is_id(user_id):
        return None
    user = users.get(str(user_id), {})
    name = user.get("name")
    return Address(
        channel=CHANNEL, value=str(user_id), name=name if isinstance(name, str) and name else None
    )


def _username(user_id: object, users: Users) -> str | None:
    user = users.get(str(user_id), {})
    # v2 users have a username; the v1.1 users of the Account Activity API a screen_name.
    username = user.get("username") or user.get("screen_name")
    return username if isinstance(username, str) and username else None


def iso_time(value: object, now: datetime) -> datetime:
    """An ISO 8601 time as X writes it (``2026-07-24T21:23:23.000Z``); ``now`` when it is
    absent or unreadable."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return now
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return now


def _millis_time(value: object, now: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return now


def _referenced(post: Mapping[str, Any], kind: str) -> str | None:
    # The 2026 OpenAPI names the list referenced_posts; responses and webhooks say
    # referenced_tweets. Read both.
    for key in ("referenced_tweets", "referenced_posts"):
        for item in post.get(key) or ():
            if isinstance(item, Mapping) and item.get("type") == kind and is_id(item.get("id")):
                return str(item["id"])
    return None


def _flags(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def one_to_one_conversation(first: str, second: str) -> str:
    """The id X gives the 1-1 DM conversation of two users: ``<smaller>-<larger>``, the ids
    compared as numbers (providers.md 5.2)."""
    low, high = sorted((first, second), key=int)
    return f"{low}-{high}"


def post_envelope(
    post: Mapping[str, Any],
    *,
    account: str,
    users: Users,
    source: str,
    now: datetime,
    query: str | None = None,
) -> Envelope | None:
    """A v2 post (a mention, a reply, a quote, a search hit) as a PUBLIC inbound envelope;
    None for the account's own posts, reposts and anything without an id."""
    post_id = post.get("id")
    author = post.get("author_id")
    if not is_id(post_id) or author == account or _referenced(post, "retweeted"):
        return None
    note = post.get("note_tweet")
    text = note.get("text") if isinstance(note, Mapping) else None
    if not isinstance(text, str):
        plain = post.get("text")
        text = plain if isinstance(plain, str) else ""
    business = Address(channel=CHANNEL, value=account)
    conversation = post.get("conversation_id")
    quoted = _referenced(post, "quoted")
    return Envelope(
        channel=CHANNEL,
        direction=Direction.INBOUND,
        visibility=Visibility.PUBLIC,
        sender=_address(author, users),
        recipient=business,
        business_address=business,
        content=Content(text=text),
        provider_id=str(post_id),
        thread=str(conversation) if is_id(conversation) else str(post_id),
        in_reply_to=_referenced(post, "replied_to") or _text_id(post.get("in_reply_to_tweet_id")),
        created_at=iso_time(post.get("created_at"), now),
        metadata=_flags(
            source=source,
            search_query=query,
            author_username=_username(author, users),
            quoted_post_id=quoted,
        ),
        raw=dict(post),
    )


def _text_id(value: object) -> str | None:
    return str(value) if is_id(value) else None


def dm_event_envelope(
    event: Mapping[str, Any], *, account: str, users: Users, media: Users, now: datetime
) -> Envelope | None:
    """A v2 DM event (``GET /2/dm_events``) as a PRIVATE inbound envelope; None for the
    account's own messages and for events that are not messages (joins, leaves)."""
    sender = event.get("sender_id")
    if event.get("event_type", "MessageCreate") != "MessageCreate" or sender == account:
        return None
    if not is_id(event.get("id")):
        return None
    attachments = event.get("attachments")
    keys = attachments.get("media_keys") if isinstance(attachments, Mapping) else None
    items = [_v2_media(media.get(str(key), {})) for key in keys or ()]
    conversation = event.get("dm_conversation_id")
    if not isinstance(conversation, str) and is_id(sender):
        conversation = one_to_one_conversation(str(sender), account)
    return _dm(
        event_id=str(event["id"]),
        sender=_address(sender, users),
        account=account,
        text=event.get("text"),
        media=[item for item in items if item is not None],
        thread=conversation if isinstance(conversation, str) else None,
        created_at=iso_time(event.get("created_at"), now),
        raw=event,
    )


def _v2_media(item: Mapping[str, Any]) -> Media | None:
    url = item.get("url") or item.get("preview_image_url")
    if not isinstance(url, str) or not url:
        return None
    return Media(url=url, content_type=_MEDIA_TYPES.get(str(item.get("type"))))


def _dm(
    *,
    event_id: str,
    sender: Address | None,
    account: str,
    text: object,
    media: list[Media],
    thread: str | None,
    created_at: datetime,
    raw: Mapping[str, Any],
) -> Envelope:
    business = Address(channel=CHANNEL, value=account)
    return Envelope(
        channel=CHANNEL,
        direction=Direction.INBOUND,
        visibility=Visibility.PRIVATE,
        sender=sender,
        recipient=business,
        business_address=business,
        content=Content(text=text if isinstance(text, str) else "", media=media),
        provider_id=event_id,
        thread=thread,
        created_at=created_at,
        raw=dict(raw),
    )


def message_create_envelope(
    event: Mapping[str, Any], *, account: str, users: Users, now: datetime
) -> Envelope | None:
    """A legacy ``message_create`` DM event (Account Activity API, and the X Activity API's
    ``dm.received``) as a PRIVATE inbound envelope; None for our own echoed messages."""
    if event.get("type") != "message_create" or not is_id(event.get("id")):
        return None
    create = event.get("message_create")
    if not isinstance(create, Mapping):
        return None
    sender = create.get("sender_id")
    if not is_id(sender) or sender == account:
        return None
    data = create.get("message_data")
    data = data if isinstance(data, Mapping) else {}
    attachment = data.get("attachment")
    media = attachment.get("media") if isinstance(attachment, Mapping) else None
    url = media.get("media_url_https") if isinstance(media, Mapping) else None
    items = (
        [Media(url=url, content_type=_MEDIA_TYPES.get(str(media.get("type"))))]
        if isinstance(url, str) and url and isinstance(media, Mapping)
        else []
    )
    return _dm(
        event_id=str(event["id"]),
        sender=_address(sender, users),
        account=account,
        text=data.get("text"),
        media=items,
        # These payloads carry no conversation id; a 1-1 conversation's is derived.
        thread=one_to_one_conversation(str(sender), account),
        created_at=_millis_time(event.get("created_timestamp"), now),
        raw=event,
    )


def _v1_time(tweet: Mapping[str, Any], now: datetime) -> datetime:
    if tweet.get("timestamp_ms") is not None:
        return _millis_time(tweet.get("timestamp_ms"), now)
    created = tweet.get("created_at")
    try:
        return parsedate_to_datetime(created) if isinstance(created, str) else now
    except (TypeError, ValueError):
        return now


def v1_tweet_envelope(tweet: Mapping[str, Any], *, account: str, now: datetime) -> Envelope | None:
    """A v1.1 tweet of ``tweet_create_events`` (Account Activity API) as a PUBLIC inbound
    envelope: a mention, a reply to the account or a quote of it. None for the account's own
    posts and for retweets."""
    user = tweet.get("user")
    user = user if isinstance(user, Mapping) else {}
    author = user.get("id_str")
    tweet_id = tweet.get("id_str")
    if not is_id(tweet_id) or author == account or "retweeted_status" in tweet:
        return None
    extended = tweet.get("extended_tweet")
    text = extended.get("full_text") if isinstance(extended, Mapping) else None
    if not isinstance(text, str):
        text = tweet.get("full_text") or tweet.get("text") or ""
    quoted = tweet.get("quoted_status_id_str")
    if tweet.get("in_reply_to_user_id_str") == account:
        source = "reply"
    elif is_id(quoted) and tweet.get("quoted_status", {}).get("user", {}).get("id_str") == account:
        source = "quote"
    else:
        source = "mention"
    business = Address(channel=CHANNEL, value=account)
    users = {str(author): user} if is_id(author) else {}
    return Envelope(
        channel=CHANNEL,
        direction=Direction.INBOUND,
        visibility=Visibility.PUBLIC,
        sender=_address(author, users),
        recipient=business,
        business_address=business,
        content=Content(text=str(text)),
        provider_id=str(tweet_id),
        thread=_text_id(tweet.get("conversation_id_str")) or str(tweet_id),
        in_reply_to=_text_id(tweet.get("in_reply_to_status_id_str")),
        created_at=_v1_time(tweet, now),
        metadata=_flags(
            source=source,
            author_username=_username(author, users),
            quoted_post_id=_text_id(quoted),
        ),
        raw=dict(tweet),
    )
