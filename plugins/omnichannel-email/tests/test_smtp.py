"""Sending against aiosmtpd on loopback: plain, STARTTLS and implicit TLS (trustme
certificates), AUTH and XOAUTH2, connection reuse, and every failure classified."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSettings
from omnichannel_email.simulator import free_port

from omnichannel import (
    Address,
    Content,
    ContentRejected,
    Envelope,
    InvalidRecipient,
    OutcomeUnknown,
    PluginHost,
    ProviderError,
    Router,
    TransportError,
)
from omnichannel.plugin import AdapterContext, RetryPolicy, Sender, build_settings

SmtpServer = Any

pytestmark = pytest.mark.anyio


def make_adapter(
    server: SmtpServer | None, *, attempts: int = 1, **values: Any
) -> SmtpEmailAdapter:
    base: dict[str, Any] = {
        "from": "Acme Support <support@acme.example>",
        "host": "127.0.0.1",
        "port": server.port if server else free_port(),
        "security": "none",
        "timeout": 5,
    }
    if server is not None and server.ca_file:
        base["tls_ca_file"] = server.ca_file
    settings = build_settings(SmtpEmailSettings, {**base, **values}, where="test")
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    sender = Sender(retry=RetryPolicy(max_attempts=attempts), sleep=pause)
    adapter = SmtpEmailAdapter(settings, AdapterContext(sender=sender))
    adapter.pauses = pauses  # type: ignore[attr-defined]
    return adapter


def envelope(to: str = "customer@example.com", **content: Any) -> Envelope:
    fields = {"text": "Your order shipped", "subject": "Order 42 — café", **content}
    return Envelope(
        channel="email", recipient=Address(channel="email", value=to), content=Content(**fields)
    )


def parsed(server: SmtpServer, index: int = -1) -> Any:
    return message_from_bytes(server.handler.received[index].content, policy=policy.default)


async def test_a_plain_send_delivers_headers_that_parse_back(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(smtp_server)
    sent = envelope()
    receipt = await Router([adapter], host=PluginHost()).send(sent)
    message = parsed(smtp_server)
    assert message["Subject"] == "Order 42 — café"
    assert message["From"].addresses[0].addr_spec == "support@acme.example"
    assert message["To"].addresses[0].addr_spec == "customer@example.com"
    assert message["Message-ID"] == receipt.provider_id == f"<{sent.id}@acme.example>"
    assert message["Date"].datetime.tzinfo is not None
    assert b"=?utf-8?" in smtp_server.handler.received[-1].content  # RFC 2047, no SMTPUTF8
    assert "SMTPUTF8" not in smtp_server.handler.received[-1].mail_options
    await adapter.aclose()


async def test_one_connection_is_reused_across_sends(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(smtp_server)
    for _ in range(3):
        await adapter.send(envelope())
    assert len(smtp_server.handler.received) == 3
    assert adapter.pool.opened == 1
    await adapter.aclose()


async def test_a_pooled_connection_the_server_dropped_is_reopened(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(smtp_server)
    await adapter.send(envelope())
    session = smtp_server.handler.sessions[-1]
    assert session.transport is not None
    smtp_server.controller.loop.call_soon_threadsafe(session.transport.close)
    await adapter.send(envelope())
    assert len(smtp_server.handler.received) == 2
    assert adapter.pool.opened == 2
    await adapter.aclose()


@pytest.mark.smtp(mode="starttls", auth=True)
async def test_starttls_with_auth_login_is_required_and_works(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(
        smtp_server,
        security="starttls",
        username=smtp_server.username,
        password=smtp_server.password,
    )
    await adapter.send(envelope())
    assert len(smtp_server.handler.received) == 1
    await adapter.aclose()


@pytest.mark.smtp(mode="starttls", auth=True)
async def test_a_wrong_password_is_an_auth_error_that_is_not_retried(
    smtp_server: SmtpServer,
) -> None:
    adapter = make_adapter(
        smtp_server,
        attempts=3,
        security="starttls",
        username=smtp_server.username,
        password="wrong",
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.send(envelope())
    assert caught.value.reason.value == "auth"
    assert not caught.value.retryable
    assert "wrong" not in str(caught.value)
    assert adapter.pauses == []  # type: ignore[attr-defined]


@pytest.mark.smtp(mode="tls", auth=True)
async def test_implicit_tls_with_xoauth2_sends_the_token_from_the_callable(
    smtp_server: SmtpServer,
) -> None:
    calls: list[str] = []

    async def token() -> str:
        calls.append("token")
        return str(smtp_server.token)

    adapter = make_adapter(
        smtp_server, security="tls", username=smtp_server.username, oauth_token_provider=token
    )
    await adapter.send(envelope())
    assert calls == ["token"]
    assert smtp_server.handler.xoauth2 == [
        f"user={smtp_server.username}\x01auth=Bearer {smtp_server.token}\x01\x01"
    ]
    assert len(smtp_server.handler.received) == 1
    await adapter.aclose()


@pytest.mark.smtp(mode="plain", auth=True)
async def test_required_starttls_is_refused_when_the_server_offers_none(
    smtp_server: SmtpServer,
) -> None:
    adapter = make_adapter(
        smtp_server,
        security="starttls",
        username=smtp_server.username,
        password=smtp_server.password,
    )
    with pytest.raises(ProviderError, match="STARTTLS"):
        await adapter.send(envelope())
    assert smtp_server.handler.received == []


@pytest.mark.smtp(mode="plain", auth=True)
async def test_opportunistic_tls_never_sends_credentials_in_the_clear(
    smtp_server: SmtpServer,
) -> None:
    adapter = make_adapter(
        smtp_server,
        security="opportunistic",
        username=smtp_server.username,
        password=smtp_server.password,
    )
    with pytest.raises(ProviderError, match="no TLS"):
        await adapter.send(envelope())


@pytest.mark.smtp(mode="plain", auth=True)
async def test_plain_auth_works_on_a_local_server_without_tls(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(
        smtp_server, security="none", username=smtp_server.username, password=smtp_server.password
    )
    await adapter.send(envelope())
    assert len(smtp_server.handler.received) == 1
    await adapter.aclose()


async def test_a_refused_connection_is_a_transport_error_retried(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(None, attempts=3)
    with pytest.raises(TransportError) as caught:
        await adapter.send(envelope())
    assert caught.value.request_sent is False
    assert len(adapter.pauses) == 2  # type: ignore[attr-defined]


async def test_a_5xx_recipient_refusal_is_invalid_recipient(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(smtp_server, attempts=3)
    with pytest.raises(InvalidRecipient) as caught:
        await adapter.send(envelope("refused@example.com"))
    assert caught.value.provider_code == "550"
    assert not caught.value.retryable
    assert adapter.pauses == []  # type: ignore[attr-defined]
    await adapter.aclose()


async def test_a_4xx_recipient_refusal_is_retryable_and_retried(smtp_server: SmtpServer) -> None:
    adapter = make_adapter(smtp_server, attempts=2)
    with pytest.raises(ProviderError) as caught:
        await adapter.send(envelope("busy@example.com"))
    assert caught.value.retryable
    assert caught.value.provider_code == "451"
    assert len(adapter.pauses) == 1  # type: ignore[attr-defined]
    await adapter.aclose()


async def test_partial_refusal_sends_and_reports_each_refused_recipient(
    smtp_server: SmtpServer,
) -> None:
    adapter = make_adapter(smtp_server)
    sent = Envelope(
        channel="email",
        recipient=Address(channel="email", value="customer@example.com"),
        content="hello",
        provider_options={"email.smtp": {"cc": ["refused@example.com", "ops@example.com"]}},
    )
    receipt = await adapter.send(sent)
    assert isinstance(receipt.raw, dict)
    assert list(receipt.raw["refused"]) == ["refused@example.com"]
    assert receipt.raw["refused"]["refused@example.com"].startswith("550")
    assert smtp_server.handler.received[-1].rcpt_tos == ["customer@example.com", "ops@example.com"]
    await adapter.aclose()


async def test_a_5xx_answer_to_data_is_content_rejected_and_4xx_is_retryable(
    smtp_server: SmtpServer,
) -> None:
    adapter = make_adapter(smtp_server)
    smtp_server.handler.data_reply = "554 5.7.1 rejected by policy"
    with pytest.raises(ContentRejected) as rejected:
        await adapter.send(envelope())
    assert not rejected.value.retryable
    smtp_server.handler.data_reply = "451 4.7.1 greylisted"
    with pytest.raises(ProviderError) as later:
        await adapter.send(envelope())
    assert later.value.retryable
    await adapter.aclose()


async def test_a_connection_lost_after_data_is_an_unknown_outcome_never_resent(
    smtp_server: SmtpServer,
) -> None:
    adapter = make_adapter(smtp_server, attempts=3)
    smtp_server.handler.drop_after_data = True
    with pytest.raises(OutcomeUnknown):
        await Router([adapter], host=PluginHost()).send(envelope())
    assert len(smtp_server.handler.sessions) == 1
    assert adapter.pauses == []  # type: ignore[attr-defined]
    await adapter.aclose()
