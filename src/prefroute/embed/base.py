"""The Embedder protocol: texts -> L2-normalised float32 vectors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from prefroute.types import FloatArray

__all__ = ["EmbeddedHook", "Embedder", "embedding_progress"]

#: Called with the number of texts an embedding model has just embedded.
EmbeddedHook = Callable[[int], None]


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


@contextlib.contextmanager
def embedding_progress(embedder: object, hook: EmbeddedHook) -> Iterator[None]:
    """Call `hook(n)` as the model behind `embedder` embeds n more texts.

    Walks the wrappers (caches, memos: their `inner` attribute) down to the
    innermost embedder with an ``on_embedded`` attribute and sets it while the
    block runs, so texts served from a cache are not counted, and the model's own
    batching (which its vectors may depend on in the last bits) is unchanged.
    Without such an attribute anywhere, nothing is reported.

    Args:
        embedder: The embedder (possibly wrapped).
        hook: Receives the number of texts done since the last call; may be called
            from worker threads.

    Yields:
        Nothing; the hook is removed on exit.
    """
    target: object | None = None
    node: object | None = embedder
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if hasattr(node, "on_embedded"):
            target = node
        node = getattr(node, "inner", None)
    if target is None:
        yield
        return
    previous = target.on_embedded  # type: ignore[attr-defined]
    target.on_embedded = hook  # type: ignore[attr-defined]
    try:
        yield
    finally:
        target.on_embedded = previous  # type: ignore[attr-defined]
