"""OAuth 1.0a request signing (RFC 5849, HMAC-SHA1), as X's user-context auth uses it.

Pure functions: the nonce and the timestamp are arguments, so the same inputs always give the
same header and the RFC's and X's published examples test as tables. The adapter calls
:func:`sign` before every attempt with a fresh nonce and the current time; the simulator
checks headers with :func:`verify`.

What is signed (RFC 5849 section 3.4.1): the method, the base string URI (scheme and host
lower-cased, default port dropped, no query), and every parameter of the query string, of a
form-encoded body and of the ``oauth_*`` set, percent-encoded, sorted by name then value. A
JSON body is not a parameter source, so it is not signed (X's v2 endpoints take JSON).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs

from omnichannel import Secret
from omnichannel.plugin import ProviderRequest, constant_time_equal

__all__ = [
    "OAuth1Credentials",
    "authorization_header",
    "base_string_uri",
    "normalized_parameters",
    "parse_authorization_header",
    "percent_encode",
    "request_parameters",
    "sign",
    "signature",
    "signature_base_string",
    "signing_key",
    "verify",
]

SIGNATURE_METHOD: Final = "HMAC-SHA1"
VERSION: Final = "1.0"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_FORM: Final = "application/x-www-form-urlencoded"
_UNRESERVED: Final = re.compile(r"[A-Za-z0-9\-._~]*")


@attrs.frozen(kw_only=True)
class OAuth1Credentials:
    """The four values that sign a user-context request: the app's consumer key and secret,
    and the user's access token and its secret."""

    consumer_key: str
    consumer_secret: Secret = attrs.field(repr=False)
    token: Secret = attrs.field(repr=False)
    token_secret: Secret = attrs.field(repr=False)


def percent_encode(value: str) -> str:
    """RFC 5849 section 3.6: UTF-8, then every byte outside ``A-Z a-z 0-9 - . _ ~`` as
    ``%XX`` (upper-case hex). Spaces are ``%20``, never ``+``."""
    # Most values (keys, tokens, nonces, ids) need no escaping: checking is cheaper than quoting.
    if _UNRESERVED.fullmatch(value):
        return value
    return quote(value, safe="-._~")


def base_string_uri(url: str) -> str:
    """RFC 5849 section 3.4.1.2: scheme and host lower-cased, the default port dropped, the
    path kept (``/`` when empty), no query or fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


def normalized_parameters(params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1.3.2: each name and value percent-encoded, the pairs sorted by
    encoded name then encoded value, joined as ``name=value`` with ``&``."""
    encoded = sorted((percent_encode(name), percent_encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


@functools.lru_cache(maxsize=1024)
def _encoded_uri(url: str) -> str:
    # A send reaches a handful of endpoints, again and again.
    return percent_encode(base_string_uri(url))


def _encode_encoded(text: str) -> str:
    # Percent-encoding text that is itself percent-encoded pairs: only "%", "=" and "&" are
    # outside the unreserved set there, so three replacements do what quote() does.
    return text.replace("%", "%25").replace("=", "%3D").replace("&", "%26")


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1.1: ``METHOD&encoded-uri&encoded-normalized-parameters``."""
    uri = url.partition("?")[0].partition("#")[0]
    return f"{method.upper()}&{_encoded_uri(uri)}&{_encode_encoded(normalized_parameters(params))}"


def signing_key(consumer_secret: str, token_secret: str) -> str:
    """RFC 5849 section 3.4.2: both secrets percent-encoded, joined by ``&`` (which stays even
    when the token secret is empty)."""
    return f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"


def signature(base_string: str, key: str) -> str:
    """The base64 HMAC-SHA1 of ``base_string`` under ``key``."""
    digest = hmac.new(key.encode("utf-8"), base_string.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def request_parameters(url: str, form: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The non-OAuth parameters a request signs: its query string's (``+`` read as a space,
    blank values kept) and those of a form-encoded body."""
    query = urlsplit(url).query
    return [*parse_qsl(query, keep_blank_values=True), *form]


def _oauth_parameters(
    credentials: OAuth1Credentials, nonce: str, timestamp: int
) -> list[tuple[str, str]]:
    return [
        ("oauth_consumer_key", credentials.consumer_key),
        ("oauth_nonce", nonce),
        ("oauth_signature_method", SIGNATURE_METHOD),
        ("oauth_timestamp", str(timestamp)),
        ("oauth_token", credentials.token.reveal()),
        ("oauth_version", VERSION),
    ]


def authorization_header(
    method: str,
    url: str,
    credentials: OAuth1Credentials,
    *,
    nonce: str,
    timestamp: int,
    form: Iterable[tuple[str, str]] = (),
) -> str:
    """The ``Authorization: OAuth ...`` value for one request (RFC 5849 section 3.5.1)."""
    oauth = _oauth_parameters(credentials, nonce, timestamp)
    base = signature_base_string(method, url, [*request_parameters(url, form), *oauth])
    key = signing_key(credentials.consumer_secret.reveal(), credentials.token_secret.reveal())
    fields = [*oauth, ("oauth_signature", signature(base, key))]
    return "OAuth " + ", ".join(
        f'{percent_encode(name)}="{percent_encode(value)}"' for name, value in sorted(fields)
    )


def _form_of(request: ProviderRequest) -> list[tuple[str, str]]:
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != _FORM or not request.body:
        return []
    return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)


def sign(
    request: ProviderRequest, credentials: OAuth1Credentials, *, nonce: str, timestamp: int
) -> ProviderRequest:
    """``request`` with its ``Authorization`` header signed by ``credentials``."""
    header = authorization_header(
        request.method,
        request.url,
        credentials,
        nonce=nonce,
        timestamp=timestamp,
        form=_form_of(request),
    )
    return request.with_headers({"Authorization": header})


def parse_authorization_header(value: str) -> dict[str, str]:
    """The parameters of an ``OAuth k="v", ...`` header, decoded; empty when it is not one."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "oauth":
        return {}
    found: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, quoted = item.strip().partition("=")
        if not equals or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            return {}
        found[unquote(name)] = unquote(quoted[1:-1])
    return found


def verify(
    method: str,
    url: str,
    header: str,
    credentials: OAuth1Credentials,
    *,
    form: Iterable[tuple[str, str]] = (),
) -> Mapping[str, str] | None:
    """The header's ``oauth_*`` parameters when it is a correct signature by ``credentials``
    of this request, else None. The caller checks the timestamp window and nonce reuse."""
    given = parse_authorization_header(header)
    claimed = given.pop("oauth_signature", None)
    given.pop("realm", None)
    if claimed is None or given.get("oauth_signature_method") != SIGNATURE_METHOD:
        return None
    if not constant_time_equal(given.get("oauth_consumer_key", ""), credentials.consumer_key):
        return None
    if not constant_time_equal(given.get("oauth_token", ""), credentials.token.reveal()):
        return None
    base = signature_base_string(method, url, [*request_parameters(url, form), *given.items()])
    key = signing_key(credentials.consumer_secret.reveal(), credentials.token_secret.reveal())
    return given if constant_time_equal(signature(base, key), claimed) else None
