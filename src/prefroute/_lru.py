"""A small bounded least-recently-used map that threads may share without a lock."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `max_items` entries; the least recently used is evicted first.

    Every step is a single `OrderedDict` operation, atomic under the GIL: a read
    pops and re-inserts its entry (marking it most recent), and eviction tolerates
    another thread having emptied the map meanwhile. So threads sharing one (a
    `Controller` used from several threads) never see a `KeyError`; at worst an
    entry is evicted and computed again.
    """

    def __init__(self, max_items: int) -> None:
        """Empty map holding at most `max_items` (>= 1) entries."""
        self.max_items = max_items
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value of `key`, now the most recent entry, or None."""
        value = self._data.pop(key, None)
        if value is not None:
            self._data[key] = value
        return value

    def put(self, key: K, value: V) -> None:
        """Store `value` as the most recent entry, evicting beyond `max_items`."""
        self._data.pop(key, None)
        self._data[key] = value
        while len(self._data) > self.max_items:
            try:
                self._data.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break

    def keys(self) -> list[K]:
        """Keys, least recently used first."""
        return list(self._data)

    def __len__(self) -> int:
        """Number of entries."""
        return len(self._data)
