"""The pure Bot API mapping, as tables against the samples in ``payloads/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omnichannel_telegram import payloads

from omnichannel import (
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    InvalidRecipient,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    SendError,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.testing import make_envelope, make_response

PAYLOADS = Path(__file__).parent / "payloads"


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def envelope(to: str = "123456789", text: str = "Hello", **changes: Any) -> Envelope:
    return make_envelope(channel="telegram", to=to, text=text, **changes)


@pytest.mark.parametrize(
    ("address", "chat"),
    [("123456789", 123456789), ("-1001234567890", -1001234567890), ("@acme_news", "@acme_news")],
)
def test_addresses_become_integer_chat_ids_or_usernames(address: str, chat: int | str) -> None:
    assert payloads.chat_id(address) == chat


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("17", (None, 17)),
        ("123456789:17", (123456789, 17)),
        ("-1001234567890:305", (-1001234567890, 305)),
        ("123456789:17@1762075830", (123456789, 17)),
    ],
)
def test_message_ref_reads_provider_ids_and_bare_message_ids(
    value: str, ref: tuple[int | None, int]
) -> None:
    assert payloads.message_ref(value) == ref


@pytest.mark.parametrize("value", ["", "abc", "17:", "1.5", "wamid.HBgL"])
def test_message_ref_refuses_what_is_not_a_telegram_message_id(value: str) -> None:
    with pytest.raises(ValueError, match="not a Telegram message id"):
        payloads.message_ref(value)


def test_provider_ids_tell_chats_and_edits_apart() -> None:
    assert payloads.provider_id(123456789, 17) == "123456789:17"
    assert payloads.provider_id(987654321, 17) != payloads.provider_id(123456789, 17)
    assert payloads.provider_id(123456789, 17, edit_date=1762075830) == "123456789:17@1762075830"


def test_a_reply_matches_the_documented_request() -> None:
    expected = sample("send_message_request.json")
    body = payloads.send_body(envelope(text=expected["text"], in_reply_to="123456789:17"))
    assert body == expected


def test_a_bare_message_id_in_in_reply_to_is_the_replied_message() -> None:
    body = payloads.send_body(envelope(in_reply_to="17"))
    assert body["reply_parameters"] == {"message_id": 17}


def test_a_reply_to_a_message_of_another_chat_names_that_chat() -> None:
    body = payloads.send_body(envelope(in_reply_to="-1001234567890:305"))
    assert body["reply_parameters"] == {"message_id": 305, "chat_id": -1001234567890}


def test_a_thread_becomes_the_forum_topic() -> None:
    body = payloads.send_body(envelope(to="-1001234567890", thread="42"))
    assert body == {"chat_id": -1001234567890, "text": "Hello", "message_thread_id": 42}


def test_native_parameters_pass_through_provider_options() -> None:
    options = {"telegram.bot": {"parse_mode": "HTML", "disable_notification": True}}
    body = payloads.send_body(envelope(provider_options=options))
    assert body["parse_mode"] == "HTML"
    assert body["disable_notification"] is True


def test_provider_options_cannot_replace_what_the_envelope_sets() -> None:
    options = {"telegram.bot": {"chat_id": 1}}
    with pytest.raises(UnsupportedFeature, match="cannot set chat_id"):
        payloads.send_body(envelope(provider_options=options))


@pytest.mark.parametrize(
    "changes",
    [
        {"visibility": Visibility.PUBLIC},
        {"in_reply_to": "wamid.HBgL"},
        {"thread": "topic-a"},
    ],
)
def test_what_the_bot_api_cannot_express_is_unsupported(changes: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFeature):
        payloads.send_body(envelope(**changes))


def test_the_sent_message_becomes_a_sent_receipt_with_chat_and_message_id() -> None:
    sent = payloads.sent_message(sample("send_message_response.json"))
    assert sent.provider_id == "123456789:18"
    assert sent.status is DeliveryStatus.SENT


@pytest.mark.parametrize(
    "answer", [None, {}, {"ok": True}, {"ok": True, "result": {"message_id": 1}}]
)
def test_an_answer_without_message_or_chat_id_is_an_unknown_outcome(answer: object) -> None:
    with pytest.raises(OutcomeUnknown, match="without a message and chat id"):
        payloads.sent_message(answer)


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("error_429_too_many_requests.json", RateLimited, FailureReason.RATE_LIMITED),
        ("error_403_blocked.json", InvalidRecipient, FailureReason.OPTED_OUT),
        ("error_400_chat_not_found.json", InvalidRecipient, FailureReason.INVALID_RECIPIENT),
        ("error_400_migrated.json", InvalidRecipient, FailureReason.INVALID_RECIPIENT),
        ("error_401_unauthorized.json", ProviderError, FailureReason.AUTH),
    ],
)
def test_documented_errors_map_to_typed_errors(
    name: str, error: type[SendError], reason: FailureReason
) -> None:
    body = sample(name)
    mapped = payloads.error_for_response(make_response(body["error_code"], json_body=body))
    assert type(mapped) is error
    assert mapped.reason is reason
    assert mapped.provider_code == str(body["error_code"])
    assert mapped.provider_message == body["description"]


def test_flood_control_reads_retry_after_from_the_parameters() -> None:
    body = sample("error_429_too_many_requests.json")
    mapped = payloads.error_for_response(make_response(429, json_body=body))
    assert isinstance(mapped, RateLimited)
    assert mapped.retry_after == 5
    assert mapped.retryable


def test_a_429_without_parameters_falls_back_to_the_retry_after_header() -> None:
    mapped = payloads.error_for_response(make_response(429, headers={"Retry-After": "9"}))
    assert isinstance(mapped, RateLimited)
    assert mapped.retry_after == 9


def test_a_migrated_group_names_its_new_chat_id() -> None:
    mapped = payloads.error_for_response(
        make_response(400, json_body=sample("error_400_migrated.json"))
    )
    assert "-1001234567890" in str(mapped)


def test_too_long_text_is_content_too_long() -> None:
    body = {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
    assert type(payloads.error_for_response(make_response(400, json_body=body))) is ContentTooLong


def test_other_errors_are_provider_errors_with_the_code() -> None:
    body = {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message to be replied not found",
    }
    mapped = payloads.error_for_response(make_response(400, json_body=body))
    assert type(mapped) is ProviderError
    assert mapped.reason is FailureReason.PROVIDER_ERROR
    assert not mapped.retryable
    assert mapped.provider_code == "400"
    assert "message to be replied not found" in str(mapped)


def test_a_server_error_without_json_is_retryable() -> None:
    mapped = payloads.error_for_response(make_response(502, text="<html>Bad Gateway</html>"))
    assert type(mapped) is ProviderError
    assert mapped.retryable
    assert mapped.provider_code == "502"
