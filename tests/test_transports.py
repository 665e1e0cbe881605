"""The default transport against real loopback stand-ins: each failure classified by what
happened, so only what was never sent is retried."""

from __future__ import annotations

import socket

import attrs
import pytest

from omnichannel import OutcomeUnknown, TransportError
from omnichannel.http import ProviderRequest, RetryPolicy, Sender
from omnichannel.testing.standin import (
    CLOSE_MID_ANSWER,
    NO_ANSWER,
    RESET_AFTER_REQUEST,
    Reply,
    ScriptedServer,
)
from omnichannel.transports import AiohttpTransport

pytestmark = pytest.mark.anyio

CREATED = Reply(201, b'{"sid": "SM1"}')


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _sender(sleeps: Sleeps, *, timeout: float = 5.0) -> Sender:
    return Sender(
        AiohttpTransport(), retry=RetryPolicy(), timeout=timeout, sleep=sleeps, rand=lambda: 0.0
    )


def _create(url: str, *, idempotent: bool = False) -> ProviderRequest:
    return ProviderRequest.form(
        "POST", f"{url}/Messages.json", [("To", "+14155550199")], idempotent=idempotent
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_reset_after_the_request_was_read_is_an_unknown_outcome_sent_once() -> None:
    sleeps = Sleeps()
    sender = _sender(sleeps)
    async with ScriptedServer([RESET_AFTER_REQUEST, CREATED]) as server:
        with pytest.raises(OutcomeUnknown) as caught:
            await sender.send(_create(server.url))
    await sender.aclose()
    assert len(server.requests) == 1
    assert sleeps.waits == []
    message = str(caught.value)
    assert "after the request was sent" in message
    assert f"127.0.0.1:{server.port}" in message
    assert "may have been created" in message
    assert not caught.value.retryable


async def test_a_500_then_201_reaches_the_provider_once_and_ends_unknown() -> None:
    sender = _sender(Sleeps())
    async with ScriptedServer([Reply(500, b'{"code": 20500}'), CREATED]) as server:
        with pytest.raises(OutcomeUnknown):
            await sender.send(_create(server.url))
    await sender.aclose()
    assert len(server.requests) == 1


async def test_a_connection_closed_halfway_through_the_answer_is_an_unknown_outcome() -> None:
    sender = _sender(Sleeps())
    async with ScriptedServer([CLOSE_MID_ANSWER, CREATED]) as server:
        with pytest.raises(OutcomeUnknown):
            await sender.send(_create(server.url))
    await sender.aclose()
    assert len(server.requests) == 1


async def test_no_answer_within_the_timeout_is_an_unknown_outcome() -> None:
    sender = _sender(Sleeps(), timeout=0.2)
    async with ScriptedServer([NO_ANSWER]) as server:
        with pytest.raises(OutcomeUnknown) as caught:
            await sender.send(_create(server.url))
        await sender.aclose()
    assert "no answer within 0.2s" in str(caught.value)
    assert len(server.requests) == 1


async def test_an_idempotent_request_is_resent_after_a_reset() -> None:
    sleeps = Sleeps()
    sender = _sender(sleeps)
    async with ScriptedServer([RESET_AFTER_REQUEST, CREATED]) as server:
        response = await sender.send(_create(server.url, idempotent=True))
    await sender.aclose()
    assert response.status_code == 201
    assert response.json() == {"sid": "SM1"}
    assert len(server.requests) == 2
    assert sleeps.waits == [0.5]


async def test_a_refused_connection_is_retried_and_named_with_host_and_port() -> None:
    sleeps = Sleeps()
    sender = _sender(sleeps)
    port = _free_port()
    with pytest.raises(TransportError) as caught:
        await sender.send(_create(f"http://127.0.0.1:{port}"))
    await sender.aclose()
    assert not isinstance(caught.value, OutcomeUnknown)
    assert not caught.value.request_sent
    assert caught.value.retryable
    assert f"connection refused by 127.0.0.1:{port}" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert sleeps.waits == [0.5, 1.0]


async def test_the_stand_in_records_what_the_transport_sent() -> None:
    sender = _sender(Sleeps())
    async with ScriptedServer([CREATED]) as server:
        request = ProviderRequest.json(
            "POST", f"{server.url}/v1/send", {"text": "café"}, headers={"X-Key": "k"}
        )
        await sender.send(request)
    await sender.aclose()
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/send")
    assert seen.header("x-key") == "k"
    assert seen.header("content-type") == "application/json"
    assert seen.body == '{"text":"café"}'.encode()


async def test_an_answer_over_the_requests_limit_is_refused_before_it_is_read() -> None:
    from omnichannel import ResponseTooLarge

    sender = _sender(Sleeps())
    big = Reply(200, b"x" * 200_000)
    async with ScriptedServer([big]) as server:
        request = ProviderRequest(
            method="GET", url=f"{server.url}/media/1", idempotent=True, max_response_bytes=1000
        )
        with pytest.raises(ResponseTooLarge, match="over the limit of 1000 bytes"):
            await sender.send(request)
        small = attrs.evolve(request, max_response_bytes=500_000)
        assert len((await sender.send(small)).body) == 200_000
    await sender.aclose()


async def test_an_httpx_transport_answer_over_the_limit_is_refused_too() -> None:
    import httpx

    from omnichannel import ResponseTooLarge

    sender = Sender(httpx.MockTransport(lambda request: httpx.Response(200, content=b"y" * 5000)))
    request = ProviderRequest(
        method="GET", url="https://media.example.com/1", idempotent=True, max_response_bytes=100
    )
    with pytest.raises(ResponseTooLarge, match="over the limit of 100 bytes"):
        await sender.send(request)
