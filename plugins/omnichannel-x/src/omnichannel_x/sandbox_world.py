"""The small world the X simulator serves: users, public posts, DM events and uploaded media,
and the webhook bodies X would send about them.

No I/O: the simulator (:mod:`omnichannel_x.simulator`) answers HTTP from it and posts the
bodies. Posts and DM events are kept in X's v2 shapes (ids as strings, ``created_at`` in
ISO 8601 with milliseconds), so what the simulator returns is what the adapter reads from
X. The world starts with a directory of customers and a few posts from the last minutes: a
mention of the account, two posts about the brand that do not address it, one unrelated
post, and one by the account itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from omnichannel_x import webhooks
from omnichannel_x.inbound import one_to_one_conversation
from omnichannel_x.payloads import new_id

__all__ = ["SAMPLE_POST_ID", "SandboxWorld", "iso"]

SAMPLE_POST_ID: Final = "1460323737035677698"
"""The seeded customer post that mentions the account (a reply to it is allowed)."""

# (user id, username, display name); the account itself is added by the world.
_PEOPLE: Final = (
    ("2244994945", "alice", "Alice Example"),
    ("1402351869", "bob", "Bob Example"),
    ("1559238847", "carol", "Carol Example"),
    ("1719420183", "dave", "Dave Example"),
)
# (id, author (None: the account), text, minutes before the world starts).
_SEED_POSTS: Final = (
    (SAMPLE_POST_ID, "2244994945", "@acme my order #1234 never arrived, can you help?", 9),
    ("1460323737035677699", "1402351869", "Loving my new acme kettle, best purchase this year", 8),
    (
        "1460323737035677700",
        "1559238847",
        "Is acme support open on Sundays? Asking for a friend",
        7,
    ),
    ("1460323737035677701", "1719420183", "Lovely weather for a walk today", 6),
    ("1460323737035677702", None, "acme spring sale starts Monday!", 5),
)


def iso(moment: datetime) -> str:
    """A time as X writes it: ``2026-07-24T21:23:23.000Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SandboxWorld:
    """Everything the simulated X knows, for one account."""

    def __init__(
        self,
        *,
        account: str,
        username: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.account = account
        self.clock = clock
        self.users: dict[str, dict[str, str]] = {
            account: {"id": account, "name": "Acme Support", "username": username}
        }
        for user_id, name, display in _PEOPLE:
            self.users[user_id] = {"id": user_id, "name": display, "username": name}
        self.posts: dict[str, dict[str, Any]] = {}
        self.dm_events: list[dict[str, Any]] = []
        self.media: dict[str, str] = {}
        """Uploaded media ids and their category (``dm_image``, ``tweet_image``...)."""
        self._sequence = 0
        start = clock()
        for post_id, author, text, minutes in _SEED_POSTS:
            self.add_post(
                author or account, text, created=start - timedelta(minutes=minutes), post_id=post_id
            )

    def next_id(self) -> str:
        """A new snowflake-shaped id, larger than every one before it."""
        self._sequence += 1
        return new_id(self.clock(), self._sequence)

    # -- users ------------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, str]:
        """The user ``user_id``, made up on first sight (the sandbox knows everyone)."""
        return self.users.setdefault(
            user_id,
            {"id": user_id, "name": f"User {user_id[-4:]}", "username": f"user{user_id[-6:]}"},
        )

    def username(self, user_id: str) -> str | None:
        """The handle of ``user_id``, if the world knows them."""
        user = self.users.get(user_id)
        return user["username"] if user else None

    def by_username(self, username: str) -> dict[str, str] | None:
        """The user whose handle is ``username`` (any case)."""
        wanted = username.lower()
        return next((u for u in self.users.values() if u["username"].lower() == wanted), None)

    # -- posts ------------------------------------------------------------------------------

    def add_post(
        self,
        author: str,
        text: str,
        *,
        created: datetime | None = None,
        post_id: str | None = None,
        reply_to: str | None = None,
        quote: str | None = None,
    ) -> dict[str, Any]:
        """Store a post in X's v2 shape (``entities.mentions`` from its ``@handles``)."""
        new = post_id or self.next_id()
        post: dict[str, Any] = {
            "id": new,
            "text": text,
            "edit_history_tweet_ids": [new],
            "author_id": author,
            "created_at": iso(created or self.clock()),
            "conversation_id": new,
        }
        references = []
        parent = self.posts.get(reply_to or "")
        if parent is not None:
            post["conversation_id"] = parent["conversation_id"]
            post["in_reply_to_user_id"] = parent["author_id"]
            references.append({"type": "replied_to", "id": parent["id"]})
        if quote is not None:
            references.append({"type": "quoted", "id": quote})
        if references:
            post["referenced_tweets"] = references
        lowered = text.lower()
        mentioned = [u for u in self.users.values() if f"@{u['username'].lower()}" in lowered]
        if mentioned:
            post["entities"] = {
                "mentions": [{"username": u["username"], "id": u["id"]} for u in mentioned]
            }
        self.posts[new] = post
        return post

    def addresses_account(self, post: Mapping[str, Any]) -> bool:
        """Whether ``post`` mentions the account, answers it or quotes it (what X's
        self-serve reply rule and its mention events look for)."""
        mentions = post.get("entities", {}).get("mentions", [])
        if any(item.get("id") == self.account for item in mentions):
            return True
        if post.get("in_reply_to_user_id") == self.account:
            return True
        quoted = [r["id"] for r in post.get("referenced_tweets", []) if r["type"] == "quoted"]
        return any(self.posts.get(item, {}).get("author_id") == self.account for item in quoted)

    def mentions_of(self, user_id: str) -> list[dict[str, Any]]:
        """Posts by others that mention ``user_id`` or answer it, as the mentions timeline
        has them."""
        handle = f"@{self.username(user_id)}".lower()
        return [
            post
            for post in self.posts.values()
            if post["author_id"] != user_id
            and (handle in post["text"].lower() or post.get("in_reply_to_user_id") == user_id)
        ]

    def posted_before(self, text: str) -> bool:
        """Whether the account already posted exactly ``text`` (X refuses duplicates)."""
        return any(
            post["author_id"] == self.account and post["text"] == text
            for post in self.posts.values()
        )

    # -- DMs --------------------------------------------------------------------------------

    def add_dm(
        self, *, sender: str, recipient: str, text: str, media_id: str | None = None
    ) -> dict[str, Any]:
        """Store a DM event in X's v2 shape, in the pair's 1-1 conversation."""
        self.user(sender)
        self.user(recipient)
        event: dict[str, Any] = {
            "id": self.next_id(),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": one_to_one_conversation(sender, recipient),
            "created_at": iso(self.clock()),
            "participant_ids": [sender, recipient],
        }
        if media_id is not None:
            event["attachments"] = {"media_keys": [f"3_{media_id}"]}
        self.dm_events.append(event)
        return event

    def dms_of_account(self) -> list[dict[str, Any]]:
        """The account's DM events, newest first (``GET /2/dm_events``)."""
        return [e for e in reversed(self.dm_events) if self.account in e["participant_ids"]]

    # -- webhooks ---------------------------------------------------------------------------

    def dm_webhook(self, event: Mapping[str, Any], *, api: str) -> dict[str, Any]:
        """The webhook body announcing ``event``: ``dm.sent`` or ``dm.received`` (X Activity
        API), or ``direct_message_events`` (Account Activity API)."""
        sender = str(event["sender_id"])
        recipient = next((p for p in event["participant_ids"] if p != sender), sender)
        legacy = webhooks.message_create_event(
            event_id=str(event["id"]),
            sender=sender,
            recipient=recipient,
            text=str(event["text"]),
            created_at=datetime.fromisoformat(str(event["created_at"])),
        )
        users = {user_id: {"data": self.user(user_id)} for user_id in (sender, recipient)}
        if api == "account-activity":
            return webhooks.account_activity_body(
                account=self.account, key="direct_message_events", events=[legacy], users=users
            )
        sent = sender == self.account
        return webhooks.activity_body(
            event_type="dm.sent" if sent else "dm.received",
            account=self.account,
            event_uuid=self.next_id(),
            payload={"direct_message_events": [legacy], "users": users},
            tag="dm-outbound" if sent else "dm-inbound",
        )

    def post_webhook(self, post: Mapping[str, Any], *, api: str) -> dict[str, Any]:
        """The webhook body announcing ``post``: a ``post.*`` event (X Activity API) or a
        v1.1 tweet in ``tweet_create_events`` (Account Activity API)."""
        author = self.user(str(post["author_id"]))
        replied = next(
            (r["id"] for r in post.get("referenced_tweets", []) if r["type"] == "replied_to"),
            None,
        )
        if api == "account-activity":
            created = datetime.fromisoformat(str(post["created_at"]))
            legacy = {
                "id_str": post["id"],
                "text": post["text"],
                "created_at": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "user": {
                    "id_str": author["id"],
                    "screen_name": author["username"],
                    "name": author["name"],
                },
                "in_reply_to_status_id_str": replied,
                "in_reply_to_user_id_str": post.get("in_reply_to_user_id"),
            }
            return webhooks.account_activity_body(
                account=self.account, key="tweet_create_events", events=[legacy]
            )
        if author["id"] == self.account:
            kind = "post.create"
        elif post.get("in_reply_to_user_id") == self.account:
            kind = "post.reply.create"
        elif any(r["type"] == "quoted" for r in post.get("referenced_tweets", [])):
            kind = "post.quote.create"
        else:
            kind = "post.mention.create"
        return webhooks.activity_body(
            event_type=kind,
            account=self.account,
            event_uuid=self.next_id(),
            payload=post,
            includes={"users": [author]},
        )
