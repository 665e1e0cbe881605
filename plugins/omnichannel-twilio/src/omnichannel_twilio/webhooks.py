"""What every Twilio webhook has in common: ``X-Twilio-Signature``, the parameter reader and
the empty TwiML answer. Messaging and Voice sign and post their webhooks the same way.

The signature (Twilio's security docs, and its ``RequestValidator``) is the base64 HMAC-SHA1,
keyed with the account's Auth Token, of the URL Twilio called (query string as sent) followed
by every form parameter's name and value, names sorted, blank values included: the URL-params
scheme of :mod:`omnichannel.plugin`. A JSON body is signed differently: the URL carries
``bodySHA256`` (the hex SHA-256 of the raw body) and the signature covers the URL alone. The
validator accepts the URL with its port removed or with the default port added; a non-default
port a proxy hid cannot be recovered. Parameters are never filtered before the check: Twilio
adds parameters without notice.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from omnichannel import (
    Address,
    AddressKind,
    Secret,
    WebhookParseError,
    WebhookRequest,
)
from omnichannel.plugin import sign_url_params, verify_url_params_request
from omnichannel_twilio.payloads import ENVELOPE_ID_PARAM, FORM_CONTENT_TYPE, FormPairs, form_body

__all__ = [
    "BODY_HASH_PARAM",
    "EMPTY_TWIML",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "first_values",
    "phone_address",
    "request_params",
    "sign",
    "signed_request",
    "verify_request",
]

SIGNATURE_HEADER: Final = "X-Twilio-Signature"
IDEMPOTENCY_HEADER: Final = "I-Twilio-Idempotency-Token"
BODY_HASH_PARAM: Final = "bodySHA256"
EMPTY_TWIML: Final = '<?xml version="1.0" encoding="UTF-8"?><Response />'
"""What twilio's ``MessagingResponse().to_xml()`` and ``VoiceResponse().to_xml()`` give:
acknowledge, do nothing more."""


# --- signature ------------------------------------------------------------------------------------


def sign(token: str | Secret, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends when it posts ``params`` to ``url``."""
    return sign_url_params(token, url, params)


def verify_request(request: WebhookRequest, tokens: Sequence[str | Secret]) -> None:
    """Raise :class:`~omnichannel.WebhookVerificationError` unless Twilio signed ``request``.

    ``request.url`` must be the public URL Twilio called. ``tokens`` are tried in turn (the
    primary Auth Token, then the secondary one while it is being rotated).
    """
    verify_url_params_request(
        request,
        tokens,
        header=SIGNATURE_HEADER,
        body_hash_param=BODY_HASH_PARAM,
        hint="check auth_token and that webhooks.public_url is the URL Twilio calls "
        "(scheme, host, port and path)",
    )


def signed_request(
    token: str | Secret,
    url: str,
    params: Sequence[tuple[str, str]],
    *,
    headers: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A form POST of ``params`` to ``url``, signed with ``token`` and headed as Twilio
    sends it (what simulators post and ``simulate()`` builds)."""
    return WebhookRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": f"{FORM_CONTENT_TYPE}; charset=UTF-8",
            "User-Agent": "TwilioProxy/1.1",
            IDEMPOTENCY_HEADER: f"omni-{secrets.token_hex(16)}",
            **(headers or {}),
            SIGNATURE_HEADER: sign(token, url, params),
        },
        body=form_body(params),
    )


# --- parameters -----------------------------------------------------------------------------------


def request_params(request: WebhookRequest) -> FormPairs:
    """Every parameter of a verified request, in order, blank values and repeats kept.

    Form bodies are the norm; a GET carries them in the query (our ``envelope_id`` left
    out); a JSON body (the ``bodySHA256`` variant) must be a flat object of strings, else
    :class:`~omnichannel.WebhookParseError`.
    """
    if request.method.upper() == "GET":
        return [(name, value) for name, value in request.query() if name != ENVELOPE_ID_PARAM]
    if request.query_value(BODY_HASH_PARAM) is None:
        return request.form()
    data = request.json()
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise WebhookParseError("a JSON Twilio webhook must be a flat object of strings")
    return [(str(name), value) for name, value in data.items()]


def first_values(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``pairs`` as every value of each name (for ``raw``) and as its first value."""
    every: dict[str, list[str]] = {}
    for name, value in pairs:
        every.setdefault(name, []).append(value)
    return every, {name: values[0] for name, values in every.items()}


def phone_address(channel: str, value: str) -> Address:
    """``value`` as an address, in E.164 when it is a phone number; a short code, an
    alphanumeric sender id, a withheld caller id (``anonymous``) or a ``client:``/``sip:``
    caller is kept as Twilio sent it."""
    return Address.from_provider(channel, value, AddressKind.PHONE)
