"""Pure mapping between envelopes and the WhatsApp Cloud API's messages: the send bodies, the
answer to a send, and the mark-as-read call. No I/O, so everything here tests as a table.

Wire facts (Meta's Cloud API "Messages" reference; providers.md 4.2, 4.3 and 10): every
message is ``POST /{version}/{phone_number_id}/messages`` with a JSON body carrying
``"messaging_product": "whatsapp"``, the recipient in ``to`` (a phone number) or ``recipient``
(a business-scoped user id, BSUID, since v25), a ``type`` and the object of that type; a reply
quotes the customer's message in ``context.message_id``; ``biz_opaque_callback_data`` (at most
512 characters) comes back on every status webhook, so it carries our envelope id. The answer
is ``200`` with ``{"contacts": [...], "messages": [{"id": "wamid..."}]}``: accepted, not
delivered. Meta takes no idempotency key, so a send is never retried once it may have arrived.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from omnichannel import (
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    Interactive,
    InvalidAddress,
    Media,
    ProviderError,
    Template,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.plugin import SentMessage
from omnichannel_whatsapp.media import CAPTIONED, check_size, media_kind

__all__ = [
    "ADAPTER_NAME",
    "DEFAULT_TEMPLATE_LANGUAGE",
    "MAX_CAPTION",
    "MAX_INTERACTIVE_BODY",
    "OWN_FIELDS",
    "is_bsuid",
    "location",
    "mark_read_body",
    "message_body",
    "messages_url",
    "reaction",
    "recipient_fields",
    "sent_message",
    "template_object",
]

ADAPTER_NAME: Final = "whatsapp.meta"
MAX_CAPTION: Final = 1024
MAX_INTERACTIVE_BODY: Final = 1024
MAX_CALLBACK_DATA: Final = 512
DEFAULT_TEMPLATE_LANGUAGE: Final = "en_US"
"""The language code sent with a template that names none (Meta requires one)."""

OWN_FIELDS: Final = frozenset(
    {"messaging_product", "to", "recipient", "recipient_type", "biz_opaque_callback_data"}
)
"""Body fields the adapter sets from the envelope; ``provider_options`` may not set them."""

# A BSUID is an ISO 3166 country code, a period and up to 128 alphanumerics; a parent BSUID
# has ENT between them (Meta's "Business-scoped user IDs" page; providers.md 10).
BSUID_PATTERN: Final = r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}"
"""A business-scoped user id, as the capabilities declare it (``scoped_ids``)."""
_BSUID: Final = re.compile(BSUID_PATTERN)
_E164: Final = re.compile(r"\+[1-9]\d{6,14}")
_URL: Final = re.compile(r"https?://", re.IGNORECASE)


def messages_url(api_root: str, phone_number_id: str) -> str:
    """``{api_root}/{phone_number_id}/messages``, where messages and read receipts go."""
    return f"{api_root}/{phone_number_id}/messages"


def is_bsuid(value: str) -> bool:
    """Whether ``value`` is a business-scoped user id (``US.13491208655302741918``)."""
    return _BSUID.fullmatch(value) is not None


def recipient_fields(value: str) -> dict[str, str]:
    """The recipient part of a body: ``to`` for an E.164 number, ``recipient`` for a BSUID.

    Raises :class:`~omnichannel.InvalidAddress` for anything else, before any request.
    """
    if _E164.fullmatch(value):
        return {"recipient_type": "individual", "to": value}
    if is_bsuid(value):
        return {"recipient_type": "individual", "recipient": value}
    raise InvalidAddress(
        value,
        "phone",
        "a WhatsApp recipient is an E.164 number (+14155550199) or a business-scoped user id "
        "(US.13491208655302741918)",
        channel="whatsapp",
    )


# --- Message objects ------------------------------------------------------------------------


def _media_object(item: Media, kind: str, uploaded: Mapping[Media, str]) -> dict[str, Any]:
    check_size(item, kind)
    media_id = uploaded.get(item)
    if media_id is not None:
        found: dict[str, Any] = {"id": media_id}
    elif item.url is not None:
        found = {"link": item.url}
    else:
        raise ValueError("media given as bytes must be uploaded before the message is built")
    if kind == "document":
        found["filename"] = item.filename or "document"
    return found


def _media_message(
    item: Media, text: str, uploaded: Mapping[Media, str]
) -> tuple[str, dict[str, Any]]:
    kind = media_kind(item)
    found = _media_object(item, kind, uploaded)
    caption = "\n\n".join(part for part in (text, item.caption or "") if part)
    if caption:
        if kind not in CAPTIONED:
            raise UnsupportedFeature(
                f"WhatsApp {kind} messages carry no caption; send the text in its own envelope"
            )
        if len(caption) > MAX_CAPTION:
            raise ContentTooLong(
                f"a WhatsApp caption carries at most {MAX_CAPTION} characters and this one has "
                f"{len(caption)}; send the text in its own envelope"
            )
        found["caption"] = caption
    return kind, found


def _template_header(template: Template, uploaded: Mapping[Media, str]) -> dict[str, Any] | None:
    header = template.header
    if header is None:
        return None
    if header.text is not None:
        return {"type": "header", "parameters": [{"type": "text", "text": header.text}]}
    assert header.media is not None
    kind = media_kind(header.media)
    if kind not in ("image", "video", "document"):
        raise UnsupportedFeature(
            f"a WhatsApp template header is an image, a video or a document, not a {kind}"
        )
    found = _media_object(header.media, kind, uploaded)
    return {"type": "header", "parameters": [{"type": kind, kind: found}]}


def template_object(template: Template, uploaded: Mapping[Media, str]) -> dict[str, Any]:
    """The ``template`` object: name, language and the components that fill it."""
    components: list[dict[str, Any]] = []
    header = _template_header(template, uploaded)
    if header is not None:
        components.append(header)
    if template.parameters:
        body = [{"type": "text", "text": value} for value in template.parameters]
        components.append({"type": "body", "parameters": body})
    elif template.named_parameters:
        body = [
            {"type": "text", "parameter_name": str(name), "text": str(value)}
            for name, value in template.named_parameters.items()
        ]
        components.append({"type": "body", "parameters": body})
    for button in sorted(template.buttons, key=lambda item: item.index):
        kind = button.kind.value
        parameter = (
            {"type": "payload", "payload": button.value}
            if kind == "quick_reply"
            else {"type": "text", "text": button.value}
        )
        components.append(
            {
                "type": "button",
                "sub_type": kind,
                "index": str(button.index),
                "parameters": [parameter],
            }
        )
    found: dict[str, Any] = {
        "name": template.name,
        "language": {"code": template.language or DEFAULT_TEMPLATE_LANGUAGE},
    }
    if components:
        found["components"] = components
    return found


def _interactive_object(interactive: Interactive, text: str) -> dict[str, Any]:
    if not text.strip():
        raise ContentRejected("a WhatsApp menu needs a body: give the content some text")
    if len(text) > MAX_INTERACTIVE_BODY:
        raise ContentTooLong(
            f"the body of a WhatsApp menu carries at most {MAX_INTERACTIVE_BODY} characters and "
            f"this one has {len(text)}; shorten it, or send the text in its own envelope"
        )
    found: dict[str, Any] = {"type": "list" if interactive.is_list else "button"}
    if interactive.header:
        found["header"] = {"type": "text", "text": interactive.header}
    found["body"] = {"text": text}
    if interactive.footer:
        found["footer"] = {"text": interactive.footer}
    if interactive.is_list:
        sections = []
        for section in interactive.sections:
            rows = []
            for row in section.rows:
                entry = {"id": row.id, "title": row.title}
                if row.description:
                    entry["description"] = row.description
                rows.append(entry)
            sections.append(
                {"title": section.title, "rows": rows} if section.title else {"rows": rows}
            )
        found["action"] = {"button": interactive.button_label or "Choose", "sections": sections}
    else:
        found["action"] = {
            "buttons": [
                {"type": "reply", "reply": {"id": button.id, "title": button.title}}
                for button in interactive.buttons
            ]
        }
    return found


def _content_message(envelope: Envelope, uploaded: Mapping[Media, str]) -> dict[str, Any]:
    content = envelope.content
    text = content.plain_text
    if content.template is not None:
        return {"type": "template", "template": template_object(content.template, uploaded)}
    if content.interactive is not None:
        if content.media:
            raise UnsupportedFeature(
                "a WhatsApp menu cannot carry an attachment as well; send it in its own envelope"
            )
        return {
            "type": "interactive",
            "interactive": _interactive_object(content.interactive, text),
        }
    if content.media:
        if len(content.media) > 1:
            raise UnsupportedFeature("a WhatsApp message carries one attachment")
        kind, found = _media_message(content.media[0], text, uploaded)
        return {"type": kind, kind: found}
    if not text:
        raise UnsupportedFeature(
            "the content has nothing WhatsApp can send (no text, media, template or menu)"
        )
    return {
        "type": "text",
        "text": {"preview_url": _URL.search(text) is not None, "body": text},
    }


def message_body(
    envelope: Envelope, *, uploaded: Mapping[Media, str] | None = None
) -> dict[str, Any]:
    """The JSON body that sends ``envelope`` (its content already fitted by the router).

    ``uploaded`` maps each bytes item to the media id its upload returned. The content becomes
    a text, media, template or interactive message; ``in_reply_to`` quotes the customer's
    message; the envelope id rides in ``biz_opaque_callback_data``. Options in
    ``provider_options["whatsapp.meta"]`` are added as top-level fields with Meta's own names;
    when they give a ``type`` (a location, a reaction: see :func:`location` and
    :func:`reaction`) that native message replaces the content, which is then what other
    channels get on failover. What WhatsApp cannot express raises before any request.
    """
    if envelope.visibility is Visibility.PUBLIC:
        raise UnsupportedFeature(
            "WhatsApp has no public posts; send it with visibility=PRIVATE",
            envelope_id=envelope.id,
        )
    options = dict(envelope.options_for(ADAPTER_NAME))
    clash = sorted(OWN_FIELDS & set(options))
    if clash:
        raise UnsupportedFeature(
            f"provider_options cannot set {', '.join(clash)}: the adapter sets them from the "
            "envelope",
            envelope_id=envelope.id,
        )
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        **recipient_fields(envelope.recipient.value),
    }
    native = options.get("type")
    if native is not None:
        if not isinstance(native, str) or not isinstance(options.get(native), Mapping):
            raise UnsupportedFeature(
                f"provider_options give type {native!r} without a {native!r} object"
            )
    else:
        body.update(_content_message(envelope, uploaded or {}))
    if envelope.in_reply_to and native != "reaction":
        body["context"] = {"message_id": envelope.in_reply_to}
    if len(envelope.id) <= MAX_CALLBACK_DATA:
        body["biz_opaque_callback_data"] = envelope.id
    body.update(options)
    return body


def location(
    latitude: float, longitude: float, *, name: str | None = None, address: str | None = None
) -> dict[str, Any]:
    """``provider_options`` that send a location pin instead of the envelope's text::

    Envelope(..., content="We're at 1 Hacker Way", provider_options=location(37.48, -122.15))
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError(f"({latitude}, {longitude}) is not a latitude and longitude")
    pin: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        pin["name"] = name
    if address:
        pin["address"] = address
    return {ADAPTER_NAME: {"type": "location", "location": pin}}


def reaction(message_id: str, emoji: str) -> dict[str, Any]:
    """``provider_options`` that react to the customer's message ``message_id`` with
    ``emoji`` (an empty string removes the reaction) instead of sending the envelope's text."""
    if not message_id:
        raise ValueError("a reaction needs the id of the message it reacts to")
    return {
        ADAPTER_NAME: {"type": "reaction", "reaction": {"message_id": message_id, "emoji": emoji}}
    }


def mark_read_body(message_id: str, *, typing: bool = False) -> dict[str, Any]:
    """The body that marks the customer's message read and, with ``typing``, shows the
    typing indicator (for up to 25 seconds, or until we answer)."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
    }
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


# --- The answer -----------------------------------------------------------------------------


def sent_message(data: object) -> SentMessage:
    """The wamid and initial status from the ``200`` answer to a send.

    Template sends may add ``message_status`` (``accepted``, ``held_for_quality_assessment``,
    ``paused``); all of them mean Meta has the message: ACCEPTED, with the value kept in
    ``raw``. An answer without a message id is not safe to resend: the message may exist.
    """
    messages = data.get("messages") if isinstance(data, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, Mapping) else None
    if not isinstance(wamid, str) or not wamid:
        raise ProviderError(
            "Meta answered the send without a message id; the message may have been created, "
            "check the WhatsApp Manager before resending",
            retryable=False,
        )
    assert isinstance(data, Mapping)
    return SentMessage(provider_id=wamid, status=DeliveryStatus.ACCEPTED, raw=dict(data))
