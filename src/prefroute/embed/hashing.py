"""A dependency-free embedder by feature hashing (tests, and a no-model fallback)."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from prefroute.errors import ConfigError
from prefroute.types import FloatArray

__all__ = ["HashingEmbedder"]

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Signed feature hashing of lower-cased words and word bigrams.

    Deterministic, fast and model-free; similar texts share features, so it is a
    faithful stand-in for a real embedder in tests.
    """

    def __init__(self, *, dim: int = 256) -> None:
        """Create the embedder.

        Args:
            dim: Output dimension (>= 8).
        """
        if dim < 8:
            raise ConfigError(f"dim must be >= 8, got {dim!r}")
        self.dim = dim
        self.spec = f"hashing:{dim}"

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts: (len(texts), dim) float32, unit rows (zero text -> e_0)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features:
                h = int.from_bytes(
                    hashlib.blake2b(
                        feature.encode("utf-8", "surrogatepass"), digest_size=8
                    ).digest(),
                    "little",
                )
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            if norm > 0:
                out[i] /= norm
            else:
                out[i, 0] = 1.0
        return out
