"""Inbound mail over HTTP at ``/webhooks/email``: who may post, and the four body formats.

Authentication comes first, before the body is read as mail:

* **our secret**, as the password of HTTP Basic auth (any user name) or as ``?secret=`` in
  the URL, compared in constant time. Raw MIME posts, SendGrid Inbound Parse (which signs
  nothing) and Postmark inbound (which signs nothing; 403 stops its retries) need it;
* **Mailgun's signature** otherwise: ``signature`` = hex HMAC-SHA256 of ``timestamp + token``
  under ``mailgun_signing_key``, the timestamp within five minutes of our clock, and a token
  never seen before (a bounded memory of recent tokens refuses replays).

Anything else is answered 403 and never parsed as mail. The formats:

=====================  ===============================================================
body                   read as
=====================  ===============================================================
``message/rfc822``     the raw message
form with ``email``    SendGrid Inbound Parse, raw mode: the raw message
form with ``headers``  SendGrid Inbound Parse, parsed mode: header block, text, html, files
form, ``body-mime``    a Mailgun route ending in ``mime``: the raw message
form, ``body-plain``   a Mailgun route: ``message-headers``, ``stripped-text``, files
JSON with ``FromFull`` Postmark inbound: ``RawEmail`` when included, else its fields
=====================  ===============================================================

Bounces (``multipart/report`` delivery notifications) are recognised in every raw form.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from email import policy
from email.parser import BytesParser, Parser
from typing import Any, Final

import attrs

from omnichannel import Media, Secret, WebhookParseError, WebhookRequest, WebhookVerificationError
from omnichannel.plugin import constant_time_equal, hmac_digest
from omnichannel_email.mime import InboundMail, mail_from_fields, parse_message

__all__ = [
    "MAILGUN_TOLERANCE_SECONDS",
    "FormField",
    "TokenLedger",
    "parse_body",
    "verify",
]

MAILGUN_TOLERANCE_SECONDS: Final = 300


@attrs.frozen
class FormField:
    """One field of a posted form: text, or a file with its name and type."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        """The value as text (UTF-8, undecodable bytes replaced)."""
        return self.data.decode("utf-8", "replace")


class TokenLedger:
    """Mailgun tokens seen recently, so a captured request cannot be replayed."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_use(self, token: str) -> bool:
        """True the first time ``token`` is offered, False after."""
        if token in self._seen:
            return False
        self._seen[token] = None
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True


def _media_type(request: WebhookRequest) -> str:
    return (request.header("Content-Type") or "").split(";")[0].strip().lower()


def form_fields(request: WebhookRequest) -> list[FormField]:
    """The fields of a ``multipart/form-data`` or URL-encoded body."""
    kind = _media_type(request)
    if kind == "application/x-www-form-urlencoded":
        return [FormField(name, value.encode()) for name, value in request.form()]
    if kind != "multipart/form-data":
        raise WebhookParseError(f"expected a form, got {kind or 'no content type'}")
    header = f"Content-Type: {request.header('Content-Type')}\r\nMIME-Version: 1.0\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(header.encode("latin-1") + request.body)
    if not message.is_multipart():
        raise WebhookParseError("the multipart body has no parts")
    fields = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        fields.append(
            FormField(
                name,
                payload,
                filename=part.get_filename(),
                content_type=part.get_content_type() if part.get("Content-Type") else None,
            )
        )
    if not fields:
        raise WebhookParseError("the form has no fields")
    return fields


def _basic_password(request: WebhookRequest) -> str | None:
    value = request.header("Authorization") or ""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def _mailgun_fields(request: WebhookRequest) -> dict[str, str] | None:
    if _media_type(request) not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return None
    try:
        fields = form_fields(request)
    except WebhookParseError:
        return None
    found = {field.name: field.text for field in fields if not field.filename}
    if all(found.get(name) for name in ("timestamp", "token", "signature")):
        return found
    return None


def verify(
    request: WebhookRequest,
    *,
    secret: Secret | None,
    mailgun_key: Secret | None,
    ledger: TokenLedger,
    now: float | None = None,
) -> None:
    """Raise :class:`WebhookVerificationError` unless ``request`` carries our secret or a
    fresh, unused, valid Mailgun signature (see the module docstring)."""
    offered = _basic_password(request) or request.query_value("secret")
    if offered is not None and secret is not None:
        if constant_time_equal(offered, secret.reveal()):
            return
        raise WebhookVerificationError("wrong webhook secret")
    signed = _mailgun_fields(request) if mailgun_key is not None else None
    if signed is None or mailgun_key is None:
        if secret is None:
            raise WebhookVerificationError(
                "no webhook_secret is configured, so only Mailgun-signed posts are accepted"
            )
        raise WebhookVerificationError(
            "missing credentials: send the webhook_secret as the basic-auth password or "
            "?secret= in the URL"
        )
    timestamp, token = signed["timestamp"], signed["token"]
    expected = hmac_digest(mailgun_key.reveal(), timestamp + token, "sha256").hex()
    if not constant_time_equal(signed["signature"], expected):
        raise WebhookVerificationError("bad Mailgun signature")
    current = time.time() if now is None else now
    if not timestamp.isdigit() or abs(current - int(timestamp)) > MAILGUN_TOLERANCE_SECONDS:
        raise WebhookVerificationError("stale Mailgun timestamp")
    if not ledger.first_use(token):
        raise WebhookVerificationError("replayed Mailgun token")


def _json_list(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        raise WebhookParseError("a JSON form field is not valid JSON") from None


def _capped(items: list[Media], max_bytes: int) -> tuple[list[Media], list[str]]:
    kept = [item for item in items if (item.size or 0) <= max_bytes]
    return kept, [item.label for item in items if item not in kept]


def _sendgrid(fields: list[FormField], max_bytes: int) -> InboundMail:
    values = {field.name: field.text for field in fields if not field.filename}
    parsed = Parser(policy=policy.default).parsestr(values.get("headers", "") + "\n\n")
    headers = [(name, str(value)) for name, value in parsed.items()]
    info = _json_list(values.get("attachment-info")) or {}
    media = []
    for field in fields:
        if field.filename is None:
            continue
        meta = info.get(field.name, {}) if isinstance(info, Mapping) else {}
        media.append(
            Media(
                data=field.data,
                content_type=meta.get("type") or field.content_type,
                filename=meta.get("filename") or field.filename,
                content_id=meta.get("content-id"),
            )
        )
    kept, dropped = _capped(media, max_bytes)
    return mail_from_fields(
        headers=headers,
        text=values.get("text"),
        html=values.get("html"),
        attachments=kept,
        dropped=dropped,
    )


def _mailgun(fields: list[FormField], max_bytes: int) -> InboundMail:
    values = {field.name: field.text for field in fields if not field.filename}
    pairs = _json_list(values.get("message-headers")) or []
    headers = [(str(pair[0]), str(pair[1])) for pair in pairs if len(pair) == 2]
    if not any(name.lower() == "from" for name, _ in headers) and values.get("from"):
        headers.append(("From", values["from"]))
    cids = _json_list(values.get("content-id-map")) or {}
    cid_of = {field: cid for cid, field in cids.items()} if isinstance(cids, Mapping) else {}
    media = [
        Media(
            data=field.data,
            content_type=field.content_type,
            filename=field.filename,
            content_id=str(cid_of[field.name]).strip("<>") if field.name in cid_of else None,
        )
        for field in fields
        if field.filename is not None
    ]
    kept, dropped = _capped(media, max_bytes)
    return mail_from_fields(
        headers=headers,
        text=values.get("body-plain"),
        html=values.get("body-html"),
        attachments=kept,
        dropped=dropped,
        visible_text=values.get("stripped-text"),
    )


def _postmark(data: Mapping[str, Any], max_bytes: int) -> InboundMail:
    raw = data.get("RawEmail")
    if isinstance(raw, str) and raw:
        return parse_message(raw.encode("utf-8"), max_attachment_bytes=max_bytes)
    headers = [
        (name, str(data[key]))
        for name, key in (("From", "From"), ("To", "To"), ("Cc", "Cc"), ("Subject", "Subject"))
        if data.get(key)
    ]
    if data.get("Date"):
        headers.append(("Date", str(data["Date"])))
    headers += [
        (str(item["Name"]), str(item["Value"])) for item in data.get("Headers") or () if item
    ]
    media = []
    for item in data.get("Attachments") or ():
        try:
            content = base64.b64decode(item["Content"], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookParseError("a Postmark attachment is not valid base64") from None
        media.append(
            Media(
                data=content,
                content_type=item.get("ContentType"),
                filename=item.get("Name"),
                content_id=str(item["ContentID"]).strip("<>") if item.get("ContentID") else None,
            )
        )
    kept, dropped = _capped(media, max_bytes)
    return mail_from_fields(
        headers=headers,
        text=data.get("TextBody"),
        html=data.get("HtmlBody"),
        attachments=kept,
        dropped=dropped,
        visible_text=data.get("StrippedTextReply"),
    )


def parse_body(request: WebhookRequest, *, max_attachment_bytes: int) -> InboundMail:
    """The mail a verified request carries, in whichever format (module docstring).

    Raises :class:`WebhookParseError` for a body in none of them, :class:`ValueError` for
    mail without a sender (both answered 400)."""
    kind = _media_type(request)
    cap = max_attachment_bytes
    if not request.body:
        raise WebhookParseError("empty body")
    if kind in ("message/rfc822", "message/global", "application/octet-stream", "text/plain"):
        return parse_message(request.body, max_attachment_bytes=cap)
    if kind == "application/json":
        data = request.json()
        if not isinstance(data, Mapping) or ("FromFull" not in data and "RawEmail" not in data):
            raise WebhookParseError("JSON that is not a Postmark inbound message")
        return _postmark(data, cap)
    fields = form_fields(request)
    names = {field.name for field in fields}
    by_name = {field.name: field for field in fields}
    for raw_field in ("email", "body-mime"):
        if raw_field in names:
            return parse_message(by_name[raw_field].data, max_attachment_bytes=cap)
    if "headers" in names:
        return _sendgrid(fields, cap)
    if "body-plain" in names or "stripped-text" in names:
        return _mailgun(fields, cap)
    raise WebhookParseError("a form that is neither SendGrid Inbound Parse nor a Mailgun route")
