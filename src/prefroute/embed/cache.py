"""A caching wrapper: each (embedder spec, text) is embedded once, ever.

Vectors live in one SQLite file (stdlib ``sqlite3``, WAL mode, safe for concurrent
processes) as float32 blobs keyed by ``(spec, sha256(text))``, plus an in-memory LRU
for the serving hot path. Evaluation runs that re-embed the same benchmark prompts
hit the disk cache instead of the model.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefroute._sqlite import set_wal
from prefroute.embed.base import Embedder
from prefroute.errors import ConfigError
from prefroute.types import FloatArray

__all__ = ["CacheStats", "CachedEmbedder"]

_DB_NAME = "embeddings.sqlite3"
_SQL_CHUNK = 500  # keys per SELECT ... IN (...), under every SQLite variable limit
_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    spec TEXT NOT NULL,
    key BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (spec, key)
) WITHOUT ROWID
"""


@dataclass
class CacheStats:
    """Counters of where vectors came from since the embedder was made.

    Attributes:
        memory_hits: Texts answered from the in-memory LRU.
        disk_hits: Texts answered from the SQLite file.
        misses: Texts sent to the inner embedder.
    """

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class CachedEmbedder:
    """Wraps an embedder with an on-disk (SQLite) and in-memory (LRU) cache.

    Same protocol as the inner embedder (`spec` and `dim` are the inner ones, so a
    router saved with a cached embedder records the real model). Duplicate texts in
    one call are embedded once. Construction does no I/O.
    """

    def __init__(
        self,
        inner: Embedder,
        directory: Path | str | None = None,
        *,
        memory_items: int = 4096,
        use_disk: bool = True,
    ) -> None:
        """Wrap ``inner``.

        Args:
            inner: The embedder whose vectors are cached.
            directory: Folder of the SQLite file; default
                ``prefroute.config.cache_dir() / "embeddings"``.
            memory_items: Capacity of the in-memory LRU (0 disables it).
            use_disk: Keep the on-disk cache (False: memory only).

        Raises:
            ConfigError: ``memory_items`` is negative.
        """
        if memory_items < 0:
            raise ConfigError(f"memory_items must be >= 0, got {memory_items!r}")
        self.inner = inner
        self.spec: str = inner.spec
        # Rows are keyed on the inner embedder's `cache_key` where it has one (a spec
        # plus the revision of the computation, e.g. the int8 graph's version).
        self.cache_key: str = str(getattr(inner, "cache_key", inner.spec))
        self.directory = Path(directory) if directory is not None else None
        self.memory_items = memory_items
        self.use_disk = use_disk
        self.stats = CacheStats()
        self._memory: OrderedDict[bytes, FloatArray] = OrderedDict()
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        """Short description."""
        return f"CachedEmbedder({self.inner!r}, directory={self.directory!r})"

    @property
    def dim(self) -> int:
        """Vector size (the inner embedder's)."""
        return self.inner.dim

    @dim.setter
    def dim(self, value: int) -> None:
        self.inner.dim = value

    @property
    def path(self) -> Path:
        """The SQLite file."""
        if self.directory is None:
            from prefroute.config import cache_dir

            self.directory = cache_dir() / "embeddings"
        return self.directory / _DB_NAME

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            path = self.path
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
            set_wal(db, 60.0)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.commit()
            self._db = db
        return self._db

    def close(self) -> None:
        """Close the SQLite connection (reopened on the next call)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def clear_memory(self) -> None:
        """Empty the in-memory LRU (the disk cache stays)."""
        with self._lock:
            self._memory.clear()

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts, reusing cached vectors.

        Args:
            texts: Texts to embed.

        Returns:
            float32 array of shape (len(texts), dim), identical to what the inner
            embedder returned when each text was first seen.

        Raises:
            ConfigError: ``texts`` is a single string.
        """
        if isinstance(texts, str):
            raise ConfigError("embed wants a sequence of texts, got a single str")
        keys = [_text_key(t) for t in texts]
        with self._lock:
            found = self._from_memory(keys)
            missing = [k for k in dict.fromkeys(keys) if k not in found]
            if missing and self.use_disk:
                on_disk = self._from_disk(missing)
                self.stats.disk_hits += sum(1 for k in keys if k in on_disk)
                found.update(on_disk)
                missing = [k for k in missing if k not in on_disk]
        if missing:
            # The model runs outside the lock, so cache hits of other threads (the
            # server hot path) never wait for it.
            first_text: dict[bytes, str] = {}
            for key, text in zip(keys, texts, strict=True):
                first_text.setdefault(key, text)
            vectors = np.asarray(
                self.inner.embed([first_text[k] for k in missing]), dtype=np.float32
            )
            if vectors.shape != (len(missing), self.dim):
                raise ConfigError(
                    f"inner embedder {self.spec!r} returned shape {vectors.shape}, "
                    f"expected {(len(missing), self.dim)}"
                )
            new = {k: v.copy() for k, v in zip(missing, vectors, strict=True)}
            found.update(new)
        with self._lock:
            if missing:
                missing_set = set(missing)
                self.stats.misses += sum(1 for k in keys if k in missing_set)
                if self.use_disk:
                    self._to_disk(new)
            self._remember(found)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def n_cached(self, texts: Sequence[str]) -> int:
        """How many distinct texts of `texts` are cached (in memory or on disk).

        Reads only keys, no vectors: for saying up front how much work an `embed`
        call will leave to the model.

        Args:
            texts: Texts that are about to be embedded.

        Returns:
            The number of distinct texts already cached.
        """
        keys = list(dict.fromkeys(_text_key(t) for t in texts))
        with self._lock:
            missing = [k for k in keys if k not in self._memory]
            n_found = len(keys) - len(missing)
            if missing and self.use_disk:
                db = self._connection()
                for start in range(0, len(missing), _SQL_CHUNK):
                    chunk = missing[start : start + _SQL_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    row = db.execute(
                        "SELECT COUNT(*) FROM embeddings "
                        f"WHERE spec = ? AND key IN ({marks})",
                        [self.cache_key, *chunk],
                    ).fetchone()
                    n_found += int(row[0])
        return n_found

    # ------------------------------------------------------------------ tiers
    def _from_memory(self, keys: list[bytes]) -> dict[bytes, FloatArray]:
        found: dict[bytes, FloatArray] = {}
        for key in keys:
            vector = self._memory.get(key)
            if vector is not None:
                self._memory.move_to_end(key)
                found[key] = vector
                self.stats.memory_hits += 1
        return found

    def _remember(self, vectors: dict[bytes, FloatArray]) -> None:
        if self.memory_items == 0:
            return
        for key, vector in vectors.items():
            self._memory[key] = vector
            self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    def _from_disk(self, keys: list[bytes]) -> dict[bytes, FloatArray]:
        db = self._connection()
        found: dict[bytes, FloatArray] = {}
        for start in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                "SELECT key, vector FROM embeddings "
                f"WHERE spec = ? AND key IN ({marks})",
                [self.cache_key, *chunk],
            )
            for key, blob in rows:
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _to_disk(self, vectors: dict[bytes, FloatArray]) -> None:
        db = self._connection()
        rows = [
            (self.cache_key, key, np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for key, v in vectors.items()
        ]
        with db:  # one transaction
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (spec, key, vector) "
                "VALUES (?, ?, ?)",
                rows,
            )
