"""Mappings of the core: FrozenMap, the immutable, hashable mapping envelopes use for metadata
and options, and BoundedDict, the size-capped dict of the router's in-memory state."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar, overload

__all__ = ["BoundedDict", "FrozenMap"]


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable mapping; nested dicts and lists are frozen too."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        items = data.items() if isinstance(data, Mapping) else data
        self._data: dict[str, Any] = {str(key): _freeze(value) for key, value in items}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    # Mapping's own get and "in" raise and catch a KeyError for every miss; an envelope's
    # options are looked up on every send.
    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def thaw(self) -> dict[str, Any]:
        """A plain, mutable, JSON-ready copy."""
        return {key: _thaw(value) for key, value in self._data.items()}


# Kept as they are without an isinstance check against the Mapping ABC, which is most of
# freezing a payload of scalars (a stored event's, an envelope's options).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS or kind is FrozenMap:
        return value
    if kind is dict:
        return FrozenMap(value)
    if kind is list or kind is tuple:
        return tuple([_freeze(item) for item in value])
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return value.thaw()
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class BoundedDict(MutableMapping[K, V]):
    """A dict that forgets its least recently written keys beyond ``limit``.

    The router's in-memory state (statuses by message, session windows, inbound claims) is
    kept in these so that a long-running process stays flat in memory: the durable store is
    where state that must outlive the limit belongs.
    """

    __slots__ = ("_data", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._data: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    # Mapping's own get and "in" go through __getitem__ and a KeyError for every miss, and
    # these are asked on every send and every inbound message.
    @overload
    def get(self, key: K, /) -> V | None: ...

    @overload
    def get(self, key: K, /, default: V | T) -> V | T: ...

    def get(self, key: K, /, default: object = None) -> object:
        """The value of ``key``, or ``default``."""
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)
        data[key] = value
        if len(data) > self.limit:
            data.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    @overload
    def pop(self, key: K, /) -> V: ...

    @overload
    def pop(self, key: K, default: V | T, /) -> V | T: ...

    def pop(self, key: K, /, *default: object) -> object:
        """Remove ``key`` and return its value (``default`` when it is absent, if given)."""
        return self._data.pop(key, *default)

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"BoundedDict(limit={self.limit}, size={len(self._data)})"
