from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnichannel import WebhookParseError, WebhookRequest

FORM_TEXT = st.text(alphabet="ab=&%+2BE9x☕ ", max_size=30)


def _request(
    body: str | bytes = b"", url: str = "https://hooks.example.test/webhooks/x"
) -> WebhookRequest:
    raw = body.encode() if isinstance(body, str) else body
    return WebhookRequest(method="POST", url=url, headers={"X-Signature": "s3cr3t"}, body=raw)


@given(FORM_TEXT)
def test_form_parsing_agrees_with_the_standard_library(text: str) -> None:
    try:
        expected = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        with pytest.raises(WebhookParseError):
            _request(text).form()
    else:
        assert _request(text).form() == expected


@given(FORM_TEXT)
def test_query_parsing_agrees_with_the_standard_library(text: str) -> None:
    request = _request(url=f"https://hooks.example.test/webhooks/x?{text.replace('#', '')}")
    assert request.query() == parse_qsl(text, keep_blank_values=True)


def test_blank_values_and_repeated_names_are_kept_in_order() -> None:
    request = _request("To=%2B14155550199&ToZip=&MediaUrl0=a&MediaUrl0=b")
    assert request.form() == [
        ("To", "+14155550199"),
        ("ToZip", ""),
        ("MediaUrl0", "a"),
        ("MediaUrl0", "b"),
    ]


def test_a_body_that_is_not_form_encoding_is_a_parse_error() -> None:
    for body in (b"\xff\xfe", b"just text", b"a=1&&b=2"):
        with pytest.raises(WebhookParseError, match="not valid form encoding"):
            _request(body).form()


def test_a_body_that_is_not_json_is_a_parse_error() -> None:
    with pytest.raises(WebhookParseError, match="not valid JSON"):
        _request(b"{nope").json()


def test_headers_are_looked_up_without_regard_to_case() -> None:
    assert _request().header("x-signature") == "s3cr3t"
    assert _request().header("X-Missing") is None


def test_the_repr_shows_header_names_but_never_their_values() -> None:
    shown = repr(_request())
    assert "X-Signature" in shown
    assert "s3cr3t" not in shown


def test_a_receipt_round_trips_through_a_dict_with_its_signpost_and_report() -> None:
    from omnichannel import DeliveryStatus, FittingReport, SendReceipt

    public = SendReceipt(
        envelope_id="e2",
        channel="twitter",
        adapter="twitter.x",
        provider_ids=("t1",),
        status="sent",
    )
    receipt = SendReceipt(
        envelope_id="e1",
        channel="twitter",
        adapter="twitter.x",
        provider_ids=("dm1",),
        status=DeliveryStatus.ACCEPTED,
        fitting=FittingReport(parts=1, interactive_as_text=True, choices=("a", "b"), notes=("n",)),
        requested_channel="whatsapp",
        attempts=("whatsapp: outside_window: ...",),
        conversation_id="c1",
        public_signpost=public,
    )
    assert SendReceipt.from_dict(receipt.to_dict()) == receipt
