"""The simulator's search-query matcher, as a table of queries against posts."""

from __future__ import annotations

from typing import Any

import pytest
from omnichannel_x.query import QueryError, compile_query

USERNAMES = {"1": "acme", "2": "alice", "3": "bob"}


def post(text: str, author: str = "2", **fields: Any) -> dict[str, Any]:
    return {"id": "10", "text": text, "author_id": author, **fields}


def matches(query: str, item: dict[str, Any]) -> bool:
    return compile_query(query)(item, USERNAMES.get)


@pytest.mark.parametrize(
    ("query", "item", "expected"),
    [
        ("acme", post("I love Acme!"), True),
        ("acme", post("acmeville is nice"), False),
        ("acme -from:acme", post("acme sale today", author="1"), False),
        ("acme -from:acme", post("acme sale today", author="2"), True),
        ("from:alice", post("hi", author="2"), True),
        ('"new kettle"', post("my New Kettle broke"), True),
        ('"new kettle"', post("kettle new"), False),
        ("kettle OR toaster", post("the toaster"), True),
        ("acme (kettle OR toaster)", post("acme toaster"), True),
        ("acme (kettle OR toaster)", post("acme fridge"), False),
        ("acme kettle OR toaster", post("toaster"), True),  # AND binds tighter than OR
        ("@acme", post("hey @Acme help"), True),
        ("@acme", post("hey acme help"), False),
        ("#acmefail", post("so slow #acmefail"), True),
        (
            "acme is:reply",
            post("acme", referenced_tweets=[{"type": "replied_to", "id": "9"}]),
            True,
        ),
        (
            "acme -is:retweet",
            post("acme", referenced_tweets=[{"type": "retweeted", "id": "9"}]),
            False,
        ),
        ("acme is:quote", post("acme", referenced_tweets=[{"type": "quoted", "id": "9"}]), True),
        ("to:acme", post("x", in_reply_to_user_id="1"), True),
        ("acme has:links", post("acme https://example.com"), True),
        ("acme has:links", post("acme"), False),
        ("https://example.com", post("see https://example.com"), False),
    ],
)
def test_queries_match_as_x_search_does(query: str, item: dict[str, Any], expected: bool) -> None:
    assert matches(query, item) is expected


@pytest.mark.parametrize(
    "query",
    ["", "   ", "(acme", "acme)", '"acme', "from:", "-acme", "-from:acme", "is:pinned", "lang:en"],
)
def test_queries_x_would_refuse_or_the_sandbox_cannot_simulate_are_refused(query: str) -> None:
    with pytest.raises(QueryError):
        compile_query(query)
