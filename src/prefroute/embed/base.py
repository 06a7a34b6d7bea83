"""The Embedder protocol: texts -> L2-normalised float32 vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from prefroute.types import FloatArray

__all__ = ["Embedder"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors.

    Attributes:
        spec: A string that `prefroute.embed.get_embedder` turns back into an
            equivalent embedder (saved in router configs, used as cache key).
        dim: Vector size.
    """

    spec: str
    dim: int

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts.

        Args:
            texts: Texts to embed.

        Returns:
            float32 array of shape (len(texts), dim), rows of unit L2 norm.
        """
        ...
