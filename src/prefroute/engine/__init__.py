"""Where batch jobs run: in this process (``local``), or on a Ray cluster (``ray``).

`prefroute score`, `prefroute eval` and the embedding step of `prefroute train`,
`prefroute adapt` and `prefroute eval --log` hand their batches to an engine: a
list of prompt batches in, one array per batch out, in order. The local engine
runs them here; `RayEngine` spreads them over a fixed pool of Ray actors (each
loads the router or embedder once), with the same batches, so the results are
identical. Ray pays across machines and millions of prompts; on one machine the
local engine is faster (see docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from prefroute.errors import ConfigError
from prefroute.types import FloatArray

__all__ = ["ENGINES", "BatchEngine", "LocalEngine", "get_engine"]

ENGINES = ("local", "ray")


@runtime_checkable
class BatchEngine(Protocol):
    """Runs batches of prompts through a router or an embedder."""

    def score_batches(
        self, router_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        """Scores of each batch by the router `router_spec` (one `score` call each).

        Args:
            router_spec: Router name, shipped checkpoint or folder, optionally
                ``NAME:key=value;...`` (as `prefroute score --router`).
            batches: Prompt batches.

        Returns:
            One array of shape (len(batch),) per batch, in order.
        """
        ...

    def embed_batches(
        self, embedder_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        """Embeddings of each batch (one `embed` call each).

        Args:
            embedder_spec: Embedder spec (e.g. "minilm").
            batches: Text batches.

        Returns:
            One array of shape (len(batch), dim) per batch, in order.
        """
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


class LocalEngine:
    """Runs every batch in this process (the default engine)."""

    def score_batches(
        self, router_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        """See `BatchEngine.score_batches`."""
        from prefroute.engine._work import BatchScorer

        scorer = BatchScorer(router_spec)
        return [scorer.score(batch) for batch in batches]

    def embed_batches(
        self, embedder_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        """See `BatchEngine.embed_batches`."""
        from prefroute.engine._work import BatchEmbedder

        embedder = BatchEmbedder(embedder_spec)
        return [embedder.embed(batch) for batch in batches]

    def close(self) -> None:
        """Nothing to release."""


def get_engine(
    name: str, *, address: str | None = None, n_actors: int | None = None
) -> BatchEngine:
    """The engine called `name`.

    Args:
        name: "local" or "ray".
        address: Ray only: the cluster to join (``ray://host:10001``, or "auto"
            for the cluster this machine belongs to); None starts a private
            local cluster on 127.0.0.1.
        n_actors: Ray only: actors in the pool (default: the cluster's CPUs
            minus one, at least one).

    Returns:
        The engine (close it when done).

    Raises:
        ConfigError: An unknown engine, or Ray options with the local engine.
        MissingDependencyError: "ray" without the `ray` extra installed.
    """
    if name == "local":
        if address is not None or n_actors is not None:
            raise ConfigError("--ray-address and --ray-actors need --engine ray")
        return LocalEngine()
    if name == "ray":
        from prefroute.engine.ray import RayEngine

        return RayEngine(address=address, n_actors=n_actors)
    raise ConfigError(f"unknown engine {name!r}; choose one of {list(ENGINES)}")
