"""MIME both ways: the message an envelope becomes, and what inbound fixtures say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address as HeaderAddress
from pathlib import Path

import pytest
from omnichannel_email.mime import build_message, parse_message, reply_subject, split_quoted

from omnichannel import Content, Media

PAYLOADS = Path(__file__).parent / "payloads"
VECTORS = json.loads((PAYLOADS / "vectors.json").read_text(encoding="utf-8"))
SUPPORT = HeaderAddress("Acme Support", "support", "acme.example")
CUSTOMER = HeaderAddress("", "customer", "example.com")


def fixture(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes().replace(b"\n", b"\r\n")


def build(content: Content, **headers: object) -> bytes:
    message = build_message(
        content,
        sender=headers.pop("sender", SUPPORT),  # type: ignore[arg-type]
        recipient=CUSTOMER,
        message_id="<m1@acme.example>",
        date=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        subject=headers.pop("subject", "Hello"),  # type: ignore[arg-type]
        **headers,  # type: ignore[arg-type]
    )
    return message.as_bytes(policy=policy.SMTP)


def test_the_rfc2047_subject_vector_is_encoded_and_decodes_back() -> None:
    vector = VECTORS["email"]["header_encoding"][0]  # rfc2047-subject
    raw = build(Content(text="hi"), subject=vector["input"])
    assert vector["serialised_header"].encode() in raw
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == vector["input"]


def test_the_rfc2047_display_name_vector_is_encoded() -> None:
    vector = VECTORS["email"]["header_encoding"][1]  # rfc2047-from-display-name
    local, _, domain = vector["input"]["addr_spec"].partition("@")
    sender = HeaderAddress(vector["input"]["display_name"], local, domain)
    raw = build(Content(text="hi"), sender=sender)
    assert vector["serialised_header"].encode() in raw


def test_smtputf8_serialisation_keeps_headers_raw_utf8() -> None:
    vector = VECTORS["email"]["header_encoding"][2]  # rfc6532-smtputf8
    message = build_message(
        Content(text="hi"),
        sender=HeaderAddress("Zoë Support", "support", "acme.example"),
        recipient=CUSTOMER,
        message_id="<m1@acme.example>",
        date=datetime(2026, 12, 1, tzinfo=UTC),
        subject="Re: Café order #42 ☕",
    )
    raw = message.as_bytes(policy=policy.SMTPUTF8)
    for header in vector["serialised_headers"]:
        assert header.encode("utf-8") in raw


def test_markdown_becomes_text_first_then_html_alternative() -> None:
    vector = VECTORS["email"]["structure"]  # multipart-alternative
    raw = build(Content(text="Your order **shipped**", format="markdown"))
    message = message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == vector["content_type"]
    assert [part.get_content_type() for part in message.iter_parts()] == vector["parts"]
    assert "<strong>shipped</strong>" in message.get_body(("html",)).get_content()
    assert "**" not in message.get_body(("plain",)).get_content()


def test_raw_html_in_markdown_is_not_passed_through() -> None:
    raw = build(Content(text="<script>x()</script> hi", format="markdown"))
    html = message_from_bytes(raw, policy=policy.default).get_body(("html",)).get_content()
    assert "<script>" not in html


def test_bytes_media_are_attached_and_content_ids_inline_on_the_html() -> None:
    content = Content(
        text='<p>See <img src="cid:logo@acme"></p>',
        format="html",
        media=[
            Media(data=b"%PDF-1.4", content_type="application/pdf", filename="invoice.pdf"),
            Media(
                data=b"\x89PNG",
                content_type="image/png",
                filename="logo.png",
                content_id="logo@acme",
            ),
        ],
    )
    message = message_from_bytes(build(content), policy=policy.default)
    assert message.get_content_type() == "multipart/mixed"
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == ["invoice.pdf"]
    related = [part for part in message.walk() if part.get_content_type() == "multipart/related"]
    assert related
    assert related[0].get_body(("html",)) is not None
    inline = [part for part in message.walk() if part.get("Content-ID") == "<logo@acme>"]
    assert inline
    assert inline[0].get_payload(decode=True) == b"\x89PNG"


def test_non_ascii_text_is_quoted_printable_so_no_8bitmime_is_needed() -> None:
    raw = build(Content(text="Le café est prêt"))
    assert raw.isascii()
    assert b"quoted-printable" in raw


def test_the_reply_headers_vector_gives_one_re_prefix() -> None:
    vector = VECTORS["email"]["threading"][0]  # reply-headers
    assert reply_subject(vector["parent"]["Subject"]) == vector["expected_reply"]["Subject"]
    assert (
        reply_subject("Re: RE: " + vector["parent"]["Subject"])
        == vector["expected_reply"]["Subject"]
    )


def test_a_multipart_alternative_reply_prefers_plain_and_splits_the_quote() -> None:
    mail = parse_message(fixture("multipart_alternative_qp.eml"), max_attachment_bytes=1000)
    assert mail.sender == "zoe@example.com"
    assert mail.sender_name == "Zoë Martin"
    assert mail.subject == "Re: Café order #42 ☕"
    assert mail.visible_text == "Merci, the café order arrived!"
    assert mail.quoted_text.startswith("On Mon, 30 Nov 2026")
    assert mail.html is not None
    assert "<blockquote>" in mail.html
    assert mail.message_id == "<CAF=abc123@mail.example.com>"
    assert mail.in_reply_to == "<first.1@acme.example>"
    assert mail.references == ("<first.1@acme.example>",)
    assert mail.auto_reply is None
    assert mail.bounce is None


def test_an_8bit_message_keeps_its_text_and_its_attachment_bytes() -> None:
    mail = parse_message(fixture("attachment_8bit.eml"), max_attachment_bytes=1000)
    assert mail.visible_text == "Le carton est abîmé, voir la photo."
    (photo,) = mail.attachments
    assert (photo.filename, photo.content_type) == ("damage.png", "image/png")
    assert photo.data is not None
    assert photo.data.startswith(b"\x89PNG")


def test_attachments_over_the_cap_are_dropped_and_named() -> None:
    mail = parse_message(fixture("attachment_8bit.eml"), max_attachment_bytes=10)
    assert mail.attachments == ()
    assert mail.dropped_attachments == ("damage.png",)


def test_an_auto_reply_is_flagged() -> None:
    mail = parse_message(fixture("auto_reply.eml"), max_attachment_bytes=1000)
    assert mail.auto_reply == "auto-submitted"


@pytest.mark.parametrize(
    ("header", "value", "flagged"),
    [
        ("Auto-Submitted", "no", False),
        ("Auto-Submitted", "auto-generated", True),
        ("Precedence", "bulk", True),
        ("Precedence", "first-class", False),
        ("X-Autoreply", "yes", True),
    ],
)
def test_auto_reply_headers_are_read_as_a_table(header: str, value: str, flagged: bool) -> None:
    raw = f"From: a@example.com\r\n{header}: {value}\r\n\r\nhi\r\n".encode()
    assert (parse_message(raw, max_attachment_bytes=1).auto_reply is not None) is flagged


def test_a_dsn_names_the_original_message_and_the_failed_recipient() -> None:
    mail = parse_message(fixture("bounce_dsn.eml"), max_attachment_bytes=1000)
    assert mail.bounce is not None
    assert mail.bounce.original_message_id == "<01JBZ6Q4AAAAAAAAAAAAAAAAAA@acme.example>"
    assert mail.bounce.recipients == ("nobody@example.net",)
    assert mail.bounce.status == "5.1.1"
    assert mail.bounce.permanent


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("Thanks\n\nOn Mon, 1 Dec 2026, Acme <a@b.c> wrote:\n> old", "Thanks"),
        ("Thanks\n\nOn Mon, 1 Dec 2026, Acme Support\n<a@b.c> wrote:\n> old", "Thanks"),
        ("Thanks\n-----Original Message-----\nFrom: x", "Thanks"),
        ("Thanks\n\n> old\n> older", "Thanks"),
        ("> a quote first\nthen my answer", "> a quote first\nthen my answer"),
        ("just text", "just text"),
    ],
)
def test_quoted_history_is_split_from_the_reply(text: str, visible: str) -> None:
    assert split_quoted(text)[0] == visible


def test_a_message_without_a_sender_is_refused() -> None:
    with pytest.raises(ValueError, match="From"):
        parse_message(b"Subject: nobody\r\n\r\nhi", max_attachment_bytes=1)
