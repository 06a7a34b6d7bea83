"""`RayEngine`: batches on a Ray cluster through Ray Data, one router per actor.

Each batch becomes one row of a Ray dataset; `map_batches` over a fixed pool of
actors (`ActorPoolStrategy(size=n_actors)`) runs the batch through a router or
embedder that the actor built once, in its own process (models such as ONNX
sessions cannot be pickled, so nothing heavy travels). Rows come back in order
(`preserve_order`) and the batches are the ones the local engine would run, so
results are identical to it.

Actors ask for slightly less than one CPU each: an actor pool holding every CPU
of a cluster leaves none for Ray Data's own tasks, and the job hangs without an
error. Without an address, a private single-machine cluster is started on
127.0.0.1 (no dashboard, its own temp directory) and stopped on `close`.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from prefroute.errors import ConfigError, MissingDependencyError
from prefroute.types import FloatArray

__all__ = ["RayEngine"]

logger = logging.getLogger(__name__)

# per actor: just under one CPU, so Ray Data's tasks are never starved
_ACTOR_CPUS = 0.9


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray", "--engine ray") from exc
    return ray


class _ScoreActor:
    """Ray actor: a router built once, one batch (row) per call."""

    def __init__(self, router_spec: str) -> None:
        from prefroute.engine._work import BatchScorer

        self.scorer = BatchScorer(router_spec)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [self.scorer.score(list(texts)).tobytes() for texts in rows["texts"]]
        return {"i": rows["i"], "out": np.array(out, dtype=object)}


class _EmbedActor:
    """Ray actor: an embedder built once, one batch (row) per call."""

    def __init__(self, embedder_spec: str) -> None:
        from prefroute.engine._work import BatchEmbedder

        self.embedder = BatchEmbedder(embedder_spec)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [self.embedder.embed(list(texts)).tobytes() for texts in rows["texts"]]
        return {"i": rows["i"], "out": np.array(out, dtype=object)}


class RayEngine:
    """Runs batches on a Ray cluster (see the module docstring).

    Args:
        address: Cluster to join (``ray://head:10001``, or "auto"); None starts
            a private local cluster on 127.0.0.1.
        n_actors: Actors in the pool (default: the cluster's CPUs minus one, at
            least one).
        num_cpus: CPUs of the private local cluster (default: this machine's).
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        n_actors: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        """Connect to (or start) the cluster."""
        if n_actors is not None and n_actors < 1:
            raise ConfigError(f"--ray-actors must be >= 1, got {n_actors}")
        ray = _import_ray()
        self._ray = ray
        self._temp_dir: str | None = None
        self._owns_cluster = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address is None:
                # a private cluster: loopback only, files in a temp dir of its own
                self._temp_dir = tempfile.mkdtemp(prefix="prefroute-ray-")
                kwargs.update(
                    num_cpus=num_cpus or os.cpu_count() or 1,
                    _node_ip_address="127.0.0.1",
                    _temp_dir=self._temp_dir,
                )
            else:
                kwargs["address"] = address
            ray.init(**kwargs)
            self._owns_cluster = True
            # stopped (and its files removed) even if the job fails before close
            atexit.register(self.close)
        with warnings.catch_warnings():
            # Ray Data's own defaults set options it has deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        # Ray starts actors with OMP_NUM_THREADS=1; BLAS sums in another order
        # with fewer threads (last-bit differences), so actors get the thread
        # count a local run has: the same scores on the same hardware
        self._blas_threads = os.environ.get("OMP_NUM_THREADS") or str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        )
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.n_actors = n_actors or max(1, math.floor(cpus) - 1)
        if self.n_actors * _ACTOR_CPUS > cpus:
            logger.warning(
                "%d actors want %.1f CPUs; the cluster has %g: some will wait",
                self.n_actors,
                self.n_actors * _ACTOR_CPUS,
                cpus,
            )

    def _run(
        self, actor: type, spec: str, batches: Sequence[Sequence[str]]
    ) -> list[bytes]:
        ray = self._ray
        if not batches:
            return []
        items = [{"i": i, "texts": list(b)} for i, b in enumerate(batches)]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        mapped = dataset.map_batches(
            actor,
            fn_constructor_kwargs={
                ("router_spec" if actor is _ScoreActor else "embedder_spec"): spec
            },
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.n_actors),
            num_cpus=_ACTOR_CPUS,
            runtime_env={"env_vars": {"OMP_NUM_THREADS": self._blas_threads}},
        )
        out: list[bytes | None] = [None] * len(items)
        for row in mapped.iter_rows():
            out[int(row["i"])] = row["out"]
        missing = [i for i, o in enumerate(out) if o is None]
        if missing:  # pragma: no cover - Ray returns every row or raises
            raise RuntimeError(f"Ray returned no result for batches {missing[:5]}")
        return [o for o in out if o is not None]

    def score_batches(
        self, router_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        """Scores of each batch, one `Router.score` call per batch on an actor."""
        raw = self._run(_ScoreActor, router_spec, batches)
        return [np.frombuffer(r, dtype=np.float64).copy() for r in raw]

    def embed_batches(
        self, embedder_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        """Embeddings of each batch, one `Embedder.embed` call per batch."""
        raw = self._run(_EmbedActor, embedder_spec, batches)
        return [
            np.frombuffer(r, dtype=np.float32).reshape(len(b), -1).copy()
            for r, b in zip(raw, batches, strict=True)
        ]

    def close(self) -> None:
        """Disconnect; a private local cluster is stopped and its files removed."""
        if self._owns_cluster:
            self._ray.shutdown()
            self._owns_cluster = False
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
