"""The ``twitter.x`` adapter: customer service on X through the X API v2.

Three kinds of conversation, one channel: private DMs, public replies (280 weighted
characters, split into a reply chain by the router when allowed), and posts about the brand
that never addressed the account (mentions and recent-search hits, found by polling or
delivered by webhook). The base class does the sending, retries and receipts; this class
supplies X's parts: bearer or OAuth 1.0a auth (signed before every attempt), media uploads
before a send, the error table, the CRC and signed webhooks (:mod:`.webhooks`), and the
streams of :mod:`.polling`.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Final

from omnichannel import (
    AddressKind,
    ConfigurationError,
    DeliveryStatus,
    Envelope,
    Media,
    ProviderError,
    RateLimited,
    SendError,
    Visibility,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import (
    AdapterContext,
    AdapterInfo,
    BaseAdapter,
    Capabilities,
    InboundMode,
    MediaRules,
    PollResult,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    WebhookResult,
    WeightedLength,
    bearer_auth,
)
from omnichannel_x import oauth1, payloads, polling, problems, webhooks
from omnichannel_x.payloads import ADAPTER_NAME, CHANNEL, IMAGE_TYPES, MAX_IMAGE_BYTES
from omnichannel_x.problems import Action
from omnichannel_x.settings import XTwitterSettings

__all__ = ["CAPABILITIES", "PUBLIC_SHAPE", "URL_NOTE", "XTwitterAdapter"]

logger = logging.getLogger(__name__)

URL_NOTE: Final = (
    "The text holds a URL: under X's pay-per-use pricing a post with a URL costs $0.200 "
    "instead of $0.015, over ten times a plain one."
)
_STATUSES: Final = {DeliveryStatus.ACCEPTED, DeliveryStatus.FAILED}
_IDLE_SECONDS: Final = 3600.0
_HANDLE_CACHE_SIZE: Final = 4096

PUBLIC_SHAPE: Final = Capabilities(
    address_kind=AddressKind.OPAQUE,
    # 280 weighted characters for standard accounts: URLs count 23, CJK and emoji 2
    # (twitter-text's rules, which WeightedLength's defaults are).
    max_text_length=280,
    weighted_length=WeightedLength(),
    split_long_text=True,
    reply_chain=True,
    url_note=URL_NOTE,
    media=MediaRules(
        content_types=IMAGE_TYPES,
        max_items=4,
        max_bytes=MAX_IMAGE_BYTES,
        links=False,
        uploads=True,
    ),
    threading=True,
    statuses=_STATUSES,
    inbound={InboundMode.WEBHOOK, InboundMode.POLL},
)
"""Public replies: ``POST /2/tweets``; images are uploaded (up to four), nothing by URL."""

CAPABILITIES: Final = Capabilities(
    address_kind=AddressKind.OPAQUE,
    # DMs carry up to 10,000 characters (providers.md 5.2); longer text goes in parts.
    max_text_length=10_000,
    split_long_text=True,
    media=MediaRules(
        content_types=IMAGE_TYPES,
        max_items=1,
        max_bytes=MAX_IMAGE_BYTES,
        links=False,
        uploads=True,
    ),
    threading=True,
    public_posting=True,
    public=PUBLIC_SHAPE,
    statuses=_STATUSES,
    inbound={InboundMode.WEBHOOK, InboundMode.POLL},
    # Account Activity payloads carry user maps and batches: well over the 64 KiB default.
    webhook_body_limit=1024 * 1024,
)
"""DMs (the private shape), with the public reply shape; webhooks and polling both."""


def _new_nonce() -> str:
    return secrets.token_hex(16)


class XTwitterAdapter(BaseAdapter[XTwitterSettings]):
    """DMs, public replies, mentions and brand searches on X (API v2)."""

    info = AdapterInfo(
        name=ADAPTER_NAME,
        channel=CHANNEL,
        provider="x",
        description="DMs, public replies, mentions and brand-monitoring search on X (API v2)",
    )
    capabilities = CAPABILITIES
    settings_class = XTwitterSettings

    def __init__(self, settings: XTwitterSettings, context: AdapterContext | None = None) -> None:
        self.credentials = settings.oauth1
        super().__init__(settings, context)
        self.nonce: Callable[[], str] = _new_nonce
        """Where OAuth 1.0a nonces come from (tests make it predictable)."""
        self.send_headers = payloads.json_headers(self.auth_headers)
        """The auth headers with the JSON content type, built once for every send."""
        self.streams = _streams(settings)
        self.due: dict[str, datetime] = {}
        """When each stream is next due, by its cursor key (in memory: after a restart every
        stream is polled at once, from its stored cursor)."""
        self._handles: OrderedDict[str, str] = OrderedDict()
        self._sequence = 0

    @property
    def business_address(self) -> str | None:
        """Our account's user id."""
        return self.settings.user_id

    # -- auth --------------------------------------------------------------------------------

    def build_auth_headers(self) -> Mapping[str, str]:
        """The OAuth 2.0 bearer token; nothing for OAuth 1.0a, which signs each request."""
        token = self.settings.bearer_token
        if self.credentials is None and token is not None:
            return {"Authorization": bearer_auth(token.reveal())}
        return {}

    def sign_request(self, request: ProviderRequest) -> ProviderRequest:
        """OAuth 1.0a: a fresh nonce and timestamp for every attempt (bearer: unchanged)."""
        if self.credentials is None:
            return request
        return oauth1.sign(
            request,
            self.credentials,
            nonce=self.nonce(),
            timestamp=int(self.now().timestamp()),
        )

    async def _call(self, request: ProviderRequest, action: Action) -> ProviderResponse:
        return await self.context.sender.send(
            request,
            error_for=lambda response: problems.error_for(response, action=action, now=self.now()),
            sign=self.sign_request if self.credentials is not None else None,
        )

    # -- sending -----------------------------------------------------------------------------

    def build_send_request(self, envelope: Envelope) -> ProviderRequest:
        """The DM or public reply for ``envelope`` (one without bytes media: those are
        uploaded first, by :meth:`deliver`)."""
        if payloads.media_items(envelope.content.media):
            raise ProviderError("media given as bytes are uploaded by deliver(), not here")
        return payloads.send_request(self.settings.base_url, envelope, self.send_headers)

    async def deliver(self, envelope: Envelope) -> SentMessage:
        """Upload the images (if any), then send the DM or the reply."""
        uploads = payloads.media_items(envelope.content.media)
        media_ids: list[str] = []
        if uploads:
            payloads.check_sendable(envelope, media_count=len(uploads))
            media_ids = [await self.upload_media(item, envelope.visibility) for item in uploads]
        request = payloads.send_request(
            self.settings.base_url, envelope, self.send_headers, media_ids
        )
        public = envelope.visibility is Visibility.PUBLIC
        response = await self._call(request, Action.POST if public else Action.DM)
        return self.parse_send_response(envelope, response)

    def parse_send_response(self, envelope: Envelope, response: ProviderResponse) -> SentMessage:
        """``dm_event_id`` of a DM, the post id of a reply."""
        try:
            body: object = response.json()
        except ValueError:
            body = None
        return payloads.sent_message(body, envelope.visibility)

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """X's error table for a DM send (replies and reads pass their own action)."""
        return problems.error_for(response, action=Action.DM, now=self.now())

    async def upload_media(self, media: Media, visibility: Visibility) -> str:
        """Upload an image for a DM (``dm_image``) or a post (``tweet_image``); its media id."""
        category = payloads.media_category(media, visibility)
        request = payloads.upload_request(
            self.settings.base_url, media, category, self.send_headers
        )
        response = await self._call(request, Action.UPLOAD)
        return payloads.uploaded_media_id(response.json())

    async def user_id_for(self, username: str) -> str:
        """The user id of ``@username`` (``GET /2/users/by/username``), cached: X addresses
        people by id. :class:`~omnichannel.InvalidRecipient` when there is no such user."""
        key = username.strip().lstrip("@").lower()
        cached = self._handles.get(key)
        if cached is not None:
            self._handles.move_to_end(key)
            return cached
        request = payloads.user_lookup_request(self.settings.base_url, username, self.auth_headers)
        response = await self._call(request, Action.READ)
        user_id = payloads.looked_up_user_id(response.json(), username)
        self._remember_handles({key: user_id})
        return user_id

    def _remember_handles(self, handles: Mapping[str, str]) -> None:
        for name, user_id in handles.items():
            self._handles[name.lower()] = user_id
            self._handles.move_to_end(name.lower())
        while len(self._handles) > _HANDLE_CACHE_SIZE:
            self._handles.popitem(last=False)

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Answer the CRC (GET), or check ``x-twitter-webhooks-signature`` (POST)."""
        return webhooks.verify(request, self.settings.consumer_secret)

    def parse_webhook(self, request: WebhookRequest) -> WebhookResult:
        """DMs, mentions, replies and quotes, from either Activity API; echoes dropped."""
        return webhooks.parse(request, account=self.settings.user_id, now=self.now())

    def simulate(self, *, sender: str, text: str, url: str) -> WebhookRequest:
        """A DM from ``sender`` to our account, as the configured Activity API delivers it."""
        secret = self.settings.consumer_secret
        if secret is None:
            raise ConfigurationError(
                "simulated webhooks are signed with consumer_secret; set it (the app's API key "
                "secret)"
            )
        sender = payloads.user_id_of(sender)
        now = self.now()
        event_id = self._next_id(now)
        account = self.settings.user_id
        event = webhooks.message_create_event(
            event_id=event_id, sender=sender, recipient=account, text=text, created_at=now
        )
        if self.settings.activity_api == "account-activity":
            body = webhooks.account_activity_body(
                account=account, key="direct_message_events", events=[event]
            )
        else:
            body = webhooks.activity_body(
                event_type="dm.received",
                account=account,
                event_uuid=self._next_id(now),
                payload={"direct_message_events": [event], "users": {}},
                tag="dm-inbound",
            )
        return webhooks.signed_request(url, body, secret)

    def _next_id(self, now: datetime) -> str:
        self._sequence += 1
        return payloads.new_id(now, self._sequence)

    # -- polling -----------------------------------------------------------------------------

    async def poll(self, cursor: str | None) -> PollResult:
        """Poll every stream that is due; the others keep their turn.

        A stream waits its interval after each poll, or until its rate-limit window resets
        when X says none are left (``x-rate-limit-remaining: 0``, or a 429): the result's
        ``next_poll_seconds`` is when the first stream is due again. Each post is delivered
        once per poll even when several streams found it (a mention that a search matched).
        """
        cursors = polling.decode_cursor(cursor)
        now = self.now()
        found: dict[str, Envelope] = {}
        for stream in self.streams:
            if self.due.get(stream.key, now) > now:
                continue
            wait: float | None = None
            try:
                cursors[stream.key], messages, wait = await self._read_stream(
                    stream, cursors.get(stream.key, polling.StreamCursor()), now
                )
            except RateLimited as limited:
                logger.info("X rate-limited the %s stream: %s", stream.key, limited.message)
                messages, wait = [], limited.retry_after
            self.due[stream.key] = now + timedelta(seconds=max(stream.interval, wait or 0.0))
            for message in messages:
                found.setdefault(message.provider_id or message.id, message)
        ordered = sorted(found.values(), key=lambda m: (m.created_at, int(m.provider_id or 0)))
        return PollResult(
            messages=ordered,
            cursor=polling.encode_cursor(cursors),
            next_poll_seconds=self._next_poll(now),
        )

    def _next_poll(self, now: datetime) -> float:
        if not self.streams:
            return _IDLE_SECONDS
        due = min(self.due.get(stream.key, now) for stream in self.streams)
        return max(0.0, (due - now).total_seconds())

    async def _read_stream(
        self, stream: polling.Stream, cursor: polling.StreamCursor, now: datetime
    ) -> tuple[polling.StreamCursor, list[Envelope], float | None]:
        try:
            return await self._poll_stream(stream, cursor, now)
        except SendError as error:
            # X takes since_id (and pagination tokens) from the last 7 days only: after a long
            # outage the stored position is refused with a 400, for good. Start the stream
            # again from its lookback rather than fail every poll from now on.
            if error.status_code != 400 or cursor == polling.StreamCursor():
                raise
            logger.warning(
                "X refused where the %s stream had got to (%s); reading it again from the last "
                "%g seconds",
                stream.key,
                error.provider_message or error.message,
                self.settings.poll_lookback,
            )
            return await self._poll_stream(stream, polling.StreamCursor(), now)

    async def _poll_stream(
        self, stream: polling.Stream, cursor: polling.StreamCursor, now: datetime
    ) -> tuple[polling.StreamCursor, list[Envelope], float | None]:
        token, newest = cursor.next, cursor.newest
        messages: list[Envelope] = []
        wait: float | None = None
        for _ in range(polling.MAX_PAGES):
            request = polling.page_request(
                stream,
                base_url=self.settings.base_url,
                account=self.settings.user_id,
                headers=self.auth_headers,
                cursor=cursor,
                token=token,
                now=now,
                lookback=self.settings.poll_lookback,
            )
            response = await self._call(request, Action.READ)
            try:
                body: object = response.json()
            except ValueError:
                raise ProviderError(
                    f"X answered the {stream.key} poll with a body that is not JSON"
                ) from None
            page = polling.read_page(
                stream,
                body,
                account=self.settings.user_id,
                cursor=cursor,
                now=now,
                lookback=self.settings.poll_lookback,
            )
            self._remember_handles(page.usernames)
            messages.extend(page.messages)
            newest = newest or page.newest
            token = page.next
            wait = problems.rate_limit_wait(response, now)
            if token is None or wait is not None:
                break
        if token is not None:
            return (
                polling.StreamCursor(since=cursor.since, next=token, newest=newest),
                messages,
                wait,
            )
        return polling.StreamCursor(since=polling.newest_id(newest, cursor.since)), messages, wait


def _streams(settings: XTwitterSettings) -> tuple[polling.Stream, ...]:
    streams: list[polling.Stream] = []
    if settings.dm_poll_interval > 0:
        streams.append(
            polling.Stream(kind=polling.StreamKind.DM, interval=settings.dm_poll_interval)
        )
    if settings.mentions_poll_interval > 0:
        streams.append(
            polling.Stream(
                kind=polling.StreamKind.MENTIONS, interval=settings.mentions_poll_interval
            )
        )
    if settings.search_poll_interval > 0:
        streams.extend(
            polling.Stream(
                kind=polling.StreamKind.SEARCH, interval=settings.search_poll_interval, query=query
            )
            for query in settings.search_queries
        )
    return tuple(streams)
