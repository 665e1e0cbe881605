"""The sandbox mail server, end to end on loopback: a send is answered by a threaded reply
into the listener, a bounce becomes UNDELIVERED, special recipients are refused, and queued
mail is polled over IMAP."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSimulator

from omnichannel import (
    Address,
    Content,
    DeliveryStatus,
    Envelope,
    InvalidRecipient,
    WebhookRequest,
)
from omnichannel.testing.loopback import LoopbackRig

pytestmark = pytest.mark.anyio


def rig() -> LoopbackRig:
    return LoopbackRig(SmtpEmailAdapter, SmtpEmailSimulator, SmtpEmailSimulator.sample_settings)


def to(value: str, text: str = "Your order shipped", **content: Any) -> Envelope:
    return Envelope(
        channel="email",
        recipient=Address(channel="email", value=value),
        content=Content(text=text, subject=content.pop("subject", "Order 42 — café"), **content),
    )


async def test_a_send_is_answered_by_a_threaded_reply_and_a_reply_to_that_threads_on() -> None:
    async with rig() as loop:
        receipt = await loop.router.send(to("customer@example.com"))
        await loop.settle()
        (inbound,) = loop.messages
        assert inbound.in_reply_to == receipt.provider_id
        assert inbound.thread == receipt.provider_id
        assert inbound.metadata["plus_tag"] == f"e.{receipt.envelope_id}"
        answer = await loop.router.reply(inbound, "Tracking: 1Z999")
        await loop.settle()
        sent = loop.simulator.messages[-1]["content"]
        message = message_from_bytes(sent, policy=policy.default)
        assert message["In-Reply-To"] == inbound.provider_id
        assert message["References"] == f"{receipt.provider_id} {inbound.provider_id}"
        assert message["Subject"] == "Re: Order 42 — café"
        assert message["Message-ID"] == answer.provider_id
        assert message["Reply-To"] == f"reply+e.{answer.envelope_id}@reply.acme.example"
        followup = loop.messages[-1]
        assert followup.thread == receipt.provider_id  # the same thread, three messages on


async def test_a_bounce_becomes_an_undelivered_status_for_the_sent_message() -> None:
    async with rig() as loop:
        receipt = await loop.router.send(to("bounce@example.com"))
        await loop.settle()
    (status,) = loop.statuses
    assert status.status is DeliveryStatus.UNDELIVERED
    assert status.provider_id == receipt.provider_id
    assert status.envelope_id == receipt.envelope_id
    assert loop.router.status_of(receipt.envelope_id) is DeliveryStatus.UNDELIVERED


async def test_the_refused_recipient_is_refused_at_rcpt() -> None:
    async with rig() as loop:
        with pytest.raises(InvalidRecipient):
            await loop.router.send(to("refused@example.com"))
        assert loop.simulator.messages == []


async def test_queued_mail_is_polled_once_over_imap() -> None:
    async with rig() as loop:
        loop.simulator.queue_inbound(sender="customer@example.com", text="Any news?")
        first = await loop.adapter.poll(None)
        assert first.commit is not None
        await first.commit()
        again = await loop.adapter.poll(None)  # no cursor: resync from the \\Seen flags
    assert [m.content.text for m in first.messages] == ["Any news?"]
    assert again.messages == ()


async def test_the_http_side_lists_what_the_smtp_server_accepted() -> None:
    async with rig() as loop:
        await loop.router.send(to("someone@example.com"))
        response = await loop.simulator.handle(
            WebhookRequest(method="GET", url=f"{loop.sandbox_url}/email/messages")
        )
    assert b"someone@example.com" in response.body
