"""What the Cloud API simulator checks in a request, and the status entries it posts: pure
functions over parsed JSON, split out of :mod:`.simulator` (which holds the endpoints and
their state) by concern.

The rules are Meta's documented limits (providers.md 4.2 and 4.9): a text body of 1 to 4,096
characters, captions of at most 1,024 on images, videos and documents only, a media item by
``link`` or by the ``id`` of an upload, reply buttons (1 to 3, titles of 20, distinct ids of
256), lists (a button label of 20, 1 to 10 sections, 10 rows in all, row titles of 24 and
descriptions of 72), templates with a name and a language code, ``biz_opaque_callback_data``
of at most 512 characters. A rule broken is answered as Meta answers it: code 100 (invalid
parameter), 131051 (unsupported type), 132001 (no such template).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Container, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from omnichannel_whatsapp.media import ACCEPTED_TYPES, CAPTIONED, KIND_LIMITS
from omnichannel_whatsapp.webhooks import WEBHOOK_OBJECT

__all__ = [
    "MESSAGE_TYPES",
    "MISSING_TEMPLATE",
    "message_problem",
    "read_receipt_problem",
    "senders",
    "status_entry",
    "upload_problem",
]

MISSING_TEMPLATE: Final = "missing_template"
"""A template name the simulator says does not exist (132001)."""
MESSAGE_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "template",
        "interactive",
        "location",
        "reaction",
        "contacts",
    }
)

Problem = tuple[int, str]


def _text(data: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        return f"{name} is required"
    if len(value) > limit:
        return f"{name} is {len(value)} characters; at most {limit}"
    return None


def _media_problem(kind: str, item: Mapping[str, Any], known: Container[str]) -> str | None:
    link, media_id = item.get("link"), item.get("id")
    if (link is None) == (media_id is None):
        return f"{kind} needs exactly one of link and id"
    if link is not None and not (
        isinstance(link, str) and link.startswith(("https://", "http://"))
    ):
        return f"{kind}['link'] is not a URL"
    if media_id is not None and (not isinstance(media_id, str) or media_id not in known):
        return f"{kind}['id'] is not a valid whatsapp business account media attachment ID"
    if "caption" in item:
        if kind not in CAPTIONED:
            return f"{kind} messages take no caption"
        return _text(item, "caption", 1024)
    return None


def _buttons_problem(action: Mapping[str, Any]) -> str | None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return "interactive buttons: 1 to 3 reply buttons"
    ids = set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, Mapping) else None
        if not isinstance(reply, Mapping) or button.get("type") != "reply":
            return "interactive buttons: each is {'type': 'reply', 'reply': {id, title}}"
        problem = _text(reply, "title", 20) or _text(reply, "id", 256)
        if problem:
            return f"interactive button: {problem}"
        ids.add(reply["id"])
    return None if len(ids) == len(buttons) else "interactive buttons need distinct ids"


def _list_problem(action: Mapping[str, Any]) -> str | None:
    problem = _text(action, "button", 20)
    if problem:
        return f"interactive list: {problem}"
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return "interactive list: 1 to 10 sections"
    rows = 0
    for section in sections:
        if not isinstance(section, Mapping) or not isinstance(section.get("rows"), list):
            return "interactive list: each section has rows"
        if len(sections) > 1 and _text(section, "title", 24):
            return "interactive list: sections need titles of at most 24 characters"
        for row in section["rows"]:
            if not isinstance(row, Mapping):
                return "interactive list: a row is an object"
            problem = (
                _text(row, "id", 200)
                or _text(row, "title", 24)
                or _text(row, "description", 72, required=False)
            )
            if problem:
                return f"interactive list row: {problem}"
            rows += 1
    return None if 1 <= rows <= 10 else "interactive list: 1 to 10 rows in all"


def _interactive_problem(data: Mapping[str, Any]) -> str | None:
    body = data.get("body")
    problem = _text(body, "text", 1024) if isinstance(body, Mapping) else "body is required"
    if problem:
        return f"interactive: {problem}"
    action = data.get("action")
    if not isinstance(action, Mapping):
        return "interactive: action is required"
    kind = data.get("type")
    if kind == "button":
        return _buttons_problem(action)
    if kind == "list":
        return _list_problem(action)
    return f"interactive type {str(kind)[:20]!r} is not supported here"


def _template_problem(data: Mapping[str, Any]) -> Problem | None:
    language = data.get("language")
    if _text(data, "name", 512) or not isinstance(language, Mapping):
        return 100, "template needs a name and a language"
    if _text(language, "code", 20):
        return 100, "template language needs a code"
    components = data.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, Mapping) for c in components):
        return 100, "template components are a list of objects"
    if data["name"] == MISSING_TEMPLATE:
        return 132001, f"template name ({data['name']}) does not exist in {language['code']}"
    return None


def _type_problem(kind: str, data: Mapping[str, Any], known: Container[str]) -> Problem | None:
    if kind == "text":
        problem = _text(data, "body", 4096)
    elif kind in KIND_LIMITS:
        problem = _media_problem(kind, data, known)
    elif kind == "interactive":
        problem = _interactive_problem(data)
    elif kind == "template":
        return _template_problem(data)
    elif kind == "location":
        numbers = [data.get("latitude"), data.get("longitude")]
        ok = all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
        problem = None if ok else "location needs a latitude and a longitude"
    else:  # a reaction
        ok = isinstance(data.get("message_id"), str) and isinstance(data.get("emoji"), str)
        problem = None if ok else "reaction needs a message_id and an emoji"
    return (100, problem) if problem else None


def message_problem(body: Mapping[str, Any], *, known_media: Container[str]) -> Problem | None:
    """The (code, details) Meta would refuse a message body with, or None when it is valid."""
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        return 131051, f"message type {str(kind)[:30]!r} is not supported"
    data = body.get(kind)
    if kind == "contacts":
        if not isinstance(data, list) or not data:
            return 100, "contacts is a list of contact cards"
    elif not isinstance(data, Mapping):
        return 100, f"the parameter {kind} is required"
    else:
        problem = _type_problem(kind, data, known_media)
        if problem:
            return problem
    context = body.get("context")
    if context is not None and not (
        isinstance(context, Mapping) and isinstance(context.get("message_id"), str)
    ):
        return 100, "context needs a message_id"
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and not (isinstance(callback, str) and len(callback) <= 512):
        return 100, "biz_opaque_callback_data is a string of at most 512 characters"
    return None


def read_receipt_problem(body: Mapping[str, Any]) -> str | None:
    """Why a mark-as-read body is invalid, or None."""
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id.startswith("wamid."):
        return "message_id must be the wamid of a message the customer sent"
    typing = body.get("typing_indicator")
    if typing is not None and typing != {"type": "text"}:
        return "typing_indicator is {'type': 'text'}"
    return None


def upload_problem(data: bytes, content_type: str) -> str | None:
    """Why an upload is refused, or None."""
    if not any(fnmatch.fnmatch(content_type, pattern) for pattern in ACCEPTED_TYPES):
        return f"unsupported file type {content_type[:60]}"
    if len(data) > max(KIND_LIMITS.values()):
        return f"the file is {len(data)} bytes, over the media size limit"
    return None if data else "the file is empty"


def senders(data: object, phone_number_id: str) -> Iterator[tuple[str, datetime]]:
    """(customer, when they wrote) for every message to ``phone_number_id`` in a
    notification."""
    if not isinstance(data, Mapping) or data.get("object") != WEBHOOK_OBJECT:
        return
    for entry in data.get("entry") or ():
        for change in entry.get("changes") or () if isinstance(entry, Mapping) else ():
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping):
                continue
            metadata = value.get("metadata") or {}
            if metadata.get("phone_number_id") != phone_number_id:
                continue
            for message in value.get("messages") or ():
                sender = message.get("from") if isinstance(message, Mapping) else None
                stamp = str(message.get("timestamp", "")) if isinstance(message, Mapping) else ""
                if isinstance(sender, str) and stamp.isdigit():
                    yield sender.lstrip("+"), datetime.fromtimestamp(int(stamp), UTC)


def status_entry(
    wamid: str,
    status: str,
    body: Mapping[str, Any],
    customer: str,
    *,
    at: datetime,
    error_code: int | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` entry as Meta posts it: the recipient, our callback data echoed,
    per-message pricing (a template is a billable utility message, a reply inside the window
    a free service one), and for a failure its error."""
    entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(at.timestamp()))}
    entry["recipient_user_id" if not customer.isdigit() else "recipient_id"] = customer
    callback = body.get("biz_opaque_callback_data")
    if isinstance(callback, str):
        entry["biz_opaque_callback_data"] = callback
    if error_code is not None:
        title = _ERROR_TITLES.get(error_code, "Unknown error")
        entry["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": _ERROR_DETAILS.get(error_code, title)},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
        return entry
    template = body.get("type") == "template"
    entry["pricing"] = {
        "billable": template,
        "pricing_model": "PMP",
        "category": "utility" if template else "service",
        "type": "regular" if template else "free_customer_service",
    }
    return entry


_ERROR_TITLES: Final[Mapping[int, str]] = {
    131047: "Re-engagement message",
    131026: "Message undeliverable",
}
_ERROR_DETAILS: Final[Mapping[int, str]] = {
    131047: "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
    131026: "Message Undeliverable.",
}
