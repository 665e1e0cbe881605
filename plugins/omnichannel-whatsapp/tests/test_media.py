"""Tests for omnichannel_whatsapp.media: message types by MIME type, the upload request, and
reading what the download answers say (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from omnichannel_whatsapp.media import (
    MediaInfo,
    download_request,
    downloaded_media,
    info_request,
    media_info,
    media_kind,
    multipart_body,
    upload_request,
    uploaded_id,
)

from omnichannel import ContentRejected, Media, ProviderError
from omnichannel.plugin import SecretHeaders

API_ROOT = "https://graph.facebook.com/v25.0"
AUTH = SecretHeaders({"Authorization": "Bearer EAAtoken"})


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (Media(url="https://x.test/a", content_type="image/jpeg"), "image"),
        (Media(url="https://x.test/a", content_type="image/png"), "image"),
        (Media(url="https://x.test/a", content_type="image/webp"), "sticker"),
        (Media(url="https://x.test/a", content_type="video/mp4"), "video"),
        (Media(url="https://x.test/a", content_type="audio/ogg; codecs=opus"), "audio"),
        (Media(url="https://x.test/a", content_type="application/pdf"), "document"),
        (Media(url="https://x.test/a", content_type="text/plain"), "document"),
        (Media(url="https://x.test/photo.JPG"), "image"),
        (Media(url="https://x.test/clip.mp4?sig=1"), "video"),
        (Media(data=b"x", filename="notes.ogg"), "audio"),
        (Media(url="https://x.test/no-extension"), "document"),
    ],
)
def test_the_message_type_comes_from_the_mime_type_else_the_name(item: Media, kind: str) -> None:
    assert media_kind(item) == kind


def test_the_multipart_body_has_the_fields_then_the_file() -> None:
    found = multipart_body(
        {"messaging_product": "whatsapp", "type": "image/png"},
        filename='re"ceipt.png',
        content_type="image/png",
        data=b"\x89PNG",
        boundary="b0",
    )
    assert found == (
        b'--b0\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n'
        b'--b0\r\nContent-Disposition: form-data; name="type"\r\n\r\nimage/png\r\n'
        b'--b0\r\nContent-Disposition: form-data; name="file"; filename="re%22ceipt.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--b0--\r\n"
    )


def test_an_upload_posts_multipart_to_the_numbers_media_edge_and_may_be_repeated() -> None:
    item = Media(data=b"%PDF-1.7", content_type="application/pdf", filename="invoice.pdf")
    request = upload_request(API_ROOT, "106540352242922", item, AUTH, boundary="b1")
    assert (request.method, request.url) == (
        "POST",
        "https://graph.facebook.com/v25.0/106540352242922/media",
    )
    assert request.header("Authorization") == "Bearer EAAtoken"
    assert request.header("Content-Type") == "multipart/form-data; boundary=b1"
    assert b'filename="invoice.pdf"\r\nContent-Type: application/pdf' in request.body
    # A repeated upload makes an unused media id, never a second message.
    assert request.idempotent
    assert "EAAtoken" not in repr(request)


def test_an_upload_without_a_filename_is_named_after_its_kind() -> None:
    request = upload_request(API_ROOT, "1", Media(data=b"x", content_type="image/png"), AUTH)
    assert b'filename="image.png"' in request.body


def test_the_upload_answer_must_carry_a_media_id() -> None:
    assert uploaded_id({"id": "1037543291543636"}) == "1037543291543636"
    with pytest.raises(ProviderError):
        uploaded_id({"error": "nope"})


def test_a_media_lookup_is_an_idempotent_read_checked_against_our_number() -> None:
    request = info_request(API_ROOT, "1037543291543636", AUTH, phone_number_id="106540352242922")
    assert request.method == "GET"
    assert request.url == (
        "https://graph.facebook.com/v25.0/1037543291543636?phone_number_id=106540352242922"
    )
    assert request.idempotent
    with pytest.raises(ValueError, match="not a media id"):
        info_request(API_ROOT, "../me", AUTH, phone_number_id="1")


def test_metas_sample_lookup_answer_is_read_whole() -> None:
    path = Path(__file__).parent / "payloads" / "media_url_response.json"
    data = json.loads(path.read_text(encoding="utf-8"))["body"]
    info = media_info(data)
    assert info.url.startswith("https://lookaside.fbsbx.com/whatsapp_business/attachments/")
    assert (info.id, info.mime_type, info.file_size) == ("1037543291543636", "image/jpeg", 303833)
    assert info.sha256 == data["sha256"]


def test_the_lookup_answer_gives_where_to_fetch_and_what_to_expect() -> None:
    info = media_info(
        {
            "messaging_product": "whatsapp",
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
            "mime_type": "image/jpeg",
            "sha256": "ab" * 32,
            "file_size": "303833",
            "id": "1",
        }
    )
    assert info == MediaInfo(
        id="1",
        url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
        mime_type="image/jpeg",
        sha256="ab" * 32,
        file_size=303833,
    )
    fetch = download_request(info, AUTH)
    assert (fetch.method, fetch.url, fetch.idempotent) == ("GET", info.url, True)
    assert fetch.header("Authorization") == "Bearer EAAtoken"
    with pytest.raises(ProviderError, match="without a download URL"):
        media_info({"id": "1"})


@pytest.mark.parametrize(
    "digest",
    [
        hashlib.sha256(b"jpeg bytes").hexdigest(),
        base64.b64encode(hashlib.sha256(b"jpeg bytes").digest()).decode(),
        "not-a-digest-we-can-read",
    ],
)
def test_downloaded_bytes_become_media_when_their_hash_matches_or_cannot_be_read(
    digest: str,
) -> None:
    info = MediaInfo(id="1", url="https://x.test/1", mime_type="image/jpeg", sha256=digest)
    item = downloaded_media(info, b"jpeg bytes", max_bytes=100)
    assert (item.data, item.content_type, item.size) == (b"jpeg bytes", "image/jpeg", 10)


def test_downloaded_bytes_with_another_hash_are_refused_as_worth_fetching_again() -> None:
    info = MediaInfo(id="1", url="https://x.test/1", sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ProviderError, match="SHA-256") as caught:
        downloaded_media(info, b"jpeg bytes", max_bytes=100)
    assert caught.value.retryable


def test_downloaded_bytes_over_the_limit_are_refused() -> None:
    with pytest.raises(ContentRejected, match="over the limit of 4"):
        downloaded_media(MediaInfo(id="1", url="https://x.test/1"), b"12345", max_bytes=4)
