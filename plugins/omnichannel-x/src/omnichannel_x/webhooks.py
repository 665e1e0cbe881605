"""X webhooks: the CRC challenge, the signature check, and the two payload families.

X calls one URL (``{public_url}/webhooks/twitter``) two ways:

* ``GET ?crc_token=...``, the Challenge-Response Check, at registration, hourly and on
  re-validation: answered ``200`` with ``{"response_token": "sha256=" + base64(HMAC-SHA256(
  consumer_secret, crc_token))}``, or the webhook is marked invalid;
* ``POST`` with a JSON body and ``x-twitter-webhooks-signature: sha256=<base64
  HMAC-SHA256(consumer_secret, raw body)>``, verified over the raw bytes before anything is
  parsed, and answered ``200`` at once.

Two payload families arrive on POST, told apart by their shape, both accepted always:

* the **X Activity API** (XAA, what pay-per-use accounts get): ``{"data": {"event_uuid",
  "filter": {"user_id"}, "event_type", "payload", "includes"}}``, where ``dm.received``
  carries legacy ``message_create`` events and ``post.mention.create`` /
  ``post.reply.create`` / ``post.quote.create`` carry a v2 post;
* the **Account Activity API** (AAA, enterprise): ``{"for_user_id", "direct_message_events":
  [...], "users": {...}}`` or ``{"for_user_id", "tweet_create_events": [<v1.1 tweet>]}``.

Both echo the account's own DMs and posts (``dm.sent``, ``post.create``, AAA events whose
sender is ``for_user_id``): they are dropped, so a reply never answers itself. Events for
another account sharing the URL, and every other event type (typing, reads, follows, likes),
are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from omnichannel import (
    Envelope,
    Secret,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
    WebhookVerificationError,
)
from omnichannel.plugin import WebhookResult, hmac_digest, sign_body, verify_body
from omnichannel_x.inbound import (
    message_create_envelope,
    post_envelope,
    users_by_id,
    v1_tweet_envelope,
)

__all__ = [
    "ACKNOWLEDGED",
    "SIGNATURE_HEADER",
    "account_activity_body",
    "activity_body",
    "crc_response",
    "crc_response_token",
    "message_create_event",
    "parse",
    "sign",
    "signed_request",
    "verify",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "x-twitter-webhooks-signature"
ACKNOWLEDGED: Final = WebhookResponse(status_code=200)
_PREFIX: Final = "sha256="
_POST_EVENTS: Final = {
    "post.mention.create": "mention",
    "post.reply.create": "reply",
    "post.quote.create": "quote",
}


def crc_response_token(consumer_secret: Secret, crc_token: str) -> str:
    """``sha256=`` + base64 HMAC-SHA256 of ``crc_token`` under the consumer secret."""
    digest = hmac_digest(consumer_secret, crc_token, "sha256")
    return _PREFIX + base64.b64encode(digest).decode("ascii")


def crc_response(crc_token: str, consumer_secret: Secret) -> WebhookResponse:
    """The exact answer to a CRC: ``200`` JSON ``{"response_token": ...}``."""
    return WebhookResponse.json({"response_token": crc_response_token(consumer_secret, crc_token)})


def sign(consumer_secret: Secret, body: bytes) -> str:
    """The ``x-twitter-webhooks-signature`` value of ``body``."""
    return sign_body(consumer_secret, body, encoding="base64", prefix=_PREFIX)


def verify(request: WebhookRequest, consumer_secret: Secret | None) -> WebhookResponse | None:
    """Answer a CRC (GET), or check a POST's signature over its raw body.

    Raises :class:`~omnichannel.WebhookVerificationError` (403) for a missing or wrong
    signature, and when no ``consumer_secret`` is configured (X signs with it, so nothing
    can be verified without it); a GET without ``crc_token`` is a
    :class:`~omnichannel.WebhookParseError` (400).
    """
    if consumer_secret is None:
        raise WebhookVerificationError(
            "consumer_secret is not configured, so X's webhooks cannot be verified; set it to "
            "the app's API key secret"
        )
    if request.method.upper() == "GET":
        token = request.query_value("crc_token")
        if not token:
            raise WebhookParseError("a GET from X must carry crc_token (the CRC check)")
        return crc_response(token, consumer_secret)
    signature = request.header(SIGNATURE_HEADER)
    if not verify_body(consumer_secret, request.body, signature, encoding="base64", prefix=_PREFIX):
        raise WebhookVerificationError(
            f"missing or wrong {SIGNATURE_HEADER} header; check the consumer_secret setting "
            "(the app's API key secret)"
        )
    return None


def parse(request: WebhookRequest, *, account: str, now: datetime) -> WebhookResult:
    """The inbound messages of a verified POST, X Activity API or Account Activity API."""
    body = request.json()
    if not isinstance(body, dict):
        raise WebhookParseError("expected a JSON object from X")
    if "data" in body:
        messages = _activity(body["data"], account, now)
    elif "for_user_id" in body:
        messages = _account_activity(body, account, now)
    else:
        raise WebhookParseError(
            "neither an X Activity API event ({'data': ...}) nor an Account Activity API "
            "event ({'for_user_id': ...})"
        )
    return WebhookResult(response=ACKNOWLEDGED, messages=messages)


def _events(value: object, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise WebhookParseError(f"{what} is not a list of objects")
    return value


def _activity(data: object, account: str, now: datetime) -> list[Envelope]:
    events = data if isinstance(data, list) else [data]
    messages: list[Envelope] = []
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("event_type"), str):
            raise WebhookParseError("an X Activity API event needs an event_type")
        kind = event["event_type"]
        target = (
            event.get("filter", {}).get("user_id")
            if isinstance(event.get("filter"), Mapping)
            else None
        )
        if target is not None and target != account:
            logger.debug("ignoring a %s event for another account (%s)", kind, target)
            continue
        payload = event.get("payload")
        if not isinstance(payload, Mapping):
            raise WebhookParseError(f"the {kind} event has no payload object")
        includes = event.get("includes")
        if kind == "dm.received":
            users = users_by_id(payload.get("users"))
            for item in _events(payload.get("direct_message_events"), "direct_message_events"):
                found = message_create_envelope(item, account=account, users=users, now=now)
                if found is not None:
                    messages.append(found)
        elif kind in _POST_EVENTS:
            users = users_by_id(includes.get("users") if isinstance(includes, Mapping) else None)
            found = post_envelope(
                payload, account=account, users=users, source=_POST_EVENTS[kind], now=now
            )
            if found is not None:
                messages.append(found)
        else:
            logger.debug("ignoring an X Activity API %s event", kind)
    return messages


def _account_activity(body: Mapping[str, Any], account: str, now: datetime) -> list[Envelope]:
    target = body.get("for_user_id")
    if not isinstance(target, str):
        raise WebhookParseError("for_user_id is not a string")
    if target != account:
        logger.debug("ignoring Account Activity events for another account (%s)", target)
        return []
    messages: list[Envelope] = []
    users = users_by_id(body.get("users"))
    for event in _events(body.get("direct_message_events"), "direct_message_events"):
        found = message_create_envelope(event, account=account, users=users, now=now)
        if found is not None:
            messages.append(found)
    for tweet in _events(body.get("tweet_create_events"), "tweet_create_events"):
        post = v1_tweet_envelope(tweet, account=account, now=now)
        if post is not None:
            messages.append(post)
    return messages


# --- Building requests (omni simulate, the sandbox) ---------------------------------------------


def message_create_event(
    *, event_id: str, sender: str, recipient: str, text: str, created_at: datetime
) -> dict[str, Any]:
    """A legacy ``message_create`` DM event, the shape both webhook families carry."""
    return {
        "type": "message_create",
        "id": event_id,
        "created_timestamp": str(int(created_at.timestamp() * 1000)),
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "message_data": {
                "text": text,
                "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
            },
        },
    }


def activity_body(
    *,
    event_type: str,
    account: str,
    event_uuid: str,
    payload: Mapping[str, Any],
    includes: Mapping[str, Any] | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """An X Activity API webhook body."""
    data: dict[str, Any] = {
        "event_uuid": event_uuid,
        "filter": {"user_id": account},
        "event_type": event_type,
        "tag": tag or event_type,
        "payload": dict(payload),
    }
    if includes is not None:
        data["includes"] = dict(includes)
    return {"data": data}


def account_activity_body(
    *,
    account: str,
    key: str,
    events: Sequence[Mapping[str, Any]],
    users: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An Account Activity API webhook body carrying ``events`` under ``key``
    (``direct_message_events``, ``tweet_create_events``)."""
    body: dict[str, Any] = {"for_user_id": account, key: [dict(event) for event in events]}
    if users is not None:
        body["users"] = dict(users)
    return body


def signed_request(url: str, body: Mapping[str, Any], consumer_secret: Secret) -> WebhookRequest:
    """A webhook POST carrying ``body`` as compact JSON, signed as X signs it."""
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(consumer_secret, raw)}
    return WebhookRequest(method="POST", url=url, headers=headers, body=raw)
