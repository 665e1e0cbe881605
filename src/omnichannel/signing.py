"""Webhook signatures: the generic HMAC schemes channel plugins use to sign and verify requests.

Providers authenticate their webhooks with a handful of shared-secret schemes that differ only
in what is signed, which hash is used and how the digest is written down. This module holds
each scheme once, as pure functions over bytes, so a plugin's ``webhooks.py`` chooses a scheme
and its parameters instead of re-implementing HMAC:

- *URL plus sorted form params*: the callback URL followed by every form field, names sorted,
  base64 digest (:func:`sign_url_params`, :func:`verify_url_params`, :func:`url_port_variants`);
  its JSON variant signs the URL alone and carries the body's hash in a query parameter the
  provider names (:func:`body_sha256_matches`).
- *Raw body*: an HMAC of the exact request bytes, hex or base64, often behind a prefix such as
  ``sha256=`` (:func:`sign_body`, :func:`verify_body`).
- *Concatenated parts*: an HMAC of fields joined without a separator, such as a timestamp and
  a token (:func:`mac_over_parts`).
- *Standard Webhooks* (standardwebhooks.com), the scheme omnichannel uses for the webhooks it
  sends itself (:class:`StandardWebhooks`).

Every comparison is constant-time, every key may be a :class:`~omnichannel.config.Secret`, and
verifiers answer ``False`` (or raise :class:`~omnichannel.errors.WebhookVerificationError`)
rather than crash on malformed input. Always verify the bytes as received: a body parsed and
serialised again no longer matches its signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal, TypeAlias, final
from urllib.parse import parse_qsl, urlsplit

from omnichannel.adapter import WebhookRequest
from omnichannel.config import Secret
from omnichannel.errors import WebhookParseError, WebhookVerificationError

__all__ = [
    "StandardWebhooks",
    "body_sha256_matches",
    "constant_time_equal",
    "hmac_digest",
    "mac_over_parts",
    "sign_body",
    "sign_url_params",
    "url_params_string",
    "url_port_variants",
    "verify_body",
    "verify_url_params",
    "verify_url_params_request",
]

_Key: TypeAlias = str | bytes | Secret
_Encoding: TypeAlias = Literal["hex", "base64"]

_DEFAULT_PORTS: Final[Mapping[str, int]] = {"http": 80, "https": 443}


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _key_bytes(key: _Key) -> bytes:
    if isinstance(key, Secret):
        return key.reveal().encode("utf-8")
    return _as_bytes(key)


def _encode(digest: bytes, encoding: _Encoding) -> str:
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    raise ValueError(f"unknown digest encoding {encoding!r}; use 'hex' or 'base64'")


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Whether ``a`` equals ``b``, in time that does not depend on where they differ.

    Strings are compared as UTF-8, so any text (even non-ASCII garbage from a header) is safe.
    """
    return hmac.compare_digest(_as_bytes(a), _as_bytes(b))


def hmac_digest(key: _Key, message: str | bytes, algorithm: str = "sha256") -> bytes:
    """The raw HMAC of ``message`` under ``key`` with the named :mod:`hashlib` algorithm."""
    # The one-shot form runs in OpenSSL without building an HMAC object in Python.
    return hmac.digest(_key_bytes(key), _as_bytes(message), algorithm)


# --- HMAC over the URL plus sorted form params -------------------------------------------------


def _params_suffix(params: Iterable[tuple[str, str]]) -> str:
    # Sorting distinct (name, value) pairs orders names, then each name's distinct values.
    return "".join(map("".join, sorted(set(params))))


def url_params_string(url: str, params: Iterable[tuple[str, str]]) -> str:
    """The string this scheme signs: ``url`` followed by ``name + value`` for every param.

    Names come in ascending order and, for a name given several times, each distinct value in
    ascending order, with no separators. Blank values count (their name is still appended), so
    parse form bodies with ``keep_blank_values=True``. ``url`` is used exactly as given,
    query string and percent-encoding included.
    """
    return url + _params_suffix(params)


def sign_url_params(
    key: _Key, url: str, params: Iterable[tuple[str, str]], *, algorithm: str = "sha1"
) -> str:
    """The base64 HMAC of :func:`url_params_string` for ``url`` and ``params``."""
    return _encode(hmac_digest(key, url_params_string(url, params), algorithm), "base64")


def _netloc_span(url: str, netloc: str) -> tuple[int, int] | None:
    start = url.find("//")
    if start < 0 or not netloc:
        return None
    start += 2
    end = start + len(netloc)
    return (start, end) if url[start:end] == netloc else None


def _split_port(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return hostport, None
        rest = hostport[close + 1 :]
        return hostport[: close + 1], (rest[1:] if rest.startswith(":") else None)
    host, colon, port = hostport.rpartition(":")
    return (host, port) if colon else (hostport, None)


def url_port_variants(url: str) -> list[str]:
    """``url`` as given, then the same URL with its port removed or its default port added.

    Senders of this scheme sign the URL they called, but the URL a server rebuilds behind a
    proxy may gain or lose a default port (443 for https, 80 for http). A URL with a port gets
    the port-less variant (whatever the port); one without gets the scheme's default port. A
    non-default port that a proxy hid cannot be recovered, so such a URL has no variant that
    matches. Everything outside the authority is kept byte for byte.
    """
    return list(_port_variants(url))


# A webhook URL repeats from request to request (status callbacks differ only by their query),
# so the variants are remembered, in a bounded cache.
@functools.lru_cache(maxsize=1024)
def _port_variants(url: str) -> tuple[str, ...]:
    return tuple(_compute_port_variants(url))


def _compute_port_variants(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket, for one
        return [url]
    span = _netloc_span(url, parts.netloc)
    if span is None:
        return [url]
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, port = _split_port(hostport)
    if port is not None:
        new_hostport = host
    elif parts.scheme in _DEFAULT_PORTS:
        new_hostport = f"{host}:{_DEFAULT_PORTS[parts.scheme]}"
    else:
        return [url]
    variant = url[: span[0]] + userinfo + at + new_hostport + url[span[1] :]
    return [url] if variant == url else [url, variant]


def verify_url_params(
    key: _Key,
    urls: Iterable[str],
    params: Iterable[tuple[str, str]],
    signature: str,
    *,
    algorithm: str = "sha1",
) -> bool:
    """Whether ``signature`` signs ``params`` under any of ``urls``.

    Pass :func:`url_port_variants` of the public URL as ``urls``. Every candidate is computed
    and compared in constant time, so the answer takes as long whichever URL matches.
    """
    suffix = _params_suffix(params)
    matched = False
    for url in urls:
        expected = _encode(hmac_digest(key, url + suffix, algorithm), "base64")
        matched |= constant_time_equal(expected, signature)
    return matched


def body_sha256_matches(url: str, body: bytes, *, param: str) -> bool:
    """Whether ``url``'s query parameter ``param`` is the hex SHA-256 of ``body``.

    The JSON-body variant of the URL scheme signs only the URL, and the URL carries the hash
    of the raw body; verify the signature over the URL *and* this hash. ``False`` when the
    parameter is missing.
    """
    try:
        query = urlsplit(url).query
    except ValueError:
        return False
    claimed = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == param]
    if not claimed:
        return False
    return constant_time_equal(hashlib.sha256(body).hexdigest(), claimed[0])


def verify_url_params_request(
    request: WebhookRequest,
    keys: Iterable[_Key],
    *,
    header: str,
    algorithm: str = "sha1",
    body_hash_param: str | None = None,
    hint: str = "",
) -> None:
    """Raise :class:`~omnichannel.WebhookVerificationError` unless ``request`` carries, in
    ``header``, a URL-params signature made with one of ``keys``.

    Covers the whole scheme: the public URL as received and its port variants; a GET request
    signs its URL alone; where the provider has a JSON variant (``body_hash_param`` names the
    query parameter carrying the body's hex SHA-256), a request with that parameter signs the
    URL alone and the parameter must be the body's hash; a form body signs the URL plus its
    sorted params, blank values kept.
    Every key is tried (a primary and a rotated-out secondary) and every candidate computed,
    so the time taken does not say which matched. ``hint`` ends the mismatch message (what to
    check in the configuration).
    """
    signature = request.header(header)
    if not signature:
        raise WebhookVerificationError(f"missing {header} header")
    params: list[tuple[str, str]] = []
    if body_hash_param is not None and request.query_value(body_hash_param) is not None:
        if not body_sha256_matches(request.url, request.body, param=body_hash_param):
            raise WebhookVerificationError(f"the body does not match the URL's {body_hash_param}")
    elif request.method.upper() != "GET":
        try:
            params = request.form()
        except WebhookParseError:
            raise WebhookVerificationError(
                f"the body is not form-encoded, so it cannot carry a valid {header}"
            ) from None
    urls = _port_variants(request.url)
    suffix = _params_suffix(params)
    matched = False
    for key in keys:
        key_bytes = _key_bytes(key)
        for url in urls:
            expected = _encode(hmac.digest(key_bytes, (url + suffix).encode(), algorithm), "base64")
            matched |= constant_time_equal(expected, signature)
    if not matched:
        raise WebhookVerificationError(f"{header} does not match{'; ' + hint if hint else ''}")


# --- HMAC over the raw body, or over concatenated parts ----------------------------------------


def sign_body(
    key: _Key,
    body: bytes,
    *,
    algorithm: str = "sha256",
    encoding: _Encoding = "hex",
    prefix: str = "",
) -> str:
    """``prefix`` followed by the hex or base64 HMAC of the raw ``body``."""
    return prefix + _encode(hmac_digest(key, body, algorithm), encoding)


def verify_body(
    key: _Key,
    body: bytes,
    signature: str | None,
    *,
    algorithm: str = "sha256",
    encoding: _Encoding = "hex",
    prefix: str = "",
) -> bool:
    """Whether ``signature`` (a header value, perhaps absent) is :func:`sign_body` of ``body``.

    ``False`` for a missing header, a missing ``prefix`` or any malformed value; hex digits
    are accepted in either case.
    """
    if signature is None or not signature.startswith(prefix):
        return False
    given = signature[len(prefix) :]
    if encoding == "hex":
        given = given.lower()
    expected = _encode(hmac_digest(key, body, algorithm), encoding)
    return constant_time_equal(expected, given)


def mac_over_parts(
    key: _Key, *parts: str | bytes, algorithm: str = "sha256", encoding: _Encoding = "hex"
) -> str:
    """The HMAC of ``parts`` concatenated with no separator, such as a timestamp and a token.

    Compare it to the received value with :func:`constant_time_equal`.
    """
    message = b"".join(_as_bytes(part) for part in parts)
    return _encode(hmac_digest(key, message, algorithm), encoding)


# --- Standard Webhooks -------------------------------------------------------------------------

_SECRET_PREFIX: Final = "whsec_"
_SIGNATURE_VERSION: Final = "v1"
_ID_HEADER: Final = "webhook-id"
_TIMESTAMP_HEADER: Final = "webhook-timestamp"
_SIGNATURE_HEADER: Final = "webhook-signature"


def _standard_webhooks_key(secret: str) -> bytes:
    encoded = secret.removeprefix(_SECRET_PREFIX)
    # The reference library accepts secrets whose base64 padding was trimmed.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the webhook signing secret is not valid base64 (expected 'whsec_' + base64)"
        ) from None
    if not key:
        raise ValueError("the webhook signing secret is empty")
    return key


@final
class StandardWebhooks:
    """Signs and verifies webhooks by the Standard Webhooks symmetric scheme (``v1``).

    The signature is ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``, keyed with
    the base64-*decoded* secret (``whsec_`` + base64; the prefix is optional). ``clock`` is
    the time source, injectable for tests; ``tolerance_seconds`` bounds how far a timestamp
    may be from it, in both directions.
    """

    __slots__ = ("_clock", "_key", "_tolerance")

    def __init__(
        self,
        secret: str | Secret,
        *,
        tolerance_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        raw = secret.reveal() if isinstance(secret, Secret) else secret
        self._key = _standard_webhooks_key(raw)
        self._tolerance = tolerance_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"StandardWebhooks(secret=<secret>, tolerance_seconds={self._tolerance})"

    def sign(self, message_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature of ``body`` sent as ``message_id`` at ``timestamp``."""
        if "." in message_id:
            raise ValueError("a webhook message id must not contain '.'")
        return f"{_SIGNATURE_VERSION},{self._digest(message_id, str(timestamp), body)}"

    def _digest(self, message_id: str, timestamp: str, body: bytes) -> str:
        signed = f"{message_id}.{timestamp}.".encode() + body
        return _encode(hmac.new(self._key, signed, hashlib.sha256).digest(), "base64")

    def headers(self, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The three headers to send with ``body``; ``timestamp`` defaults to the clock's now."""
        when = int(self._clock()) if timestamp is None else timestamp
        return {
            _ID_HEADER: message_id,
            _TIMESTAMP_HEADER: str(when),
            _SIGNATURE_HEADER: self.sign(message_id, when, body),
        }

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check a received webhook; raise :class:`WebhookVerificationError` if it is not genuine.

        Header names match in any case. The timestamp must be an integer within the tolerance
        of the clock, and at least one ``v1`` entry of the space-separated signature list must
        match; entries of other versions are ignored, which lets a sender rotate secrets by
        sending one signature per secret.
        """
        by_name = {name.lower(): value for name, value in headers.items()}
        for name in (_ID_HEADER, _TIMESTAMP_HEADER, _SIGNATURE_HEADER):
            if not by_name.get(name):
                raise WebhookVerificationError(f"missing {name} header")
        message_id = by_name[_ID_HEADER]
        stamp = by_name[_TIMESTAMP_HEADER].strip()
        if not (stamp.isascii() and stamp.isdigit()):
            raise WebhookVerificationError(f"{_TIMESTAMP_HEADER} header is not an integer")
        timestamp = int(stamp)
        now = int(self._clock())
        if timestamp < now - self._tolerance:
            raise WebhookVerificationError(f"{_TIMESTAMP_HEADER} is too old")
        if timestamp > now + self._tolerance:
            raise WebhookVerificationError(f"{_TIMESTAMP_HEADER} is too new")
        expected = self._digest(message_id, stamp, body)
        matched = False
        for entry in by_name[_SIGNATURE_HEADER].split():
            version, _, value = entry.partition(",")
            if version == _SIGNATURE_VERSION:
                matched |= constant_time_equal(expected, value)
        if not matched:
            raise WebhookVerificationError("no webhook signature matches")
