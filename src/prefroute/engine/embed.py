"""`EngineEmbedder`: an embedder whose work runs on a `BatchEngine`.

`prefroute train --engine ray` embeds its training prompts with it (and
`adapt` / `eval --log` the log's prompts, `prefroute.train.log_embed`): the texts
are cut into chunks along the order the local embedder would run them in
(`OnnxEmbedder.batch_order`, cut at multiples of its batch size), so each chunk
is embedded exactly as in one local call and the vectors are identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prefroute.engine import BatchEngine
from prefroute.types import FloatArray

__all__ = ["EngineEmbedder"]


class EngineEmbedder:
    """Embeds on an engine (e.g. Ray actors) what `get_embedder(spec)` embeds here.

    Args:
        spec: Embedder spec (as in recipes, e.g. "minilm").
        engine: Where the embedding runs.
        chunk_size: Texts per engine batch (rounded down to a multiple of the
            embedder's own batch size).
    """

    def __init__(
        self, spec: str, engine: BatchEngine, *, chunk_size: int = 2048
    ) -> None:
        """Build the local embedder (its tokenizer plans the chunks; no model runs)."""
        from prefroute.embed import get_embedder

        self.local = get_embedder(spec)
        self.engine = engine
        # as the local embedder names itself: saved routers and caches match
        self.spec: str = self.local.spec
        self.cache_key: str = str(getattr(self.local, "cache_key", self.spec))
        self.dim = int(self.local.dim)
        unit = max(1, int(getattr(self.local, "batch_size", 1)))
        self.chunk_size = max(unit, chunk_size // unit * unit)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts on the engine: float32, shape (len(texts), dim)."""
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        plan = getattr(self.local, "batch_order", None)
        order = np.asarray(plan(texts)) if plan is not None else np.arange(n)
        starts = range(0, n, self.chunk_size)
        batches = [[texts[i] for i in order[s : s + self.chunk_size]] for s in starts]
        for s, vectors in zip(
            starts, self.engine.embed_batches(self.spec, batches), strict=True
        ):
            out[order[s : s + len(vectors)]] = vectors
        return out
