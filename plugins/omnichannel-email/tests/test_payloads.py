"""The pure tables: Message-IDs, plus-address tags, threading memory, SMTP reply codes."""

from __future__ import annotations

import pytest
from omnichannel_email.mime import InboundMail
from omnichannel_email.payloads import (
    REFERENCES_KEPT,
    ThreadBook,
    ThreadEntry,
    envelope_id_of,
    error_for_reply,
    message_id_for,
    plus_tag,
)

from omnichannel import ContentRejected, FailureReason, InvalidRecipient, ProviderError, SendError


def test_our_message_ids_carry_the_envelope_id_back() -> None:
    message_id = message_id_for("01JBZ6Q4", "acme.example")
    assert message_id == "<01JBZ6Q4@acme.example>"
    assert envelope_id_of(message_id, "acme.example") == "01JBZ6Q4"
    assert envelope_id_of("<x@elsewhere.example>", "acme.example") is None


@pytest.mark.parametrize(
    ("recipients", "tag"),
    [
        (("reply+c.conv-1@reply.acme.example",), ("c", "conv-1")),
        (("support@acme.example", "REPLY+e.01ABC@Reply.Acme.Example"), ("e", "01ABC")),
        (("reply+x.bad@reply.acme.example",), None),
        (("reply+c.conv-1@other.example",), None),
    ],
)
def test_plus_tags_are_read_only_from_our_reply_domain(
    recipients: tuple[str, ...], tag: tuple[str, str] | None
) -> None:
    assert plus_tag(recipients, "reply.acme.example") == tag


def test_the_reply_headers_vector_references_come_from_the_remembered_parent() -> None:
    book = ThreadBook()
    book.remember(
        ThreadEntry(
            message_id="<CAF=abc123@mail.example.com>",
            root="<first.1@mail.example.com>",
            references=("<first.1@mail.example.com>",),
        )
    )
    assert book.references_for("<CAF=abc123@mail.example.com>", None) == (
        "<first.1@mail.example.com>",
        "<CAF=abc123@mail.example.com>",
    )


def test_an_unknown_parent_falls_back_to_root_and_parent() -> None:
    assert ThreadBook().references_for("<p@x>", "<root@x>") == ("<root@x>", "<p@x>")
    assert ThreadBook().references_for("<p@x>", None) == ("<p@x>",)


def test_long_references_keep_the_root_and_the_latest() -> None:
    book = ThreadBook()
    chain = tuple(f"<{n}@x>" for n in range(40))
    book.remember(ThreadEntry(message_id="<p@x>", root=chain[0], references=chain))
    kept = book.references_for("<p@x>", None)
    assert len(kept) == REFERENCES_KEPT
    assert kept[0] == chain[0]
    assert kept[-1] == "<p@x>"


def test_inbound_matches_by_tag_then_in_reply_to_then_references() -> None:
    book = ThreadBook(capacity=3)
    book.remember(
        ThreadEntry(message_id="<a@us>", root="<a@us>", envelope_id="A", conversation_id="c1")
    )
    book.remember(ThreadEntry(message_id="<b@us>", root="<a@us>", envelope_id="B"))
    mail = InboundMail(message_id="<r@them>", sender="x@them", references=("<a@us>",))
    assert book.match(mail, ("e", "B")) == book.get("<b@us>")
    assert book.match(mail, None) == book.get("<a@us>")
    replying = InboundMail(message_id="<r@them>", sender="x@them", in_reply_to="<b@us>")
    assert book.match(replying, None) == book.get("<b@us>")
    for n in range(3):
        book.remember(ThreadEntry(message_id=f"<n{n}@us>", root=f"<n{n}@us>"))
    assert book.get("<a@us>") is None
    assert book.by_tag("c", "c1") is None


@pytest.mark.parametrize(
    ("code", "stage", "error", "reason", "retryable"),
    [
        (550, "RCPT", InvalidRecipient, FailureReason.INVALID_RECIPIENT, False),
        (553, "RCPT", InvalidRecipient, FailureReason.INVALID_RECIPIENT, False),
        (550, "MAIL", ProviderError, FailureReason.PROVIDER_ERROR, False),
        (552, "DATA", ContentRejected, FailureReason.CONTENT_REJECTED, False),
        (554, "DATA", ContentRejected, FailureReason.CONTENT_REJECTED, False),
        (535, "AUTH", ProviderError, FailureReason.AUTH, False),
        (421, "MAIL", ProviderError, FailureReason.UNREACHABLE, True),
        (451, "DATA", ProviderError, FailureReason.PROVIDER_ERROR, True),
        (452, "RCPT", ProviderError, FailureReason.PROVIDER_ERROR, True),
        (499, "RCPT", ProviderError, FailureReason.PROVIDER_ERROR, True),
        (599, "DATA", ProviderError, FailureReason.PROVIDER_ERROR, False),
    ],
)
def test_smtp_reply_codes_map_to_typed_errors(
    code: int, stage: str, error: type[SendError], reason: FailureReason, retryable: bool
) -> None:
    mapped = error_for_reply(code, "server says no", stage=stage)
    assert type(mapped) is error
    assert (mapped.reason, mapped.retryable) == (reason, retryable)
    assert mapped.provider_code == str(code)
