"""Tests for omnichannel_twilio.webhooks: X-Twilio-Signature exactly as Twilio computes it (for
Messaging and Voice alike), the parameter reader and the signed requests simulators post.

The signature vectors come from ``payloads/vectors.json`` (copied from the project's shared
vectors: twilio-python's own test vectors and those computed with twilio 9.13.0's
``RequestValidator``, cross-checked with the standard library), cited by id.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omnichannel_twilio.webhooks import (
    EMPTY_TWIML,
    SIGNATURE_HEADER,
    first_values,
    phone_address,
    request_params,
    sign,
    signed_request,
    verify_request,
)

from omnichannel import Secret, WebhookParseError, WebhookRequest, WebhookVerificationError

FORM = "application/x-www-form-urlencoded"
TOKEN = "0123456789abcdef0123456789abcdef"
URL = "https://hooks.example.com/webhooks/sms"

Pairs = list[tuple[str, str]]


def form_request(url: str, params: Pairs | bytes, signature: str | None) -> WebhookRequest:
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    headers = [("Content-Type", FORM)]
    if signature is not None:
        headers.append((SIGNATURE_HEADER, signature))
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)


# --- the vectors ----------------------------------------------------------------------------------


def test_the_basic_form_vector_signs_and_verifies(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-form-basic"]  # twilio-python's own, token "12345"
    params = list(vector["params"].items())
    assert sign(vector["auth_token"], vector["url"], params) == vector["expected_signature"]
    request = form_request(vector["url"], params, vector["expected_signature"])
    verify_request(request, [vector["auth_token"]])
    verify_request(request, [Secret(vector["auth_token"])])


def test_the_multivalue_vector_sorts_and_deduplicates_values(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-form-multivalue"]
    pairs = [(name, value) for name, value in vector["params_pairs"]]
    request = form_request(vector["url"], pairs, vector["expected_signature"])
    verify_request(request, [Secret(vector["auth_token"])])


def test_port_rules_follow_twilios_validator(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-port-rules"]
    params = list(vector["params"].items())
    assert len(vector["validate"]) == 5
    for case in vector["validate"]:
        request = form_request(case["url"], params, case["signature"])
        if case["valid"]:
            verify_request(request, [Secret(vector["auth_token"])])
        else:
            with pytest.raises(WebhookVerificationError):
                verify_request(request, [Secret(vector["auth_token"])])


def test_a_non_default_port_verifies_when_the_public_url_keeps_it_and_never_when_hidden(
    vectors: dict[str, Any],
) -> None:
    vector = vectors["twilio-voice-status-nondefault-port"]
    body = vector["raw_body"].encode()
    verify_request(form_request(vector["url"], body, vector["expected_signature"]), [TOKEN])
    hidden = vector["url"].replace(":8443", "")
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(hidden, body, vector["expected_signature"]), [TOKEN])
    for case in vector["validate"]:
        request = form_request(case["url"], body, case["signature"])
        if case["valid"]:
            verify_request(request, [TOKEN])
        else:
            with pytest.raises(WebhookVerificationError):
                verify_request(request, [TOKEN])


def test_the_json_variant_signs_the_url_and_checks_the_body_hash(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-json-bodysha256"]
    token = [Secret(vector["auth_token"])]
    for case in vector["validate"]:
        request = WebhookRequest(
            method="POST",
            url=case["url"],
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: case["signature"]},
            body=case["raw_body"].encode(),
        )
        if case["valid"]:
            verify_request(request, token)
            with pytest.raises(WebhookVerificationError, match="bodySHA256"):
                verify_request(attrs.evolve(request, body=request.body + b" "), token)
        else:
            with pytest.raises(WebhookVerificationError, match="bodySHA256"):
                verify_request(request, token)


def test_the_inbound_sms_vector_verifies_and_its_tampered_forms_do_not(
    vectors: dict[str, Any],
) -> None:
    vector = vectors["twilio-inbound-sms"]
    url, params, signature = (
        vector["url"],
        list(vector["params"].items()),
        vector["expected_signature"],
    )
    verify_request(form_request(url, params, signature), [vector["auth_token"]])
    tampered = [(name, value + "!" if name == "Body" else value) for name, value in params]
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(url, tampered, signature), [vector["auth_token"]])
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(url + "/", params, signature), [vector["auth_token"]])


def test_the_status_callback_vector_signs_its_query_string(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-message-status-callback"]
    url, params, signature = (
        vector["url"],
        list(vector["params"].items()),
        vector["expected_signature"],
    )
    verify_request(form_request(url, params, signature), [TOKEN])
    with pytest.raises(WebhookVerificationError):
        verify_request(
            form_request(url.replace("om_01HZX", "om_01HZY"), params, signature), [TOKEN]
        )


# --- tampering ------------------------------------------------------------------------------------


def test_a_dropped_blank_param_breaks_the_signature(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-voice-status-nondefault-port"]
    body = vector["raw_body"].encode()
    dropped = body.replace(b"&ToZip=", b"")
    assert dropped != body
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(vector["url"], dropped, vector["expected_signature"]), [TOKEN])


def test_blank_params_count_in_the_signed_string(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-voice-status-nondefault-port"]
    token, url = vector["auth_token"], vector["url"]
    dropped = parse_qsl(vector["raw_body"])
    kept = parse_qsl(vector["raw_body"], keep_blank_values=True)
    assert sign(token, url, dropped) != vector["expected_signature"]
    assert sign(token, url, kept) == vector["expected_signature"]


def test_an_added_param_breaks_the_signature(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-inbound-sms"]
    extra = [*vector["params"].items(), ("OptOutType", "STOP")]
    with pytest.raises(WebhookVerificationError):
        verify_request(form_request(vector["url"], extra, vector["expected_signature"]), [TOKEN])


def test_a_missing_signature_header_is_refused(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-inbound-sms"]
    request = form_request(vector["url"], list(vector["params"].items()), None)
    with pytest.raises(WebhookVerificationError, match="missing X-Twilio-Signature"):
        verify_request(request, [TOKEN])


def test_a_body_that_is_not_a_form_cannot_carry_a_signature(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-inbound-sms"]
    request = form_request(vector["url"], b"\xff\xfe\x00garbage", vector["expected_signature"])
    with pytest.raises(WebhookVerificationError):
        verify_request(request, [TOKEN])


@settings(database=None, max_examples=60, deadline=None)
@given(
    params=st.lists(
        st.tuples(
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1),
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"])),
        ),
        max_size=8,
    ),
    replacement=st.text(min_size=1, max_size=5),
)
def test_any_signed_form_verifies_and_any_changed_value_does_not(
    params: Pairs, replacement: str
) -> None:
    request = signed_request(TOKEN, URL, params)
    verify_request(request, [TOKEN])
    if params:
        name, value = params[0]
        changed = [(name, value + replacement), *params[1:]]
        forged = attrs.evolve(request, body=urlencode(changed).encode())
        with pytest.raises(WebhookVerificationError):
            verify_request(forged, [TOKEN])


def test_signed_requests_are_headed_as_twilio_sends_them(vectors: dict[str, Any]) -> None:
    vector = vectors["twilio-inbound-sms"]
    request = signed_request(vector["auth_token"], vector["url"], list(vector["params"].items()))
    assert request.header(SIGNATURE_HEADER) == vector["expected_signature"]
    assert request.header("Content-Type") == "application/x-www-form-urlencoded; charset=UTF-8"
    assert request.header("I-Twilio-Idempotency-Token")
    assert request.header("User-Agent") == "TwilioProxy/1.1"


# --- reading the parameters -----------------------------------------------------------------------


def test_a_form_is_read_in_order_with_blanks_and_repeats_kept() -> None:
    params = [
        ("To", "+14155550100"),
        ("ToZip", ""),
        ("MediaUrl0", "a"),
        ("Digits", "1"),
        ("Digits", "2"),
    ]
    assert request_params(signed_request(TOKEN, URL, params)) == params
    every, first = first_values(params)
    assert every["Digits"] == ["1", "2"]
    assert first == {"To": "+14155550100", "ToZip": "", "MediaUrl0": "a", "Digits": "1"}


def test_a_get_carries_its_params_in_the_query_without_our_envelope_id() -> None:
    url = f"{URL}?envelope_id=E1&{urlencode([('CallSid', 'CA1'), ('CallStatus', 'ringing')])}"
    request = WebhookRequest(method="GET", url=url)
    assert request_params(request) == [("CallSid", "CA1"), ("CallStatus", "ringing")]


def test_a_json_body_must_be_a_flat_object_of_strings() -> None:
    good = b'{"CallSid": "CA1", "CallStatus": "ringing"}'
    url = f"{URL}?bodySHA256={hashlib.sha256(good).hexdigest()}"
    request = WebhookRequest(method="POST", url=url, body=good)
    assert request_params(request) == [("CallSid", "CA1"), ("CallStatus", "ringing")]
    for bad in (b'{"MessageSid": ["SM1"]}', b'["CA1"]', b'{"SequenceNumber": 2}'):
        with pytest.raises(WebhookParseError, match="flat object of strings"):
            request_params(attrs.evolve(request, body=bad))
    with pytest.raises(WebhookParseError):
        request_params(attrs.evolve(request, body=b"{not-json"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+1 (415) 555-0199", "+14155550199"),
        ("87654", "87654"),
        ("anonymous", "anonymous"),
        ("client:alice", "client:alice"),
    ],
)
def test_twilio_addresses_are_e164_when_they_are_phone_numbers(value: str, expected: str) -> None:
    assert phone_address("sms", value).value == expected


def test_the_answer_is_twilios_empty_twiml(vectors: dict[str, Any]) -> None:
    assert vectors["messaging-empty-ack"]["xml"] == EMPTY_TWIML
    assert EMPTY_TWIML == '<?xml version="1.0" encoding="UTF-8"?><Response />'
