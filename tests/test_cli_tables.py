"""The operator tables' pure parts: fitting columns to a terminal, and the phrases in cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnichannel.cli._tables import (
    Column,
    error_summary,
    fitted,
    iso_time,
    one_of,
    render_table,
    shortened,
    when,
)
from omnichannel.mappings import FrozenMap

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ID, STATE, ERROR = Column(header="id", whole=True), Column(header="state"), Column(header="error")


@pytest.mark.parametrize(
    ("natural", "width", "expected"),
    [
        ([26, 8, 40], 200, [26, 8, 40]),  # fits: nothing cut
        ([26, 8, 40], 60, [26, 8, 22]),  # the widest cuttable column gives way first
        ([26, 30, 30], 60, [26, 15, 15]),  # two equally wide ones are cut evenly
        ([26, 9, 40], 20, [26, 8, 8]),  # never below MIN_CUT, never the id
    ],
)
def test_fitting_cuts_the_widest_cuttable_column_first(
    natural: list[int], width: int, expected: list[int]
) -> None:
    assert fitted([ID, STATE, ERROR], natural, width) == expected


def test_a_table_in_a_pipe_is_plain_and_never_cut() -> None:
    rows = [["01ABC", "dead", "x" * 300], ["01ABD", "sent", "-"]]
    text = render_table([ID, STATE, ERROR], rows)
    header, first, second = text.splitlines()
    assert header.split() == ["id", "state", "error"]
    assert first == "01ABC  dead   " + "x" * 300
    assert second == "01ABD  sent   -"
    assert "\x1b" not in text


def test_a_table_fitted_to_a_width_ends_cut_cells_with_an_ellipsis() -> None:
    text = render_table([ID, STATE, ERROR], [["01ABC", "dead", "y" * 50]], width=30)
    assert text.splitlines()[1] == "01ABC  dead   " + "y" * 15 + "…"


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(0), "now"),
        (timedelta(milliseconds=400), "now"),
        (timedelta(seconds=5), "in 5s"),
        (timedelta(seconds=-59), "59s ago"),
        (timedelta(minutes=3, seconds=59), "in 3m"),
        (timedelta(hours=-3, minutes=-10), "3h10m ago"),
        (timedelta(days=1), "2026-03-03T09:00:00Z"),
        (timedelta(days=-2), "2026-02-28T09:00:00Z"),
    ],
)
def test_times_within_a_day_are_relative_others_iso(offset: timedelta, expected: str) -> None:
    assert when(NOW + offset, NOW) == expected


def test_iso_time_is_utc_to_the_second() -> None:
    from datetime import timezone

    assert iso_time(datetime(2026, 3, 2, 10, 0, 1, 999, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-03-02T09:00:01Z"
    )
    assert iso_time(None) == when(None, NOW) == "-"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, "-"),
        ("Traceback line\n  KeyError: 'x'", "Traceback line KeyError: 'x'"),
        (FrozenMap({"reason": "rate_limited", "message": "slow down"}), "rate_limited: slow down"),
        ({"message": "no route"}, "no route"),
        (
            FrozenMap({"code": 21211, "detail": {"field": "To"}}),
            '{"code":21211,"detail":{"field":"To"}}',
        ),
    ],
)
def test_an_error_is_summed_up_on_one_line(error: object, expected: str) -> None:
    assert error_summary(error) == expected  # type: ignore[arg-type]


def test_shortened_and_one_of() -> None:
    assert shortened("a  b\nc", 10) == "a b c"
    assert shortened("abcdefghijk", 5) == "abcd…"
    assert [one_of(words) for words in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a or b",
        "a, b or c",
    ]
