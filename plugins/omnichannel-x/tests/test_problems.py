"""X's error answers as typed errors: the table, against the sample answers in ``payloads/``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from omnichannel_x.problems import Action, error_for, parse_problem, rate_limit_wait

from omnichannel import (
    ContentRejected,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
)
from omnichannel.testing import make_response

NOW = datetime(2026, 11, 3, 18, 20, tzinfo=UTC)  # x-rate-limit-reset 1793730900 is 900 s on


def answer(sample: Any, name: str) -> Any:
    data = sample(name)
    return make_response(data["status"], json_body=data["body"], headers=data["headers"])


@pytest.mark.parametrize(
    ("name", "action", "error", "reason", "retryable"),
    [
        (
            "error_429_too_many_requests.json",
            Action.DM,
            RateLimited,
            FailureReason.RATE_LIMITED,
            True,
        ),
        ("error_401_unauthorized.json", Action.POST, ProviderError, FailureReason.AUTH, False),
        (
            "error_403_duplicate_content.json",
            Action.POST,
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            "error_403_reply_not_allowed.json",
            Action.POST,
            ProviderError,
            FailureReason.POLICY,
            False,
        ),
        (
            "error_403_dm_not_allowed.json",
            Action.DM,
            InvalidRecipient,
            FailureReason.INVALID_RECIPIENT,
            False,
        ),
        ("error_403_dm_not_allowed.json", Action.POST, ProviderError, FailureReason.AUTH, False),
        ("error_403_client_forbidden.json", Action.DM, ProviderError, FailureReason.AUTH, False),
        (
            "error_400_invalid_participant.json",
            Action.DM,
            InvalidRecipient,
            FailureReason.INVALID_RECIPIENT,
            False,
        ),
        (
            "error_503_service_unavailable.json",
            Action.DM,
            ProviderError,
            FailureReason.PROVIDER_ERROR,
            True,
        ),
    ],
)
def test_x_answers_map_to_typed_errors_by_status_problem_and_action(
    sample: Any,
    name: str,
    action: Action,
    error: type[SendError],
    reason: FailureReason,
    retryable: bool,
) -> None:
    mapped = error_for(answer(sample, name), action=action, now=NOW)
    assert type(mapped) is error
    assert mapped.reason is reason
    assert mapped.retryable is retryable
    assert mapped.status_code == sample(name)["status"]


def test_a_rate_limit_waits_until_x_rate_limit_reset(sample: Any) -> None:
    mapped = error_for(
        answer(sample, "error_429_too_many_requests.json"), action=Action.READ, now=NOW
    )
    assert isinstance(mapped, RateLimited)
    assert mapped.retry_after == 900


def test_the_problem_detail_and_type_are_kept(sample: Any) -> None:
    mapped = error_for(
        answer(sample, "error_403_duplicate_content.json"), action=Action.POST, now=NOW
    )
    assert (
        mapped.provider_message == "You are not allowed to create a Tweet with duplicate content."
    )
    assert mapped.provider_code == "about:blank"
    assert "vary the text" in mapped.message


def test_the_title_stands_in_for_a_missing_detail() -> None:
    response = make_response(400, json_body={"title": "Invalid Request", "type": "about:blank"})
    mapped = error_for(response, action=Action.DM, now=NOW)
    assert mapped.provider_message == "Invalid Request"


def test_a_reply_to_a_missing_post_is_an_invalid_recipient() -> None:
    body = {
        "errors": [{"parameters": {"reply.in_reply_to_tweet_id": ["1"]}, "message": "gone"}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.x.com/2/problems/invalid-request",
    }
    mapped = error_for(make_response(400, json_body=body), action=Action.POST, now=NOW)
    assert isinstance(mapped, InvalidRecipient)
    assert mapped.provider_code == "invalid-request"


def test_an_error_body_that_is_not_json_falls_back_to_the_status() -> None:
    mapped = error_for(
        make_response(502, text="<html>bad gateway</html>"), action=Action.DM, now=NOW
    )
    assert type(mapped) is ProviderError
    assert mapped.retryable
    assert mapped.provider_message is None


def test_problem_json_is_read_with_its_named_parameters(sample: Any) -> None:
    problem = parse_problem(sample("error_400_invalid_participant.json")["body"])
    assert problem.type == "invalid-request"
    assert problem.title == "Invalid Request"
    assert problem.parameters == {"participant_id"}


def test_a_partial_error_answer_is_read_from_its_first_error(sample: Any) -> None:
    problem = parse_problem(sample("user_not_found.json")["body"])
    assert problem.type == "resource-not-found"
    assert problem.detail == "Could not find user with username: [nobody_here_42]."
    assert problem.parameters == {"username"}


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1793730900"}, 900.0),
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1793729000"}, 0.0),
        ({"x-rate-limit-remaining": "3", "x-rate-limit-reset": "1793730900"}, None),
        ({"x-rate-limit-remaining": "0"}, None),
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "soon"}, None),
        ({}, None),
    ],
)
def test_an_exhausted_window_says_how_long_to_hold_off(
    headers: dict[str, str], wait: float | None
) -> None:
    assert rate_limit_wait(make_response(200, json_body={}, headers=headers), NOW) == wait


def test_no_error_message_carries_a_whole_body() -> None:
    detail = "x" * 5000
    response = make_response(400, text=json.dumps({"detail": detail, "parameter": "text"}))
    mapped = error_for(response, action=Action.POST, now=NOW)
    assert len(mapped.message) < 600
