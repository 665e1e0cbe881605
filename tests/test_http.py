"""The Sender's retry rules and the request and response values (respx-free: MockTransport)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnichannel import OutcomeUnknown, ProviderError, RateLimited, TransportError
from omnichannel.http import (
    ProviderRequest,
    ProviderResponse,
    RetryPolicy,
    SecretHeaders,
    Sender,
    basic_auth,
    bearer_auth,
    default_error_for_response,
    retry_after_seconds,
    urlencode_form,
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
        retry=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=sleeps,
        rand=lambda: 0.0,
    )


def _request(*, idempotent: bool = False) -> ProviderRequest:
    return ProviderRequest.form(
        "POST",
        "https://api.provider.example/messages",
        [("To", "+1")],
        headers={"Authorization": "Bearer s3cr3t-token"},
        idempotent=idempotent,
    )


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


def test_a_request_repr_shows_neither_the_path_nor_header_values() -> None:
    request = ProviderRequest(
        method="POST",
        url="https://api.telegram.example/bot123:SECRET/sendMessage",
        headers=SecretHeaders({"Authorization": "Bearer s3cr3t-token"}),
    )
    shown = f"{request!r} {request.headers!r} {request.headers}"
    assert "SECRET" not in shown
    assert "s3cr3t" not in shown
    assert "api.telegram.example" in shown
    assert "Authorization" in shown


def test_redacted_hides_auth_headers_and_given_secret_values_everywhere() -> None:
    request = ProviderRequest.form(
        "POST",
        "https://api.provider.example/AC123/Messages.json",
        [("Body", "hi"), ("Token", "tok-123")],
        headers={"Authorization": "Basic abc", "X-Trace": "tok-123"},
    )
    shown = request.redacted(["tok-123"])
    assert shown["headers"]["Authorization"] == "<redacted>"
    assert shown["headers"]["X-Trace"] == "<redacted>"
    assert "tok-123" not in shown["body"]
    assert shown["body"].startswith("Body=hi&Token=")
    assert shown["method"] == "POST"


def test_a_response_reads_headers_in_any_case_and_its_json() -> None:
    response = ProviderResponse(status_code=201, headers={"Content-Type": "x"}, body=b'{"a": 1}')
    assert response.header("content-type") == "x"
    assert response.json() == {"a": 1}
    assert response.is_success
    with pytest.raises(ValueError, match="UTF-8"):
        ProviderResponse(status_code=200, body=b"\xff").json()


async def test_a_success_is_returned_with_the_body_and_the_timeouts_applied() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "m1"})

    response = await _sender(handler, Sleeps()).send(_request())
    assert response.json() == {"id": "m1"}
    assert seen[0].extensions["timeout"]["connect"] == 5.0
    assert seen[0].extensions["timeout"]["read"] == 10.0
    assert seen[0].headers["authorization"] == "Bearer s3cr3t-token"
    assert seen[0].content == b"To=%2B1"


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


async def test_a_503_with_retry_after_says_not_processed_and_is_retried() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "1"}), httpx.Response(201)])
    sleeps = Sleeps()
    response = await _sender(lambda request: next(answers), sleeps).send(_request())
    assert response.status_code == 201
    assert sleeps.waits == [1.0]


async def test_a_5xx_to_a_create_call_is_an_unknown_outcome_and_never_resent() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500) if len(calls) == 1 else httpx.Response(201)

    sleeps = Sleeps()
    with pytest.raises(OutcomeUnknown) as caught:
        await _sender(handler, sleeps).send(_request())
    assert len(calls) == 1
    assert not caught.value.retryable
    assert caught.value.status.value == "unknown"
    assert caught.value.status_code == 500
    assert "may have created" in str(caught.value)
    assert sleeps.waits == []


async def test_a_5xx_to_an_idempotent_request_is_retried_with_backoff() -> None:
    sleeps = Sleeps()
    sender = _sender(lambda request: httpx.Response(502), sleeps, max_attempts=3, base_delay=0.5)
    with pytest.raises(ProviderError) as caught:
        await sender.send(_request(idempotent=True))
    assert caught.value.retryable
    assert caught.value.status_code == 502
    assert sleeps.waits == [0.5, 1.0]


async def test_a_4xx_is_not_retried() -> None:
    sleeps = Sleeps()
    with pytest.raises(ProviderError) as caught:
        await _sender(lambda request: httpx.Response(400), sleeps).send(_request())
    assert not isinstance(caught.value, OutcomeUnknown)
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
    assert len(calls) == 2


async def test_a_lost_answer_is_an_unknown_outcome_unless_the_request_is_idempotent() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=request)

    sleeps = Sleeps()
    with pytest.raises(OutcomeUnknown) as caught:
        await _sender(handler, sleeps).send(_request())
    assert not caught.value.retryable
    assert "may have been created" in str(caught.value)
    assert (len(calls), sleeps.waits) == (1, [])
    with pytest.raises(TransportError) as lost:
        await _sender(handler, sleeps).send(_request(idempotent=True))
    assert lost.value.request_sent
    assert len(calls) == 4
    assert len(sleeps.waits) == 2


async def test_the_sign_step_runs_before_every_attempt() -> None:
    seen: list[str] = []
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(201)])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["x-nonce"])
        return next(answers)

    nonces = iter(["n1", "n2"])
    await _sender(handler, Sleeps()).send(
        _request(), sign=lambda request: request.with_headers({"X-Nonce": next(nonces)})
    )
    assert seen == ["n1", "n2"]


def test_401_maps_to_an_auth_failure() -> None:
    error = default_error_for_response(ProviderResponse(status_code=401))
    assert error.reason.value == "auth"
    assert not error.retryable


def test_jitter_spreads_the_computed_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.5)
    assert policy.delay(1, None, rand=1.0) == 3.0
    assert policy.delay(1, None, rand=0.0) == 2.0
    assert policy.delay(2, None, rand=0.0) is None


# --- log lines (omni -v / -vv) -------------------------------------------------------------

TOKEN = "bot-t0k3n-in-the-path"


def _exchange(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"id": "M-1", "echo": TOKEN}, headers={"Set-Cookie": "s=1"})


def _logged_request() -> ProviderRequest:
    return ProviderRequest.json(
        "POST",
        f"https://api.provider.example/bot{TOKEN}/send?key={TOKEN}",
        {"to": "+1", "secret": TOKEN},
        headers={"Authorization": "Bearer s3cr3t-token"},
    )


async def test_info_logs_one_line_per_exchange_with_the_path_and_no_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = _sender(_exchange, Sleeps())
    with caplog.at_level(logging.INFO, logger="omnichannel.http"):
        await sender.send(_logged_request(), secret_values=lambda: [TOKEN])
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("POST api.provider.example /bot<redacted>/send -> 201 in ")
    assert message.endswith(" ms")


async def test_debug_logs_headers_and_bodies_with_every_secret_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = _sender(_exchange, Sleeps())
    with caplog.at_level(logging.DEBUG, logger="omnichannel.http"):
        await sender.send(_logged_request(), secret_values=lambda: [TOKEN])
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert '> headers {"Authorization": "<redacted>", "Content-Type": "application/json"}' in text
    assert '> body {"to":"+1","secret":"<redacted>"}' in text
    assert '"set-cookie": "<redacted>"' in text.lower()
    assert '< body {"id":"M-1","echo":"<redacted>"}' in text
    assert TOKEN not in text
    assert "s3cr3t-token" not in text


async def test_a_failed_exchange_and_its_retry_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(201)])
    sender = _sender(lambda request: next(answers), Sleeps())
    with caplog.at_level(logging.INFO, logger="omnichannel.http"):
        await sender.send(_request())
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("POST api.provider.example /messages -> 429 in ")
    assert lines[1].startswith("retrying api.provider.example in 0.00s after attempt 1")
    assert lines[2].startswith("POST api.provider.example /messages -> 201 in ")


async def test_secret_values_are_not_asked_for_when_nothing_logs() -> None:
    def never() -> list[str]:
        raise AssertionError("secret values are gathered only for log lines")

    logging.getLogger("omnichannel.http").setLevel(logging.WARNING)
    try:
        await _sender(_exchange, Sleeps()).send(_logged_request(), secret_values=never)
    finally:
        logging.getLogger("omnichannel.http").setLevel(logging.NOTSET)


@given(st.lists(st.tuples(st.text(), st.text())))
def test_form_encoding_is_exactly_urllib_urlencode(pairs: list[tuple[str, str]]) -> None:
    try:
        expected = urlencode(pairs)
    except UnicodeEncodeError:  # lone surrogates: refused by both
        with pytest.raises(UnicodeEncodeError):
            urlencode_form(pairs)
        return
    assert urlencode_form(pairs) == expected


def test_form_encoding_keeps_order_and_repeats_and_escapes_plus_and_spaces() -> None:
    pairs = [("To", "+14155550199"), ("MediaUrl", "https://a.test/x?y=1"), ("MediaUrl", "b c")]
    assert urlencode_form(pairs) == (
        "To=%2B14155550199&MediaUrl=https%3A%2F%2Fa.test%2Fx%3Fy%3D1&MediaUrl=b+c"
    )


def test_a_form_request_body_is_the_urlencoded_pairs() -> None:
    request = ProviderRequest.form("POST", "https://api.example.test/m", [("Body", "café ü")])
    assert request.body == urlencode([("Body", "café ü")]).encode()
