"""X's error answers as typed errors: problem JSON read, and the table that classifies it.

X has no numeric error codes in API v2: an error is an HTTP status with problem JSON
(RFC 9457: ``type``, ``title``, ``detail``, ``status``; sometimes ``errors[]`` naming the
request ``parameters`` at fault). The same status means different things for different
requests (a 403 on a DM is a recipient who does not accept DMs; on a post, a duplicate or a
reply restriction), so each request says what it does (:class:`Action`), and the table
matches status, problem type, named parameters and words of the detail, first match wins.
The ``detail`` (else the ``title``) is kept as the error's ``provider_message``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import attrs

from omnichannel import (
    ContentRejected,
    FailureReason,
    InvalidRecipient,
    ProviderError,
    RateLimited,
    SendError,
)
from omnichannel.plugin import ProviderResponse, default_error_for_response, retry_after_seconds

__all__ = [
    "ERROR_RULES",
    "Action",
    "ErrorRule",
    "Problem",
    "error_for",
    "parse_problem",
    "rate_limit_wait",
]


class Action(enum.StrEnum):
    """What a request does: the same HTTP status means different things for each."""

    DM = "dm"
    POST = "post"
    UPLOAD = "upload"
    READ = "read"


# --- Errors -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Problem:
    """What an X error answer says: the problem type's last segment (``invalid-request``,
    ``about:blank``), its title and detail, and the request parameters it names."""

    type: str | None = None
    title: str | None = None
    detail: str | None = None
    parameters: frozenset[str] = frozenset()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_problem(body: object) -> Problem:
    """The problem in an error body (RFC 9457 problem JSON, or a ``200`` with ``errors``)."""
    if not isinstance(body, Mapping):
        return Problem()
    errors = [item for item in body.get("errors") or () if isinstance(item, Mapping)]
    first = errors[0] if errors and not body.get("type") else body
    kind = _text(first.get("type"))
    parameters: set[str] = set()
    for item in (body, *errors):
        if isinstance(item.get("parameter"), str):
            parameters.add(item["parameter"])
        if isinstance(item.get("parameters"), Mapping):
            parameters.update(str(name) for name in item["parameters"])
    return Problem(
        type=kind.rstrip("/").rsplit("/", 1)[-1] if kind else None,
        title=_text(first.get("title")),
        detail=_text(first.get("detail")) or _text(first.get("message")),
        parameters=frozenset(parameters),
    )


@attrs.frozen(kw_only=True)
class ErrorRule:
    """One row of the error table: what it matches, what it becomes, what to do."""

    status: int
    error: type[SendError]
    reason: FailureReason
    advice: str
    retryable: bool = False
    detail: tuple[str, ...] = ()
    """Words, one of which the lower-cased ``detail`` must contain (X has no error codes)."""
    problem: str | None = None
    parameters: frozenset[str] = frozenset()
    """Request parameters, one of which the problem must name."""
    actions: frozenset[Action] = frozenset(Action)


_RECIPIENT_PARAMETERS: Final = frozenset({"participant_id", "dm_conversation_id", "id"})
_REPLY_PARAMETERS: Final = frozenset({"in_reply_to_tweet_id", "reply.in_reply_to_tweet_id"})
_MEDIA_PARAMETERS: Final = frozenset({"media_id", "media_ids", "attachments", "media"})

ERROR_RULES: Final[tuple[ErrorRule, ...]] = (
    ErrorRule(
        status=429,
        error=RateLimited,
        reason=FailureReason.RATE_LIMITED,
        retryable=True,
        advice="X's rate limit or usage cap; wait until x-rate-limit-reset",
    ),
    ErrorRule(
        status=401,
        error=ProviderError,
        reason=FailureReason.AUTH,
        advice="check bearer_token (it expires after about 2 hours) or the OAuth 1.0a keys, "
        "tokens and this machine's clock",
    ),
    ErrorRule(
        status=403,
        detail=("duplicate",),
        error=ContentRejected,
        reason=FailureReason.CONTENT_REJECTED,
        advice="X refuses a post repeating the text of a recent one; vary the text",
    ),
    ErrorRule(
        status=403,
        detail=("not been mentioned", "engaged", "summoned"),
        actions=frozenset({Action.POST}),
        error=ProviderError,
        reason=FailureReason.POLICY,
        advice="self-serve accounts may reply only to posts that @mention or quote the "
        "account; answer by DM instead",
    ),
    ErrorRule(
        status=403,
        problem="client-forbidden",
        error=ProviderError,
        reason=FailureReason.AUTH,
        advice="the app has no access to this endpoint: check its project and plan",
    ),
    ErrorRule(
        status=403,
        actions=frozenset({Action.DM}),
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        advice="the user does not accept DMs from this account (they must follow it or open "
        "their DMs) or has blocked it; answer publicly or wait for them to write",
    ),
    ErrorRule(
        status=403,
        error=ProviderError,
        reason=FailureReason.AUTH,
        advice="check the token's scopes (dm.write, tweet.write, media.write) and that the "
        "app may read, write and send DMs",
    ),
    ErrorRule(
        status=400,
        parameters=_RECIPIENT_PARAMETERS,
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        advice="not a user or a conversation of this account; check the recipient id",
    ),
    ErrorRule(
        status=400,
        parameters=_REPLY_PARAMETERS,
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        advice="the post being answered does not exist or was deleted",
    ),
    ErrorRule(
        status=400,
        parameters=_MEDIA_PARAMETERS,
        error=ContentRejected,
        reason=FailureReason.CONTENT_REJECTED,
        advice="the media id is unknown, expired (24 hours) or uploaded by another account",
    ),
    ErrorRule(
        status=400,
        parameters=frozenset({"text"}),
        error=ContentRejected,
        reason=FailureReason.CONTENT_REJECTED,
        advice="X refused the text (too long, or more than one cashtag on a self-serve account)",
    ),
    ErrorRule(
        status=404,
        error=InvalidRecipient,
        reason=FailureReason.INVALID_RECIPIENT,
        advice="the user or post does not exist (or was deleted)",
    ),
)
"""X's error answers by status, problem type, named parameters and detail words, first match
wins; anything else falls back to the HTTP status (5xx retryable)."""


def _matches(rule: ErrorRule, status: int, problem: Problem, action: Action) -> bool:
    if rule.status != status or action not in rule.actions:
        return False
    if rule.problem is not None and rule.problem != problem.type:
        return False
    if rule.parameters and not rule.parameters & problem.parameters:
        return False
    detail = (problem.detail or "").lower()
    return not rule.detail or any(word in detail for word in rule.detail)


def error_for(response: ProviderResponse, *, action: Action, now: datetime) -> SendError:
    """The typed error for a non-2xx answer to an ``action`` request; ``now`` turns
    ``x-rate-limit-reset`` (epoch seconds) into a wait. The problem's ``detail`` (else its
    ``title``) is kept as ``provider_message``, its type as ``provider_code``."""
    try:
        body: object = json.loads(response.body)
    except (UnicodeDecodeError, ValueError):
        body = None
    problem = parse_problem(body)
    message = problem.detail or problem.title
    retry_after = retry_after_seconds(response.headers, now=now.timestamp())
    rule = next(
        (rule for rule in ERROR_RULES if _matches(rule, response.status_code, problem, action)),
        None,
    )
    if rule is None:
        fallback = default_error_for_response(response)
        fallback.provider_code, fallback.provider_message = problem.type, message
        if fallback.retry_after is None:
            fallback.retry_after = retry_after
        return fallback
    said = f": {_short(message)}" if message else ""
    return rule.error(
        f"X refused the {action.value} (HTTP {response.status_code}{said}); {rule.advice}",
        reason=rule.reason,
        retryable=rule.retryable,
        retry_after=retry_after if rule.retryable else None,
        provider_code=problem.type,
        provider_message=message,
        status_code=response.status_code,
    )


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rate_limit_wait(response: ProviderResponse, now: datetime) -> float | None:
    """Seconds until the rate-limit window resets when none are left in it (``x-rate-limit-
    remaining: 0``), else None: how long to hold off the next read of that endpoint."""
    remaining = response.header("x-rate-limit-remaining")
    reset = response.header("x-rate-limit-reset")
    if remaining is None or reset is None or remaining.strip() != "0":
        return None
    try:
        return max(0.0, float(reset) - now.timestamp())
    except ValueError:
        return None
