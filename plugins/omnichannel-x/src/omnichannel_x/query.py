"""X search queries, as the simulator matches them against its posts.

A working subset of the recent-search operators (X's "Build a query" guide): keywords
(matched as whole words, any case), ``"exact phrases"``, ``-`` negation, ``OR`` and
parentheses (AND binds tighter than OR, as on X), ``from:``, ``to:``, ``@mention``,
``#hashtag``, ``is:reply``, ``is:quote``, ``is:retweet`` and ``has:links``. A query X would
refuse (unbalanced, empty, only negations) is refused with X's wording, and an operator outside
the subset is refused by name: a query is never matched wrongly without a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["Matcher", "QueryError", "compile_query"]

Post = Mapping[str, Any]
Matcher = Callable[[Post, Callable[[str], str | None]], bool]
"""``matcher(post, username_of)``: whether ``post`` matches; ``username_of`` maps a user id to
its handle."""

_TOKEN: Final = re.compile(r'\s*(\(|\)|-?"[^"]*"|-?[^\s()"]+)')
_WORD: Final = re.compile(r"[\w']+", re.UNICODE)


class QueryError(ValueError):
    """The query cannot be parsed; the message is X-like."""


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _referenced(post: Post, kind: str) -> bool:
    return any(
        isinstance(item, Mapping) and item.get("type") == kind
        for item in post.get("referenced_tweets") or ()
    )


def _term(token: str) -> Matcher:
    if token.startswith('"'):
        phrase = token.strip('"').lower()
        return lambda post, _: phrase in str(post.get("text", "")).lower()
    operator, colon, value = token.partition(":")
    if colon and operator in _OPERATORS:
        if not value:
            raise QueryError(
                f"There were errors processing your request: '{operator}:' needs a value"
            )
        return _OPERATORS[operator](value.lower())
    if colon and operator and not token.startswith(("http:", "https:")):
        raise QueryError(
            f"the sandbox cannot simulate the operator '{operator}:' (it matches keywords, "
            '"phrases", -, OR, (), from:, to:, @, #, is:reply|quote|retweet and has:links)'
        )
    if token.startswith("@"):
        handle = token[1:].lower()
        return lambda post, _: f"@{handle}" in _mentions(post)
    if token.startswith("#"):
        tag = token[1:].lower()
        return lambda post, _: f"#{tag}" in str(post.get("text", "")).lower().split()
    word = token.lower()
    return lambda post, _: word in _words(str(post.get("text", "")))


def _mentions(post: Post) -> set[str]:
    text = str(post.get("text", "")).lower()
    return {f"@{name.lower()}" for name in re.findall(r"@(\w{1,15})", text)}


def _from(value: str) -> Matcher:
    return lambda post, username_of: (
        (username_of(str(post.get("author_id"))) or "").lower() == value
    )


def _to(value: str) -> Matcher:
    return lambda post, username_of: (
        (username_of(str(post.get("in_reply_to_user_id"))) or "").lower() == value
    )


def _is(value: str) -> Matcher:
    kinds = {"reply": "replied_to", "quote": "quoted", "retweet": "retweeted"}
    if value not in kinds:
        raise QueryError(f"Reference to invalid operator 'is:{value}'")
    return lambda post, _: _referenced(post, kinds[value])


def _has(value: str) -> Matcher:
    if value != "links":
        raise QueryError(f"Reference to invalid operator 'has:{value}'")
    return lambda post, _: (
        "http://" in str(post.get("text", "")) or "https://" in str(post.get("text", ""))
    )


_OPERATORS: Final[Mapping[str, Callable[[str], Matcher]]] = {
    "from": _from,
    "to": _to,
    "is": _is,
    "has": _has,
}


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = [match.group(1) for match in _TOKEN.finditer(query)]
        if "".join(self.tokens).replace(" ", "") != re.sub(r"\s", "", query):
            raise QueryError("There were errors processing your request: unbalanced quotes")
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def either(self) -> Matcher:
        options = [self.every()]
        while self.peek() == "OR":
            self.take()
            options.append(self.every())
        if len(options) == 1:
            return options[0]
        return lambda post, names: any(option(post, names) for option in options)

    def every(self) -> Matcher:
        parts: list[Matcher] = []
        while self.peek() not in (None, ")", "OR"):
            parts.append(self.unary())
        if not parts:
            raise QueryError("There were errors processing your request: empty clause")
        if len(parts) == 1:
            return parts[0]
        return lambda post, names: all(part(post, names) for part in parts)

    def unary(self) -> Matcher:
        token = self.take()
        if token == "(":
            inner = self.either()
            if self.peek() != ")":
                raise QueryError("There were errors processing your request: missing ')'")
            self.take()
            return inner
        if token == ")":
            raise QueryError("There were errors processing your request: unexpected ')'")
        if token.startswith("-") and len(token) > 1:
            positive = _term(token[1:])
            return lambda post, names: not positive(post, names)
        return _term(token)


def compile_query(query: str) -> Matcher:
    """The matcher of ``query``, or :class:`QueryError` when X would refuse it."""
    if not query.strip():
        raise QueryError("The `query` query parameter can not be empty")
    parser = _Parser(query)
    matcher = parser.either()
    if parser.peek() is not None:
        raise QueryError("There were errors processing your request: unexpected ')'")
    if all(token.startswith("-") or token in ("(", ")", "OR") for token in parser.tokens):
        raise QueryError(
            "There were errors processing your request: a query cannot be only negations"
        )
    return matcher
