"""Tests for omnichannel_twilio.lookups: what a lookup filters and matches, the list request,
its pages and the next page it follows (the I/O is tested in ``test_adapter.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from omnichannel_twilio.lookups import Lookup, list_request, lookup, page_request, read_page
from omnichannel_twilio.messaging.payloads import MESSAGES
from omnichannel_twilio.payloads import account_url, api_headers
from omnichannel_twilio.voice.payloads import CALLS

from omnichannel import ProviderError

ACCOUNT = "AC0123456789abcdef0123456789abcdef"


def test_a_lookup_filters_by_to_from_and_the_resources_date_filter_on_the_day() -> None:
    since = datetime(2026, 11, 3, 23, 59, 30, tzinfo=UTC)
    found = lookup(MESSAGES, to="+14155550199", from_="+14155550100", since=since, body="hi")
    assert found == Lookup(
        filters=(("To", "+14155550199"), ("From", "+14155550100"), ("DateSent>", "2026-11-03")),
        expected={"to": "+14155550199", "from": "+14155550100", "body": "hi"},
    )
    calls = lookup(CALLS, to="+14155550199", from_=None, since=since)
    assert calls.filters == (("To", "+14155550199"), ("StartTime>", "2026-11-03"))
    assert calls.expected == {"to": "+14155550199"}


def test_a_listed_resource_matches_when_it_has_every_expected_field() -> None:
    wanted = Lookup(filters=(), expected={"to": "+1", "body": "hi"})
    assert wanted.matches({"to": "+1", "body": "hi", "status": "sent"})
    assert not wanted.matches({"to": "+1", "body": "hi!"})
    assert not wanted.matches({"body": "hi"})


def test_a_lookup_is_a_get_with_twilios_filters_that_the_sender_may_retry() -> None:
    request = list_request(
        account_url("https://api.twilio.com", ACCOUNT, "Messages"),
        [("To", "+14155550199"), ("DateSent>", "2026-11-03")],
        api_headers({"Authorization": "Basic x"}),
    )
    assert request.method == "GET"
    assert request.idempotent
    assert request.body == b""
    assert request.url == (
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        "?To=%2B14155550199&DateSent%3E=2026-11-03&PageSize=100"
    )
    assert dict(request.headers) == {"Authorization": "Basic x", "Accept": "application/json"}


def test_the_next_page_is_read_under_our_base_url_and_only_inside_the_account() -> None:
    uri = f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?To=%2B1&Page=1&PageToken=PA1"
    request = page_request("http://127.0.0.1:8765/twilio-voice/", ACCOUNT, uri, {})
    assert request.url == f"http://127.0.0.1:8765/twilio-voice{uri}"
    assert request.idempotent
    for elsewhere in (
        "https://evil.example/2010-04-01/Accounts/AC/Calls.json",
        "//evil.example/x",
        f"/2010-04-01/Accounts/AC{'f' * 32}/Calls.json?Page=1",
    ):
        with pytest.raises(ProviderError, match="outside this account"):
            page_request("https://api.twilio.com", ACCOUNT, elsewhere, {})


def test_a_list_page_gives_its_resources_and_the_next_page(
    payload: Callable[[str], bytes],
) -> None:
    page = read_page(payload("messages_list_page_1.json"), "messages")
    assert [item["sid"] for item in page.items] == [
        "SM11111111111111111111111111111111",
        "SM22222222222222222222222222222222",
    ]
    assert page.next_page_uri is not None
    assert page.next_page_uri.startswith(f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json?")
    last = read_page(payload("calls_list_page.json"), "calls")
    assert len(last.items) == 2
    assert last.next_page_uri is None


@pytest.mark.parametrize(
    "body", [b"<html>proxy</html>", b"[]", b'{"calls": []}', b'{"messages": {"sid": "SM1"}}']
)
def test_a_page_without_the_resource_list_is_a_provider_error(body: bytes) -> None:
    with pytest.raises(ProviderError, match="without a 'messages' list") as caught:
        read_page(body, "messages")
    assert not caught.value.retryable
