"""The pure {{Provider}} mapping, as tables against the samples in ``payloads/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omnichannel import (
    Choice,
    ChoiceSection,
    Content,
    ContentRejected,
    DeliveryStatus,
    Envelope,
    FailureReason,
    Interactive,
    InvalidRecipient,
    Media,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    SendError,
    Template,
    TemplateButton,
    TemplateHeader,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.testing import make_envelope, make_response

from omnichannel_{{name}} import payloads

PAYLOADS = Path(__file__).parent / "payloads"
BASE_URL = "https://api.{{provider}}.test/v1"
HEADERS = {"Authorization": "Bearer test-token"}
REFERENCE = "om_01JBZ6Q4K2T9W5XH3M8N7P6R5S"
PDF = Media(data=b"%PDF-1.7 invoice", content_type="application/pdf", filename="invoice.pdf")


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def envelope(content: str | Content = "Hello", **changes: Any) -> Envelope:
    changes.setdefault("id", REFERENCE)
    return make_envelope(channel="{{channel}}", to="customer-1", text=content, **changes)


# -- messages ----------------------------------------------------------------------------------


def test_message_body_matches_the_documented_request() -> None:
    expected = sample("send_request.json")
    assert payloads.message_body(envelope(expected["text"])) == expected


def test_message_body_names_the_sender_when_one_is_configured() -> None:
    assert payloads.message_body(envelope(), sender="support")["from"] == "support"


def test_reply_buttons_go_as_an_interactive_object_with_the_text_as_body() -> None:
    menu = Interactive(
        buttons=[Choice(id="cb_now", title="Now"), Choice(id="cb_later", title="In 1 hour")],
        header="Callback",
        footer="Support team",
    )
    content = Content(text="When should we call you?", interactive=menu)
    assert payloads.message_body(envelope(content)) == sample("send_request_buttons.json")


def test_a_list_goes_with_its_button_label_sections_and_row_descriptions() -> None:
    today = ChoiceSection(
        title="Today",
        rows=[
            Choice(id="s1", title="18:00", description="Evening"),
            Choice(id="s2", title="20:00"),
        ],
    )
    other = ChoiceSection(rows=[Choice(id="later", title="Another day")])
    menu = Interactive(sections=[today, other], button_label="Pick a slot")
    content = Content(text="Pick a time for your call.", interactive=menu)
    assert payloads.message_body(envelope(content)) == sample("send_request_list.json")


def test_a_template_carries_its_header_parameters_and_buttons() -> None:
    template = Template(
        name="order_update",
        language="en_US",
        header=TemplateHeader(
            media=Media(url="https://cdn.example.com/logo.png", content_type="image/png")
        ),
        parameters=["Alice", "#42"],
        buttons=[
            TemplateButton(index=0, kind="quick_reply", value="CONFIRM"),
            TemplateButton(index=1, kind="url", value="orders/42"),
        ],
    )
    body = payloads.message_body(envelope(Content(template=template)))
    assert body == sample("send_request_template.json")


def test_named_parameters_and_a_text_header_go_by_name() -> None:
    template = Template(
        name="follow_up",
        header=TemplateHeader(text="Your order"),
        named_parameters={"first_name": "Zoë"},
    )
    sent = payloads.template_object(template, {})
    assert sent == {
        "name": "follow_up",
        "header": {"text": "Your order"},
        "named_parameters": {"first_name": "Zoë"},
    }


def test_media_go_by_link_or_by_the_id_their_upload_returned() -> None:
    receipt = Media(
        url="https://cdn.example.com/receipt.png", content_type="image/png", caption="Receipt #42"
    )
    content = Content(text="Your receipt and invoice", media=[receipt, PDF])
    body = payloads.message_body(envelope(content), media_ids={PDF: "media-000007"})
    assert body == sample("send_request_media.json")


def test_bytes_without_an_upload_are_refused_rather_than_dropped() -> None:
    with pytest.raises(UnsupportedFeature, match="uploaded first"):
        payloads.message_body(envelope(Content(text="see", media=[PDF])))


def test_uploads_are_the_bytes_media_and_a_bytes_template_header() -> None:
    logo = Media(data=b"\x89PNG logo", content_type="image/png")
    link = Media(url="https://cdn.example.com/a.png")
    template = Template(name="order_update", header=TemplateHeader(media=logo))
    content = Content(template=template, media=[link, PDF])
    assert payloads.uploads(envelope(content)) == [logo, PDF]
    assert payloads.uploads(envelope("no media")) == []


def test_an_upload_posts_the_raw_bytes_with_their_type_and_filename() -> None:
    request = payloads.upload_request(BASE_URL, PDF, HEADERS)
    assert (request.method, request.url) == ("POST", f"{BASE_URL}/media?filename=invoice.pdf")
    assert request.header("Content-Type") == "application/pdf"
    assert request.header("Authorization") == "Bearer test-token"
    assert "test-token" not in repr(request.headers)
    assert request.body == PDF.data
    assert not request.idempotent


def test_the_upload_answer_gives_the_media_id() -> None:
    assert payloads.uploaded_media_id(sample("upload_response_201.json")) == "media-000007"
    with pytest.raises(ProviderError, match="without a media id"):
        payloads.uploaded_media_id({})


def test_provider_options_pass_through_as_extra_fields() -> None:
    message = envelope(provider_options={"{{channel}}.{{provider}}": {"priority": "high"}})
    assert payloads.message_body(message)["priority"] == "high"


def test_provider_options_of_other_adapters_are_ignored() -> None:
    message = envelope(provider_options={"other.adapter": {"priority": "high"}})
    assert "priority" not in payloads.message_body(message)


@pytest.mark.parametrize("field", ["to", "interactive", "in_reply_to"])
def test_provider_options_cannot_override_what_the_adapter_sets(field: str) -> None:
    options = {"{{channel}}.{{provider}}": {field: "someone-else"}}
    message = envelope(provider_options=options)
    with pytest.raises(UnsupportedFeature, match=f"cannot set {field}"):
        payloads.message_body(message)


# -- public posts ------------------------------------------------------------------------------


def public(content: str | Content = "Hello", **changes: Any) -> Envelope:
    return envelope(content, visibility=Visibility.PUBLIC, **changes)


def test_a_public_reply_is_a_post_answering_the_customers_post() -> None:
    expected = sample("post_request.json")
    message = public(expected["text"], in_reply_to=expected["in_reply_to"])
    request = payloads.send_request(BASE_URL, message, HEADERS)
    assert (request.method, request.url) == ("POST", f"{BASE_URL}/posts")
    assert json.loads(request.body) == expected
    assert not request.idempotent


def test_a_private_message_goes_to_messages() -> None:
    request = payloads.send_request(BASE_URL, envelope(), HEADERS, sender="support")
    assert (request.method, request.url) == ("POST", f"{BASE_URL}/messages")
    assert json.loads(request.body)["from"] == "support"
    assert not request.idempotent


def test_a_post_attaches_media_by_link() -> None:
    photo = Media(url="https://cdn.example.com/a.png", content_type="image/png")
    body = payloads.post_body(public(Content(text="Look", media=[photo])))
    assert body["media"] == [{"link": "https://cdn.example.com/a.png", "type": "image/png"}]
    assert payloads.uploads(public(Content(text="Look", media=[PDF]))) == []


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (Content(text="see", media=[PDF]), "by link only"),
        (Content(template=Template(name="order_update")), "no templates or menus"),
        (
            Content(text="Pick", interactive=Interactive(buttons=[Choice(id="a", title="A")])),
            "no templates or menus",
        ),
    ],
)
def test_what_a_post_cannot_carry_is_refused(content: Content, match: str) -> None:
    with pytest.raises(UnsupportedFeature, match=match):
        payloads.post_body(public(content))


# -- answers, polling, reconcile ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("accepted", DeliveryStatus.ACCEPTED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("failed", DeliveryStatus.FAILED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
    ],
)
def test_provider_statuses_map_to_delivery_statuses(name: str, status: DeliveryStatus) -> None:
    assert payloads.STATUSES[name] is status


@pytest.mark.parametrize(
    ("name", "provider_id", "status"),
    [
        ("send_response_201.json", "msg-000042", DeliveryStatus.ACCEPTED),
        ("post_response_201.json", "post-000312", DeliveryStatus.SENT),
    ],
)
def test_sent_message_reads_the_id_and_status_of_the_documented_answer(
    name: str, provider_id: str, status: DeliveryStatus
) -> None:
    sent = payloads.sent_message(sample(name))
    assert (sent.provider_id, sent.status) == (provider_id, status)


@pytest.mark.parametrize("answer", [None, {}, {"id": ""}, {"id": 42}, [], "ok"])
def test_a_success_without_a_message_id_is_an_unknown_outcome(answer: object) -> None:
    with pytest.raises(OutcomeUnknown, match="not resent"):
        payloads.sent_message(answer)


def test_polling_asks_for_what_came_after_the_cursor_and_may_be_asked_again() -> None:
    first = payloads.inbound_request(BASE_URL, None, HEADERS)
    later = payloads.inbound_request(BASE_URL, "18", HEADERS)
    assert (first.method, first.url) == ("GET", f"{BASE_URL}/messages/inbound")
    assert later.url == f"{BASE_URL}/messages/inbound?after=18"
    assert first.idempotent
    assert later.idempotent


def test_reconcile_looks_the_envelope_up_by_its_reference() -> None:
    request = payloads.lookup_request(BASE_URL, envelope(), HEADERS)
    assert (request.method, request.url) == ("GET", f"{BASE_URL}/messages?reference={REFERENCE}")
    assert request.idempotent
    assert payloads.lookup_request(BASE_URL, public(), HEADERS).url.startswith(f"{BASE_URL}/posts")


def test_the_lookup_finds_the_message_the_envelope_created() -> None:
    found = payloads.found_message(sample("lookup_response.json"), envelope())
    assert found is None
    found = payloads.found_message(
        sample("lookup_response.json"), envelope("Your order #42 has shipped.")
    )
    assert found is not None
    assert (found.provider_id, found.status) == ("msg-000042", DeliveryStatus.DELIVERED)


def test_the_lookup_tells_the_parts_of_a_split_text_apart_by_their_text() -> None:
    parts = [
        {"id": "msg-1", "status": "sent", "reference": REFERENCE, "text": "(1/2) first"},
        {"id": "msg-2", "status": "sent", "reference": REFERENCE, "text": "(2/2) second"},
    ]
    found = payloads.found_message({"messages": parts}, envelope("(2/2) second"))
    assert found is not None
    assert found.provider_id == "msg-2"
    assert payloads.found_message({"messages": parts}, envelope("(3/3) third")) is None


@pytest.mark.parametrize("answer", [{}, {"messages": "none"}, [], None])
def test_a_lookup_answer_without_a_messages_list_is_a_provider_error(answer: object) -> None:
    with pytest.raises(ProviderError, match="lookup"):
        payloads.found_message(answer, envelope())


# -- errors ------------------------------------------------------------------------------------


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
            400,
            {"error": {"code": "template_not_found"}},
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            400,
            {"error": {"code": "media_rejected"}},
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            503,
            {"error": {"code": "unavailable"}},
            RateLimited,
            FailureReason.RATE_LIMITED,
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
