"""Tests for omnichannel_twilio.payloads: what both Twilio resources share, as tables: URLs,
the provider_options encoding, the status-callback URL, the error bodies and the shared error
codes, and dates."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest
from omnichannel_twilio.payloads import (
    ERROR_CODES,
    TwilioError,
    account_url,
    error_for,
    option_pairs,
    options_of,
    parse_error,
    parse_time,
    rfc2822,
    status_callback_url,
)

from omnichannel import (
    FailureReason,
    InvalidEnvelope,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
)
from omnichannel.plugin import retry_after_seconds

ACCOUNT = "AC0123456789abcdef0123456789abcdef"


def answer(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> SendError:
    """The error for a Twilio answer, as the adapters read it."""
    return error_for(status, parse_error(body), retry_after_seconds(headers or {}))


# --- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "resource", "expected"),
    [
        (
            "https://api.twilio.com",
            "Messages",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        ),
        (
            "https://api.twilio.com/",
            "Calls",
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
        ),
        (
            "http://127.0.0.1:8765/twilio-voice",
            "Calls",
            f"http://127.0.0.1:8765/twilio-voice/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
        ),
    ],
)
def test_account_urls_join_the_base_url_the_api_version_the_account_and_the_resource(
    base_url: str, resource: str, expected: str
) -> None:
    assert account_url(base_url, ACCOUNT, resource) == expected


@pytest.mark.parametrize(
    ("webhook_url", "envelope_id", "expected"),
    [
        (
            "https://support.example.com/webhooks/sms",
            "01JC0000000000000000000001",
            "https://support.example.com/webhooks/sms?envelope_id=01JC0000000000000000000001",
        ),
        (
            "https://support.example.com/webhooks/sms?tenant=7",
            "01JC0000000000000000000001",
            "https://support.example.com/webhooks/sms?tenant=7&envelope_id=01JC0000000000000000000001",
        ),
        (
            "https://hooks.example.com/webhooks/voice",
            "01J ID&x",
            "https://hooks.example.com/webhooks/voice?envelope_id=01J+ID%26x",
        ),
        ("https://h.example/w?a=1", "E1", "https://h.example/w?a=1&envelope_id=E1"),
    ],
)
def test_the_status_callback_carries_the_envelope_id(
    webhook_url: str, envelope_id: str, expected: str
) -> None:
    assert status_callback_url(webhook_url, envelope_id) == expected


# --- provider_options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ValidityPeriod": 600}, [("ValidityPeriod", "600")]),
        ({"SmartEncoded": False}, [("SmartEncoded", "false")]),
        (
            {"ContentSid": "HX" + "0" * 32, "ContentVariables": {"1": "Zoë"}},
            [("ContentSid", "HX" + "0" * 32), ("ContentVariables", '{"1":"Zoë"}')],
        ),
        (
            {"MediaUrl": ["https://a.example/1", "https://a.example/2"]},
            [
                ("MediaUrl", "https://a.example/1"),
                ("MediaUrl", "https://a.example/2"),
            ],
        ),
        ({"ShortenUrls": None}, []),
        ({"Timeout": 30, "Record": True}, [("Timeout", "30"), ("Record", "true")]),
        (
            {"RecordingStatusCallbackEvent": ("completed", "absent")},
            [
                ("RecordingStatusCallbackEvent", "completed"),
                ("RecordingStatusCallbackEvent", "absent"),
            ],
        ),
    ],
)
def test_provider_options_become_form_fields(
    options: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    assert option_pairs(options, json_fields={"ContentVariables"}) == expected


def test_a_mapping_is_a_json_string_only_where_twilio_takes_one() -> None:
    with pytest.raises(TypeError, match="provider option"):
        option_pairs({"ContentVariables": {"1": "Zoë"}})
    with pytest.raises(TypeError, match="only ContentVariables take a mapping"):
        option_pairs({"Nested": {"a": 1}}, json_fields={"ContentVariables"})


def test_an_envelopes_options_that_are_not_a_flat_mapping_are_an_invalid_envelope() -> None:
    assert options_of({"sms.twilio": {"ValidityPeriod": 60}}, "voice.twilio") == []
    with pytest.raises(InvalidEnvelope, match=r"voice\.twilio.*must be a mapping"):
        options_of({"voice.twilio": ["Record"]}, "voice.twilio")
    with pytest.raises(InvalidEnvelope, match=r"voice\.twilio.*provider option"):
        options_of({"voice.twilio": {"Record": {"on": True}}}, "voice.twilio")


# --- error bodies ---------------------------------------------------------------------------------


def test_a_legacy_error_body_gives_code_and_message(payload: Callable[[str], bytes]) -> None:
    parsed = parse_error(payload("call_error_21211_invalid_to.json"))
    assert (parsed.code, parsed.message) == (
        21211,
        "The 'To' number +15005550001 is not a valid phone number.",
    )
    assert parsed.more_info == "https://www.twilio.com/docs/errors/21211"


def test_an_rfc_9457_problem_body_gives_code_and_detail(payload: Callable[[str], bytes]) -> None:
    parsed = parse_error(payload("call_error_21215_geo_permission_problem.json"))
    assert parsed.code == 21215
    assert parsed.message is not None
    assert parsed.message.startswith("Account not authorized to call +2341234567")


def test_a_problem_body_without_detail_falls_back_to_its_title() -> None:
    body = json.dumps({"type": "t", "title": "Too Many Requests", "status": 429, "code": "20429"})
    parsed = parse_error(body.encode())
    assert (parsed.code, parsed.message) == (20429, "Too Many Requests")


def test_problem_json_without_code_is_classified_by_its_type_page() -> None:
    parsed = parse_error(
        json.dumps(
            {
                "type": "https://www.twilio.com/docs/errors/21610",
                "title": "Unsubscribed recipient",
                "status": 400,
            }
        ).encode()
    )
    assert parsed == TwilioError(
        code=21610,
        message="Unsubscribed recipient",
        more_info="https://www.twilio.com/docs/errors/21610",
    )


def test_an_unreadable_error_body_has_no_code_and_the_http_status_decides() -> None:
    assert parse_error(b"") == TwilioError()
    assert parse_error(b"[1, 2]") == TwilioError()
    assert parse_error(b"<html>Bad Gateway</html>") == TwilioError()
    assert parse_error(b'["not", "an", "object"]') == TwilioError()
    error = error_for(404, parse_error(b"not json"), None)
    assert type(error) is ProviderError
    assert not error.retryable


# --- the shared codes and the HTTP fallbacks ------------------------------------------------


def test_authentication_failure_20003_is_auth_and_not_retryable(
    payload: Callable[[str], bytes],
) -> None:
    error = answer(401, payload("error_20003_authenticate.json"))
    assert type(error) is ProviderError
    assert error.reason is FailureReason.AUTH
    assert not error.retryable
    assert error.provider_code == "20003"
    assert "auth_token" in error.message
    assert "check account_sid and auth_token" in error.message


def test_too_many_requests_20429_is_rate_limited_honouring_retry_after(
    payload: Callable[[str], bytes],
) -> None:
    error = answer(429, payload("error_20429_too_many_requests.json"), {"Retry-After": "7"})
    assert isinstance(error, RateLimited)
    assert error.reason is FailureReason.RATE_LIMITED
    assert error.retryable
    assert error.retry_after == 7.0
    assert error.provider_code == "20429"


@pytest.mark.parametrize(("retry_after", "expected"), [(2.0, 2.0), (None, None)])
def test_a_429_without_a_known_code_is_still_rate_limited(
    retry_after: float | None, expected: float | None
) -> None:
    error = error_for(429, TwilioError(), retry_after)
    assert isinstance(error, RateLimited)
    assert error.retryable
    assert error.retry_after == expected
    assert isinstance(answer(429, b""), RateLimited)


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"Service Unavailable"])
@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_provider_errors(status: int, body: bytes) -> None:
    error = answer(status, body, {"Retry-After": "3"})
    assert type(error) is ProviderError
    assert error.retryable
    assert error.retry_after == 3.0
    assert error.provider_code is None
    assert f"HTTP {status}" in error.message


def test_twilio_internal_error_500_is_retryable(payload: Callable[[str], bytes]) -> None:
    error = answer(500, payload("error_500_internal.json"))
    assert type(error) is ProviderError
    assert error.retryable
    assert error.provider_code == "20500"


def test_a_code_missing_from_the_table_is_a_provider_error_that_keeps_code_and_message() -> None:
    body = json.dumps({"code": 21999, "message": "Something new", "status": 400}).encode()
    error = answer(400, body)
    assert type(error) is ProviderError
    assert error.reason is FailureReason.PROVIDER_ERROR
    assert not error.retryable
    assert error.provider_code == "21999"
    assert error.provider_message == "Something new"
    assert "21999" in error.message
    assert "Something new" in error.message
    assert "(code 21999): Something new" in error.message


@pytest.mark.parametrize("code", [21211, 21217])
def test_the_invalid_to_codes_of_every_resource_are_invalid_recipients(code: int) -> None:
    error = error_for(400, TwilioError(code=code, message="invalid number"), None)
    assert isinstance(error, InvalidRecipient)
    assert error.reason is FailureReason.INVALID_RECIPIENT
    assert not error.retryable
    assert error.provider_code == str(code)
    assert error.provider_message == "invalid number"


def test_classification_is_by_code_never_by_text() -> None:
    misleading = TwilioError(code=21211, message="Too Many Requests: rate limit, try later")
    assert type(error_for(400, misleading, None)) is InvalidRecipient


def test_error_messages_never_carry_the_whole_body() -> None:
    long_message = "x" * 5000
    body = json.dumps(
        {"code": 21211, "message": long_message, "more_info": "https://secret.example/trace"}
    ).encode()
    error = answer(400, body)
    assert len(error.message) < 400
    assert "more_info" not in error.message
    assert "secret.example" not in error.message
    assert error.provider_message is not None
    assert len(error.provider_message) == 300


def test_errors_say_what_was_refused() -> None:
    refused = TwilioError(code=21211, message="nope")
    assert error_for(400, refused, None, what="call").message.startswith("Twilio refused the call")
    assert error_for(418, TwilioError(), None, what="message lookup").message.startswith(
        "Twilio refused the message lookup (HTTP 418)"
    )


def test_every_shared_rule_builds_its_error_class() -> None:
    for code, rule in ERROR_CODES.items():
        error = error_for(400, TwilioError(code=code, message="m"), None)
        assert type(error) is rule.error
        assert error.reason is rule.reason
        assert error.retryable is rule.retryable


# --- dates ----------------------------------------------------------------------------------------


def test_twilio_dates_are_rfc_2822_in_utc_to_the_second() -> None:
    moment = datetime(2026, 11, 3, 18, 20, 1, 999_999, tzinfo=UTC)
    assert rfc2822(moment) == "Tue, 03 Nov 2026 18:20:01 +0000"
    assert parse_time("Tue, 03 Nov 2026 18:20:01 +0000") == moment.replace(microsecond=0)
    assert parse_time("Tue, 03 Nov 2026 18:20:01 -0000") == moment.replace(microsecond=0)
    for unreadable in (None, "", "yesterday at noon", 1762194001):
        assert parse_time(unreadable) is None
