"""WhatsApp media: which message type carries an item, the upload of bytes, the download of
what customers send. Pure request building and answer reading; the adapter does the I/O.

The Cloud API's media protocol (Meta's "Media" reference; providers.md 4.6 and 4.9):

* a message carries one item, as ``image``, ``video``, ``audio``, ``document`` (with a
  ``filename``) or ``sticker``, either by ``link`` (Meta fetches it) or by the ``id`` of an
  item uploaded before;
* upload: ``POST /{version}/{phone_number_id}/media``, multipart with ``messaging_product``,
  ``type`` (the MIME type) and ``file``, answered ``{"id": "<MEDIA_ID>"}`` (ids live ~30 days);
* download: ``GET /{version}/{media_id}`` (bearer) answers ``{"url", "mime_type", "sha256",
  "file_size", "id", "messaging_product"}``, then ``GET url`` with the same bearer header
  gives the bytes; the URL expires after about five minutes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import attrs

from omnichannel import ContentRejected, Media, ProviderError
from omnichannel.plugin import ProviderRequest, SecretHeaders

__all__ = [
    "ACCEPTED_TYPES",
    "CAPTIONED",
    "DEFAULT_DOWNLOAD_LIMIT",
    "KIND_LIMITS",
    "MediaInfo",
    "check_size",
    "download_request",
    "downloaded_media",
    "info_request",
    "media_info",
    "media_kind",
    "multipart_body",
    "upload_request",
    "uploaded_id",
]

# Meta's supported media types. Audio arrives as "audio/ogg; codecs=opus", hence the pattern.
ACCEPTED_TYPES: Final = frozenset(
    {
        "audio/aac",
        "audio/amr",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg*",
        "image/jpeg",
        "image/png",
        "image/webp",
        "video/3gpp",
        "video/mp4",
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
"""The MIME types WhatsApp carries (as ``MediaRules`` patterns)."""

_MB: Final = 1024 * 1024
KIND_LIMITS: Final[Mapping[str, int]] = {
    "image": 5 * _MB,
    "video": 16 * _MB,
    "audio": 16 * _MB,
    "document": 100 * _MB,
    # 100 KB for a static sticker, 500 KB for an animated one: the larger, as we cannot tell.
    "sticker": 500 * 1024,
}
"""The largest item of each message type, in bytes (volatile: Meta changes them)."""

DEFAULT_DOWNLOAD_LIMIT: Final = 100 * _MB
"""The largest inbound item :meth:`~omnichannel_whatsapp.MetaWhatsappAdapter.download_media`
fetches unless told otherwise (documents, the largest kind, go up to 100 MB)."""

CAPTIONED: Final = frozenset({"image", "video", "document"})
"""The message types that carry a caption (audio and stickers carry none)."""


def _mime(item: Media) -> str | None:
    if item.content_type:
        return item.content_type.split(";", 1)[0].strip().lower()
    name = item.filename or (urlsplit(item.url).path if item.url else "")
    return mimetypes.guess_type(name)[0] if name else None


def media_kind(item: Media) -> str:
    """The WhatsApp message type that carries ``item``: from its MIME type, else from its
    filename or URL, else ``document``. A WebP image is a sticker (WhatsApp images are JPEG
    or PNG)."""
    mime = _mime(item) or ""
    if mime == "image/webp":
        return "sticker"
    major = mime.partition("/")[0]
    if major in ("image", "video", "audio"):
        return major
    return "document"


def check_size(item: Media, kind: str) -> None:
    """Raise :class:`~omnichannel.ContentRejected` when ``item`` is known to be larger than
    WhatsApp carries as ``kind``, before any request."""
    limit = KIND_LIMITS[kind]
    if item.size is not None and item.size > limit:
        raise ContentRejected(
            f"{item.label} is {item.size} bytes; WhatsApp carries a {kind} of at most {limit} "
            "bytes; send a smaller file or a link to it in the text"
        )


# --- Upload ---------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    # Form-data field values are quoted strings: escape what would end or break them.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(
    fields: Mapping[str, str], *, filename: str, content_type: str, data: bytes, boundary: str
) -> bytes:
    """A ``multipart/form-data`` body: ``fields`` as text parts, then ``data`` as ``file``."""
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_quoted(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts)


def upload_request(
    api_root: str,
    phone_number_id: str,
    item: Media,
    headers: Mapping[str, str],
    *,
    boundary: str | None = None,
) -> ProviderRequest:
    """The request that uploads ``item`` (given as bytes) for ``phone_number_id``.

    Marked idempotent: sending it twice creates a second, unused media id that expires by
    itself, and no customer sees anything, so a lost answer is safely asked again.
    """
    if item.data is None:
        raise ValueError("only media given as bytes are uploaded")
    content_type = _mime(item) or "application/octet-stream"
    kind = media_kind(item)
    filename = item.filename or f"{kind}{mimetypes.guess_extension(content_type) or ''}"
    mark = boundary or f"omnichannel-{secrets.token_hex(12)}"
    body = multipart_body(
        {"messaging_product": "whatsapp", "type": content_type},
        filename=filename,
        content_type=content_type,
        data=item.data,
        boundary=mark,
    )
    return ProviderRequest(
        method="POST",
        url=f"{api_root}/{phone_number_id}/media",
        headers=SecretHeaders(headers).merged(
            {"Content-Type": f"multipart/form-data; boundary={mark}"}
        ),
        body=body,
        idempotent=True,
    )


def uploaded_id(data: object) -> str:
    """The media id in the answer to an upload."""
    media_id = data.get("id") if isinstance(data, Mapping) else None
    if not isinstance(media_id, str) or not media_id:
        raise ProviderError("Meta answered the media upload without a media id")
    return media_id


# --- Download -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MediaInfo:
    """What Meta says about a media id: where to fetch it, its type, hash and size."""

    id: str
    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | None = None


def info_request(
    api_root: str, media_id: str, headers: Mapping[str, str], *, phone_number_id: str
) -> ProviderRequest:
    """The read that asks where ``media_id`` can be fetched. ``phone_number_id`` makes Meta
    check that the item was sent to that number."""
    if not media_id or "/" in media_id or "?" in media_id:
        raise ValueError(f"{media_id!r} is not a media id")
    url = f"{api_root}/{quote(media_id)}?phone_number_id={quote(phone_number_id)}"
    return ProviderRequest(method="GET", url=url, headers=headers, idempotent=True)


def media_info(data: object) -> MediaInfo:
    """Read the answer to :func:`info_request`."""
    if not isinstance(data, Mapping):
        raise ProviderError("Meta answered the media lookup with something that is not JSON")
    media_id, url = data.get("id"), data.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ProviderError("Meta answered the media lookup without a download URL")
    size = data.get("file_size")
    return MediaInfo(
        id=str(media_id or ""),
        url=url,
        mime_type=_text(data, "mime_type"),
        sha256=_text(data, "sha256"),
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def download_request(info: MediaInfo, headers: Mapping[str, str]) -> ProviderRequest:
    """The read that fetches the bytes (Meta wants the same bearer header on it)."""
    return ProviderRequest(method="GET", url=info.url, headers=headers, idempotent=True)


def _digest_matches(expected: str, body: bytes) -> bool | None:
    """Whether ``body`` hashes to ``expected`` (hex or base64); None when ``expected`` is in
    neither form, so nothing can be said."""
    digest = hashlib.sha256(body).digest()
    if len(expected) == 64:
        try:
            return bytes.fromhex(expected) == digest
        except ValueError:
            return None
    try:
        decoded = base64.b64decode(expected, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded == digest if len(decoded) == len(digest) else None


def downloaded_media(info: MediaInfo, body: bytes, *, max_bytes: int) -> Media:
    """The downloaded item as bytes :class:`~omnichannel.Media`, checked against its size
    limit and the hash Meta gave."""
    if len(body) > max_bytes:
        raise ContentRejected(
            f"media {info.id} is {len(body)} bytes, over the limit of {max_bytes}"
        )
    if info.sha256 and _digest_matches(info.sha256, body) is False:
        raise ProviderError(
            f"media {info.id} does not match the SHA-256 Meta gave for it; fetch it again",
            retryable=True,
        )
    return Media(data=body, content_type=info.mime_type, size=len(body))
