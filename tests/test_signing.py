"""Tests for omnichannel.signing: the generic webhook-signature schemes.

The key vectors are copied inline from ``tests/vectors.json`` (computed there with the
providers' official client libraries and the standard library), so these tests never depend
on that file; when it is present, one extra sweep checks every vector it holds.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from omnichannel import signing
from omnichannel.config import Secret
from omnichannel.errors import WebhookVerificationError
from omnichannel.signing import (
    StandardWebhooks,
    body_sha256_matches,
    constant_time_equal,
    hmac_digest,
    mac_over_parts,
    sign_body,
    sign_url_params,
    url_params_string,
    url_port_variants,
    verify_body,
    verify_url_params,
)

Pairs = list[tuple[str, str]]

# --- Inline vectors (copied from tests/vectors.json) ------------------------------------------

# twilio-form-basic / twilio-form-multivalue / twilio-port-rules / twilio-json-bodysha256:
# twilio-python's own unit-test vectors, token "12345".
FORM_TOKEN = "12345"
FORM_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
FORM_PARAMS: Pairs = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
FORM_STRING = (
    "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309"
    "Digits1234From+14158675309To+18005551212"
)
FORM_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

MULTIVALUE_PARAMS: Pairs = [
    ("Sid", "CA123"),
    ("SidAccount", "AC123"),
    ("Digits", "5678"),
    ("Digits", "1234"),
    ("Digits", "1234"),
]
MULTIVALUE_STRING = (
    "https://mycompany.com/myapp.php?foo=1&bar=2Digits1234Digits5678SidCA123SidAccountAC123"
)
MULTIVALUE_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="

PORT_SIGNATURE_HTTPS_WITH_443 = "kvajT1Ptam85bY51eRf/AJRuM3w="
PORT_SIGNATURE_HTTP_WITH_80 = "0ZXoZLH/DfblKGATFgpif+LLRf4="
PORT_SIGNATURE_HTTP_WITH_1234 = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="

JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_BODY_SHA256 = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
JSON_URL = f"https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={JSON_BODY_SHA256}"
JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="

# twilio-inbound-sms / twilio-sharedkey-hmac-sha256 (same params, same string to sign).
SMS_TOKEN = "0123456789abcdef0123456789abcdef"
SMS_URL = "https://hooks.example.com/omnichannel/twilio/sms"
SMS_PARAMS: Pairs = [
    ("ToCountry", "US"),
    ("ToState", "CA"),
    ("SmsMessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("NumMedia", "1"),
    ("ToCity", "SAN FRANCISCO"),
    ("FromZip", "94105"),
    ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
    ("FromState", "CA"),
    ("SmsStatus", "received"),
    ("FromCity", "SAN FRANCISCO"),
    ("Body", "Hi! Can you call me back? Caf\u00e9 \u2615 8pm"),
    ("FromCountry", "US"),
    ("To", "+14155550100"),
    ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
    ("ToZip", "94105"),
    ("NumSegments", "1"),
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550199"),
    ("ApiVersion", "2010-04-01"),
    ("MediaContentType0", "image/jpeg"),
    (
        "MediaUrl0",
        "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
        "/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef",
    ),
]
SMS_SIGNATURE = "tpMnpdIsMKhP2Fe9vBrZK/TaYJU="
SHARED_KEY_SECRET = "whsk_test_secret_value_0123456789"
SHARED_KEY_SIGNATURE = "+YvsBzYGjpQrwcENa9hSPAWZGol+Z8rgL/YuDinB3tc="

# twilio-message-status-callback: the query string is part of the signed URL.
STATUS_URL = "https://hooks.example.com/omnichannel/twilio/status?msg=om_01HZX"
STATUS_PARAMS: Pairs = [
    ("SmsSid", "SM89abcdef0123456789abcdef01234567"),
    ("SmsStatus", "undelivered"),
    ("MessageStatus", "undelivered"),
    ("ErrorCode", "30003"),
    ("To", "+14155550199"),
    ("MessageSid", "SM89abcdef0123456789abcdef01234567"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("From", "+14155550100"),
    ("ApiVersion", "2010-04-01"),
]
STATUS_STRING = (
    "https://hooks.example.com/omnichannel/twilio/status?msg=om_01HZX"
    "AccountSidAC0123456789abcdef0123456789abcdefApiVersion2010-04-01ErrorCode30003"
    "From+14155550100MessageSidSM89abcdef0123456789abcdef01234567MessageStatusundelivered"
    "SmsSidSM89abcdef0123456789abcdef01234567SmsStatusundeliveredTo+14155550199"
)
STATUS_SIGNATURE = "uh7ELfqXN9xIowaMRtYHVg8RTXg="

# twilio-voice-status-nondefault-port: blank values and a non-default port.
VOICE_URL = "https://hooks.example.com:8443/omnichannel/twilio/voice/status"
VOICE_URL_PORT_HIDDEN = "https://hooks.example.com/omnichannel/twilio/voice/status"
VOICE_RAW_BODY = (
    "Called=%2B14155550199&ToState=CA&CallerCountry=US&Direction=outbound-api"
    "&Timestamp=Tue%2C+03+Nov+2026+18%3A20%3A31+%2B0000&CallbackSource=call-progress-events"
    "&SipResponseCode=200&CallerState=CA&ToZip=&SequenceNumber=2"
    "&CallSid=CA0123456789abcdef0123456789abcdef&To=%2B14155550199&CallerZip=&CalledZip="
    "&ApiVersion=2010-04-01&CalledCity=&CallStatus=in-progress&From=%2B14155550100"
    "&AccountSid=AC0123456789abcdef0123456789abcdef&CalledCountry=US&CallerCity=&ToCity="
    "&FromCountry=US&Caller=%2B14155550100&FromCity=&CalledState=CA&FromZip=&FromState=CA"
    "&AnsweredBy=human"
)
VOICE_STRING = (
    "https://hooks.example.com:8443/omnichannel/twilio/voice/status"
    "AccountSidAC0123456789abcdef0123456789abcdefAnsweredByhumanApiVersion2010-04-01"
    "CallSidCA0123456789abcdef0123456789abcdefCallStatusin-progress"
    "CallbackSourcecall-progress-eventsCalled+14155550199CalledCityCalledCountryUS"
    "CalledStateCACalledZipCaller+14155550100CallerCityCallerCountryUSCallerStateCA"
    "CallerZipDirectionoutbound-apiFrom+14155550100FromCityFromCountryUSFromStateCAFromZip"
    "SequenceNumber2SipResponseCode200TimestampTue, 03 Nov 2026 18:20:31 +0000"
    "To+14155550199ToCityToStateCAToZip"
)
VOICE_SIGNATURE = "374Hg86dkIQ2SGhL082H5CJhfG4="
VOICE_PARAMS: Pairs = parse_qsl(VOICE_RAW_BODY, keep_blank_values=True)

# wa-inbound-text / wa-reserialised-body-fails: "sha256=" + hex over the raw body.
HUB_SECRET = "6f1c2b3a4d5e6f708192a3b4c5d6e7f8"
HUB_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":'
    b'[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":'
    b'"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":'
    b'"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":'
    b'"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=","timestamp":'
    b'"1749416383","type":"text","text":{"body":"Caf\\u00e9 order #42?"}}]},"field":'
    b'"messages"}]}]}'
)
HUB_SIGNATURE = "sha256=87af2e369aa2f1ced9676fccf5459b5bfd427103f8880b2f5790e8fb261c0d7a"
HUB_BODY_RESERIALISED = HUB_BODY.replace(b"\\u00e9", "\u00e9".encode())
HUB_SIGNATURE_RESERIALISED = (
    "sha256=f23c6080d2776463b91790593c4a18158f6bbfbbe3e42c871075a03e53997eaa"
)

# x-crc-devrel-sample / x-crc-omni / x-aaa-dm-post: "sha256=" + base64.
CRC_CASES = [
    (
        "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu",
        "9b4507b3-9040-4669-9ca3-6b94edb50553",
        "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=",
    ),
    (
        "omniTestConsumerSecret0123456789abcdefghijklmnopqrstuv",
        "crc_Zm9vYmFyYmF6LTIwMjYtMTEtMDM",
        "sha256=Jid0++GwEei1KUPfqGDvRzuuwhUpnXtW/16aWa0O6hk=",
    ),
]
DM_SECRET = "omniTestConsumerSecret0123456789abcdefghijklmnopqrstuv"
DM_BODY = (
    b'{"for_user_id":"4337869213","direct_message_events":[{"type":"message_create",'
    b'"id":"954491830116155396","created_timestamp":"1516403560557","message_create":'
    b'{"target":{"recipient_id":"4337869213"},"sender_id":"3001969357","message_data":'
    b'{"text":"Hello World!","entities":{"hashtags":[],"symbols":[],"user_mentions":[],'
    b'"urls":[]}}}}]}'
)
DM_SIGNATURE = "sha256=fGKamswUccDpDMuL9zjZwgFXFEI5yF29/Lu/Z3OjRlM="

# sw-lib-test-defaults: the standardwebhooks library's test defaults.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_KEY_HEX = "31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1674087231
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI="

# sw-omnichannel-event / sw-rotation-multi-signature.
EVENT_SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
EVENT_OLD_SECRET = "whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
EVENT_ID = "evt_01JBZ6Q4K3Z8N7M2X1V0C9B8A7"
EVENT_TIMESTAMP = 1793730000
EVENT_BODY = (
    b'{"type":"message.delivered","timestamp":"2026-11-03T18:20:00Z","data":{"message_id":'
    b'"om_01JBZ6Q4","channel":"sms","provider":"twilio","provider_message_id":'
    b'"SM89abcdef0123456789abcdef01234567","status":"delivered"}}'
)
EVENT_SIGNATURE = "v1,QqIAKkbpJdIOrtVSxXOu1ptrKWCivg4x4v1Zqlpg8BA="
ROTATION_SIGNATURES = (
    "v1,eShV0BL0XZNCNbfJKkPrMIG25kZFLXBFKV4P6WQyCB4= "
    "v1,QqIAKkbpJdIOrtVSxXOu1ptrKWCivg4x4v1Zqlpg8BA= v1a,AAAA"
)
SW_TOLERANCE = 300

# mailgun-signature: hex HMAC-SHA256 of timestamp + token.
MAILGUN_KEY = "key-or-signing-key-0123456789abcdef"
MAILGUN_TIMESTAMP = "1793730000"
MAILGUN_TOKEN = "9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1"
MAILGUN_SIGNATURE = "2d8ca171246c15f65b528600ae29a28318eb4792c96a7f85911c3cefeabb0327"


# --- Small factories ---------------------------------------------------------------------------


def _fixed_clock(now: float) -> Callable[[], float]:
    return lambda: now


def _sw_headers(
    message_id: str = SW_ID, timestamp: int = SW_TIMESTAMP, signature: str = SW_SIGNATURE
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def _replace_char(text: str, index: int) -> str:
    """``text`` with one character changed (to another that is valid in base64 and hex)."""
    replacement = "a" if text[index] != "a" else "b"
    return text[:index] + replacement + text[index + 1 :]


def _flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _verify_form(
    key: str, url: str, params: Pairs, signature: str, algorithm: str = "sha1"
) -> bool:
    return verify_url_params(key, url_port_variants(url), params, signature, algorithm=algorithm)


# --- Constant-time comparison and the raw HMAC -------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("abc", "abc", True),
        ("abc", b"abc", True),
        (b"abc", b"abd", False),
        ("abc", "abcd", False),
        ("caf\u00e9", "caf\u00e9".encode(), True),
        ("caf\u00e9", "cafe", False),
        ("", "", True),
    ],
)
def test_constant_time_equal_compares_str_and_bytes_as_utf8(
    a: str | bytes, b: str | bytes, equal: bool
) -> None:
    assert constant_time_equal(a, b) is equal


@pytest.mark.parametrize("key", [MAILGUN_KEY, MAILGUN_KEY.encode(), Secret(MAILGUN_KEY)])
def test_hmac_digest_accepts_a_key_as_str_bytes_or_secret(key: str | bytes | Secret) -> None:
    digest = hmac_digest(key, MAILGUN_TIMESTAMP + MAILGUN_TOKEN)
    assert digest.hex() == MAILGUN_SIGNATURE


def test_hmac_digest_uses_the_named_algorithm() -> None:
    assert len(hmac_digest("k", b"m", "sha1")) == 20
    assert len(hmac_digest("k", b"m")) == 32


# --- HMAC over the URL plus sorted form params -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        pytest.param(FORM_URL, FORM_PARAMS, FORM_STRING, id="form-basic"),
        pytest.param(FORM_URL, MULTIVALUE_PARAMS, MULTIVALUE_STRING, id="form-multivalue"),
        pytest.param(STATUS_URL, STATUS_PARAMS, STATUS_STRING, id="status-callback-with-query"),
        pytest.param(VOICE_URL, VOICE_PARAMS, VOICE_STRING, id="blanks"),
        pytest.param(JSON_URL, [], JSON_URL, id="json-url-only"),
    ],
)
def test_url_params_string_matches_the_vector_string_to_sign(
    url: str, params: Pairs, expected: str
) -> None:
    assert url_params_string(url, params) == expected


def test_url_params_string_sorts_names_and_distinct_values_without_separators() -> None:
    params = [("b", "2"), ("a", "z"), ("b", "1"), ("a", "y"), ("a", "z"), ("c", "")]
    assert url_params_string("U", params) == "Uayazb1b2c"


def test_url_params_string_accepts_a_one_shot_iterator() -> None:
    assert url_params_string(FORM_URL, iter(FORM_PARAMS)) == FORM_STRING


@pytest.mark.parametrize(
    ("key", "url", "params", "algorithm", "expected"),
    [
        pytest.param(FORM_TOKEN, FORM_URL, FORM_PARAMS, "sha1", FORM_SIGNATURE, id="form-basic"),
        pytest.param(
            FORM_TOKEN, FORM_URL, MULTIVALUE_PARAMS, "sha1", MULTIVALUE_SIGNATURE, id="multivalue"
        ),
        pytest.param(FORM_TOKEN, JSON_URL, [], "sha1", JSON_SIGNATURE, id="json-bodysha256"),
        pytest.param(SMS_TOKEN, SMS_URL, SMS_PARAMS, "sha1", SMS_SIGNATURE, id="inbound-sms"),
        pytest.param(
            SMS_TOKEN, STATUS_URL, STATUS_PARAMS, "sha1", STATUS_SIGNATURE, id="status-callback"
        ),
        pytest.param(
            SMS_TOKEN,
            VOICE_URL,
            VOICE_PARAMS,
            "sha1",
            VOICE_SIGNATURE,
            id="voice-nondefault-port",
        ),
        pytest.param(
            SHARED_KEY_SECRET,
            SMS_URL,
            SMS_PARAMS,
            "sha256",
            SHARED_KEY_SIGNATURE,
            id="sharedkey-hmac-sha256",
        ),
    ],
)
def test_sign_url_params_reproduces_the_vector_signature(
    key: str, url: str, params: Pairs, algorithm: str, expected: str
) -> None:
    assert sign_url_params(key, url, params, algorithm=algorithm) == expected
    assert sign_url_params(Secret(key), url, params, algorithm=algorithm) == expected
    assert _verify_form(key, url, params, expected, algorithm)


def test_url_params_vector_from_form_basic_matches() -> None:
    assert _verify_form(FORM_TOKEN, FORM_URL, FORM_PARAMS, FORM_SIGNATURE)


def test_url_params_vector_from_form_multivalue_matches() -> None:
    assert _verify_form(FORM_TOKEN, FORM_URL, MULTIVALUE_PARAMS, MULTIVALUE_SIGNATURE)


@pytest.mark.parametrize(
    ("url", "signature", "valid"),
    [
        pytest.param(
            "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
            FORM_SIGNATURE,
            True,
            id="any-port-is-stripped",
        ),
        pytest.param(FORM_URL, PORT_SIGNATURE_HTTPS_WITH_443, True, id="https-443-added"),
        pytest.param(
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            PORT_SIGNATURE_HTTP_WITH_80,
            True,
            id="http-80-added",
        ),
        pytest.param(
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
            PORT_SIGNATURE_HTTP_WITH_1234,
            True,
            id="non-default-port-as-given",
        ),
        pytest.param(FORM_URL, PORT_SIGNATURE_HTTP_WITH_1234, False, id="scheme-port-mismatch"),
    ],
)
def test_url_params_port_rules_follow_the_reference_validator(
    url: str, signature: str, valid: bool
) -> None:
    assert _verify_form(FORM_TOKEN, url, FORM_PARAMS, signature) is valid


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        pytest.param(VOICE_URL, True, id="port-as-sent"),
        pytest.param(VOICE_URL_PORT_HIDDEN, False, id="proxy-hid-the-port"),
    ],
)
def test_url_params_non_default_port_hidden_by_a_proxy_cannot_be_recovered(
    url: str, valid: bool
) -> None:
    assert _verify_form(SMS_TOKEN, url, VOICE_PARAMS, VOICE_SIGNATURE) is valid


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.example/p", ["https://h.example/p", "https://h.example:443/p"]),
        ("http://h.example/p?x=1", ["http://h.example/p?x=1", "http://h.example:80/p?x=1"]),
        ("https://h.example:1234/p", ["https://h.example:1234/p", "https://h.example/p"]),
        ("https://h.example:443/p", ["https://h.example:443/p", "https://h.example/p"]),
        ("http://h.example:80", ["http://h.example:80", "http://h.example"]),
        ("https://u:pw@h.example/p", ["https://u:pw@h.example/p", "https://u:pw@h.example:443/p"]),
        ("https://[::1]:8443/p", ["https://[::1]:8443/p", "https://[::1]/p"]),
        ("https://[::1]/p", ["https://[::1]/p", "https://[::1]:443/p"]),
        ("https://h.example/p?", ["https://h.example/p?", "https://h.example:443/p?"]),
        (
            "https://h.example/a%2Fb?q=%20",
            ["https://h.example/a%2Fb?q=%20", "https://h.example:443/a%2Fb?q=%20"],
        ),
        ("ftp://h.example/p", ["ftp://h.example/p"]),
        ("not a url", ["not a url"]),
        ("https://[::1/p", ["https://[::1/p"]),
        ("", [""]),
    ],
)
def test_url_port_variants_lists_the_given_url_first_then_the_other_port_form(
    url: str, expected: list[str]
) -> None:
    variants = url_port_variants(url)
    assert variants == expected
    assert len(set(variants)) == len(variants)


def test_blank_form_values_are_kept_in_the_signed_string() -> None:
    kept = VOICE_PARAMS
    dropped = parse_qsl(VOICE_RAW_BODY)
    assert len(dropped) < len(kept)
    assert _verify_form(SMS_TOKEN, VOICE_URL, kept, VOICE_SIGNATURE)
    assert not _verify_form(SMS_TOKEN, VOICE_URL, dropped, VOICE_SIGNATURE)


def test_verify_url_params_reads_a_one_shot_params_iterator_for_every_url() -> None:
    urls = ["https://mycompany.com:1234/myapp.php?foo=1&bar=2", FORM_URL]
    assert verify_url_params(FORM_TOKEN, urls, iter(FORM_PARAMS), FORM_SIGNATURE)


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        pytest.param(
            SMS_URL,
            [
                *SMS_PARAMS[:10],
                ("Body", "Hi! Can you call me back? Caf\u00e9 \u2615 8pm!"),
                *SMS_PARAMS[11:],
            ],
            SMS_SIGNATURE,
            id="param-value-changed",
        ),
        pytest.param(SMS_URL + "/", SMS_PARAMS, SMS_SIGNATURE, id="trailing-slash"),
        pytest.param(SMS_URL.replace("sms", "smt"), SMS_PARAMS, SMS_SIGNATURE, id="url-byte"),
        pytest.param(SMS_URL, [*SMS_PARAMS, ("Extra", "")], SMS_SIGNATURE, id="param-added"),
        pytest.param(SMS_URL, SMS_PARAMS[1:], SMS_SIGNATURE, id="param-removed"),
        pytest.param(SMS_URL, SMS_PARAMS, _replace_char(SMS_SIGNATURE, 5), id="signature-char"),
        pytest.param(SMS_URL, SMS_PARAMS, "", id="empty-signature"),
        pytest.param(SMS_URL, SMS_PARAMS, "caf\u00e9 \u2615", id="non-ascii-signature"),
    ],
)
def test_url_params_tampering_fails(url: str, params: Pairs, signature: str) -> None:
    assert not _verify_form(SMS_TOKEN, url, params, signature)


def test_url_params_with_the_wrong_key_fails() -> None:
    assert not _verify_form(SMS_TOKEN[:-1] + "0", SMS_URL, SMS_PARAMS, SMS_SIGNATURE)
    assert not _verify_form(SMS_TOKEN, SMS_URL, SMS_PARAMS, SHARED_KEY_SIGNATURE, "sha256")


@pytest.mark.parametrize(
    ("url", "body", "matches"),
    [
        pytest.param(JSON_URL, JSON_BODY, True, id="genuine"),
        pytest.param(JSON_URL, JSON_BODY + b" ", False, id="trailing-space"),
        pytest.param(JSON_URL, _flip_byte(JSON_BODY, 3), False, id="one-byte"),
        pytest.param(FORM_URL, JSON_BODY, False, id="no-hash-param"),
        pytest.param(FORM_URL + "&bodySHA256=", JSON_BODY, False, id="blank-hash"),
        pytest.param(FORM_URL + "&bodySHA256=\u2615", JSON_BODY, False, id="garbage-hash"),
        pytest.param(
            "https://[::1/?bodySHA256=" + JSON_BODY_SHA256, JSON_BODY, False, id="bad-url"
        ),
        pytest.param(
            f"https://h.example/?bodySHA256={hashlib.sha256(b'').hexdigest()}",
            b"",
            True,
            id="empty-body",
        ),
    ],
)
def test_body_sha256_matches_only_the_hash_of_the_raw_body(
    url: str, body: bytes, matches: bool
) -> None:
    assert body_sha256_matches(url, body, param="bodySHA256") is matches


def test_json_body_variant_signs_the_url_alone_and_the_url_carries_the_body_hash() -> None:
    assert _verify_form(FORM_TOKEN, JSON_URL, [], JSON_SIGNATURE)
    assert body_sha256_matches(JSON_URL, JSON_BODY, param="bodySHA256")
    assert JSON_URL.endswith(hashlib.sha256(JSON_BODY).hexdigest())


# --- HMAC over the raw body ----------------------------------------------------------------------

HEX_PREFIXED: Mapping[str, Any] = {"encoding": "hex", "prefix": "sha256="}
BASE64_PREFIXED: Mapping[str, Any] = {"encoding": "base64", "prefix": "sha256="}


@pytest.mark.parametrize(
    ("key", "body", "options", "expected"),
    [
        pytest.param(HUB_SECRET, HUB_BODY, HEX_PREFIXED, HUB_SIGNATURE, id="hub-hex"),
        pytest.param(
            HUB_SECRET,
            HUB_BODY_RESERIALISED,
            HEX_PREFIXED,
            HUB_SIGNATURE_RESERIALISED,
            id="hub-reserialised",
        ),
        pytest.param(DM_SECRET, DM_BODY, BASE64_PREFIXED, DM_SIGNATURE, id="dm-post-base64"),
        *(
            pytest.param(secret, token.encode(), BASE64_PREFIXED, response, id=f"crc-{n}")
            for n, (secret, token, response) in enumerate(CRC_CASES)
        ),
    ],
)
def test_sign_body_reproduces_the_vector_header(
    key: str, body: bytes, options: Mapping[str, Any], expected: str
) -> None:
    assert sign_body(key, body, **options) == expected
    assert verify_body(Secret(key), body, expected, **options)


def test_reserialised_body_fails_against_the_genuine_signature() -> None:
    assert HUB_BODY_RESERIALISED != HUB_BODY
    assert not verify_body(HUB_SECRET, HUB_BODY_RESERIALISED, HUB_SIGNATURE, **HEX_PREFIXED)
    assert verify_body(HUB_SECRET, HUB_BODY, HUB_SIGNATURE, **HEX_PREFIXED)


def test_crc_response_token_is_a_base64_mac_over_the_token() -> None:
    for secret, token, response in CRC_CASES:
        assert "sha256=" + mac_over_parts(secret, token, encoding="base64") == response


def test_verify_body_accepts_upper_case_hex_digits() -> None:
    upper = "sha256=" + HUB_SIGNATURE.removeprefix("sha256=").upper()
    assert verify_body(HUB_SECRET, HUB_BODY, upper, **HEX_PREFIXED)


def test_sign_body_defaults_to_unprefixed_hex_sha256() -> None:
    assert sign_body(HUB_SECRET, HUB_BODY) == HUB_SIGNATURE.removeprefix("sha256=")


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing-header"),
        pytest.param("", id="empty"),
        pytest.param("sha256=", id="prefix-only"),
        pytest.param(HUB_SIGNATURE.removeprefix("sha256="), id="prefix-missing"),
        pytest.param("sha1=" + HUB_SIGNATURE.removeprefix("sha256="), id="wrong-prefix"),
        pytest.param("sha256=zz", id="not-hex"),
        pytest.param("sha256=caf\u00e9\u2615", id="non-ascii"),
        pytest.param(HUB_SIGNATURE + "00", id="too-long"),
        pytest.param(HUB_SIGNATURE[:-2], id="too-short"),
        pytest.param(_replace_char(HUB_SIGNATURE, 20), id="one-digit-changed"),
        pytest.param(" " + HUB_SIGNATURE, id="leading-space"),
    ],
)
def test_verify_body_answers_false_for_bad_or_garbage_signatures(signature: str | None) -> None:
    assert verify_body(HUB_SECRET, HUB_BODY, signature, **HEX_PREFIXED) is False


@pytest.mark.parametrize(
    ("key", "body", "signature", "options"),
    [
        pytest.param(
            HUB_SECRET, _flip_byte(HUB_BODY, 0), HUB_SIGNATURE, HEX_PREFIXED, id="hub-body-first"
        ),
        pytest.param(
            HUB_SECRET,
            _flip_byte(HUB_BODY, len(HUB_BODY) - 1),
            HUB_SIGNATURE,
            HEX_PREFIXED,
            id="hub-body-last",
        ),
        pytest.param(
            DM_SECRET, _flip_byte(DM_BODY, 40), DM_SIGNATURE, BASE64_PREFIXED, id="dm-body"
        ),
        pytest.param(
            DM_SECRET, DM_BODY, _replace_char(DM_SIGNATURE, 10), BASE64_PREFIXED, id="dm-signature"
        ),
        pytest.param(DM_SECRET, DM_BODY, DM_SIGNATURE, HEX_PREFIXED, id="dm-wrong-encoding"),
        pytest.param(HUB_SECRET, DM_BODY, DM_SIGNATURE, BASE64_PREFIXED, id="dm-wrong-key"),
        pytest.param(DM_SECRET, HUB_BODY, HUB_SIGNATURE, HEX_PREFIXED, id="hub-wrong-key"),
    ],
)
def test_raw_body_tampering_or_wrong_key_fails(
    key: str, body: bytes, signature: str, options: Mapping[str, Any]
) -> None:
    assert not verify_body(key, body, signature, **options)


# --- HMAC over concatenated parts ----------------------------------------------------------------


def test_mac_over_parts_reproduces_the_timestamp_plus_token_vector() -> None:
    assert mac_over_parts(MAILGUN_KEY, MAILGUN_TIMESTAMP, MAILGUN_TOKEN) == MAILGUN_SIGNATURE
    assert mac_over_parts(Secret(MAILGUN_KEY), MAILGUN_TIMESTAMP.encode(), MAILGUN_TOKEN) == (
        MAILGUN_SIGNATURE
    )


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        pytest.param(MAILGUN_KEY, (MAILGUN_TIMESTAMP, _replace_char(MAILGUN_TOKEN, 0)), id="token"),
        pytest.param(MAILGUN_KEY, ("1793730001", MAILGUN_TOKEN), id="timestamp"),
        pytest.param(MAILGUN_KEY, (MAILGUN_TIMESTAMP, ".", MAILGUN_TOKEN), id="separator"),
        pytest.param(MAILGUN_KEY + "x", (MAILGUN_TIMESTAMP, MAILGUN_TOKEN), id="wrong-key"),
    ],
)
def test_mac_over_parts_changes_with_any_part_or_the_key(key: str, parts: tuple[str, ...]) -> None:
    assert not constant_time_equal(mac_over_parts(key, *parts), MAILGUN_SIGNATURE)


# --- Standard Webhooks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "message_id", "timestamp", "body", "expected"),
    [
        pytest.param(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY, SW_SIGNATURE, id="library-defaults"),
        pytest.param(
            EVENT_SECRET, EVENT_ID, EVENT_TIMESTAMP, EVENT_BODY, EVENT_SIGNATURE, id="event"
        ),
    ],
)
def test_standard_webhooks_sign_reproduces_the_vector(
    secret: str, message_id: str, timestamp: int, body: bytes, expected: str
) -> None:
    webhooks = StandardWebhooks(secret, clock=_fixed_clock(timestamp))
    assert webhooks.sign(message_id, timestamp, body) == expected
    assert webhooks.headers(message_id, body, timestamp) == _sw_headers(
        message_id, timestamp, expected
    )
    webhooks.verify(_sw_headers(message_id, timestamp, expected), body)


def test_standard_webhooks_key_is_the_base64_decoded_secret() -> None:
    string_to_sign = f"{SW_ID}.{SW_TIMESTAMP}.".encode() + SW_BODY
    digest = hmac_digest(bytes.fromhex(SW_KEY_HEX), string_to_sign)
    assert "v1," + base64.b64encode(digest).decode() == SW_SIGNATURE
    assert hmac_digest(SW_SECRET, string_to_sign) != digest


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(EVENT_SECRET, id="prefixed"),
        pytest.param(EVENT_SECRET.removeprefix("whsec_"), id="no-prefix"),
        pytest.param(EVENT_SECRET.rstrip("="), id="padding-trimmed"),
        pytest.param(Secret(EVENT_SECRET), id="secret-object"),
    ],
)
def test_standard_webhooks_accepts_every_spelling_of_the_secret(secret: str | Secret) -> None:
    webhooks = StandardWebhooks(secret)
    assert webhooks.sign(EVENT_ID, EVENT_TIMESTAMP, EVENT_BODY) == EVENT_SIGNATURE


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("whsec_not base64!", id="not-base64"),
        pytest.param("whsec_", id="empty"),
        pytest.param("whsec_A", id="impossible-length"),
    ],
)
def test_standard_webhooks_refuses_a_malformed_secret_without_echoing_it(secret: str) -> None:
    with pytest.raises(ValueError, match="secret") as raised:
        StandardWebhooks(secret)
    body = secret.removeprefix("whsec_")
    assert not body or body not in str(raised.value)


@pytest.mark.parametrize("secret", [EVENT_SECRET, EVENT_OLD_SECRET])
def test_standard_webhooks_rotation_accepts_any_v1_signature_in_the_list(secret: str) -> None:
    webhooks = StandardWebhooks(secret, clock=_fixed_clock(EVENT_TIMESTAMP))
    webhooks.verify(_sw_headers(EVENT_ID, EVENT_TIMESTAMP, ROTATION_SIGNATURES), EVENT_BODY)


def test_standard_webhooks_ignores_entries_of_other_versions() -> None:
    webhooks = StandardWebhooks(EVENT_SECRET, clock=_fixed_clock(EVENT_TIMESTAMP))
    sig = EVENT_SIGNATURE.removeprefix("v1,")
    for header in (f"v1a,{sig}", f"v2,{sig}", sig, f"v1a,{sig} v1,AAAA"):
        with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
            webhooks.verify(_sw_headers(EVENT_ID, EVENT_TIMESTAMP, header), EVENT_BODY)


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        pytest.param(-SW_TOLERANCE, None, id="exactly-tolerance-old"),
        pytest.param(SW_TOLERANCE, None, id="exactly-tolerance-new"),
        pytest.param(0, None, id="now"),
        pytest.param(-SW_TOLERANCE - 1, "too old", id="too-old"),
        pytest.param(SW_TOLERANCE + 1, "too new", id="too-new"),
        pytest.param(-86_400, "too old", id="a-day-old"),
        pytest.param(86_400, "too new", id="a-day-ahead"),
    ],
)
def test_standard_webhooks_tolerance_applies_in_both_directions(
    offset: int, error: str | None
) -> None:
    # The message's timestamp is offset from the (injected) clock; no sleeping.
    timestamp = SW_TIMESTAMP + offset
    signer = StandardWebhooks(SW_SECRET)
    headers = signer.headers(SW_ID, SW_BODY, timestamp)
    webhooks = StandardWebhooks(SW_SECRET, clock=_fixed_clock(SW_TIMESTAMP + 0.9))
    if error is None:
        webhooks.verify(headers, SW_BODY)
    else:
        with pytest.raises(WebhookVerificationError, match=error):
            webhooks.verify(headers, SW_BODY)


def test_standard_webhooks_tolerance_is_configurable() -> None:
    webhooks = StandardWebhooks(
        SW_SECRET, tolerance_seconds=10, clock=_fixed_clock(SW_TIMESTAMP + 11)
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhooks.verify(_sw_headers(), SW_BODY)


def test_standard_webhooks_headers_default_to_the_clock_time() -> None:
    webhooks = StandardWebhooks(SW_SECRET, clock=_fixed_clock(SW_TIMESTAMP + 0.75))
    assert webhooks.headers(SW_ID, SW_BODY) == _sw_headers()


def test_standard_webhooks_header_names_match_in_any_case() -> None:
    webhooks = StandardWebhooks(SW_SECRET, clock=_fixed_clock(SW_TIMESTAMP))
    headers = {name.title(): value for name, value in _sw_headers().items()}
    webhooks.verify(headers, SW_BODY)
    webhooks.verify({name.upper(): value for name, value in _sw_headers().items()}, SW_BODY)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_missing_header_is_refused(missing: str) -> None:
    webhooks = StandardWebhooks(SW_SECRET, clock=_fixed_clock(SW_TIMESTAMP))
    headers = _sw_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match=f"missing {missing} header"):
        webhooks.verify(headers, SW_BODY)


@pytest.mark.parametrize("stamp", ["1674087231.5", "abc", "-1674087231", "1e9", "\u0661\u0662"])
def test_standard_webhooks_non_integer_timestamp_is_refused(stamp: str) -> None:
    webhooks = StandardWebhooks(SW_SECRET, clock=_fixed_clock(SW_TIMESTAMP))
    headers = {**_sw_headers(), "webhook-timestamp": stamp}
    with pytest.raises(WebhookVerificationError, match="not an integer"):
        webhooks.verify(headers, SW_BODY)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(_sw_headers(), _flip_byte(SW_BODY, 0), id="body-byte"),
        pytest.param(_sw_headers(), SW_BODY + b"\n", id="body-appended"),
        pytest.param(_sw_headers(message_id=SW_ID + "x"), SW_BODY, id="id"),
        pytest.param(_sw_headers(timestamp=SW_TIMESTAMP + 1), SW_BODY, id="timestamp"),
        pytest.param(_sw_headers(signature=_replace_char(SW_SIGNATURE, 6)), SW_BODY, id="sig"),
        pytest.param(_sw_headers(signature="v1,"), SW_BODY, id="empty-sig"),
        pytest.param(_sw_headers(signature="v1,\u2615"), SW_BODY, id="non-ascii-sig"),
        pytest.param(_sw_headers(signature=EVENT_SIGNATURE), SW_BODY, id="other-message-sig"),
    ],
)
def test_standard_webhooks_tampering_fails(headers: dict[str, str], body: bytes) -> None:
    webhooks = StandardWebhooks(SW_SECRET, clock=_fixed_clock(SW_TIMESTAMP))
    with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
        webhooks.verify(headers, body)


def test_standard_webhooks_with_the_wrong_secret_fails() -> None:
    webhooks = StandardWebhooks(EVENT_OLD_SECRET, clock=_fixed_clock(EVENT_TIMESTAMP))
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(_sw_headers(EVENT_ID, EVENT_TIMESTAMP, EVENT_SIGNATURE), EVENT_BODY)


def test_standard_webhooks_refuses_to_sign_an_id_containing_a_dot() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        StandardWebhooks(SW_SECRET).sign("msg.1", SW_TIMESTAMP, SW_BODY)


def test_standard_webhooks_never_shows_the_secret_or_the_body() -> None:
    webhooks = StandardWebhooks(Secret(SW_SECRET), clock=_fixed_clock(SW_TIMESTAMP))
    encoded = SW_SECRET.removeprefix("whsec_")
    assert encoded not in repr(webhooks)
    assert encoded not in str(webhooks)
    assert "<secret>" in repr(webhooks)
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(_sw_headers(signature="v1,AAAA"), SW_BODY)
    message = str(raised.value)
    assert encoded not in message
    assert SW_BODY.decode() not in message
    assert raised.value.status_code == 403


# --- The module's public surface ------------------------------------------------------------------


def test_all_is_sorted_and_every_public_name_has_a_docstring() -> None:
    assert list(signing.__all__) == sorted(signing.__all__)
    defined = {
        name
        for name, value in vars(signing).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == signing.__name__
    }
    assert defined == set(signing.__all__)
    for name in signing.__all__:
        assert getattr(signing, name).__doc__, name
    for method in ("sign", "headers", "verify"):
        assert getattr(StandardWebhooks, method).__doc__, method


# --- Sweep over every vector in tests/vectors.json ---------------------------------------------

# A copy of the project's shared signature and encoding vectors: test data kept in the repository.
_VECTORS_PATH = Path(__file__).resolve().parent / "vectors.json"
_VECTORS: dict[str, Any] = json.loads(_VECTORS_PATH.read_text(encoding="utf-8"))


def _file_vectors(select: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> list[Any]:
    return [pytest.param(vector, id=vector["id"]) for vector in select(_VECTORS)]


def _form_params(vector: Mapping[str, Any], family: list[dict[str, Any]]) -> Pairs:
    params = vector.get("params", vector.get("params_pairs", []))
    if isinstance(params, str):  # "same as <id>"
        source = params.removeprefix("same as ").strip()
        return _form_params(next(v for v in family if v["id"] == source), family)
    if isinstance(params, dict):
        return list(params.items())
    return [(name, value) for name, value in params]


@pytest.mark.parametrize("vector", _file_vectors(lambda v: v["twilio_signature"]))
def test_every_url_params_vector_in_the_shared_file_verifies(vector: dict[str, Any]) -> None:
    family = _VECTORS["twilio_signature"]
    key = vector.get("auth_token") or vector["shared_key_secret"]
    settings = vector.get("signature_settings_header", "")
    algorithm = "sha256" if "HMAC_SHA256" in settings else "sha1"
    params = _form_params(vector, family)
    if "string_to_sign" in vector:
        assert url_params_string(vector["url"], params) == vector["string_to_sign"]
    if "expected_signature" in vector:
        signature = vector["expected_signature"]
        assert sign_url_params(key, vector["url"], params, algorithm=algorithm) == signature
    if "raw_body" in vector and vector.get("content_type") != "application/json":
        pitfall = vector["parse_pitfall"]
        for keep_blank, valid in (
            (False, pitfall["parse_qsl_default_valid"]),
            (True, pitfall["parse_qsl_keep_blank_values_valid"]),
        ):
            parsed = parse_qsl(vector["raw_body"], keep_blank_values=keep_blank)
            assert _verify_form(key, vector["url"], parsed, vector["expected_signature"]) is valid
    for row in vector.get("validate", []):
        row_params = row.get("params", "as above")
        if row_params != "as above":
            continue  # a prose description of tampering; the inline tests cover each one
        valid = _verify_form(key, row["url"], params, row["signature"], algorithm)
        if "raw_body" in row:
            valid = valid and body_sha256_matches(
                row["url"], row["raw_body"].encode(), param="bodySHA256"
            )
        assert valid is row["valid"], row.get("why", row["url"])


def _raw_body_vectors(vectors: dict[str, Any]) -> list[dict[str, Any]]:
    """Every "prefix + HMAC of the raw bytes" vector, with its key and encoding spelled out."""
    hub = [
        {**item, "_encoding": "hex", "_key": item["app_secret"]}
        for item in vectors["whatsapp_cloud"]["x_hub_signature_256"]
    ]
    posts = [
        {**item, "_encoding": "base64", "_key": item["consumer_secret"]}
        for item in vectors["x_twitter"]["post_signature"]
    ]
    crc = [
        {
            **item,
            "_encoding": "base64",
            "_key": item["consumer_secret"],
            "raw_body": item["crc_token"],
            "expected_header_value": item["expected_response_json"]["response_token"],
        }
        for item in vectors["x_twitter"]["crc"]
    ]
    return hub + posts + crc


@pytest.mark.parametrize("vector", _file_vectors(_raw_body_vectors))
def test_every_raw_body_vector_in_the_shared_file_verifies(vector: dict[str, Any]) -> None:
    body = vector["raw_body"].encode("utf-8")
    options: dict[str, Any] = {"encoding": vector["_encoding"], "prefix": "sha256="}
    expected = vector["expected_header_value"]
    assert sign_body(vector["_key"], body, **options) == expected
    assert verify_body(vector["_key"], body, expected, **options)
    assert not verify_body(vector["_key"], _flip_byte(body, 0), expected, **options)


@pytest.mark.parametrize(
    "vector", _file_vectors(lambda v: [x for x in v["standard_webhooks"] if "headers" in x])
)
def test_every_standard_webhooks_vector_in_the_shared_file_verifies(
    vector: dict[str, Any],
) -> None:
    headers = vector["headers"]
    timestamp = int(headers["webhook-timestamp"])
    body = vector["payload"].encode("utf-8")
    tolerance = next(x for x in _VECTORS["standard_webhooks"] if x["id"] == "sw-tolerance")
    secrets = [
        vector[name] for name in ("secret", "secret_current", "secret_old") if name in vector
    ]
    assert secrets
    for secret in secrets:
        webhooks = StandardWebhooks(secret, clock=_fixed_clock(timestamp))
        webhooks.verify(headers, body)
        for offset in (tolerance["tolerance_seconds"] + 1, -tolerance["tolerance_seconds"] - 1):
            late = StandardWebhooks(secret, clock=_fixed_clock(timestamp + offset))
            with pytest.raises(WebhookVerificationError, match="too"):
                late.verify(headers, body)
    if "expected_signature" in vector:
        webhooks = StandardWebhooks(vector["secret"])
        assert webhooks.sign(headers["webhook-id"], timestamp, body) == vector["expected_signature"]
        key = bytes.fromhex(vector["hmac_key_hex"])
        digest = hmac_digest(key, vector["string_to_sign"])
        assert vector["expected_signature"] == "v1," + base64.b64encode(digest).decode()


@pytest.mark.parametrize("vector", _file_vectors(lambda v: v["mailgun_webhook"]))
def test_every_timestamp_token_vector_in_the_shared_file_verifies(vector: dict[str, Any]) -> None:
    key = vector["webhook_signing_key"]
    assert vector["string_to_sign"] == vector["timestamp"] + vector["token"]
    signature = mac_over_parts(key, vector["timestamp"], vector["token"])
    assert constant_time_equal(signature, vector["expected_signature"])


# --- The URL-params scheme over a whole request ---------------------------------------------


def _form_request(url: str, params: Pairs, signature: str | None, method: str = "POST") -> Any:
    from urllib.parse import urlencode

    from omnichannel import WebhookRequest

    headers = {"X-Signature": signature} if signature else {}
    body = urlencode(params).encode() if method == "POST" else b""
    return WebhookRequest(method=method, url=url, headers=headers, body=body)


def test_a_request_signed_over_its_url_and_form_params_verifies() -> None:
    request = _form_request(VOICE_URL, VOICE_PARAMS, VOICE_SIGNATURE)
    signing.verify_url_params_request(request, [SMS_TOKEN], header="X-Signature")


def test_a_rotated_out_key_still_verifies_alongside_the_new_one() -> None:
    request = _form_request(VOICE_URL, VOICE_PARAMS, VOICE_SIGNATURE)
    signing.verify_url_params_request(request, ["new-token", SMS_TOKEN], header="X-Signature")


def test_a_json_request_signs_the_url_whose_body_hash_must_match_the_body() -> None:
    from omnichannel import WebhookRequest

    good = WebhookRequest(
        method="POST", url=JSON_URL, headers={"X-Signature": JSON_SIGNATURE}, body=JSON_BODY
    )
    signing.verify_url_params_request(
        good, [FORM_TOKEN], header="X-Signature", body_hash_param="bodySHA256"
    )
    tampered = WebhookRequest(
        method="POST", url=JSON_URL, headers={"X-Signature": JSON_SIGNATURE}, body=JSON_BODY + b" "
    )
    with pytest.raises(WebhookVerificationError, match="does not match the URL's bodySHA256"):
        signing.verify_url_params_request(
            tampered, [FORM_TOKEN], header="X-Signature", body_hash_param="bodySHA256"
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"signature": None}, "missing X-Signature header"),
        ({"params": VOICE_PARAMS[:-1]}, "X-Signature does not match; check the token"),
        ({"url": VOICE_URL + "/"}, "X-Signature does not match; check the token"),
    ],
)
def test_a_request_with_a_missing_or_wrong_signature_is_refused(
    change: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {
        "url": VOICE_URL,
        "params": VOICE_PARAMS,
        "signature": VOICE_SIGNATURE,
    }
    values.update(change)
    request = _form_request(values["url"], values["params"], values["signature"])
    with pytest.raises(WebhookVerificationError, match=message):
        signing.verify_url_params_request(
            request, [SMS_TOKEN], header="X-Signature", hint="check the token"
        )


def test_a_non_form_body_without_a_body_hash_cannot_be_verified() -> None:
    from omnichannel import WebhookRequest

    request = WebhookRequest(
        method="POST", url=VOICE_URL, headers={"X-Signature": VOICE_SIGNATURE}, body=b"\xff\xfe"
    )
    with pytest.raises(WebhookVerificationError, match="not form-encoded"):
        signing.verify_url_params_request(request, [SMS_TOKEN], header="X-Signature")
