"""OAuth 1.0a signing against the published examples (``payloads/oauth1_vectors.json``: RFC 5849
sections 1.2 and 3.4.1, and X's "Creating a signature" page)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from omnichannel_x import oauth1
from omnichannel_x.oauth1 import OAuth1Credentials

from omnichannel import Secret
from omnichannel.plugin import ProviderRequest

VECTORS = {
    vector["id"]: vector
    for vector in json.loads(
        (Path(__file__).parent / "payloads" / "oauth1_vectors.json").read_text(encoding="utf-8")
    )["vectors"]
}


def credentials(vector: dict[str, Any]) -> OAuth1Credentials:
    return OAuth1Credentials(
        consumer_key=vector["consumer_key"],
        consumer_secret=Secret(vector["consumer_secret"]),
        token=Secret(vector["token"]),
        token_secret=Secret(vector["token_secret"]),
    )


def test_the_rfc_5849_parameters_normalize_as_section_3_4_1_3_2_prints_them() -> None:
    vector = VECTORS["rfc5849-3.4.1.1"]
    form = parse_qsl(vector["form_body"], keep_blank_values=True)
    params = [*oauth1.request_parameters(vector["url"], form), *vector["oauth"].items()]
    assert oauth1.normalized_parameters(params) == vector["normalized_parameters"]


def test_the_rfc_5849_base_string_is_section_3_4_1_1_exactly() -> None:
    vector = VECTORS["rfc5849-3.4.1.1"]
    form = parse_qsl(vector["form_body"], keep_blank_values=True)
    params = [*oauth1.request_parameters(vector["url"], form), *vector["oauth"].items()]
    assert (
        oauth1.signature_base_string(vector["method"], vector["url"], params)
        == vector["base_string"]
    )


def test_the_rfc_5849_photos_request_signs_as_section_1_2_shows() -> None:
    vector = VECTORS["rfc5849-1.2-photos"]
    given = oauth1.parse_authorization_header(vector["authorization"])
    params = [
        *oauth1.request_parameters(vector["url"]),
        *(
            (name, value)
            for name, value in given.items()
            if name not in ("realm", "oauth_signature")
        ),
    ]
    base = oauth1.signature_base_string(vector["method"], vector["url"], params)
    key = oauth1.signing_key(vector["consumer_secret"], vector["token_secret"])
    assert oauth1.signature(base, key) == vector["signature"]
    assert given["oauth_signature"] == vector["signature"]


def test_the_rfc_5849_photos_header_verifies_and_a_changed_query_does_not() -> None:
    vector = VECTORS["rfc5849-1.2-photos"]
    keys = credentials(vector)
    assert oauth1.verify(vector["method"], vector["url"], vector["authorization"], keys) is not None
    changed = vector["url"].replace("original", "thumbnail")
    assert oauth1.verify(vector["method"], changed, vector["authorization"], keys) is None


@pytest.mark.parametrize(
    "name", ["x-creating-a-signature", "x-creating-a-signature-api.twitter.com"]
)
def test_x_documentation_example_gives_its_published_signature(name: str) -> None:
    vector = VECTORS[name]
    header = oauth1.authorization_header(
        vector["method"],
        vector["url"],
        credentials(vector),
        nonce=vector["nonce"],
        timestamp=vector["timestamp"],
        form=[tuple(pair) for pair in vector["form"]],
    )
    assert oauth1.parse_authorization_header(header)["oauth_signature"] == vector["signature"]


def test_x_documentation_base_string_and_signing_key_match_the_page() -> None:
    vector = VECTORS["x-creating-a-signature"]
    keys = credentials(vector)
    params = [
        *oauth1.request_parameters(vector["url"], [tuple(pair) for pair in vector["form"]]),
        ("oauth_consumer_key", keys.consumer_key),
        ("oauth_nonce", vector["nonce"]),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", str(vector["timestamp"])),
        ("oauth_token", vector["token"]),
        ("oauth_version", "1.0"),
    ]
    assert (
        oauth1.signature_base_string(vector["method"], vector["url"], params)
        == vector["base_string"]
    )
    assert (
        oauth1.signing_key(vector["consumer_secret"], vector["token_secret"])
        == vector["signing_key"]
    )


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("r b", "r%20b"),
        ("-._~", "-._~"),
        ("=%3D", "%3D%253D"),
        ("c@", "c%40"),
        ("a/b+c", "a%2Fb%2Bc"),
        ("☃", "%E2%98%83"),
    ],
)
def test_percent_encoding_keeps_only_the_unreserved_characters(value: str, encoded: str) -> None:
    assert oauth1.percent_encode(value) == encoded


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("HTTP://Example.COM:80/r%20v/X?id=123", "http://example.com/r%20v/X"),
        ("https://www.example.net:8080/?q=1", "https://www.example.net:8080/"),
        ("https://api.x.com:443/2/tweets", "https://api.x.com/2/tweets"),
        (
            "http://127.0.0.1:8765/x/2/dm_events?max_results=100",
            "http://127.0.0.1:8765/x/2/dm_events",
        ),
    ],
)
def test_the_base_string_uri_drops_default_ports_queries_and_case(url: str, uri: str) -> None:
    assert oauth1.base_string_uri(url) == uri


def test_sign_adds_a_header_that_verifies_for_the_same_request() -> None:
    keys = credentials(VECTORS["x-creating-a-signature"])
    request = ProviderRequest.json(
        "POST", "https://api.x.com/2/dm_conversations/with/2244994945/messages", {"text": "hi"}
    )
    signed = oauth1.sign(request, keys, nonce="abc123", timestamp=1_790_000_000)
    header = signed.header("Authorization")
    assert header is not None
    assert header.startswith(
        'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="abc123"'
    )
    assert oauth1.verify(signed.method, signed.url, header, keys) is not None
    # A JSON body is not a parameter source: the same header fits any JSON body.
    assert request.body == signed.body


def test_a_form_body_is_signed_and_changing_it_breaks_the_signature() -> None:
    keys = credentials(VECTORS["x-creating-a-signature"])
    request = ProviderRequest.form("POST", "https://api.x.com/1.1/x.json", [("status", "hi there")])
    header = oauth1.sign(request, keys, nonce="n", timestamp=1).header("Authorization") or ""
    form = [("status", "hi there")]
    assert oauth1.verify("POST", request.url, header, keys, form=form) is not None
    assert oauth1.verify("POST", request.url, header, keys, form=[("status", "hi")]) is None


def test_a_header_with_another_key_or_method_does_not_verify() -> None:
    vector = VECTORS["x-creating-a-signature"]
    keys = credentials(vector)
    header = oauth1.authorization_header(
        "GET", "https://api.x.com/2/dm_events", keys, nonce="n", timestamp=1
    )
    other = OAuth1Credentials(
        consumer_key=keys.consumer_key,
        consumer_secret=Secret("another-secret"),
        token=keys.token,
        token_secret=keys.token_secret,
    )
    assert oauth1.verify("GET", "https://api.x.com/2/dm_events", header, keys) is not None
    assert oauth1.verify("GET", "https://api.x.com/2/dm_events", header, other) is None
    assert oauth1.verify("POST", "https://api.x.com/2/dm_events", header, keys) is None


@pytest.mark.parametrize("header", ["", "Bearer abc", "OAuth nonsense", 'OAuth a="1", b=2'])
def test_a_header_that_is_not_oauth_parses_to_nothing(header: str) -> None:
    assert oauth1.parse_authorization_header(header) == {}


def test_credentials_never_show_their_secrets() -> None:
    keys = credentials(VECTORS["x-creating-a-signature"])
    shown = f"{keys!r} {keys}"
    assert "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw" not in shown
    assert "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE" not in shown
