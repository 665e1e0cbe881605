"""What every Twilio REST resource has in common, as pure functions: the API version and URLs,
form encoding and the ``provider_options`` escape hatch, the status-callback URL, the error
bodies and the error-code rule type, and Twilio's dates and resources. No I/O, so everything
here tests as a table.

Wire facts (Twilio's API reference, "Twilio API responses" and the error dictionary): every
resource of the 2010 API lives under ``/2010-04-01/Accounts/{AccountSid}/``; creates are
form-encoded POSTs with PascalCase fields; answers are JSON with RFC 2822 dates; errors come in
the legacy shape ``{code, message, more_info, status}`` or as RFC 9457 problem JSON (``type``,
``title``, ``status``, ``code``, ``detail``). Twilio warns that the message text of an error may
change for a given cause, so errors are classified by code, never by text. Reading a resource's
list (the lookup behind ``reconcile``) is in :mod:`omnichannel_twilio.lookups`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Final

import attrs

from omnichannel import (
    DeliveryStatus,
    FailureReason,
    InvalidEnvelope,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
)
from omnichannel.plugin import ProviderRequest, SecretHeaders, urlencode_form

__all__ = [
    "API_VERSION",
    "ENVELOPE_ID_PARAM",
    "ERROR_CODES",
    "FORM_CONTENT_TYPE",
    "CodeRule",
    "FormPairs",
    "TwilioError",
    "TwilioResource",
    "account_path",
    "account_url",
    "api_headers",
    "create_request",
    "error_for",
    "failure_for_code",
    "form_body",
    "form_headers",
    "option_pairs",
    "options_of",
    "parse_error",
    "parse_time",
    "rfc2822",
    "rules",
    "status_callback_url",
]

API_VERSION: Final = "2010-04-01"
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
ENVELOPE_ID_PARAM: Final = "envelope_id"
"""The query parameter of the StatusCallback URL that carries our envelope id back."""

FormPairs = list[tuple[str, str]]


@attrs.frozen
class TwilioResource:
    """One list resource of an account (Messages, Calls): what adapters create and look up,
    and what simulators serve."""

    name: str
    """The resource in URLs: ``/2010-04-01/Accounts/{AccountSid}/{name}.json``."""
    subject: str
    """What one of them is called in error messages (``message``)."""
    date_filter: str
    """The list filter on dates (``DateSent``), a day or a day inequality."""
    statuses: Mapping[str, DeliveryStatus]
    """The resource's ``status`` values, normalised."""
    new_status: DeliveryStatus = attrs.field(kw_only=True)
    """The status of a resource whose ``status`` is missing from :attr:`statuses` (Twilio adds
    values without notice)."""

    @property
    def key(self) -> str:
        """The key of a list page's resources (``messages``)."""
        return self.name.lower()

    @property
    def date_field(self) -> str:
        """The resource field :attr:`date_filter` reads (``DateSent`` reads ``date_sent``):
        Twilio's JSON fields are its parameter names in snake case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.date_filter).lower()

    def status_of(self, value: object) -> DeliveryStatus:
        """The normalised status of a resource whose ``status`` is ``value``."""
        return self.statuses.get(str(value), self.new_status)


# --- URLs and requests --------------------------------------------------------------------------


def account_path(account_sid: str, resource: str) -> str:
    """The path of one list resource of ``account_sid`` (``Messages``, ``Calls``)."""
    return f"/{API_VERSION}/Accounts/{account_sid}/{resource}.json"


def account_url(base_url: str, account_sid: str, resource: str) -> str:
    """:func:`account_path` under ``base_url`` (the API root, a trailing slash ignored)."""
    return f"{base_url.rstrip('/')}{account_path(account_sid, resource)}"


def status_callback_url(webhook_url: str, envelope_id: str) -> str:
    """``webhook_url`` with our envelope id in the query, so each status maps back to it.

    Twilio calls this exact URL (and signs it, query included), so the id comes back intact.
    """
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}{urlencode_form([(ENVELOPE_ID_PARAM, envelope_id)])}"


def api_headers(auth_headers: Mapping[str, str]) -> SecretHeaders:
    """The headers of every API read: auth and JSON answers (build them once per adapter)."""
    return SecretHeaders({**auth_headers, "Accept": "application/json"})


def form_headers(auth_headers: Mapping[str, str]) -> SecretHeaders:
    """The headers of every create: :func:`api_headers` and a form body."""
    return api_headers(auth_headers).merged({"Content-Type": FORM_CONTENT_TYPE})


def form_body(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``pairs`` form-encoded in order, repeated names kept (``+`` arrives as ``%2B`` and a
    space as ``+``, as Twilio's own clients send them)."""
    return urlencode_form(pairs).encode("ascii")


def create_request(
    url: str, pairs: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> ProviderRequest:
    """The request that creates a resource: a form POST with ``headers`` (:func:`form_headers`).

    Not idempotent: Twilio's Messages and Calls resources take no idempotency key, so a lost
    answer may follow a created message or a placed call, and it is never resent.
    """
    return ProviderRequest(method="POST", url=url, headers=headers, body=form_body(pairs))


# --- the provider_options escape hatch ----------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _form_value(name: str, value: object, json_fields: frozenset[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping) and name in json_fields:
        # ContentVariables and the like: Twilio wants a JSON *string*.
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(
        f"a provider option value must be a string, number or boolean, not {value!r}"
        + (f" (only {', '.join(sorted(json_fields))} take a mapping)" if json_fields else "")
    )


def option_pairs(options: Mapping[str, object], *, json_fields: Iterable[str] = ()) -> FormPairs:
    """Form fields from an envelope's ``provider_options[<adapter>]`` (the escape hatch).

    Names are Twilio's own (``ValidityPeriod``, ``Timeout``, ``ContentSid`` ...). Booleans
    become ``true``/``false``, lists and tuples repeat the field, ``None`` leaves it out, and a
    mapping becomes a JSON string for the fields in ``json_fields`` (``ContentVariables``).
    Anything else raises :class:`TypeError`.
    """
    json_names = frozenset(json_fields)
    pairs: FormPairs = []
    for name, value in options.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else (value,)
        pairs.extend(
            (str(name), _form_value(str(name), item, json_names))
            for item in values
            if item is not None
        )
    return pairs


def options_of(
    provider_options: Mapping[str, object], adapter_name: str, *, json_fields: Iterable[str] = ()
) -> FormPairs:
    """The :func:`option_pairs` of ``provider_options[adapter_name]``; a value that is not a
    mapping of flat values raises :class:`~omnichannel.InvalidEnvelope` before any request."""
    options = provider_options.get(adapter_name)
    if options is None:
        return []
    if not isinstance(options, Mapping):
        raise InvalidEnvelope(f'provider_options["{adapter_name}"] must be a mapping')
    try:
        return option_pairs(options, json_fields=json_fields)
    except TypeError as exc:
        raise InvalidEnvelope(f'provider_options["{adapter_name}"]: {exc}') from None


# --- errors ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CodeRule:
    """What one Twilio error code means for the caller."""

    error: type[SendError]
    reason: FailureReason
    retryable: bool = False
    advice: str = ""
    """What to do about it, for the error message."""


def rules(codes: Iterable[int], rule: CodeRule) -> dict[int, CodeRule]:
    """``rule`` for each of ``codes`` (for code tables where several codes mean one thing)."""
    return dict.fromkeys(codes, rule)


AUTH_ADVICE: Final = "check account_sid and auth_token (or api_key_sid and api_key_secret)"

ERROR_CODES: Final[Mapping[int, CodeRule]] = {
    20003: CodeRule(error=ProviderError, reason=FailureReason.AUTH, advice=AUTH_ADVICE),
    20404: CodeRule(
        error=ProviderError,
        reason=FailureReason.PROVIDER_ERROR,
        advice="check account_sid and base_url",
    ),
    20429: CodeRule(
        error=RateLimited,
        reason=FailureReason.RATE_LIMITED,
        retryable=True,
        advice="too many concurrent requests; Twilio did not process it, so retry later",
    ),
    # 21211 invalid To, 21217 not a valid phone number: both resources answer them.
    **rules(
        (21211, 21217),
        CodeRule(
            error=InvalidRecipient,
            reason=FailureReason.INVALID_RECIPIENT,
            advice="check the recipient's number",
        ),
    ),
}
"""The codes every Twilio resource answers. The messaging and voice tables extend it with
their own; a code missing from a table is a ``provider_error`` that keeps its code and
message (see :func:`error_for`)."""


@attrs.frozen(kw_only=True)
class TwilioError:
    """What a Twilio error body says, from either shape; every field may be missing."""

    code: int | None = None
    message: str | None = None
    more_info: str | None = None


_DOCS_CODE = re.compile(r"/errors/(\d+)/?$")
_PROVIDER_TEXT_LIMIT: Final = 300


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_error(content: bytes) -> TwilioError:
    """Read a Twilio error body: the legacy shape or RFC 9457 problem JSON.

    The message is the first of ``message``, ``detail`` and ``title`` (at most 300
    characters). Anything else (an HTML page from a proxy, an empty body) gives an empty
    :class:`TwilioError`; the HTTP status then decides.
    """
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        return TwilioError()
    if not isinstance(data, dict):
        return TwilioError()
    code = _code(data.get("code"))
    problem_type = data.get("type")
    if code is None and isinstance(problem_type, str):
        # Problem JSON without "code": its type is the error's documentation page.
        match = _DOCS_CODE.search(problem_type)
        code = int(match.group(1)) if match else None
    message = next(
        (
            value.strip()[:_PROVIDER_TEXT_LIMIT]
            for key in ("message", "detail", "title")
            if isinstance(value := data.get(key), str) and value.strip()
        ),
        None,
    )
    more_info = data.get("more_info") or problem_type
    return TwilioError(
        code=code, message=message, more_info=more_info if isinstance(more_info, str) else None
    )


_MESSAGE_LIMIT: Final = 200


def _short(text: str | None) -> str:
    if not text:
        return "no message"
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_LIMIT else flat[: _MESSAGE_LIMIT - 1] + "…"


def error_for(
    status_code: int,
    error: TwilioError,
    retry_after: float | None,
    *,
    codes: Mapping[int, CodeRule] = ERROR_CODES,
    what: str = "request",
) -> SendError:
    """The typed error for a non-2xx answer: by Twilio code (in ``codes``) first, then by
    HTTP status; a 429 without a known code is read as 20429.

    ``what`` names what was refused ("message", "call"). ``retry_after`` is what the answer's
    ``Retry-After`` said, kept on retryable errors. Messages carry Twilio's short message
    (trimmed), never the body.
    """
    code = str(error.code) if error.code is not None else None
    said = _short(error.message)
    common: dict[str, Any] = {
        "provider_code": code,
        "provider_message": error.message,
        "status_code": status_code,
    }
    rule = codes.get(error.code) if error.code is not None else None
    if rule is None and status_code == 429:
        rule = codes.get(20429, ERROR_CODES[20429])
    if rule is not None:
        advice = f": {rule.advice}" if rule.advice else ""
        refused = f"with error {code} ({said})" if code else f"(HTTP {status_code}: {said})"
        return rule.error(
            f"Twilio refused the {what} {refused}{advice}",
            reason=rule.reason,
            retryable=rule.retryable,
            retry_after=retry_after if rule.retryable else None,
            **common,
        )
    code_part = f" (code {code})" if code else ""
    if status_code >= 500:
        return ProviderError(
            f"Twilio failed (HTTP {status_code}){code_part}: {said}",
            reason=FailureReason.PROVIDER_ERROR,
            retryable=True,
            retry_after=retry_after,
            **common,
        )
    if status_code in (401, 403):
        return ProviderError(
            f"Twilio refused our credentials (HTTP {status_code}){code_part}: {said}; "
            f"{AUTH_ADVICE}",
            reason=FailureReason.AUTH,
            **common,
        )
    return ProviderError(
        f"Twilio refused the {what} (HTTP {status_code}){code_part}: {said}",
        reason=FailureReason.PROVIDER_ERROR,
        retryable=False,
        **common,
    )


def failure_for_code(
    code: str | None, codes: Mapping[int, CodeRule] = ERROR_CODES
) -> tuple[FailureReason, bool]:
    """The reason and retryability of an ``ErrorCode`` in a status callback.

    No code gives ``unknown``; a code missing from ``codes`` gives ``provider_error``, not
    retryable.
    """
    if code is None or not code.strip():
        return FailureReason.UNKNOWN, False
    rule = codes.get(_code(code) or -1)
    if rule is None:
        return FailureReason.PROVIDER_ERROR, False
    return rule.reason, rule.retryable


# --- times ----------------------------------------------------------------------------------------


def rfc2822(moment: datetime) -> str:
    """``moment`` as Twilio writes its dates: RFC 2822, UTC, whole seconds."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def parse_time(value: object) -> datetime | None:
    """A Twilio date (RFC 2822) as an aware datetime; None when missing or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
