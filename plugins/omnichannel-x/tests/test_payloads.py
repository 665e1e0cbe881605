"""The pure X mapping, as tables against the samples in ``payloads/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omnichannel import (
    ContentRejected,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.testing import make_envelope, make_response

from omnichannel_x import payloads

PAYLOADS = Path(__file__).parent / "payloads"


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def envelope(text: str = "Hello", **changes: Any) -> Envelope:
    return make_envelope(channel="twitter", to="customer-1", text=text, **changes)


def test_send_body_matches_the_documented_request() -> None:
    expected = sample("send_request.json")
    message = envelope(expected["text"], id=expected["reference"])
    assert payloads.send_body(message) == expected


def test_send_body_names_the_sender_when_one_is_configured() -> None:
    assert payloads.send_body(envelope(), sender="support")["from"] == "support"


def test_provider_options_pass_through_as_extra_fields() -> None:
    message = envelope(provider_options={"twitter.x": {"priority": "high"}})
    assert payloads.send_body(message)["priority"] == "high"


def test_provider_options_of_other_adapters_are_ignored() -> None:
    message = envelope(provider_options={"other.adapter": {"priority": "high"}})
    assert "priority" not in payloads.send_body(message)


def test_provider_options_cannot_override_what_the_adapter_sets() -> None:
    message = envelope(provider_options={"twitter.x": {"to": "someone-else"}})
    with pytest.raises(UnsupportedFeature, match="cannot set to"):
        payloads.send_body(message)


def test_a_public_message_is_unsupported() -> None:
    with pytest.raises(UnsupportedFeature, match="no public posts"):
        payloads.send_body(envelope(visibility=Visibility.PUBLIC))


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("accepted", DeliveryStatus.ACCEPTED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("failed", DeliveryStatus.FAILED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
    ],
)
def test_provider_statuses_map_to_delivery_statuses(name: str, status: DeliveryStatus) -> None:
    assert payloads.STATUSES[name] is status


def test_sent_message_reads_the_id_and_status_of_the_documented_answer() -> None:
    sent = payloads.sent_message(sample("send_response_201.json"))
    assert sent.provider_id == "msg-000042"
    assert sent.status is DeliveryStatus.ACCEPTED


@pytest.mark.parametrize("answer", [{}, {"id": ""}, {"id": 42}, [], "ok"])
def test_an_answer_without_a_message_id_is_a_provider_error(answer: object) -> None:
    with pytest.raises(ProviderError, match="without a message id"):
        payloads.sent_message(answer)


@pytest.mark.parametrize(
    ("status_code", "body", "error", "reason", "retryable"),
    [
        (
            400,
            sample("error_400_invalid_recipient.json"),
            InvalidRecipient,
            FailureReason.INVALID_RECIPIENT,
            False,
        ),
        (
            429,
            sample("error_429_rate_limited.json"),
            RateLimited,
            FailureReason.RATE_LIMITED,
            True,
        ),
        (403, {"error": {"code": "opted_out"}}, InvalidRecipient, FailureReason.OPTED_OUT, False),
        (401, {"error": {"code": "unauthorized"}}, ProviderError, FailureReason.AUTH, False),
        (
            422,
            {"error": {"code": "content_rejected"}},
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            503,
            {"error": {"code": "unavailable"}},
            ProviderError,
            FailureReason.PROVIDER_ERROR,
            True,
        ),
    ],
)
def test_error_codes_map_to_typed_errors(
    status_code: int,
    body: object,
    error: type[SendError],
    reason: FailureReason,
    retryable: bool,
) -> None:
    mapped = payloads.error_for_response(make_response(status_code, json_body=body))
    assert type(mapped) is error
    assert mapped.reason is reason
    assert mapped.retryable is retryable
    assert mapped.status_code == status_code


def test_a_rate_limit_reads_retry_after() -> None:
    response = make_response(
        429, headers={"Retry-After": "7"}, json_body=sample("error_429_rate_limited.json")
    )
    mapped = payloads.error_for_response(response)
    assert isinstance(mapped, RateLimited)
    assert mapped.retry_after == 7
    assert mapped.provider_code == "rate_limited"
    assert mapped.provider_message == "too many requests"


def test_a_429_without_an_error_body_is_still_a_rate_limit() -> None:
    mapped = payloads.error_for_response(make_response(429, text="slow down"))
    assert isinstance(mapped, RateLimited)


def test_an_unknown_error_code_falls_back_to_the_http_status_and_keeps_the_code() -> None:
    response = make_response(502, json_body={"error": {"code": "mystery", "message": "upstream"}})
    mapped = payloads.error_for_response(response)
    assert type(mapped) is ProviderError
    assert mapped.retryable
    assert (mapped.provider_code, mapped.provider_message) == ("mystery", "upstream")
