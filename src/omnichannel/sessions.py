"""The router's in-memory conversation state: session windows, and menus sent as numbered text.

Both are keyed on (channel, business address, customer address): the customer wrote to one
of our numbers or accounts, and the answer goes out from the same one (a window opened on one
chat number says nothing about another). Both are bounded, so a long-running process
stays flat in memory; the durable store keeps them across restarts and workers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

import attrs

from omnichannel.mappings import BoundedDict

__all__ = ["NumberedMenus", "SessionWindows"]

DEFAULT_LIMIT: Final = 100_000

_Key = tuple[str, str | None, str]  # (channel, business address, customer address)


class SessionWindows:
    """When each customer last wrote to each business address of a channel."""

    def __init__(self, *, limit: int = DEFAULT_LIMIT) -> None:
        self._last: BoundedDict[_Key, datetime] = BoundedDict(limit)
        # The same, with the business address left out: for an outbound envelope that names
        # no business address on an adapter that does not say which one it sends from.
        self._any: BoundedDict[tuple[str, str], datetime] = BoundedDict(limit)

    def record(self, channel: str, business: str | None, customer: str, at: datetime) -> None:
        """Note that ``customer`` wrote to ``business`` on ``channel`` at ``at``."""
        key = (channel, business, customer)
        previous = self._last.get(key)
        self._last[key] = at if previous is None else max(previous, at)
        loose = (channel, customer)
        previous = self._any.get(loose)
        self._any[loose] = at if previous is None else max(previous, at)

    def last(self, channel: str, business: str | None, customer: str) -> datetime | None:
        """When ``customer`` last wrote to ``business`` (to any business address when None)."""
        if business is None:
            return self._any.get((channel, customer))
        return self._last.get((channel, business, customer))


_NUMBER: Final = re.compile(r"\s*#?(\d{1,3})\s*[.)]?\s*")


@attrs.frozen
class _Menu:
    choices: tuple[str, ...]
    sent_at: datetime


class NumberedMenus:
    """The option ids of menus sent as numbered text, so "2" maps back to the second id.

    A menu is remembered per conversation (the newest replaces the one before) for
    ``ttl``; after that a number is just a number.
    """

    def __init__(self, *, ttl: timedelta = timedelta(hours=24), limit: int = DEFAULT_LIMIT) -> None:
        self.ttl = ttl
        self._menus: BoundedDict[_Key, _Menu] = BoundedDict(limit)

    def remember(
        self,
        channel: str,
        business: str | None,
        customer: str,
        choices: tuple[str, ...],
        at: datetime,
    ) -> None:
        """Note that the menu ``choices`` (ids by number, from 1) went to ``customer``."""
        self._menus[(channel, business, customer)] = _Menu(choices=choices, sent_at=at)

    def choice_for(
        self, channel: str, business: str | None, customer: str, text: str, now: datetime
    ) -> str | None:
        """The id the number in ``text`` picks from the last menu sent, or None."""
        match = _NUMBER.fullmatch(text)
        if match is None:
            return None
        menu = self._menus.get((channel, business, customer))
        if menu is None and business is not None:
            menu = self._menus.get((channel, None, customer))
        if menu is None or now - menu.sent_at > self.ttl:
            return None
        number = int(match.group(1))
        return menu.choices[number - 1] if 1 <= number <= len(menu.choices) else None
