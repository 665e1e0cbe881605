"""What each message of a ``messages`` webhook becomes: an inbound envelope, its content and the
WhatsApp details kept in its metadata. Pure functions over the parsed JSON; split out of
:mod:`.webhooks` (which frames the request and parses statuses) by concern.

Message types (Meta's "messages" webhook reference; providers.md 4.6 and 10): ``text``;
``image``, ``video``, ``audio`` (``voice: true`` for voice notes), ``document`` and ``sticker``
carrying a media id; ``location``; ``contacts``; ``interactive`` (``button_reply``,
``list_reply``, ``nfm_reply`` for Flows); ``button`` (a template's quick reply); ``reaction``;
``order``; ``system``; ``request_welcome``; and ``unsupported`` (formerly ``unknown``), with
``errors[]``. Any of them may carry ``context`` (the message it answers, ``forwarded``,
``frequently_forwarded``) and ``referral`` (a click-to-WhatsApp ad). The sender is ``from``
(the wa_id: digits, no ``+``) with the profile name in ``contacts[]``; since the 2026 rollout
of usernames a contact carries a business-scoped user id (``user_id``, and ``parent_user_id``)
and may have no wa_id at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from omnichannel import (
    Address,
    AddressKind,
    Content,
    Direction,
    Envelope,
    InvalidAddress,
    Media,
    WebhookParseError,
)

__all__ = [
    "MEDIA_TYPES",
    "graph_media_url",
    "message_envelope",
    "timestamp_of",
]

MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})
_METADATA_TEXT_LIMIT: Final = 240

Fields = dict[str, str | int | float | bool]


def timestamp_of(event: Mapping[str, Any]) -> datetime:
    """An event's ``timestamp`` (a string of Unix seconds) as an aware UTC time."""
    value = event.get("timestamp")
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise WebhookParseError("a WhatsApp event has no timestamp of Unix seconds")
    return datetime.fromtimestamp(int(text), UTC)


def graph_media_url(api_root: str, media_id: str) -> str:
    """Where a media id lives in the Graph API (what ``download_media`` reads first)."""
    return f"{api_root}/{media_id}"


def _object(message: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = message.get(name)
    if not isinstance(found, dict):
        raise WebhookParseError(f"a WhatsApp {name} message without its {name!r} object")
    return found


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def _short(value: str) -> str:
    return value if len(value) <= _METADATA_TEXT_LIMIT else value[: _METADATA_TEXT_LIMIT - 1] + "…"


# --- Content by message type ------------------------------------------------------------------

ContentOf = Callable[[Mapping[str, Any], str, Fields], Content]


def _text_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    body = _text(_object(message, "text"), "body")
    if body is None:
        raise WebhookParseError("a WhatsApp text message without a body")
    return Content(text=body)


def _media_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    kind = str(message["type"])
    data = _object(message, kind)
    media_id = _text(data, "id")
    if media_id is None:
        raise WebhookParseError(f"a WhatsApp {kind} message without a media id")
    caption = _text(data, "caption")
    fields["media_id"] = media_id
    if _text(data, "sha256"):
        fields["media_sha256"] = str(data["sha256"])
    if data.get("voice") is True:
        fields["voice"] = True
    if data.get("animated") is True:
        fields["animated"] = True
    item = Media(
        url=graph_media_url(api_root, media_id),
        content_type=_text(data, "mime_type"),
        filename=_text(data, "filename"),
        caption=caption,
    )
    return Content(text=caption or "", media=[item])


def _degrees(pin: Mapping[str, Any], name: str) -> float:
    value = pin.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookParseError(f"a WhatsApp location without its {name}")
    return float(value)


def _location_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    pin = _object(message, "location")
    latitude, longitude = _degrees(pin, "latitude"), _degrees(pin, "longitude")
    fields["latitude"], fields["longitude"] = latitude, longitude
    place = [part for part in (_text(pin, "name"), _text(pin, "address")) if part]
    for name in ("name", "address", "url"):
        if _text(pin, name):
            fields[f"location_{name}"] = _short(str(pin[name]))
    where = f"{', '.join(place)} " if place else ""
    return Content(text=f"Location: {where}({latitude}, {longitude})")


def _contact_line(card: Mapping[str, Any]) -> str:
    name = card.get("name")
    label = _text(name, "formatted_name") if isinstance(name, dict) else None
    phones = [
        phone["phone"]
        for phone in card.get("phones") or ()
        if isinstance(phone, dict) and isinstance(phone.get("phone"), str)
    ]
    return ", ".join([label or "(no name)", *phones])


def _contacts_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    cards = message.get("contacts")
    if not isinstance(cards, list) or not cards:
        raise WebhookParseError("a WhatsApp contacts message without contacts")
    fields["contacts"] = len(cards)
    lines = [f"Contact: {_contact_line(card)}" for card in cards if isinstance(card, dict)]
    return Content(text="\n".join(lines) or "Contact")


def _interactive_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    data = _object(message, "interactive")
    kind = _text(data, "type") or ""
    fields["interactive_type"] = kind
    if kind in ("button_reply", "list_reply"):
        reply = _object(data, kind)
        choice, title = _text(reply, "id"), _text(reply, "title")
        if choice is None:
            raise WebhookParseError(f"a WhatsApp {kind} without the id of the option picked")
        return Content(text=title or choice, choice=choice)
    if kind == "nfm_reply":
        reply = _object(data, "nfm_reply")
        if _text(reply, "name"):
            fields["flow_name"] = _short(str(reply["name"]))
        return Content(text=_text(reply, "body") or "[WhatsApp Flow response]")
    return Content(text=f"[WhatsApp interactive reply: {kind or 'unknown'}]")


def _button_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    button = _object(message, "button")
    payload, text = _text(button, "payload"), _text(button, "text")
    if payload is None and text is None:
        raise WebhookParseError("a WhatsApp button reply without payload or text")
    return Content(text=text or payload or "", choice=payload)


def _reaction_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    data = _object(message, "reaction")
    emoji = _text(data, "emoji")
    fields["reaction"] = emoji or ""
    if emoji is None:
        fields["reaction_removed"] = True
    return Content(text=emoji or "[reaction removed]")


def _order_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    order = _object(message, "order")
    items = order.get("product_items")
    count = len(items) if isinstance(items, list) else 0
    if _text(order, "catalog_id"):
        fields["catalog_id"] = str(order["catalog_id"])
    return Content(text=_text(order, "text") or f"[WhatsApp order of {count} item(s)]")


def _system_content(message: Mapping[str, Any], api_root: str, fields: Fields) -> Content:
    system = _object(message, "system")
    if _text(system, "type"):
        fields["system_type"] = str(system["type"])
    return Content(text=_text(system, "body") or "[WhatsApp system message]")


_CONTENT: Final[Mapping[str, ContentOf]] = {
    "text": _text_content,
    **dict.fromkeys(MEDIA_TYPES, _media_content),
    "location": _location_content,
    "contacts": _contacts_content,
    "interactive": _interactive_content,
    "button": _button_content,
    "reaction": _reaction_content,
    "order": _order_content,
    "system": _system_content,
}
"""How each message type becomes content; any other type is kept as a placeholder."""


def _placeholder(message: Mapping[str, Any], kind: str, fields: Fields) -> Content:
    errors = message.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict):
        if first.get("code") is not None:
            fields["error_code"] = str(first["code"])
        title = _text(first, "title") or _text(first, "message")
        if title:
            fields["error_title"] = _short(title)
    if kind == "request_welcome":
        return Content(text="[the customer opened the chat]")
    return Content(text=f"[unsupported WhatsApp message: {kind}]")


# --- The envelope -----------------------------------------------------------------------------


def _contact_for(message: Mapping[str, Any], contacts: Sequence[Any]) -> Mapping[str, Any]:
    cards = [card for card in contacts if isinstance(card, dict)]
    sender = message.get("from")
    for card in cards:
        if sender is not None and sender in (card.get("wa_id"), card.get("user_id")):
            return card
    return cards[0] if len(cards) == 1 else {}


def _sender(message: Mapping[str, Any], contact: Mapping[str, Any], channel: str) -> Address:
    profile = contact.get("profile")
    name = _text(profile, "name") if isinstance(profile, dict) else None
    wa_id = _text(message, "from") or _text(contact, "wa_id")
    if wa_id is not None and wa_id.isdigit():
        address = Address(channel=channel, value=f"+{wa_id}", name=name)
        with contextlib.suppress(InvalidAddress):
            address = address.normalized(AddressKind.PHONE)
        return address
    user_id = wa_id or _text(contact, "user_id") or _text(message, "from_user_id")
    if user_id is None:
        raise WebhookParseError("a WhatsApp message without a sender (from, wa_id or user_id)")
    # A username user without a visible number: the business-scoped user id is the address.
    return Address(channel=channel, value=user_id, name=name)


def _identity_fields(
    message: Mapping[str, Any], contact: Mapping[str, Any], fields: Fields
) -> None:
    wa_id = _text(contact, "wa_id") or _text(message, "from")
    if wa_id is not None and wa_id.isdigit():
        fields["wa_id"] = wa_id
    for name in ("user_id", "parent_user_id", "identity_key_hash"):
        if _text(contact, name):
            fields[name] = str(contact[name])
    profile = contact.get("profile")
    if isinstance(profile, dict) and _text(profile, "username"):
        fields["username"] = str(profile["username"])


def _context_fields(message: Mapping[str, Any], fields: Fields) -> str | None:
    context = message.get("context")
    if not isinstance(context, dict):
        return None
    for flag in ("forwarded", "frequently_forwarded"):
        if context.get(flag) is True:
            fields[flag] = True
    return _text(context, "id")


def _referral_fields(message: Mapping[str, Any], fields: Fields) -> None:
    referral = message.get("referral")
    if not isinstance(referral, dict):
        return
    for name, value in referral.items():
        if isinstance(value, str) and value:
            fields[f"referral_{name}"] = _short(value)


def message_envelope(
    message: Mapping[str, Any],
    *,
    channel: str,
    business: Address,
    contacts: Sequence[Any],
    api_root: str,
) -> Envelope:
    """The inbound envelope of one ``messages[]`` entry sent to ``business``.

    The sender is ``+<wa_id>`` with the profile name (or the business-scoped user id when the
    customer shows no number); ``metadata`` keeps ``whatsapp_type`` (the message type, any
    type), ``wa_id``, ``user_id``, ``parent_user_id``, ``username``, the forwarding flags, the
    ad referral (``referral_*``), the media id (``media_id``, for ``download_media``) and
    what is specific to the type. A reply's ``in_reply_to`` is the quoted message (for a
    reaction, the message reacted to).
    """
    kind = _text(message, "type")
    message_id = _text(message, "id")
    if kind is None or message_id is None:
        raise WebhookParseError("a WhatsApp message without an id and a type")
    contact = _contact_for(message, contacts)
    fields: Fields = {"whatsapp_type": kind}
    _identity_fields(message, contact, fields)
    in_reply_to = _context_fields(message, fields)
    _referral_fields(message, fields)
    content_of = _CONTENT.get(kind)
    content = (
        content_of(message, api_root, fields)
        if content_of is not None
        else _placeholder(message, kind, fields)
    )
    if kind == "reaction":
        in_reply_to = _text(_object(message, "reaction"), "message_id") or in_reply_to
    return Envelope(
        channel=channel,
        direction=Direction.INBOUND,
        sender=_sender(message, contact, channel),
        recipient=business,
        business_address=business,
        content=content,
        in_reply_to=in_reply_to,
        provider_id=message_id,
        created_at=timestamp_of(message),
        metadata=fields,
        raw=dict(message),
    )
