"""A local stand-in for the X API v2, mounted by ``omni sandbox`` at ``/x``.

It answers the endpoints the adapter uses as X does (shapes, ids as strings, problem JSON,
``x-rate-limit-*`` headers on every answer, gzip when the client accepts it), checks the
bearer token or the OAuth 1.0a signature (timestamp window and nonce reuse included), and
serves a :class:`~omnichannel_x.sandbox_world.SandboxWorld` seeded with a mention of the
account and posts about the brand, so the pollers and brand searches find something. It
applies X's rules that shape an application: 280 weighted characters per post, no duplicate
posts, the self-serve reply restriction (only to a post that mentions or quotes the
account), one ``dm_*`` attachment per DM. Every DM and post the account makes is echoed to
the application's webhook, signed, as X does (the adapter drops its own echoes), in the
payloads of the configured ``activity_api``; :meth:`queue_inbound` and :meth:`queue_post`
make a customer write (found by polling, and delivered by webhook).

Recipients that misbehave on purpose: :data:`CLOSED_DMS` refuses DMs (403),
:data:`RATE_LIMITED` answers 429 (reset in 2 s), :data:`NO_SUCH_USER` is an invalid
participant (400).
"""

from __future__ import annotations

import base64
import binascii
import gzip
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.lengths import weighted_length
from omnichannel.plugin import WeightedLength, constant_time_equal
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel_x import oauth1, webhooks
from omnichannel_x.payloads import ADAPTER_NAME, CHANNEL, MAX_IMAGE_BYTES, is_id
from omnichannel_x.query import QueryError, compile_query
from omnichannel_x.sandbox_world import SAMPLE_POST_ID, SandboxWorld
from omnichannel_x.settings import XTwitterSettings

__all__ = ["CLOSED_DMS", "NO_SUCH_USER", "RATE_LIMITED", "SAMPLE_POST_ID", "XTwitterSimulator"]

CLOSED_DMS: Final = "1000000000000000403"
RATE_LIMITED: Final = "1000000000000000429"
NO_SUCH_USER: Final = "1000000000000000400"

_WINDOW: Final = timedelta(minutes=15)
_OAUTH_WINDOW: Final = timedelta(minutes=5)
_CATEGORIES: Final = {"tweet_image", "tweet_video", "tweet_gif", "dm_image", "dm_video", "dm_gif"}
_POST_FIELDS: Final = ("id", "text", "edit_history_tweet_ids")
_DM_FIELDS: Final = ("id", "event_type", "text")
_PAGE_SIZES: Final = {"dm_events": (1, 100, 100), "mentions": (5, 100, 10), "search": (10, 100, 10)}
_WEIGHT: Final = WeightedLength()

Answer = Callable[[], WebhookResponse]


def _problem(
    status: int, title: str, detail: str, kind: str = "about:blank", **extra: Any
) -> WebhookResponse:
    problem_type = kind if kind == "about:blank" else f"https://api.x.com/2/problems/{kind}"
    body = {"title": title, "detail": detail, "type": problem_type, "status": status, **extra}
    return WebhookResponse.json(body, status_code=status)


def _invalid(message: str, parameter: str, value: str) -> WebhookResponse:
    return _problem(
        400,
        "Invalid Request",
        "One or more parameters to your request was invalid.",
        "invalid-request",
        errors=[{"parameters": {parameter: [value]}, "message": message}],
    )


def _too_many(reset: datetime | None = None) -> WebhookResponse:
    limited = _problem(429, "Too Many Requests", "Too Many Requests")
    if reset is None:
        return limited
    headers = [("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", str(int(reset.timestamp())))]
    return attrs.evolve(limited, headers=headers)


@attrs.define
class _Window:
    started: datetime
    used: int = 0


class XTwitterSimulator(BaseSimulator):
    """The X API v2 endpoints the adapter calls, and the webhooks X sends."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    prefix: ClassVar[str] = "x"
    sample_recipient: ClassVar[str] = "2244994945"
    account_username: ClassVar[str] = "acme"
    rate_limit: ClassVar[int] = 900
    """Requests per endpoint per 15-minute window (X's own limits are lower: the sandbox is
    for trying things out; tests lower it to exercise the limit)."""

    settings: XTwitterSettings

    def __init__(self, settings: XTwitterSettings, context: SimulatorContext) -> None:
        super().__init__(settings, context)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.world = SandboxWorld(
            account=settings.user_id, username=self.account_username, clock=lambda: self.clock()
        )
        self._nonces: set[tuple[str, str]] = set()
        self._windows: dict[str, _Window] = {}

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings for the adapter, pointing at the simulator mounted at ``base_url``."""
        return {
            "user_id": "1234567890",
            "bearer_token": "sandbox-oauth2-user-token",
            "consumer_key": "sandbox-consumer-key",
            "consumer_secret": "sandbox-consumer-secret",
            "search_queries": ["acme -from:acme"],
            "base_url": base_url,
        }

    # -- customers writing --------------------------------------------------------------------

    def queue_inbound(self, *, sender: str, text: str) -> str:
        """A DM from ``sender`` to the account: found by the next DM poll, and delivered to
        the webhook. Returns its event id."""
        event = self.world.add_dm(sender=sender, recipient=self.settings.user_id, text=text)
        self._deliver(self.world.dm_webhook(event, api=self.settings.activity_api))
        return str(event["id"])

    def queue_post(
        self, *, author: str, text: str, reply_to: str | None = None, quote: str | None = None
    ) -> str:
        """A public post by ``author``: found by the mentions poll when it names ``@acme``
        and by matching brand searches, and delivered to the webhook when it addresses the
        account. Returns its id."""
        self.world.user(author)
        post = self.world.add_post(author, text, reply_to=reply_to, quote=quote)
        if self.world.addresses_account(post):
            self._deliver(self.world.post_webhook(post, api=self.settings.activity_api))
        return str(post["id"])

    def _deliver(self, body: Mapping[str, Any]) -> None:
        url = self.context.webhook_url(CHANNEL)
        secret = self.settings.consumer_secret
        if url is None or secret is None:
            return
        request = webhooks.signed_request(url, body, secret)

        async def post() -> None:
            await self.context.sleep(self.context.step_delay)
            await self.context.post(url, headers=dict(request.headers), body=request.body)

        self.context.spawn(post)

    # -- the API ------------------------------------------------------------------------------

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request as X would (gzipped when the client accepts it)."""
        route, answer = self._route(request)
        if route is None:
            where = f"{request.method} {self.subpath(request)}"
            response = _problem(404, "Not Found Error", f"no such endpoint: {where}")
        else:
            response = self._refused(request) or self._counted(route) or answer()
            response = attrs.evolve(response, headers=[*self._limits(route), *response.headers])
        if "gzip" in (request.header("Accept-Encoding") or "") and response.body:
            response = attrs.evolve(
                response,
                body=gzip.compress(response.body),
                headers=[*response.headers, ("content-encoding", "gzip")],
            )
        return response

    def _route(self, request: WebhookRequest) -> tuple[str | None, Answer]:
        parts = [unquote(part) for part in self.subpath(request).strip("/").split("/")]
        query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        routes: dict[tuple[str, tuple[str, ...]], tuple[str, Answer]] = {
            ("POST", ("2", "tweets")): ("tweets", lambda: self._create_post(request)),
            ("POST", ("2", "media", "upload")): ("media", lambda: self._upload(request)),
            ("GET", ("2", "dm_events")): ("dm_events", lambda: self._dm_events(query)),
            ("GET", ("2", "tweets", "search", "recent")): (
                "search",
                lambda: self._timeline("search", query),
            ),
        }
        found = routes.get((request.method.upper(), tuple(parts)))
        if found is not None:
            return found
        method, count = request.method.upper(), len(parts)
        if method == "POST" and parts[:2] == ["2", "dm_conversations"] and parts[-1] == "messages":
            if count == 5 and parts[2] == "with":
                return "dm_send", lambda: self._send_dm(request, participant=parts[3])
            if count == 4:
                return "dm_send", lambda: self._send_dm(request, conversation=parts[2])
        if (
            method == "GET"
            and count == 4
            and parts[:2] == ["2", "users"]
            and parts[3] == "mentions"
        ):
            return "mentions", lambda: self._timeline("mentions", query, user=parts[2])
        if method == "GET" and count == 5 and parts[:4] == ["2", "users", "by", "username"]:
            return "users", lambda: self._user_by_name(parts[4])
        return None, WebhookResponse

    def _refused(self, request: WebhookRequest) -> WebhookResponse | None:
        """None when the request is authorized as the configured account, else the 401."""
        header = request.header("Authorization") or ""
        unauthorized = _problem(401, "Unauthorized", "Unauthorized")
        token = self.settings.bearer_token
        if header.startswith("Bearer "):
            if token and constant_time_equal(header, f"Bearer {token.reveal()}"):
                return None
            return unauthorized
        credentials = self.settings.oauth1
        if credentials is None or not header.startswith("OAuth "):
            return unauthorized
        form: list[tuple[str, str]] = []
        if (request.header("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            form = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        given = oauth1.verify(request.method, request.url, header, credentials, form=form)
        if given is None:
            return unauthorized
        stamp, nonce = given.get("oauth_timestamp", ""), given.get("oauth_nonce", "")
        if not stamp.isdigit() or (nonce, stamp) in self._nonces:
            return unauthorized
        if abs(datetime.fromtimestamp(int(stamp), UTC) - self.clock()) > _OAUTH_WINDOW:
            return unauthorized
        self._nonces.add((nonce, stamp))
        return None

    def _counted(self, route: str) -> WebhookResponse | None:
        now = self.clock()
        window = self._windows.get(route)
        if window is None or now - window.started >= _WINDOW:
            window = self._windows[route] = _Window(started=now)
        window.used += 1
        return _too_many() if window.used > self.rate_limit else None

    def _limits(self, route: str) -> list[tuple[str, str]]:
        window = self._windows.get(route)
        if window is None:
            return []
        return [
            ("x-rate-limit-limit", str(self.rate_limit)),
            ("x-rate-limit-remaining", str(max(0, self.rate_limit - window.used))),
            ("x-rate-limit-reset", str(int((window.started + _WINDOW).timestamp()))),
        ]

    @staticmethod
    def _json(request: WebhookRequest) -> dict[str, Any] | None:
        try:
            data = request.json()
        except WebhookParseError:
            return None
        return data if isinstance(data, dict) else None

    # -- writes -------------------------------------------------------------------------------

    def _send_dm(
        self,
        request: WebhookRequest,
        *,
        participant: str | None = None,
        conversation: str | None = None,
    ) -> WebhookResponse:
        account = self.settings.user_id
        if conversation is not None:
            members = conversation.split("-")
            if len(members) != 2 or account not in members or not all(map(is_id, members)):
                return _problem(403, "Forbidden", "You are not a participant in this conversation.")
            participant = members[0] if members[1] == account else members[1]
        if participant is None or not is_id(participant) or participant == NO_SUCH_USER:
            value = str(participant)
            message = f"The `participant_id` path parameter value [{value}] is not valid"
            return _invalid(message, "participant_id", value)
        if participant == RATE_LIMITED:
            return _too_many(reset=self.clock() + timedelta(seconds=2))
        if participant == CLOSED_DMS:
            return _problem(
                403, "Forbidden", "You cannot send messages to users who are not following you."
            )
        body = self._json(request)
        if body is None or not set(body) <= {"text", "attachments"} or not any(body.values()):
            return _invalid("the body holds text and/or attachments, nothing else", "body", "")
        attachments = body.get("attachments") or []
        media_id = None
        if attachments:
            first = attachments[0] if isinstance(attachments[0], dict) else {}
            media_id = str(first.get("media_id"))
            if len(attachments) > 1 or not self.world.media.get(media_id, "").startswith("dm_"):
                message = "attachments name one media id uploaded with a dm_ category"
                return _invalid(message, "attachments", media_id)
        event = self.world.add_dm(
            sender=account,
            recipient=participant,
            text=str(body.get("text") or ""),
            media_id=media_id,
        )
        self._deliver(self.world.dm_webhook(event, api=self.settings.activity_api))
        data = {"dm_conversation_id": event["dm_conversation_id"], "dm_event_id": event["id"]}
        return WebhookResponse.json({"data": data}, status_code=201)

    def _create_post(self, request: WebhookRequest) -> WebhookResponse:
        body = self._json(request)
        if body is None or not isinstance(body.get("text", ""), str):
            return _invalid("the body is a JSON object with a text string", "text", "")
        text = str(body.get("text", ""))
        if weighted_length(text, _WEIGHT) > 280:
            return _invalid("text is longer than 280 weighted characters", "text", text[:20])
        reply = body.get("reply")
        target = str(reply.get("in_reply_to_tweet_id")) if isinstance(reply, dict) else None
        if target is not None:
            parent = self.world.posts.get(target)
            if parent is None:
                message = f"The post {target} does not exist or was deleted"
                return _invalid(message, "reply.in_reply_to_tweet_id", target)
            own = parent["author_id"] == self.settings.user_id
            if not own and not self.world.addresses_account(parent):
                return _problem(
                    403,
                    "Forbidden",
                    "Reply to this conversation is not allowed because you have not been "
                    "mentioned or otherwise engaged by the author of the post you are replying to.",
                )
        media = body.get("media")
        media_ids = media.get("media_ids", []) if isinstance(media, dict) else []
        if any(not self.world.media.get(str(item), "").startswith("tweet_") for item in media_ids):
            message = "media_ids are uploaded with a tweet_ category"
            return _invalid(message, "media.media_ids", ",".join(map(str, media_ids)))
        if self.world.posted_before(text):
            return _problem(
                403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
            )
        post = self.world.add_post(self.settings.user_id, text, reply_to=target)
        self._deliver(self.world.post_webhook(post, api=self.settings.activity_api))
        data = {"id": post["id"], "text": text, "edit_history_tweet_ids": [post["id"]]}
        return WebhookResponse.json({"data": data}, status_code=201)

    def _upload(self, request: WebhookRequest) -> WebhookResponse:
        body = self._json(request) or {}
        category = body.get("media_category")
        if category not in _CATEGORIES or not isinstance(body.get("media"), str):
            message = "media (base64) and a media_category are required"
            return _invalid(message, "media_category", str(category))
        try:
            data = base64.b64decode(body["media"], validate=True)
        except (binascii.Error, ValueError):
            return _invalid("media is not valid base64", "media", "")
        if len(data) > MAX_IMAGE_BYTES:
            return _invalid("images are limited to 5 MB", "media", str(len(data)))
        media_id = self.world.next_id()
        self.world.media[media_id] = str(category)
        answer = {
            "id": media_id,
            "media_key": f"3_{media_id}",
            "size": len(data),
            "expires_after_secs": 86400,
            "image": {"image_type": "image/png", "w": 1, "h": 1},
        }
        return WebhookResponse.json({"data": answer})

    # -- reads --------------------------------------------------------------------------------

    def _page(
        self, kind: str, items: list[dict[str, Any]], query: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], str | None] | WebhookResponse:
        low, high, default = _PAGE_SIZES[kind]
        size = query.get("max_results", str(default))
        if not size.isdigit() or not low <= int(size) <= high:
            message = (
                f"The `max_results` query parameter value [{size}] is not between {low} and {high}"
            )
            return _invalid(message, "max_results", size)
        name = "next_token" if kind == "search" else "pagination_token"
        token = query.get(name) or query.get("pagination_token") or "pg0"
        if not token.startswith("pg") or not token[2:].isdigit():
            return _invalid(
                f"The `{name}` query parameter value [{token}] is not valid", name, token
            )
        start, count = int(token[2:]), int(size)
        more = start + count < len(items)
        return items[start : start + count], f"pg{start + count}" if more else None

    @staticmethod
    def _fields(
        item: Mapping[str, Any], requested: str | None, default: tuple[str, ...]
    ) -> dict[str, Any]:
        # X returns only the default fields and the ones asked for.
        wanted = {*default, *(requested or "").split(",")}
        return {key: value for key, value in item.items() if key in wanted}

    def _dm_events(self, query: Mapping[str, str]) -> WebhookResponse:
        paged = self._page("dm_events", self.world.dms_of_account(), query)
        if isinstance(paged, WebhookResponse):
            return paged
        page, token = paged
        if not page:
            return WebhookResponse.json({"meta": {"result_count": 0}})
        fields = query.get("dm_event.fields")
        body: dict[str, Any] = {"data": [self._fields(e, fields, _DM_FIELDS) for e in page]}
        if "sender_id" in query.get("expansions", "").split(","):
            senders = sorted({event["sender_id"] for event in page})
            body["includes"] = {"users": [self.world.user(sender) for sender in senders]}
        body["meta"] = {"result_count": len(page), **({"next_token": token} if token else {})}
        return WebhookResponse.json(body)

    def _timeline(
        self, kind: str, query: Mapping[str, str], user: str | None = None
    ) -> WebhookResponse:
        if kind == "mentions":
            if user is None or user not in self.world.users:
                detail = f"Could not find user with id: [{user}]."
                return _problem(404, "Not Found Error", detail, "resource-not-found")
            matches = self.world.mentions_of(user)
        else:
            try:
                matcher = compile_query(query.get("query", ""))
            except QueryError as error:
                return _invalid(str(error), "query", query.get("query", ""))
            matches = [p for p in self.world.posts.values() if matcher(p, self.world.username)]
        since, start = query.get("since_id"), query.get("start_time")
        if since is not None:
            if not is_id(since):
                return _invalid(
                    f"The `since_id` query parameter value [{since}] is not valid",
                    "since_id",
                    since,
                )
            matches = [post for post in matches if int(post["id"]) > int(since)]
        if start is not None:
            try:
                floor = datetime.fromisoformat(start)
            except ValueError:
                return _invalid(
                    f"The `start_time` query parameter value [{start}] is not valid",
                    "start_time",
                    start,
                )
            matches = [p for p in matches if datetime.fromisoformat(p["created_at"]) >= floor]
        matches.sort(key=lambda post: (post["created_at"], int(post["id"])), reverse=True)
        paged = self._page(kind, matches, query)
        if isinstance(paged, WebhookResponse):
            return paged
        page, token = paged
        if not page:
            return WebhookResponse.json({"meta": {"result_count": 0}})
        fields = query.get("tweet.fields")
        body: dict[str, Any] = {"data": [self._fields(p, fields, _POST_FIELDS) for p in page]}
        if "author_id" in query.get("expansions", "").split(","):
            authors = sorted({post["author_id"] for post in page})
            body["includes"] = {"users": [self.world.user(author) for author in authors]}
        ids = [int(post["id"]) for post in page]
        meta: dict[str, Any] = {
            "newest_id": str(max(ids)),
            "oldest_id": str(min(ids)),
            "result_count": len(page),
        }
        if token:
            meta["next_token"] = token
        body["meta"] = meta
        return WebhookResponse.json(body)

    def _user_by_name(self, username: str) -> WebhookResponse:
        found = self.world.by_username(username)
        if found is not None:
            return WebhookResponse.json({"data": dict(found)})
        error = {
            "value": username,
            "detail": f"Could not find user with username: [{username}].",
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "username",
            "resource_id": username,
            "type": "https://api.x.com/2/problems/resource-not-found",
        }
        # X answers a lookup of an unknown name with 200 and errors only.
        return WebhookResponse.json({"errors": [error]})
