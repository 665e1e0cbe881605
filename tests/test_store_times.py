"""The store's time columns on SQLite: the text written is the text SQLAlchemy's own DATETIME
writes (databases written by earlier releases compare and sort with new rows), in UTC,
whatever the offset given; a naive time is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from omnichannel.store.schema import UTCDateTime

_DIALECT = sqlite.dialect()


def _required(processor: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    assert processor is not None
    return processor


_WRITE = _required(UTCDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT))
_CORE_WRITES = _required(sqlite.DATETIME().bind_processor(_DIALECT))
_READ = _required(UTCDateTime().dialect_impl(_DIALECT).result_processor(_DIALECT, None))

_offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_aware = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=_offsets
)


@given(_aware)
def test_the_text_written_is_sqlalchemys_for_the_same_instant_in_utc(value: datetime) -> None:
    written = _WRITE(value)
    assert written == _CORE_WRITES(value.astimezone(UTC).replace(tzinfo=None))
    assert _READ(written) == value


def test_a_whole_second_keeps_its_microseconds_so_every_value_has_one_width() -> None:
    assert _WRITE(datetime(2026, 12, 3, 6, 30, tzinfo=UTC)) == "2026-12-03 06:30:00.000000"
    assert _WRITE(None) is None


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _WRITE(datetime(2026, 12, 3, 6, 30))
