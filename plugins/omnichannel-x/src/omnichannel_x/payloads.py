"""Pure mapping between envelopes and the X API v2: the requests we make, the answers we read,
and the error table. No I/O, so everything here tests as a table against ``tests/payloads/``.

Wire facts (providers.md sections 5 and 10, X's OpenAPI 2.167):

* a DM goes to ``POST /2/dm_conversations/with/{participant_id}/messages`` (creating the 1-1
  conversation if needed) or into a known conversation with
  ``POST /2/dm_conversations/{dm_conversation_id}/messages``; the JSON body holds ``text``
  and/or ``attachments: [{"media_id"}]`` (one at most) and nothing else; the answer is
  ``201 {"data": {"dm_conversation_id", "dm_event_id"}}``;
* a public reply is ``POST /2/tweets`` with ``{"text", "reply": {"in_reply_to_tweet_id"},
  "media": {"media_ids"}}``, answered ``201 {"data": {"id", "text"}}``;
* images are uploaded first with ``POST /2/media/upload`` (JSON, base64 ``media`` and a
  ``dm_image`` or ``tweet_image`` category), answered with ``{"data": {"id", ...}}``;
* ids are decimal strings of up to 19 digits: never numbers;
* errors are problem JSON, classified in :mod:`omnichannel_x.problems`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeGuard
from urllib.parse import quote

from omnichannel import (
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
from omnichannel.plugin import (
    ProviderRequest,
    SecretHeaders,
    SentMessage,
)
from omnichannel_x.oauth1 import percent_encode
from omnichannel_x.problems import parse_problem

__all__ = [
    "ADAPTER_NAME",
    "CHANNEL",
    "IMAGE_TYPES",
    "MAX_IMAGE_BYTES",
    "OWN_POST_FIELDS",
    "api_request",
    "check_sendable",
    "dm_request",
    "is_id",
    "json_headers",
    "looked_up_user_id",
    "media_category",
    "media_items",
    "new_id",
    "post_request",
    "send_request",
    "sent_message",
    "upload_request",
    "uploaded_media_id",
    "user_id_of",
    "user_lookup_request",
]

ADAPTER_NAME: Final = "twitter.x"
CHANNEL: Final = "twitter"

IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})
"""What the one-shot upload takes: still images (GIFs and videos need the chunked upload)."""
MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
_JSON: Final = "application/json"
OWN_POST_FIELDS: Final = frozenset({"text", "reply", "media"})
"""Fields of ``POST /2/tweets`` the adapter sets from the envelope; options may not set them."""

_ID: Final = re.compile(r"[0-9]{1,19}")
# A 1-1 conversation id is "<smaller user id>-<larger user id>" (providers.md 5.2).
_ONE_TO_ONE: Final = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an X id: a string of 1 to 19 digits."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


_TWITTER_EPOCH_MS: Final = 1_288_834_974_657


def new_id(now: datetime, sequence: int) -> str:
    """An id shaped like X's (a snowflake: milliseconds since X's epoch, shifted 22 bits),
    for simulated events; ``sequence`` keeps ids of one millisecond apart."""
    millis = int(now.timestamp() * 1000) - _TWITTER_EPOCH_MS
    return str((millis << 22) | (sequence & 0x3FFFFF))


def user_id_of(value: str) -> str:
    """``value`` as a user id, or :class:`~omnichannel.InvalidAddress` before any request.

    X addresses people by numeric id; an ``@handle`` must be looked up first
    (:meth:`~omnichannel_x.XTwitterAdapter.user_id_for`).
    """
    if is_id(value):
        return value
    hint = (
        f"; look the handle up first: await adapter.user_id_for({value.lstrip('@')!r})"
        if value.startswith("@") or not value.isdigit()
        else ""
    )
    raise InvalidAddress(value, "X user id", f"expected 1 to 19 digits{hint}", channel=CHANNEL)


def api_request(
    method: str,
    base_url: str,
    path: str,
    headers: Mapping[str, str],
    params: Sequence[tuple[str, str]] = (),
) -> ProviderRequest:
    """A read of ``path`` with ``params`` in the query, percent-encoded as OAuth 1.0a signs
    them (a read is idempotent: safe to retry after a lost answer)."""
    query = "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in params)
    url = f"{base_url}{path}{'?' + query if query else ''}"
    return ProviderRequest(method=method, url=url, headers=headers, idempotent=True)


def json_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with the JSON content type, built once per adapter for every send."""
    if isinstance(headers, SecretHeaders):
        return headers.merged({"Content-Type": _JSON})
    return {**headers, "Content-Type": _JSON}


def _json_request(
    url: str, data: object, headers: Mapping[str, str], *, idempotent: bool = False
) -> ProviderRequest:
    if headers.get("Content-Type") != _JSON:
        return ProviderRequest.json("POST", url, data, headers=headers, idempotent=idempotent)
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return ProviderRequest(
        method="POST", url=url, headers=headers, body=body, idempotent=idempotent
    )


def dm_request(
    base_url: str,
    envelope: Envelope,
    headers: Mapping[str, str],
    media_ids: Sequence[str] = (),
) -> ProviderRequest:
    """The DM that sends ``envelope``: into its conversation when ``thread`` is the 1-1
    conversation with the recipient (a reply to a DM), else to the recipient by id.

    Any other thread (a public conversation id, a group conversation) is not used: a post's
    conversation id looks like a group DM's, and a DM must never go where it was not meant.
    """
    recipient = user_id_of(envelope.recipient.value)
    if envelope.provider_options and envelope.options_for(ADAPTER_NAME):
        raise UnsupportedFeature(
            "a DM carries only text and one attachment, so provider_options cannot add to it",
            envelope_id=envelope.id,
        )
    if len(media_ids) > 1:
        raise UnsupportedFeature("a DM carries one attachment at most", envelope_id=envelope.id)
    body: dict[str, Any] = {}
    if envelope.content.text:
        body["text"] = envelope.content.text
    if media_ids:
        body["attachments"] = [{"media_id": media_id} for media_id in media_ids]
    if not body:
        raise UnsupportedFeature("a DM needs text or an attachment", envelope_id=envelope.id)
    thread = _ONE_TO_ONE.fullmatch(envelope.thread or "")
    if thread is not None and recipient in thread.groups():
        path = f"/2/dm_conversations/{thread.group(0)}/messages"
    else:
        path = f"/2/dm_conversations/with/{recipient}/messages"
    return _json_request(f"{base_url}{path}", body, headers)


def post_request(
    base_url: str,
    envelope: Envelope,
    headers: Mapping[str, str],
    media_ids: Sequence[str] = (),
) -> ProviderRequest:
    """The public reply that sends ``envelope``: ``POST /2/tweets`` answering ``in_reply_to``.

    ``provider_options["twitter.x"]`` adds fields of the create-post body (``reply_settings``,
    ``quote_tweet_id``...); it cannot set ``text``, ``reply`` or ``media``.
    """
    answered = envelope.in_reply_to
    if not is_id(answered):
        raise UnsupportedFeature(
            "a public message on X answers a post: set in_reply_to to the post id (replying "
            "to an inbound mention does), or send it privately as a DM",
            envelope_id=envelope.id,
        )
    options = dict(envelope.options_for(ADAPTER_NAME)) if envelope.provider_options else {}
    clash = sorted(OWN_POST_FIELDS & set(options))
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the adapter sets them from the "
            "envelope",
            envelope_id=envelope.id,
        )
    body: dict[str, Any] = {
        "text": envelope.content.text,
        "reply": {"in_reply_to_tweet_id": answered},
    }
    if media_ids:
        body["media"] = {"media_ids": list(media_ids)}
    body.update(options)
    return _json_request(f"{base_url}/2/tweets", body, headers)


def send_request(
    base_url: str,
    envelope: Envelope,
    headers: Mapping[str, str],
    media_ids: Sequence[str] = (),
) -> ProviderRequest:
    """The request that sends ``envelope``: a public reply when it is PUBLIC, else a DM."""
    if envelope.visibility is Visibility.PUBLIC:
        return post_request(base_url, envelope, headers, media_ids)
    return dm_request(base_url, envelope, headers, media_ids)


def check_sendable(envelope: Envelope, *, media_count: int = 0) -> None:
    """Raise what :func:`send_request` would for ``envelope`` with ``media_count`` uploads,
    before anything is uploaded: an envelope that cannot be sent costs no request.

    The request is built with placeholder media ids and dropped, so the checks are exactly
    those of the real build.
    """
    send_request("", envelope, {}, ["0"] * media_count)


def media_category(media: Media, visibility: Visibility) -> str:
    """The upload category of ``media``: ``dm_image`` for a DM, ``tweet_image`` for a post."""
    if media.data is None or media.content_type not in IMAGE_TYPES:
        raise UnsupportedFeature(
            f"{media.label}: only {', '.join(sorted(IMAGE_TYPES))} given as bytes are uploaded"
        )
    if media.size is not None and media.size > MAX_IMAGE_BYTES:
        raise ContentRejected(
            f"{media.label}: {media.size} bytes is over X's {MAX_IMAGE_BYTES} byte image limit"
        )
    return "tweet_image" if visibility is Visibility.PUBLIC else "dm_image"


def upload_request(
    base_url: str, media: Media, category: str, headers: Mapping[str, str]
) -> ProviderRequest:
    """``POST /2/media/upload`` with the image base64-encoded in a JSON body.

    Marked idempotent: uploading twice only leaves an unused media id, which X expires, so an
    upload whose answer was lost may be retried.
    """
    assert media.data is not None
    body = {"media": base64.b64encode(media.data).decode("ascii"), "media_category": category}
    return _json_request(f"{base_url}/2/media/upload", body, headers, idempotent=True)


def user_lookup_request(
    base_url: str, username: str, headers: Mapping[str, str]
) -> ProviderRequest:
    """``GET /2/users/by/username/{username}``."""
    name = username.strip().lstrip("@")
    if not re.fullmatch(r"[A-Za-z0-9_]{1,15}", name):
        raise InvalidAddress(username, "X handle", "expected 1 to 15 letters, digits or _")
    return api_request("GET", base_url, f"/2/users/by/username/{quote(name)}", headers)


# --- Answers ----------------------------------------------------------------------------------


def _data(body: object) -> Mapping[str, Any] | None:
    data = body.get("data") if isinstance(body, Mapping) else None
    return data if isinstance(data, Mapping) else None


def sent_message(body: object, visibility: Visibility) -> SentMessage:
    """The provider id of a send: ``dm_event_id`` for a DM, the post ``id`` for a reply."""
    data = _data(body)
    key = "id" if visibility is Visibility.PUBLIC else "dm_event_id"
    value = data.get(key) if data is not None else None
    if not is_id(value):
        # The message may exist: never report this as safe to resend.
        raise ProviderError(
            f"X answered the send without a {key}; the message may have been created, check "
            "the account before resending",
            retryable=False,
        )
    return SentMessage(provider_id=value, status=DeliveryStatus.ACCEPTED, raw=body)


def uploaded_media_id(body: object) -> str:
    """The media id of an upload's answer."""
    data = _data(body)
    media_id = data.get("id") if data is not None else None
    if not is_id(media_id):
        raise ProviderError("X answered the media upload without a media id")
    return str(media_id)


def looked_up_user_id(body: object, username: str) -> str:
    """The id in the answer to a username lookup. X answers an unknown name with ``200`` and
    ``errors`` only (a partial-error answer), which becomes :class:`InvalidRecipient`."""
    data = _data(body)
    user_id = data.get("id") if data is not None else None
    if is_id(user_id):
        return str(user_id)
    problem = parse_problem(body)
    raise InvalidRecipient(
        f"X has no user @{username.lstrip('@')}"
        + (f": {problem.detail}" if problem.detail else ""),
        provider_code=problem.type,
        provider_message=problem.detail,
    )


def media_items(media: Iterable[Media]) -> list[Media]:
    """The items of ``media`` that are uploaded (bytes); the router turned the others into
    links, since X attaches nothing by URL."""
    return [item for item in media if item.is_bytes]
