from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from omnichannel import ProviderError, RateLimited, RetryPolicy, Sender, TransportError
from omnichannel.http import (
    basic_auth,
    bearer_auth,
    default_error_for_response,
    retry_after_seconds,
)

pytestmark = pytest.mark.anyio

NOW = 1_793_730_000.0


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _sender(handler: object, sleeps: Sleeps, **policy: float) -> Sender:
    return Sender(
        httpx.MockTransport(handler),  # type: ignore[arg-type]
        retry=RetryPolicy(**policy),
        sleep=sleeps,
        rand=lambda: 0.0,
    )  # type: ignore[arg-type]


def _request() -> httpx.Request:
    return httpx.Request("POST", "https://api.provider.example/messages", data={"To": "+1"})


def test_basic_auth_matches_the_known_vector() -> None:
    assert basic_auth("AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef") == (
        "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjow"
        "MTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="
    )
    assert bearer_auth("t0k") == "Bearer t0k"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        (
            {"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)},
            30.0,
        ),
        ({"x-rate-limit-reset": str(int(NOW + 90))}, 90.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_http_dates_and_reset_epochs(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(headers, now=NOW) == expected


async def test_a_success_is_returned_read_and_with_timeouts_in_the_request_extensions() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "m1"})

    response = await _sender(handler, Sleeps()).send(_request())
    assert response.json() == {"id": "m1"}
    assert seen[0].extensions["timeout"]["connect"] == 5.0


async def test_a_429_is_retried_after_the_time_the_provider_asked_for() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(201)])
    sleeps = Sleeps()
    response = await _sender(lambda request: next(answers), sleeps).send(_request())
    assert response.status_code == 201
    assert sleeps.waits == [2.0]


async def test_a_wait_longer_than_the_policy_allows_is_raised_with_retry_after() -> None:
    sleeps = Sleeps()
    sender = _sender(lambda request: httpx.Response(429, headers={"Retry-After": "3600"}), sleeps)
    with pytest.raises(RateLimited) as caught:
        await sender.send(_request())
    assert caught.value.retry_after == 3600
    assert caught.value.retryable
    assert sleeps.waits == []


async def test_5xx_is_retried_with_exponential_backoff_then_raised_as_retryable() -> None:
    sleeps = Sleeps()
    sender = _sender(lambda request: httpx.Response(503), sleeps, max_attempts=3, base_delay=0.5)
    with pytest.raises(ProviderError) as caught:
        await sender.send(_request())
    assert caught.value.retryable
    assert caught.value.status_code == 503
    assert sleeps.waits == [0.5, 1.0]


async def test_a_4xx_is_not_retried() -> None:
    sleeps = Sleeps()
    with pytest.raises(ProviderError) as caught:
        await _sender(lambda request: httpx.Response(400), sleeps).send(_request())
    assert not caught.value.retryable
    assert sleeps.waits == []


async def test_a_refused_connection_is_retried_because_nothing_was_sent() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    assert (await _sender(handler, Sleeps()).send(_request())).status_code == 200


async def test_a_lost_answer_is_not_resent_unless_the_send_is_idempotent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    sleeps = Sleeps()
    with pytest.raises(TransportError) as caught:
        await _sender(handler, sleeps).send(_request())
    assert not caught.value.retryable
    assert "may have processed" in str(caught.value)
    assert sleeps.waits == []
    with pytest.raises(TransportError):
        await _sender(handler, sleeps).send(_request(), idempotent=True)
    assert len(sleeps.waits) == 2


def test_401_maps_to_an_auth_failure() -> None:
    error = default_error_for_response(httpx.Response(401))
    assert error.reason.value == "auth"
    assert not error.retryable


def test_jitter_spreads_the_computed_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.5)
    assert policy.delay(1, None, rand=1.0) == 3.0
    assert policy.delay(1, None, rand=0.0) == 2.0
    assert policy.delay(2, None, rand=0.0) is None
