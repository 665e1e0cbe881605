"""Receiving by IMAP against a real Dovecot on loopback (see conftest.py): each message found
once, marked only after the router took it, never found again after a restart, and a
UIDVALIDITY change resynced from the server's flags."""

from __future__ import annotations

import imaplib
from email.message import EmailMessage
from typing import Any

import pytest
from omnichannel_email import SmtpEmailAdapter, SmtpEmailSettings

from omnichannel import Envelope, PluginHost, Router
from omnichannel.plugin import AdapterContext, build_settings
from omnichannel.polling import MemoryCursorStore, Poller

pytestmark = pytest.mark.anyio


def make_adapter(dovecot: Any, **values: Any) -> SmtpEmailAdapter:
    settings = build_settings(
        SmtpEmailSettings,
        {
            "from": "Acme Support <support@acme.example>",
            "host": "127.0.0.1",
            "security": "none",
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_security": "none",
            "imap_username": dovecot.user,
            "imap_password": dovecot.password,
            "timeout": 10,
            **values,
        },
        where="test",
    )
    return SmtpEmailAdapter(settings, AdapterContext())


def append(dovecot: Any, text: str, *, folder: str = "INBOX", subject: str = "Help") -> None:
    message = EmailMessage()
    message["From"] = "Customer <customer@example.com>"
    message["To"] = "support@acme.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash(text))}@example.com>"
    message.set_content(text)
    client = imaplib.IMAP4("127.0.0.1", dovecot.port)
    client.login(dovecot.user, dovecot.password)
    if folder != "INBOX":
        client.create(folder)
    client.append(folder, None, None, message.as_bytes())
    client.logout()


def flags(dovecot: Any, folder: str = "INBOX") -> list[bytes]:
    client = imaplib.IMAP4("127.0.0.1", dovecot.port)
    client.login(dovecot.user, dovecot.password)
    client.select(folder)
    _, data = client.uid("FETCH", "1:*", "(FLAGS)")
    client.logout()
    return [item for item in data if isinstance(item, bytes)]


class Listener:
    """``omni listen`` in miniature: a router, a poller with an in-memory cursor store."""

    def __init__(self, adapter: SmtpEmailAdapter) -> None:
        self.router = Router([adapter], host=PluginHost())
        self.seen: list[Envelope] = []
        self.router.on_message(self.seen.append, inline=True)
        self.poller = Poller(self.router, cursors=MemoryCursorStore())

    async def poll(self) -> None:
        await self.poller.poll_once("email")


async def test_an_appended_message_is_found_once_and_marked_seen_after_handling(
    dovecot: Any,
) -> None:
    append(dovecot, "Where is my order?")
    adapter = make_adapter(dovecot)
    listener = Listener(adapter)
    await listener.poll()
    await listener.poll()
    assert [message.content.text for message in listener.seen] == ["Where is my order?"]
    assert b"\\Seen" in flags(dovecot)[0]
    await adapter.aclose()


async def test_a_restart_with_a_fresh_cursor_store_does_not_repeat_a_message(
    dovecot: Any,
) -> None:
    append(dovecot, "first")
    first = make_adapter(dovecot)
    before = Listener(first)
    await before.poll()
    await first.aclose()
    append(dovecot, "second")
    second = make_adapter(dovecot)  # a new process: no cursor, no claims in memory
    after = Listener(second)
    await after.poll()
    assert [m.content.text for m in before.seen] == ["first"]
    assert [m.content.text for m in after.seen] == ["second"]
    await second.aclose()


async def test_a_handler_failure_leaves_the_message_unmarked_to_be_found_again(
    dovecot: Any,
) -> None:
    append(dovecot, "retry me")
    adapter = make_adapter(dovecot)
    router = Router([adapter], host=PluginHost())
    calls: list[str] = []

    def flaky(envelope: Envelope) -> None:
        calls.append(envelope.content.text)
        if len(calls) == 1:
            raise RuntimeError("handler down")

    router.on_message(flaky, inline=True)
    poller = Poller(router, cursors=MemoryCursorStore())
    await poller.poll_once("email")
    assert b"\\Seen" not in flags(dovecot)[0]
    await poller.poll_once("email")
    assert calls == ["retry me", "retry me"]
    assert b"\\Seen" in flags(dovecot)[0]
    await adapter.aclose()


async def test_processed_mail_is_moved_to_the_processed_folder(dovecot: Any) -> None:
    append(dovecot, "move me")
    adapter = make_adapter(dovecot, imap_processed_folder="Processed")
    listener = Listener(adapter)
    await listener.poll()
    await listener.poll()
    assert [m.content.text for m in listener.seen] == ["move me"]
    assert flags(dovecot) == []
    assert len(flags(dovecot, "Processed")) == 1
    await adapter.aclose()


async def test_a_uidvalidity_change_resyncs_from_the_flags(dovecot: Any) -> None:
    append(dovecot, "old", folder="Support")
    adapter = make_adapter(dovecot, imap_folder="Support")
    first = await adapter.poll(None)
    assert first.commit is not None
    await first.commit()
    validity = int(str(first.cursor).split(":")[0])
    dovecot.doveadm(
        "mailbox", "update", "-u", dovecot.user, "--uid-validity", str(validity + 7), "Support"
    )
    append(dovecot, "new", folder="Support")
    after = await adapter.poll(first.cursor)
    assert [m.content.text for m in after.messages] == ["new"]
    assert str(after.cursor).startswith(f"{validity + 7}:")
    await adapter.aclose()


async def test_a_poll_without_an_imap_host_finds_nothing() -> None:
    settings = build_settings(SmtpEmailSettings, {"from": "support@acme.example"}, where="test")
    result = await SmtpEmailAdapter(settings, AdapterContext()).poll(None)
    assert result.messages == ()
    assert result.next_poll_seconds == settings.poll_interval


async def test_with_the_durable_store_a_restarted_listener_finds_each_message_once(
    dovecot: Any, tmp_path: Any
) -> None:
    from omnichannel.store import Store

    url = f"sqlite:///{tmp_path / 'omnichannel.db'}"
    seen: list[str] = []

    async def run_listener() -> None:
        # A process's life: open the store, poll twice, close everything.
        adapter = make_adapter(dovecot)
        async with await Store.open(url, create=True) as store:
            router = Router([adapter], host=PluginHost(), store=store)
            router.on_message(lambda message: seen.append(message.content.text), inline=True)
            poller = Poller(router, cursors=store.cursors)
            await poller.poll_once("email")
            await poller.poll_once("email")
        await adapter.aclose()

    append(dovecot, "first")
    await run_listener()
    append(dovecot, "second")
    await run_listener()
    assert seen == ["first", "second"]
    async with await Store.open(url, worker=False) as store:
        events = await store.list_inbox()
        assert sorted(event.kind for event in events) == ["message", "message"]
        assert all(event.state.value == "done" for event in events)
