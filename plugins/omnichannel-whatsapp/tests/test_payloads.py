"""Tests for omnichannel_whatsapp.payloads and .codes: the message bodies and Meta's error codes,
as tables (no I/O)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omnichannel_whatsapp import location, reaction
from omnichannel_whatsapp.codes import (
    PAIR_RATE_SECONDS,
    error_for_response,
    failure_for,
    graph_error,
)
from omnichannel_whatsapp.payloads import (
    mark_read_body,
    message_body,
    recipient_fields,
    sent_message,
)

from omnichannel import (
    Address,
    Choice,
    ChoiceSection,
    Content,
    ContentRejected,
    ContentTooLong,
    DeliveryStatus,
    Envelope,
    FailureReason,
    Interactive,
    InvalidAddress,
    InvalidRecipient,
    Media,
    ProviderError,
    RateLimited,
    SendError,
    Template,
    TemplateButton,
    TemplateHeader,
    UnsupportedFeature,
    Visibility,
)
from omnichannel.plugin import ProviderResponse

PAYLOADS = Path(__file__).parent / "payloads"
ENVELOPE_ID = "01JC0000000000000000000001"
TO = "+16505551234"
BASE = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": TO,
}


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def response(name: str) -> ProviderResponse:
    data = sample(name)
    return ProviderResponse(
        status_code=data["status"],
        headers=data["headers"],
        body=json.dumps(data["body"]).encode(),
    )


def envelope(content: Content | str = "hello", to: str = TO, **changes: Any) -> Envelope:
    return Envelope(
        channel="whatsapp",
        recipient=Address(channel="whatsapp", value=to),
        content=content,
        id=ENVELOPE_ID,
        **changes,
    )


def body(content: Content | str = "hello", **changes: Any) -> dict[str, Any]:
    found = message_body(envelope(content, **changes))
    assert found.pop("biz_opaque_callback_data") == ENVELOPE_ID
    return found


# --- text ----------------------------------------------------------------------------------------


def test_text_is_a_text_message_carrying_the_envelope_id_for_the_status_webhooks() -> None:
    assert message_body(envelope("Your callback is booked for 8pm.")) == {
        **BASE,
        "type": "text",
        "text": {"preview_url": False, "body": "Your callback is booked for 8pm."},
        "biz_opaque_callback_data": ENVELOPE_ID,
    }


def test_a_link_in_the_text_asks_for_a_preview() -> None:
    assert body("Track it at https://example.com/t/42")["text"]["preview_url"] is True


def test_a_reply_quotes_the_customers_message() -> None:
    found = body("Yes", in_reply_to="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz")
    assert found["context"] == {"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz"}


def test_a_business_scoped_user_id_goes_in_recipient_instead_of_to() -> None:
    assert recipient_fields("US.13491208655302741918") == {
        "recipient_type": "individual",
        "recipient": "US.13491208655302741918",
    }
    assert recipient_fields("US.ENT.11815799212886844830")["recipient"] == (
        "US.ENT.11815799212886844830"
    )


@pytest.mark.parametrize("value", ["16505551234", "@jo.codes", "us.1349", "+1"])
def test_anything_but_a_number_or_a_bsuid_is_refused_as_an_address(value: str) -> None:
    with pytest.raises(InvalidAddress):
        recipient_fields(value)


def test_public_envelopes_are_refused() -> None:
    with pytest.raises(UnsupportedFeature, match="no public posts"):
        message_body(envelope(visibility=Visibility.PUBLIC))


# --- media ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "kind", "expected"),
    [
        (
            Media(url="https://cdn.example.com/receipt.png", content_type="image/png"),
            "image",
            {"link": "https://cdn.example.com/receipt.png", "caption": "Receipt #42"},
        ),
        (
            Media(url="https://cdn.example.com/c.pdf", content_type="application/pdf"),
            "document",
            {
                "link": "https://cdn.example.com/c.pdf",
                "filename": "document",
                "caption": "Receipt #42",
            },
        ),
        (
            Media(url="https://cdn.example.com/c.pdf", filename="contract.pdf"),
            "document",
            {
                "link": "https://cdn.example.com/c.pdf",
                "filename": "contract.pdf",
                "caption": "Receipt #42",
            },
        ),
        (
            Media(url="https://cdn.example.com/clip.mp4"),
            "video",
            {"link": "https://cdn.example.com/clip.mp4", "caption": "Receipt #42"},
        ),
    ],
)
def test_media_by_link_take_the_type_their_mime_type_or_name_says_with_the_text_as_caption(
    item: Media, kind: str, expected: dict[str, str]
) -> None:
    assert body(Content(text="Receipt #42", media=[item])) == {**BASE, "type": kind, kind: expected}


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (Media(url="https://cdn.example.com/note.ogg", content_type="audio/ogg"), "audio"),
        (Media(url="https://cdn.example.com/smile.webp", content_type="image/webp"), "sticker"),
    ],
)
def test_audio_and_stickers_go_without_caption_and_refuse_text(item: Media, kind: str) -> None:
    assert body(Content(media=[item])) == {**BASE, "type": kind, kind: {"link": item.url}}
    with pytest.raises(UnsupportedFeature, match="carry no caption"):
        body(Content(text="listen", media=[item]))


def test_uploaded_bytes_are_sent_by_their_media_id() -> None:
    item = Media(data=b"%PDF-1.7", content_type="application/pdf", filename="invoice.pdf")
    found = message_body(envelope(Content(media=[item])), uploaded={item: "1037543291543636"})
    assert found["document"] == {"id": "1037543291543636", "filename": "invoice.pdf"}


def test_a_caption_over_1024_characters_is_refused_before_any_request() -> None:
    item = Media(url="https://cdn.example.com/a.jpg", content_type="image/jpeg")
    with pytest.raises(ContentTooLong, match="1024"):
        body(Content(text="a" * 1025, media=[item]))


def test_a_media_item_over_its_kinds_limit_is_refused_before_any_request() -> None:
    item = Media(data=b"x" * (5 * 1024 * 1024 + 1), content_type="image/png")
    with pytest.raises(ContentRejected, match="image of at most"):
        message_body(envelope(Content(media=[item])), uploaded={item: "1"})


# --- templates -----------------------------------------------------------------------------------


def test_a_template_carries_its_header_body_parameters_and_buttons() -> None:
    template = Template(
        name="callback_confirmation",
        language="en_US",
        parameters=["Alice", "8pm"],
        header=TemplateHeader(
            media=Media(url="https://cdn.example.com/logo.png", content_type="image/png")
        ),
        buttons=[TemplateButton(index=0, kind="quick_reply", value="CB_CONFIRM")],
    )
    # providers.md 4.2, the template example, component for component.
    assert body(Content(template=template)) == {
        **BASE,
        "type": "template",
        "template": {
            "name": "callback_confirmation",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "image", "image": {"link": "https://cdn.example.com/logo.png"}}
                    ],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Alice"},
                        {"type": "text", "text": "8pm"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "CB_CONFIRM"}],
                },
            ],
        },
    }


def test_named_parameters_a_text_header_and_url_buttons() -> None:
    template = Template(
        name="order_update",
        named_parameters={"first_name": "Zoë"},
        header=TemplateHeader(text="Order 42"),
        buttons=[TemplateButton(index=1, kind="url", value="orders/42")],
    )
    assert body(Content(template=template))["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "Order 42"}]},
            {
                "type": "body",
                "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Zoë"}],
            },
            {
                "type": "button",
                "sub_type": "url",
                "index": "1",
                "parameters": [{"type": "text", "text": "orders/42"}],
            },
        ],
    }


def test_a_template_without_components_sends_name_and_language_only() -> None:
    found = body(Content(template=Template(name="hello_world", language="en")))
    assert found["template"] == {"name": "hello_world", "language": {"code": "en"}}


def test_a_template_header_can_only_be_an_image_video_or_document() -> None:
    header = TemplateHeader(
        media=Media(url="https://cdn.example.com/a.ogg", content_type="audio/ogg")
    )
    with pytest.raises(UnsupportedFeature, match="template header"):
        body(Content(template=Template(name="t", header=header)))


# --- interactive ---------------------------------------------------------------------------------


def test_reply_buttons_are_native_interactive_buttons() -> None:
    menu = Interactive(
        buttons=[Choice(id="cb_now", title="Now"), Choice(id="cb_later", title="In 1 hour")],
        header="Callback",
        footer="Acme Support",
    )
    # providers.md 4.2, the reply-buttons example.
    assert body(Content(text="When should we call you?", interactive=menu))["interactive"] == {
        "type": "button",
        "header": {"type": "text", "text": "Callback"},
        "body": {"text": "When should we call you?"},
        "footer": {"text": "Acme Support"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "cb_now", "title": "Now"}},
                {"type": "reply", "reply": {"id": "cb_later", "title": "In 1 hour"}},
            ]
        },
    }


def test_a_list_has_its_button_label_sections_and_rows() -> None:
    rows = [Choice(id="s1", title="18:00", description="Evening"), Choice(id="s2", title="19:00")]
    menu = Interactive(
        sections=[ChoiceSection(title="Today", rows=rows)], button_label="Pick a slot"
    )
    assert body(Content(text="When?", interactive=menu))["interactive"] == {
        "type": "list",
        "body": {"text": "When?"},
        "action": {
            "button": "Pick a slot",
            "sections": [
                {
                    "title": "Today",
                    "rows": [
                        {"id": "s1", "title": "18:00", "description": "Evening"},
                        {"id": "s2", "title": "19:00"},
                    ],
                }
            ],
        },
    }


def test_a_menu_needs_a_body_of_at_most_1024_characters() -> None:
    menu = Interactive(buttons=[Choice(id="y", title="Yes")])
    with pytest.raises(ContentRejected, match="needs a body"):
        body(Content(interactive=menu))
    with pytest.raises(ContentTooLong, match="1024"):
        body(Content(text="a" * 1025, interactive=menu))


# --- native messages and the escape hatch --------------------------------------------------------


def test_a_location_replaces_the_text_which_other_channels_get_instead() -> None:
    options = location(37.4611978, -122.2164385, name="Facebook HQ", address="1 Hacker Way")
    found = body("We're at 1 Hacker Way", provider_options=options)
    assert found == {
        **BASE,
        "type": "location",
        "location": {
            "latitude": 37.4611978,
            "longitude": -122.2164385,
            "name": "Facebook HQ",
            "address": "1 Hacker Way",
        },
    }


def test_a_reaction_names_the_message_and_never_quotes_it() -> None:
    options = reaction("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz", "👍")
    found = body("👍", provider_options=options, in_reply_to="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz")
    assert found == {
        **BASE,
        "type": "reaction",
        "reaction": {"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz", "emoji": "👍"},
    }


def test_provider_options_add_fields_but_cannot_set_the_recipient() -> None:
    assert (
        body(provider_options={"whatsapp.meta": {"recipient_identity_key_hash": "k"}})[
            "recipient_identity_key_hash"
        ]
        == "k"
    )
    with pytest.raises(UnsupportedFeature, match="cannot set to"):
        body(provider_options={"whatsapp.meta": {"to": "+14155550100"}})
    with pytest.raises(UnsupportedFeature, match="without a 'location' object"):
        body(provider_options={"whatsapp.meta": {"type": "location"}})


def test_mark_read_with_and_without_the_typing_indicator() -> None:
    assert mark_read_body("wamid.A") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.A",
    }
    assert mark_read_body("wamid.A", typing=True)["typing_indicator"] == {"type": "text"}


# --- the answer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "send_response_200.json",
        "send_response_template_accepted.json",
        "send_response_bsuid.json",
    ],
)
def test_the_answer_gives_the_wamid_as_accepted(name: str) -> None:
    data = sample(name)["body"]
    sent = sent_message(data)
    assert sent.provider_id == data["messages"][0]["id"]
    assert sent.status is DeliveryStatus.ACCEPTED
    assert sent.raw == data


@pytest.mark.parametrize("data", [{}, {"messages": []}, {"messages": [{"id": ""}]}, [1], None])
def test_an_answer_without_a_wamid_is_not_safe_to_resend(data: object) -> None:
    with pytest.raises(ProviderError) as caught:
        sent_message(data)
    assert not caught.value.retryable


# --- error codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "reason", "retryable"),
    [
        ("error_131047_reengagement.json", ProviderError, FailureReason.OUTSIDE_WINDOW, False),
        ("error_130429_rate_limit.json", RateLimited, FailureReason.RATE_LIMITED, True),
        ("error_131056_pair_rate_limit.json", RateLimited, FailureReason.RATE_LIMITED, True),
        ("error_190_token_expired.json", ProviderError, FailureReason.AUTH, False),
        (
            "error_100_invalid_parameter.json",
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            "error_131009_parameter_value.json",
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            "error_131026_undeliverable.json",
            InvalidRecipient,
            FailureReason.INVALID_RECIPIENT,
            False,
        ),
        (
            "error_131051_unsupported_type.json",
            UnsupportedFeature,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            "error_132001_template_missing.json",
            ContentRejected,
            FailureReason.CONTENT_REJECTED,
            False,
        ),
        (
            "error_131000_something_went_wrong.json",
            ProviderError,
            FailureReason.PROVIDER_ERROR,
            False,
        ),
        ("error_135000_unknown_code.json", ProviderError, FailureReason.PROVIDER_ERROR, False),
    ],
)
def test_errors_are_classified_by_metas_code_not_the_http_status(
    name: str, error: type[SendError], reason: FailureReason, retryable: bool
) -> None:
    answer = response(name)
    mapped = error_for_response(answer)
    assert type(mapped) is error
    assert mapped.reason is reason
    assert mapped.retryable is retryable
    assert mapped.provider_code == str(sample(name)["body"]["error"]["code"])
    assert mapped.status_code == answer.status_code


def test_an_unknown_code_keeps_its_code_and_text() -> None:
    mapped = error_for_response(response("error_135000_unknown_code.json"))
    assert mapped.provider_code == "135000"
    assert mapped.provider_message == (
        "Message failed to send because of an unknown error with your request parameters."
    )
    assert "Generic user error" in mapped.message


def test_the_throughput_limit_is_a_rate_limit_whether_meta_answers_400_or_429() -> None:
    data = sample("error_130429_rate_limit.json")["body"]
    for status in (400, 429):
        answer = ProviderResponse(status_code=status, body=json.dumps(data).encode())
        assert isinstance(error_for_response(answer), RateLimited)


def test_the_pair_rate_limit_waits_six_seconds_unless_meta_says_otherwise() -> None:
    mapped = error_for_response(response("error_131056_pair_rate_limit.json"))
    assert mapped.retry_after == PAIR_RATE_SECONDS == 6.0
    data = sample("error_131056_pair_rate_limit.json")["body"]
    told = ProviderResponse(
        status_code=400, headers={"Retry-After": "2"}, body=json.dumps(data).encode()
    )
    assert error_for_response(told).retry_after == 2.0


def test_the_template_series_is_matched_as_a_range() -> None:
    data = {
        "error": {"code": 132999, "message": "(#132999) Template issue", "type": "OAuthException"}
    }
    answer = ProviderResponse(status_code=400, body=json.dumps(data).encode())
    assert type(error_for_response(answer)) is ContentRejected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, b"slow down", RateLimited),
        (503, b"<html>unavailable</html>", ProviderError),
        (401, b"", ProviderError),
        (400, b"{}", ProviderError),
    ],
)
def test_an_answer_without_a_code_falls_back_to_the_http_status(
    status: int, body: bytes, expected: type[SendError]
) -> None:
    mapped = error_for_response(ProviderResponse(status_code=status, body=body))
    assert type(mapped) is expected
    assert mapped.provider_code is None
    if status == 401:
        assert mapped.reason is FailureReason.AUTH
    if status == 503:
        assert mapped.retryable


def test_error_data_may_be_a_string_for_template_errors() -> None:
    found = graph_error(sample("error_132001_template_missing.json")["body"]["error"])
    assert found.code == 132001
    assert found.details == "template name (order_update) does not exist in en_US"


def test_a_failed_status_reason_comes_from_its_first_error() -> None:
    assert failure_for(graph_error({"code": 131047})) == (FailureReason.OUTSIDE_WINDOW, False)
    assert failure_for(graph_error({"code": 130429})) == (FailureReason.RATE_LIMITED, True)
    assert failure_for(graph_error({"code": "131026"})) == (FailureReason.INVALID_RECIPIENT, False)
    assert failure_for(graph_error({"code": 1})) == (FailureReason.PROVIDER_ERROR, False)
    assert failure_for(graph_error({"code": 999999})) == (FailureReason.PROVIDER_ERROR, False)
    assert failure_for(None) == (FailureReason.UNKNOWN, False)
