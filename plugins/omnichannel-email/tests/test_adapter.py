"""The adapter's own parts: composing the message for an envelope (threading, Reply-To,
options), settings checks, and what its README documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSettings
from omnichannel_email.payloads import ThreadEntry

from omnichannel import Address, ConfigurationError, Content, Envelope, UnsupportedFeature
from omnichannel.plugin import AdapterContext, build_settings

BASE = {"from": "Acme Support <support@acme.example>", "reply_to_domain": "reply.acme.example"}


def make_adapter(**values: Any) -> SmtpEmailAdapter:
    settings = build_settings(SmtpEmailSettings, {**BASE, **values}, where="test")
    return SmtpEmailAdapter(settings, AdapterContext())


def outbound(**fields: Any) -> Envelope:
    return Envelope(
        channel="email",
        recipient=Address(channel="email", value="customer@example.com", name="Zoë"),
        content=fields.pop("content", Content(text="hi", subject="Order 42")),
        **fields,
    )


def test_a_new_message_has_our_message_id_and_a_tagged_reply_to() -> None:
    adapter = make_adapter()
    envelope = outbound(conversation_id="conv-42")
    message, recipients, entry = adapter.compose(envelope)
    assert message["Message-ID"] == f"<{envelope.id}@acme.example>" == entry.message_id
    assert message["Reply-To"] == "reply+c.conv-42@reply.acme.example"
    assert message["Subject"] == "Order 42"
    assert "In-Reply-To" not in message
    assert recipients == ["customer@example.com"]
    assert entry.root == entry.message_id


def test_a_reply_to_a_remembered_parent_keeps_its_references_and_subject() -> None:
    adapter = make_adapter()
    adapter.threads.remember(
        ThreadEntry(
            message_id="<CAF=abc123@mail.example.com>",
            root="<first.1@mail.example.com>",
            references=("<first.1@mail.example.com>",),
            subject="Café order #42 ☕",
        )
    )
    envelope = outbound(
        content=Content(text="On its way"),
        in_reply_to="<CAF=abc123@mail.example.com>",
        thread="<first.1@mail.example.com>",
    )
    message, _, entry = adapter.compose(envelope)
    assert message["In-Reply-To"] == "<CAF=abc123@mail.example.com>"
    assert message["References"] == "<first.1@mail.example.com> <CAF=abc123@mail.example.com>"
    assert message["Subject"] == "Re: Café order #42 ☕"
    assert entry.root == "<first.1@mail.example.com>"


def test_after_a_restart_a_reply_falls_back_to_root_and_parent() -> None:
    envelope = outbound(in_reply_to="<parent@x>", thread="<root@x>")
    message, _, _ = make_adapter().compose(envelope)
    assert message["References"] == "<root@x> <parent@x>"
    assert message["Subject"] == "Re: Order 42"


def test_cc_bcc_and_extra_headers_come_from_provider_options() -> None:
    envelope = outbound(
        provider_options={
            "email.smtp": {
                "cc": ["ops@example.com"],
                "bcc": ["audit@example.com"],
                "headers": {"X-Ticket": "42"},
            }
        }
    )
    message, recipients, _ = make_adapter().compose(envelope)
    assert recipients == ["customer@example.com", "ops@example.com", "audit@example.com"]
    assert message["Cc"] == "ops@example.com"
    assert "Bcc" not in message
    assert message["X-Ticket"] == "42"


def test_provider_options_cannot_override_our_headers() -> None:
    envelope = outbound(provider_options={"email.smtp": {"headers": {"Message-ID": "<x@y>"}}})
    with pytest.raises(UnsupportedFeature, match="Message-ID"):
        make_adapter().compose(envelope)


def test_url_media_that_reach_the_adapter_are_refused() -> None:
    from omnichannel import Media

    envelope = outbound(content=Content(text="see", media=[Media(url="https://x.test/a.pdf")]))
    with pytest.raises(UnsupportedFeature, match="URL"):
        make_adapter().compose(envelope)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"from": "not an address"}, "from"),
        ({"password": "p"}, "username"),
        ({"port": 70000}, "port"),
        ({"security": "ssl"}, "Security"),
        ({"reply_to_domain": "no-dot"}, "reply_to_domain"),
        ({"oauth_token_provider": "nowhere"}, "oauth_token_provider"),
    ],
)
def test_settings_refuse_bad_values_naming_the_setting(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_settings(SmtpEmailSettings, {**BASE, **values}, where="test")


def test_ports_default_by_security_mode() -> None:
    settings = build_settings(SmtpEmailSettings, {**BASE, "security": "tls"}, where="test")
    assert (settings.smtp_port, settings.imap_port_number) == (465, 993)


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    names = [field.name.removesuffix("_") for field in attrs.fields(SmtpEmailSettings)]
    assert [name for name in names if f"`{name}`" not in readme] == []
