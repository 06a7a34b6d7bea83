"""An LRU stand-in for concurrent eviction, for thread-safety tests of caches."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class EvictedMeanwhile(OrderedDict[Any, Any]):
    """An ordered dict whose reads are followed by the eviction of everything, as
    when another thread sharing the cache evicts right after this one read
    (a deterministic stand-in for that interleaving)."""

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().get(key, default)
        self.clear()
        return value

    def pop(self, key: Any, *default: Any) -> Any:
        value = super().pop(key, *default)
        self.clear()
        return value
