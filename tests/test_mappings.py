"""FrozenMap freezes what it holds, whatever the container types: stored payloads, envelope
options and metadata are read back as immutable, hashable values equal to what was given."""

from __future__ import annotations

from collections import OrderedDict, UserDict
from enum import StrEnum

import pytest

from omnichannel.mappings import FrozenMap


class Colour(StrEnum):
    RED = "red"


class Tags(list[str]):
    pass


def test_nested_dicts_and_lists_are_frozen_and_compare_equal_to_the_input() -> None:
    given = {"a": {"b": [1, {"c": "d"}], "e": None}, "f": (True, 2.5), "g": Colour.RED}
    frozen = FrozenMap(given)
    assert isinstance(frozen["a"], FrozenMap)
    assert frozen["a"]["b"] == (1, FrozenMap({"c": "d"}))
    assert isinstance(frozen["a"]["b"][1], FrozenMap)
    assert frozen["f"] == (True, 2.5)
    assert frozen["g"] is Colour.RED
    assert frozen.thaw() == {
        "a": {"b": [1, {"c": "d"}], "e": None},
        "f": [True, 2.5],
        "g": "red",
    }
    assert hash(frozen) == hash(FrozenMap(given))


def test_other_mapping_and_sequence_types_are_frozen_too() -> None:
    given = {"ordered": OrderedDict(x=1), "user": UserDict(y=[2]), "tags": Tags(["vip"])}
    frozen = FrozenMap(given)
    assert isinstance(frozen["ordered"], FrozenMap)
    assert isinstance(frozen["user"], FrozenMap)
    assert frozen["user"]["y"] == (2,)
    assert frozen["tags"] == ("vip",)
    hash(frozen)


def test_a_frozen_map_inside_is_kept_as_it_is() -> None:
    inner = FrozenMap({"k": "v"})
    assert FrozenMap({"inner": inner})["inner"] is inner


def test_nothing_mutable_survives() -> None:
    frozen = FrozenMap({"a": [{"b": [1]}]})
    with pytest.raises(TypeError):
        frozen["a"][0]["b"][0] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        frozen["x"] = 1  # type: ignore[index]
