"""Reading a Twilio list resource to find what one send created (the lookup behind
``reconcile``), as pure functions: the filters and the fields to match, the list request, its
pages and the next page to follow.

Wire facts (Twilio's Message and Call resources, "Twilio API responses" on paging): a list is
read with ``GET /2010-04-01/Accounts/{AccountSid}/{Resource}.json`` and filters such as ``To``,
``From`` and a date filter taking a day (``YYYY-MM-DD`` in GMT) or an inequality
(``DateSent>=YYYY-MM-DD``: the parameter ``DateSent>``); it comes in pages
(``{"<resource>": [...], "next_page_uri": ...}``), newest first, ``next_page_uri`` relative to
the API root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

import attrs

from omnichannel import ProviderError
from omnichannel.plugin import ProviderRequest
from omnichannel_twilio.payloads import API_VERSION, FormPairs, TwilioResource

__all__ = [
    "LOOKUP_PAGE_SIZE",
    "ListPage",
    "Lookup",
    "list_request",
    "lookup",
    "page_request",
    "read_page",
]

LOOKUP_PAGE_SIZE: Final = 100
"""Resources per page of a lookup (Twilio's default is 50, its maximum 1,000)."""


@attrs.frozen(kw_only=True)
class Lookup:
    """How to find the resource one send created: the list filters Twilio applies, and the
    fields a listed resource must have to be it."""

    filters: tuple[tuple[str, str], ...]
    expected: Mapping[str, object]

    def matches(self, resource: Mapping[str, Any]) -> bool:
        """Whether ``resource`` has every expected field."""
        return all(resource.get(name) == value for name, value in self.expected.items())


def lookup(
    resource: TwilioResource, *, to: str, from_: str | None, since: datetime, **fields: object
) -> Lookup:
    """The lookup of what a send to ``to`` from ``from_`` created at or after ``since`` (UTC):
    filtered by ``To``, ``From`` when known, and the resource's date filter on or after the day
    of ``since`` (``DateSent>=YYYY-MM-DD``, sent as the parameter ``DateSent>``); a listed
    resource must also have ``fields`` (``body=...``)."""
    sender: FormPairs = [("From", from_)] if from_ else []
    day = (f"{resource.date_filter}>", since.date().isoformat())
    return Lookup(
        filters=(("To", to), *sender, day),
        expected={"to": to, **({"from": from_} if from_ else {}), **fields},
    )


# --- list pages -----------------------------------------------------------------------------------


def list_request(
    url: str, filters: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> ProviderRequest:
    """The first page of a list resource, read with Twilio's filters (``To``, ``From``,
    ``DateSent>``...) and :data:`LOOKUP_PAGE_SIZE`. A read: the sender may retry it."""
    query = urlencode([*filters, ("PageSize", str(LOOKUP_PAGE_SIZE))])
    return ProviderRequest(method="GET", url=f"{url}?{query}", headers=headers, idempotent=True)


def page_request(
    base_url: str, account_sid: str, next_page_uri: str, headers: Mapping[str, str]
) -> ProviderRequest:
    """The request for the page ``next_page_uri`` names (a path relative to the API root).

    Only a page of the same account under the configured API root is followed, so an answer
    can never send our credentials elsewhere: anything else raises
    :class:`~omnichannel.ProviderError`.
    """
    if not next_page_uri.startswith(f"/{API_VERSION}/Accounts/{account_sid}/"):
        raise ProviderError(
            "Twilio named a next page outside this account's resources; the lookup stopped",
            retryable=False,
        )
    url = f"{base_url.rstrip('/')}{next_page_uri}"
    return ProviderRequest(method="GET", url=url, headers=headers, idempotent=True)


@attrs.frozen(kw_only=True)
class ListPage:
    """One page of a Twilio list: its resources, and the next page's URI when there is one."""

    items: tuple[Mapping[str, Any], ...]
    next_page_uri: str | None = None


def read_page(content: bytes, key: str) -> ListPage:
    """Read a list page whose resources are under ``key`` (``messages``, ``calls``).

    A page that is not JSON, or has no ``key`` array, raises
    :class:`~omnichannel.ProviderError` (not retryable): the lookup cannot tell.
    """
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        data = None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(items, list):
        raise ProviderError(
            f"Twilio answered the lookup without a {key!r} list; check base_url",
            retryable=False,
        )
    next_page = data.get("next_page_uri")
    return ListPage(
        items=tuple(item for item in items if isinstance(item, dict)),
        next_page_uri=next_page if isinstance(next_page, str) and next_page else None,
    )
