"""The work of one batch, the same in every engine (and in each Ray actor)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prefroute.types import FloatArray

__all__ = ["BatchEmbedder", "BatchScorer"]


class BatchScorer:
    """A router loaded once, scoring one batch per call."""

    def __init__(self, router_spec: str) -> None:
        """Load the router named by `router_spec` (``NAME:key=value;...``)."""
        from prefroute.evals.harness import parse_router_spec
        from prefroute.routers import load_router

        name, overrides = parse_router_spec(router_spec)
        self.router = load_router(name, **overrides)

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """One `score` call on the batch, as `prefroute score` makes it."""
        from prefroute.evals.scoring import score_in_batches

        prompts = [str(p) for p in prompts]  # numpy strings from Ray batches
        return score_in_batches(self.router, prompts, batch_size=max(1, len(prompts)))


class BatchEmbedder:
    """An embedder built once, embedding one batch per call."""

    def __init__(self, embedder_spec: str) -> None:
        """Build the embedder named by `embedder_spec`."""
        from prefroute.embed import get_embedder

        self.embedder = get_embedder(embedder_spec)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """One `embed` call on the batch: float32, shape (len(texts), dim)."""
        batch = [str(t) for t in texts]  # numpy strings from Ray batches
        return np.asarray(self.embedder.embed(batch), dtype=np.float32)
