"""The pull side, for accounts without webhooks: the streams polled, their requests, the
pages they answer, and the cursor that remembers where each stream got to.

Three kinds of stream, each a read (idempotent, retried safely):

* ``dm``: ``GET /2/dm_events`` (the account's DM events, newest first). It has no
  ``since_id``, so pages are read until an event at or below the last one seen;
* ``mentions``: ``GET /2/users/{id}/mentions`` with ``since_id``;
* ``search:<query>``: ``GET /2/tweets/search/recent`` with ``since_id``, one per configured
  brand-monitoring query.

Posts are asked for with ``author_id``, ``created_at`` and ``conversation_id`` and the author
expansion, and read tolerantly (:mod:`omnichannel_x.inbound`). Pages follow ``next_token``;
a stream's first poll (no ``since_id`` yet) looks back ``poll_lookback`` seconds with
``start_time`` instead of replaying all history. The cursor is one opaque string for the
core's cursor store: JSON of each stream's ``since`` id, and, when a poll stopped before the
last page, the ``next`` token and the ``newest`` id to resume from.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from omnichannel import Envelope
from omnichannel.plugin import ProviderRequest
from omnichannel_x.inbound import dm_event_envelope, iso_time, post_envelope, users_by_id
from omnichannel_x.payloads import api_request, is_id

__all__ = [
    "MAX_PAGES",
    "Page",
    "Stream",
    "StreamCursor",
    "StreamKind",
    "decode_cursor",
    "encode_cursor",
    "newest_id",
    "page_request",
    "read_page",
]

MAX_PAGES: Final = 5
"""Pages one stream reads per poll; the rest is resumed by the next poll (``next``)."""
PAGE_SIZE: Final = "100"
CURSOR_VERSION: Final = 1

POST_FIELDS: Final = (
    "author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets,entities"
)
DM_FIELDS: Final = "id,text,event_type,created_at,dm_conversation_id,sender_id,attachments"


class StreamKind(enum.StrEnum):
    """What a stream reads."""

    DM = "dm"
    MENTIONS = "mentions"
    SEARCH = "search"


@attrs.frozen(kw_only=True)
class Stream:
    """One polled stream: its kind, its query (search), and how often it is polled."""

    kind: StreamKind
    interval: float
    query: str | None = None

    @property
    def key(self) -> str:
        """The stream's name in the cursor: ``dm``, ``mentions`` or ``search:<query>``."""
        return f"{self.kind.value}:{self.query}" if self.query is not None else self.kind.value

    @property
    def source(self) -> str:
        """``metadata["source"]`` of what the stream finds."""
        return "mention" if self.kind is StreamKind.MENTIONS else self.kind.value


@attrs.frozen(kw_only=True)
class StreamCursor:
    """Where one stream got to: the newest id handled (``since``), and a page chain to
    resume (``next`` token, with the ``newest`` id its first page reported)."""

    since: str | None = None
    next: str | None = None
    newest: str | None = None


def decode_cursor(cursor: str | None) -> dict[str, StreamCursor]:
    """Each stream's cursor from the stored string; a missing or unreadable one (written by
    another version) starts every stream afresh."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, dict) or data.get("v") != CURSOR_VERSION:
        return {}
    found: dict[str, StreamCursor] = {}
    for key, value in streams.items():
        if not isinstance(value, dict):
            continue
        since, token, newest = value.get("since"), value.get("next"), value.get("newest")
        found[str(key)] = StreamCursor(
            since=since if is_id(since) else None,
            next=token if isinstance(token, str) and token else None,
            newest=newest if is_id(newest) else None,
        )
    return found


def encode_cursor(cursors: Mapping[str, StreamCursor]) -> str:
    """The string the core stores: compact JSON, streams sorted."""
    streams = {
        key: {name: value for name, value in attrs.asdict(cursor).items() if value is not None}
        for key, cursor in sorted(cursors.items())
    }
    return json.dumps({"v": CURSOR_VERSION, "streams": streams}, separators=(",", ":"))


def _start_time(now: datetime, lookback: float) -> str:
    start = now - timedelta(seconds=lookback)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def page_request(
    stream: Stream,
    *,
    base_url: str,
    account: str,
    headers: Mapping[str, str],
    cursor: StreamCursor,
    token: str | None,
    now: datetime,
    lookback: float,
) -> ProviderRequest:
    """The request for one page of ``stream``: the first (``token`` None) or a later one."""
    params: list[tuple[str, str]] = [("max_results", PAGE_SIZE)]
    if stream.kind is StreamKind.DM:
        path = "/2/dm_events"
        params += [
            ("event_types", "MessageCreate"),
            ("dm_event.fields", DM_FIELDS),
            ("expansions", "sender_id,attachments.media_keys"),
            ("user.fields", "name,username"),
            ("media.fields", "url,type,preview_image_url"),
        ]
        if token:
            params.append(("pagination_token", token))
        return api_request("GET", base_url, path, headers, params)
    if stream.kind is StreamKind.MENTIONS:
        path = f"/2/users/{account}/mentions"
        paging = "pagination_token"
    else:
        path = "/2/tweets/search/recent"
        params.insert(0, ("query", stream.query or ""))
        paging = "next_token"
    params += [
        ("tweet.fields", POST_FIELDS),
        ("expansions", "author_id"),
        ("user.fields", "name,username"),
    ]
    if cursor.since:
        params.append(("since_id", cursor.since))
    else:
        params.append(("start_time", _start_time(now, lookback)))
    if token:
        params.append((paging, token))
    return api_request("GET", base_url, path, headers, params)


@attrs.frozen(kw_only=True)
class Page:
    """What one page held: its messages, the newest id on it, the token of the next page,
    and whether it reached what an earlier poll already handled (no need to read on)."""

    messages: tuple[Envelope, ...] = ()
    newest: str | None = None
    next: str | None = None
    reached_known: bool = False
    usernames: Mapping[str, str] = attrs.field(factory=dict)
    """``username -> id`` of the users expanded on the page (warms the handle cache)."""


def _items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = body.get("data")
    return [item for item in data if isinstance(item, Mapping)] if isinstance(data, list) else []


def newest_id(*ids: str | None) -> str | None:
    """The largest of ``ids`` (X ids grow with time; compared as numbers), None if none."""
    known = [value for value in ids if value is not None]
    return max(known, key=int) if known else None


def read_page(
    stream: Stream,
    body: object,
    *,
    account: str,
    cursor: StreamCursor,
    now: datetime,
    lookback: float,
) -> Page:
    """The envelopes of one answer; ``{}`` (no ``data``: nothing new) is an empty page."""
    if not isinstance(body, Mapping):
        return Page()
    includes = body.get("includes")
    includes = includes if isinstance(includes, Mapping) else {}
    users = users_by_id(includes.get("users"))
    meta = body.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    token = meta.get("next_token")
    usernames = {
        str(user["username"]): user_id
        for user_id, user in users.items()
        if isinstance(user.get("username"), str)
    }
    items = _items(body)
    ids = [str(item["id"]) for item in items if is_id(item.get("id"))]
    messages: list[Envelope] = []
    reached = False
    if stream.kind is StreamKind.DM:
        oldest = now - timedelta(seconds=lookback)
        media = {
            str(item.get("media_key")): item
            for item in includes.get("media") or ()
            if isinstance(item, Mapping)
        }
        for item in items:
            if not is_id(item.get("id")):
                continue
            if cursor.since is not None:
                known = int(item["id"]) <= int(cursor.since)
            else:
                known = iso_time(item.get("created_at"), now) < oldest
            if known:
                reached = True
                continue
            envelope = dm_event_envelope(item, account=account, users=users, media=media, now=now)
            if envelope is not None:
                messages.append(envelope)
    else:
        for item in items:
            envelope = post_envelope(
                item,
                account=account,
                users=users,
                source=stream.source,
                now=now,
                query=stream.query,
            )
            if envelope is not None:
                messages.append(envelope)
    newest = meta.get("newest_id")
    return Page(
        messages=tuple(messages),
        newest=str(newest) if is_id(newest) else newest_id(*ids),
        next=token if isinstance(token, str) and token and not reached else None,
        reached_known=reached,
        usernames=usernames,
    )
