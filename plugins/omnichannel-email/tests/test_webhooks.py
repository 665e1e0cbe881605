"""/webhooks/email: who may post (our secret, or Mailgun's signature), the four formats, and
bounces turned into UNDELIVERED statuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSettings

from omnichannel import DeliveryStatus, PluginHost, Router, WebhookRequest
from omnichannel.plugin import AdapterContext, build_settings

pytestmark = pytest.mark.anyio

PAYLOADS = Path(__file__).parent / "payloads"
VECTOR = json.loads((PAYLOADS / "vectors.json").read_text())["mailgun_webhook"][0]
SECRET = "webhook-secret-0123456789"
URL = "https://hooks.example.test/webhooks/email"
NOW = datetime.fromtimestamp(int(VECTOR["timestamp"]) + 10, UTC)


def make_router(
    clock: datetime = NOW, **values: Any
) -> tuple[Router, SmtpEmailAdapter, list[Any], list[Any]]:
    settings = build_settings(
        SmtpEmailSettings,
        {
            "from": "Acme Support <support@acme.example>",
            "webhook_secret": SECRET,
            "mailgun_signing_key": VECTOR["webhook_signing_key"],
            "reply_to_domain": "reply.acme.example",
            **values,
        },
        where="test",
    )
    adapter = SmtpEmailAdapter(settings, AdapterContext(clock=lambda: clock))
    router = Router([adapter], host=PluginHost())
    messages: list[Any] = []
    statuses: list[Any] = []
    router.on_message(messages.append, inline=True)
    router.on_status(statuses.append, inline=True)
    return router, adapter, messages, statuses


def basic(password: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"any:{password}".encode()).decode())


def raw_post(body: bytes, *headers: tuple[str, str], url: str = URL) -> WebhookRequest:
    return WebhookRequest(
        method="POST", url=url, headers=[("Content-Type", "message/rfc822"), *headers], body=body
    )


def multipart(fields: list[tuple[str, bytes, str | None]]) -> tuple[str, bytes]:
    boundary = "xYzZY"
    chunks = []
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        kind = "Content-Type: application/octet-stream\r\n" if filename else ""
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode()
            + value
            + b"\r\n"
        )
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


MAIL = (PAYLOADS / "multipart_alternative_qp.eml").read_bytes().replace(b"\n", b"\r\n")


async def test_a_raw_mime_post_without_the_secret_is_refused_with_403() -> None:
    router, _, messages, _ = make_router()
    response = await router.handle_webhook("email", raw_post(MAIL))
    assert response.status_code == 403
    assert messages == []


async def test_a_wrong_secret_is_refused_with_403() -> None:
    router, _, messages, _ = make_router()
    response = await router.handle_webhook("email", raw_post(MAIL, basic("wrong")))
    assert response.status_code == 403
    assert messages == []


@pytest.mark.parametrize("how", ["basic", "query"])
async def test_a_raw_mime_post_with_the_secret_becomes_an_inbound_envelope(how: str) -> None:
    router, _, messages, _ = make_router()
    request = (
        raw_post(MAIL, basic(SECRET))
        if how == "basic"
        else raw_post(MAIL, url=f"{URL}?secret={SECRET}")
    )
    response = await router.handle_webhook("email", request)
    assert response.status_code == 200
    (message,) = messages
    assert message.sender.value == "zoe@example.com"
    assert message.content.text == "Merci, the café order arrived!"
    assert message.provider_id == "<CAF=abc123@mail.example.com>"
    assert message.thread == "<first.1@acme.example>"
    assert message.metadata["quoted"] is True


async def test_without_a_configured_secret_everything_unsigned_is_refused() -> None:
    router, _, _, _ = make_router(webhook_secret=None)
    response = await router.handle_webhook("email", raw_post(MAIL, basic(SECRET)))
    assert response.status_code == 403


async def test_a_bounce_for_a_sent_message_becomes_undelivered_for_it() -> None:
    router, _adapter, messages, statuses = make_router()
    sent_id = "01JBZ6Q4AAAAAAAAAAAAAAAAAA"
    bounce = (PAYLOADS / "bounce_dsn.eml").read_bytes().replace(b"\n", b"\r\n")
    response = await router.handle_webhook("email", raw_post(bounce, basic(SECRET)))
    assert response.status_code == 200
    assert messages == []
    (status,) = statuses
    assert status.status is DeliveryStatus.UNDELIVERED
    assert status.provider_id == f"<{sent_id}@acme.example>"
    assert status.envelope_id == sent_id
    assert status.recipient == "nobody@example.net"
    assert status.provider_code == "5.1.1"


async def test_an_auto_reply_is_flagged_in_metadata() -> None:
    router, _, messages, _ = make_router()
    raw = (PAYLOADS / "auto_reply.eml").read_bytes().replace(b"\n", b"\r\n")
    await router.handle_webhook("email", raw_post(raw, basic(SECRET)))
    assert messages[0].metadata["auto_reply"] is True


@pytest.mark.parametrize(
    "body", [b"", b"{not-json", b"\xff\xfe\x00garbage", b"Subject: no sender\r\n\r\nhi"]
)
async def test_a_malformed_body_with_the_secret_is_400(body: bytes) -> None:
    router, _, messages, _ = make_router()
    response = await router.handle_webhook("email", raw_post(body, basic(SECRET)))
    assert response.status_code == 400
    assert messages == []


def mailgun_fields(**overrides: str) -> list[tuple[str, bytes, str | None]]:
    values = {
        "timestamp": VECTOR["timestamp"],
        "token": VECTOR["token"],
        "signature": VECTOR["expected_signature"],
        "recipient": "support@acme.example",
        "sender": "customer@example.com",
        "from": "Customer <customer@example.com>",
        "subject": "Where is my order?",
        "body-plain": "Where is it?\n\n> old",
        "stripped-text": "Where is it?",
        "message-headers": json.dumps(
            [["From", "Customer <customer@example.com>"], ["Message-Id", "<mg.1@example.com>"]]
        ),
        **overrides,
    }
    return [(name, value.encode(), None) for name, value in values.items()]


async def test_a_mailgun_route_post_with_the_vector_signature_is_accepted_once() -> None:
    router, _, messages, _ = make_router()
    kind, body = multipart([*mailgun_fields(), ("attachment-1", b"hello", "note.txt")])
    request = WebhookRequest(method="POST", url=URL, headers=[("Content-Type", kind)], body=body)
    assert (await router.handle_webhook("email", request)).status_code == 200
    (message,) = messages
    assert message.content.text == "Where is it?"
    assert message.provider_id == "<mg.1@example.com>"
    assert [item.filename for item in message.content.media] == ["note.txt"]
    replayed = await router.handle_webhook("email", request)
    assert replayed.status_code == 403


@pytest.mark.parametrize(
    ("fields", "now"),
    [
        (mailgun_fields(signature="0" * 64), NOW),
        (mailgun_fields(), datetime(2030, 1, 1, tzinfo=UTC)),
    ],
    ids=["bad-signature", "stale-timestamp"],
)
async def test_a_mailgun_post_with_a_bad_signature_or_a_stale_timestamp_is_403(
    fields: list[tuple[str, bytes, str | None]], now: datetime
) -> None:
    router, _, messages, _ = make_router(clock=now)
    kind, body = multipart(fields)
    request = WebhookRequest(method="POST", url=URL, headers=[("Content-Type", kind)], body=body)
    assert (await router.handle_webhook("email", request)).status_code == 403
    assert messages == []


async def test_sendgrid_inbound_parse_parsed_mode_with_basic_auth() -> None:
    router, _, messages, _ = make_router()
    headers = (
        "From: Customer <customer@example.com>\nTo: support@acme.example\nSubject: Hi\n"
        "Message-ID: <sg.1@example.com>\n"
    )
    kind, body = multipart(
        [
            ("headers", headers.encode(), None),
            ("text", b"Hello there", None),
            ("html", b"<p>Hello there</p>", None),
            ("from", b"Customer <customer@example.com>", None),
            ("to", b"support@acme.example", None),
            ("attachments", b"1", None),
            (
                "attachment-info",
                json.dumps({"attachment1": {"filename": "a.txt", "type": "text/plain"}}).encode(),
                None,
            ),
            ("attachment1", b"file body", "a.txt"),
        ]
    )
    request = WebhookRequest(
        method="POST", url=URL, headers=[("Content-Type", kind), basic(SECRET)], body=body
    )
    assert (await router.handle_webhook("email", request)).status_code == 200
    (message,) = messages
    assert message.content.text == "Hello there"
    assert message.provider_id == "<sg.1@example.com>"
    assert message.content.media[0].content_type == "text/plain"


async def test_sendgrid_inbound_parse_raw_mode_without_credentials_is_403() -> None:
    router, _, messages, _ = make_router()
    kind, body = multipart([("email", MAIL, None), ("to", b"support@acme.example", None)])
    request = WebhookRequest(method="POST", url=URL, headers=[("Content-Type", kind)], body=body)
    assert (await router.handle_webhook("email", request)).status_code == 403
    authorised = WebhookRequest(
        method="POST", url=f"{URL}?secret={SECRET}", headers=[("Content-Type", kind)], body=body
    )
    assert (await router.handle_webhook("email", authorised)).status_code == 200
    assert messages[0].provider_id == "<CAF=abc123@mail.example.com>"


async def test_postmark_inbound_json_carries_the_plus_tag_conversation() -> None:
    router, _, messages, _ = make_router()
    body = (PAYLOADS / "postmark_inbound.json").read_bytes()
    request = WebhookRequest(
        method="POST",
        url=URL,
        headers=[("Content-Type", "application/json"), basic(SECRET)],
        body=body,
    )
    assert (await router.handle_webhook("email", request)).status_code == 200
    (message,) = messages
    assert message.content.text == "Thanks!"
    assert message.conversation_id == "conv-42"
    assert message.metadata["plus_tag"] == "c.conv-42"
    assert message.in_reply_to == "<01JBZ6Q4AAAAAAAAAAAAAAAAAA@acme.example>"
    assert message.content.media[0].data == b"hello"
