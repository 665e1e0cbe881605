"""The poller: pull channels' messages reach the handlers once, cursors advance only after the
router took everything, failures back off."""

from __future__ import annotations

import pytest

from omnichannel import Envelope, PluginHost, Router
from omnichannel.plugin import Capabilities, PollResult
from omnichannel.polling import MemoryCursorStore, Poller
from omnichannel.testing import FakeAdapter, make_inbound

pytestmark = pytest.mark.anyio

POLLING = Capabilities(address_kind="opaque", inbound={"poll"})


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _mailbox(batches: list[list[str]]) -> FakeAdapter:
    """A pull channel that finds one batch of messages per poll, cursor = batches read."""

    def poll(cursor: str | None) -> PollResult:
        read = int(cursor or 0)
        texts = batches[read] if read < len(batches) else []
        messages = [
            make_inbound(channel="mail", text=text, provider_id=f"m-{read}-{n}")
            for n, text in enumerate(texts)
        ]
        return PollResult(messages=messages, cursor=str(min(read + 1, len(batches))))

    return FakeAdapter(channel="mail", capabilities=POLLING, poll=poll)


async def test_polled_messages_reach_the_handlers_and_the_cursor_advances() -> None:
    adapter = _mailbox([["hello"], ["again"]])
    router = Router([adapter], host=PluginHost())
    seen: list[Envelope] = []
    router.on_message(seen.append, inline=True)
    poller = Poller(router, interval=30)
    assert poller.channels == ["mail"]
    assert await poller.poll_once("mail") == 30
    assert await poller.poll_once("mail") == 30
    assert await poller.poll_once("mail") == 30
    assert [message.content.text for message in seen] == ["hello", "again"]
    assert adapter.polls == [None, "1", "2"]


async def test_a_failing_handler_keeps_the_cursor_so_the_messages_come_back() -> None:
    adapter = _mailbox([["hello"]])
    router = Router([adapter], host=PluginHost())
    calls: list[str] = []

    def flaky(message: Envelope) -> None:
        calls.append(message.content.text)
        if len(calls) == 1:
            raise RuntimeError("crm down")

    router.on_message(flaky, inline=True)
    cursors = MemoryCursorStore()
    poller = Poller(router, cursors=cursors, interval=10)
    assert await poller.poll_once("mail") == 10  # the failure backs off once
    assert await cursors.get("mail:mail.fake") is None
    await poller.poll_once("mail")
    assert calls == ["hello", "hello"]
    assert await cursors.get("mail:mail.fake") == "1"


async def test_a_failing_poll_backs_off_exponentially_then_recovers() -> None:
    failures = [RuntimeError("imap down")] * 3

    def poll(cursor: str | None) -> PollResult:
        if failures:
            raise failures.pop()
        return PollResult(cursor="c1")

    adapter = FakeAdapter(channel="mail", capabilities=POLLING, poll=poll)
    poller = Poller(Router([adapter], host=PluginHost()), interval=5, max_backoff=15)
    waits = [await poller.poll_once("mail") for _ in range(4)]
    assert waits == [5, 10, 15, 5]


async def test_a_poll_result_can_ask_for_its_next_poll_and_commit_after_the_handlers() -> None:
    order: list[str] = []

    async def commit() -> None:
        order.append("commit")

    def poll(cursor: str | None) -> PollResult:
        return PollResult(
            messages=[make_inbound(channel="mail", text="hi", provider_id="m-1")],
            cursor="c1",
            next_poll_seconds=900,
            commit=commit,
        )

    adapter = FakeAdapter(channel="mail", capabilities=POLLING, poll=poll)
    router = Router([adapter], host=PluginHost())
    router.on_message(lambda message: order.append("handler"), inline=True)
    assert await Poller(router).poll_once("mail") == 900
    assert order == ["handler", "commit"]


async def test_run_polls_each_channel_on_its_schedule_until_cancelled() -> None:
    import anyio

    adapter = _mailbox([["one"]])
    router = Router([adapter], host=PluginHost())
    seen: list[str] = []
    router.on_message(lambda message: seen.append(message.content.text), inline=True)
    stop = anyio.Event()

    async def sleep(seconds: float) -> None:
        if len(adapter.polls) >= 2:
            stop.set()
            await anyio.sleep_forever()

    poller = Poller(router, sleep=sleep)
    async with anyio.create_task_group() as group:
        group.start_soon(poller.run)
        await stop.wait()
        group.cancel_scope.cancel()
    assert seen == ["one"]
    assert adapter.polls == [None, "1"]
