"""Evaluate routers' scores on a benchmark: point estimates of every metric, curves,
bootstrap intervals and paired comparisons, gathered in an `EvalReport`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefroute.errors import ConfigError, DataError
from prefroute.evals.bootstrap import (
    BootstrapResult,
    bootstrap_metrics,
    paired_difference,
    percentile_interval,
    router_metrics,
)
from prefroute.evals.metrics import (
    CPT_TARGETS,
    RoutingCurve,
    apgr,
    binned_curve,
    cpt,
    exact_curve,
    optimal_curve,
    quality_at,
)
from prefroute.evals.scoring import (
    ProgressCallback,
    router_folder,
    score_in_batches,
    scores_cache_path,
    scoring_warning,
)
from prefroute.types import BenchmarkSet, FloatArray

__all__ = [
    "EvalReport",
    "RouterResult",
    "evaluate_router_scores",
    "parse_router_spec",
    "score_router_on_benchmark",
]

logger = logging.getLogger(__name__)

# Shares at which the JSON report lists quality (0 %, 1 %, ..., 100 % strong calls).
CURVE_GRID = np.linspace(0.0, 1.0, 101)
METRIC_NAMES: tuple[str, ...] = (
    "APGR",
    *(f"CPT{round(100 * t)}" for t in CPT_TARGETS),
    "APGR_10bin",
    *(f"CPT{round(100 * t)}_10bin" for t in CPT_TARGETS),
)


@dataclass(frozen=True)
class RouterResult:
    """One router's figures on a benchmark.

    Attributes:
        name: Router name as given.
        metrics: Metric name (see METRIC_NAMES) -> point estimate; CPT values are
            strong-call shares in [0, 1] (NaN when never reached).
        intervals: Metric name -> (low, high) bootstrap interval (empty without
            bootstrap).
        curve: The exact curve.
        curve_10bin: The paper's 11-point curve.
    """

    name: str
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    curve: RoutingCurve
    curve_10bin: RoutingCurve


@dataclass(frozen=True)
class EvalReport:
    """Everything `prefroute eval` reports for one benchmark."""

    benchmark: str
    n_prompts: int
    strong_model: str
    weak_model: str
    strong_quality: float
    weak_quality: float
    routers: dict[str, RouterResult]
    optimal_curve: RoutingCurve
    optimal_metrics: dict[str, float]
    n_bootstrap: int = 0
    seed: int = 0
    level: float = 0.95
    quality_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    optimal_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    compare: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        routers: dict[str, Any] = {}
        for name, r in self.routers.items():
            entry: dict[str, Any] = {}
            for key in METRIC_NAMES:
                entry[key] = _num(r.metrics[key])
                if key in r.intervals:
                    entry[f"{key}_ci"] = [_num(x) for x in r.intervals[key]]
            q = quality_at(r.curve, CURVE_GRID)
            entry["curve"] = {
                "strong_share": [round(float(x), 4) for x in CURVE_GRID],
                "quality": [float(x) for x in q],
                "pgr": [
                    float(x) for x in _pgr(q, self.strong_quality, self.weak_quality)
                ],
                "n_points_exact": int(r.curve.strong_share.size),
            }
            entry["curve_10bin"] = r.curve_10bin.to_dict()
            routers[name] = entry
        optimal_q = quality_at(self.optimal_curve, CURVE_GRID)
        out: dict[str, Any] = {
            "benchmark": self.benchmark,
            "n_prompts": self.n_prompts,
            "strong_model": self.strong_model,
            "weak_model": self.weak_model,
            "strong_quality": self.strong_quality,
            "weak_quality": self.weak_quality,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "ci_level": self.level,
        }
        for key, (lo, hi) in self.quality_intervals.items():
            out[f"{key}_ci"] = [_num(lo), _num(hi)]
        out["optimal"] = {
            **{k: _num(v) for k, v in self.optimal_metrics.items()},
            **{
                f"{k}_ci": [_num(x) for x in v]
                for k, v in self.optimal_intervals.items()
            },
            "curve": {
                "strong_share": [round(float(x), 4) for x in CURVE_GRID],
                "quality": [float(x) for x in optimal_q],
            },
        }
        out["routers"] = routers
        out["compare"] = self.compare
        return out


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _pgr(q: FloatArray, strong: float, weak: float) -> FloatArray:
    return (q - weak) / (strong - weak)


def _as_replicates(name: str, scores: FloatArray, n: int) -> FloatArray:
    """Scores as shape (k, n): k = 1 for a deterministic router."""
    arr = np.asarray(scores, dtype=np.float64)
    reps = arr[None, :] if arr.ndim == 1 else arr
    if reps.ndim != 2 or reps.shape[1] != n or reps.shape[0] == 0:
        raise DataError(
            f"scores of {name!r} have shape {arr.shape}; expected ({n},) or (k, {n})"
        )
    return reps


def _mean_curve(curves: Sequence[RoutingCurve]) -> RoutingCurve:
    """Average curves of replicates (the curve itself when there is one)."""
    if len(curves) == 1:
        return curves[0]
    lengths = {c.strong_share.size for c in curves}
    if len(lengths) == 1:
        return RoutingCurve(
            np.mean([c.strong_share for c in curves], axis=0),
            np.mean([c.quality for c in curves], axis=0),
        )
    grid = CURVE_GRID
    quality = np.mean([np.interp(grid, c.strong_share, c.quality) for c in curves], 0)
    return RoutingCurve(grid.copy(), quality)


def evaluate_router_scores(
    bench: BenchmarkSet,
    scores: Mapping[str, FloatArray],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    compare: Sequence[tuple[str, str]] = (),
    n_bins: int = 10,
    level: float = 0.95,
) -> EvalReport:
    """Compute every metric for each router's scores on a benchmark.

    Args:
        bench: The benchmark (both models' per-prompt quality).
        scores: Router name -> scores in benchmark order, shape (n,), or shape
            (k, n) for k replicates of a stochastic router (reported as the mean;
            bootstrap resamples cycle through the replicates so intervals include
            the router's own randomness).
        n_bootstrap: Bootstrap resamples over prompts (0: no intervals).
        seed: Seed of the resampling.
        compare: Pairs (A, B) of router names: paired difference A - B.
        n_bins: Quantile bins of the paper's method.
        level: Interval coverage.

    Returns:
        The report.

    Raises:
        DataError: Strong and weak quality are equal, or scores of a wrong shape.
        ConfigError: A compared router is not among `scores`.
    """
    strong = np.asarray(bench.strong_quality, dtype=np.float64)
    weak = np.asarray(bench.weak_quality, dtype=np.float64)
    n = strong.size
    qs, qw = float(strong.mean()), float(weak.mean())
    if qs == qw:
        raise DataError(
            f"{bench.name}: strong and weak mean quality are equal ({qs!r}); "
            "PGR is undefined (expected them to differ)"
        )
    for a, b in compare:
        for name in (a, b):
            if name not in scores:
                raise ConfigError(
                    f"--compare names router {name!r}, expected one of {sorted(scores)}"
                )
    arrays = {name: _as_replicates(name, s, n) for name, s in scores.items()}
    gain = strong - weak
    ones = np.ones((1, n))
    results: dict[str, RouterResult] = {}
    for name, reps in arrays.items():
        # A stochastic router (several score replicates, e.g. the random router
        # over seeds) is reported as its expectation: metrics and curves averaged.
        curves = [exact_curve(s, strong, weak) for s in reps]
        curves_10 = [binned_curve(s, strong, weak, n_bins) for s in reps]
        per_rep = [router_metrics(s, gain, ones, n_bins) for s in reps]
        point = {k: float(np.mean([m[k][0] for m in per_rep])) for k in per_rep[0]}
        results[name] = RouterResult(
            name, point, {}, _mean_curve(curves), _mean_curve(curves_10)
        )
    opt = optimal_curve(strong, weak)
    # PGR_max: the oracle keeps the prompts the weak model does better on weak, so
    # its quality, PGR and APGR can exceed the strong model's (PGR > 1).
    opt_metrics = {
        "APGR": apgr(opt, qs, qw),
        "PGR_max": float(_pgr(np.asarray([opt.quality.max()]), qs, qw)[0]),
    }
    for t in CPT_TARGETS:
        opt_metrics[f"CPT{round(100 * t)}"] = cpt(opt, qs, qw, t)

    boot: BootstrapResult | None = None
    quality_ci: dict[str, tuple[float, float]] = {}
    optimal_ci: dict[str, tuple[float, float]] = {}
    compared: dict[str, dict[str, Any]] = {}
    if n_bootstrap > 0:
        boot = bootstrap_metrics(
            arrays, strong, weak, n_resamples=n_bootstrap, seed=seed, n_bins=n_bins
        )
        for name, r in results.items():
            for key, samples in boot.routers[name].items():
                r.intervals[key] = percentile_interval(samples, level)
        quality_ci = {
            "strong_quality": percentile_interval(boot.strong_quality, level),
            "weak_quality": percentile_interval(boot.weak_quality, level),
        }
        optimal_ci = {k: percentile_interval(v, level) for k, v in boot.optimal.items()}
    for a, b in compare:
        entry: dict[str, Any] = {}
        for key in METRIC_NAMES:
            pa, pb = results[a].metrics[key], results[b].metrics[key]
            if boot is None:
                entry[key] = {"diff": _num(pa - pb)}
                continue
            d = paired_difference(
                boot.routers[a][key], boot.routers[b][key], pa, pb, level
            )
            entry[key] = {
                k: ([_num(x) for x in v] if isinstance(v, list) else _num(v))
                for k, v in d.items()
            }
        compared[f"{a} vs {b}"] = {"a": a, "b": b, **entry}
    return EvalReport(
        benchmark=bench.name,
        n_prompts=n,
        strong_model=bench.pair.strong,
        weak_model=bench.pair.weak,
        strong_quality=qs,
        weak_quality=qw,
        routers=results,
        optimal_curve=opt,
        optimal_metrics=opt_metrics,
        n_bootstrap=n_bootstrap,
        seed=seed,
        level=level,
        quality_intervals=quality_ci,
        optimal_intervals=optimal_ci,
        compare=compared,
    )


def score_router_on_benchmark(
    spec: str,
    bench: BenchmarkSet,
    *,
    batch_size: int = 256,
    cache_root: Path | None = None,
    on_start: ProgressCallback | None = None,
    on_batch: ProgressCallback | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> FloatArray:
    """Load a router (`load_router(spec)`) and score the benchmark's prompts.

    A router that loads from a folder (saved or shipped) has its scores cached
    under `cache_root/scores`, keyed by the folder's content, the prompts and the
    embedder's cache key.

    Args:
        spec: Router name, shipped checkpoint or folder; "NAME:key=value;..."
            passes constructor arguments to a registered router (e.g.
            "random:seed=3").
        bench: The benchmark.
        batch_size: Prompts per `score` call.
        cache_root: Cache directory; None disables the cache.
        on_start: Called with the number of prompts before scoring starts.
        on_batch: Called with the number of prompts done per batch.
        on_warning: Called with the router's scoring warning after it scored, if
            it gives one (`prefroute.evals.scoring.scoring_warning`; llm_judge:
            invalid judgements, cache misses). Cached scores give none.

    Returns:
        Scores in benchmark order, shape (n,).
    """
    from prefroute.routers import load_router

    name, overrides = parse_router_spec(spec)
    folder = router_folder(name)
    embedder: dict[str, Any] = {}
    if folder is not None and "embedder" not in overrides:
        embedder = _cached_embedder_override(folder)
    cache_file: Path | None = None
    if cache_root is not None and folder is not None and not overrides:
        key = embedder["embedder"].cache_key if embedder else ""
        cache_file = scores_cache_path(cache_root, folder, bench, embedder_key=key)
        if cache_file.is_file():
            cached = np.load(cache_file, allow_pickle=False)
            if cached.shape == (len(bench),):
                logger.info(
                    "scores of %s on %s from cache %s", spec, bench.name, cache_file
                )
                return np.asarray(cached, dtype=np.float64)
    router = load_router(name, **overrides, **embedder)
    if on_start is not None:
        on_start(len(bench))
    scores = score_in_batches(
        router, bench.prompts, batch_size=batch_size, on_batch=on_batch
    )
    warning = scoring_warning(router)
    if warning is not None and on_warning is not None:
        on_warning(warning)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # a name of its own: another process may be writing the same cache entry
        tmp = cache_file.with_name(f"{cache_file.stem}.{uuid.uuid4().hex}.tmp.npy")
        np.save(tmp, scores)
        tmp.replace(cache_file)
    return scores


def _cached_embedder_override(folder: Path) -> dict[str, Any]:
    """Wrap a saved router's embedder in the on-disk cache, so that several routers
    evaluated on one benchmark (and later runs) embed each prompt once."""
    from prefroute.embed import get_embedder
    from prefroute.embed.cache import CachedEmbedder
    from prefroute.routers.base import read_config

    saved = read_config(folder).get("hyperparameters", {}).get("embedder")
    if isinstance(saved, dict):
        saved = saved.get("__embedder__")
    if isinstance(saved, str):
        return {"embedder": CachedEmbedder(get_embedder(saved))}
    return {}


def parse_router_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split "NAME:key=value;key=value" into a name and constructor arguments.

    A spec that is an existing path is returned whole. Values are parsed as JSON
    when they can be (numbers, true/false), else kept as strings.

    Args:
        spec: Router spec.

    Returns:
        (name or path, arguments).

    Raises:
        ConfigError: An argument lacks "=".
    """
    import json

    if Path(spec).exists() or ":" not in spec:
        return spec, {}
    name, _, rest = spec.partition(":")
    args: dict[str, Any] = {}
    for item in filter(None, rest.split(";")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"router spec {spec!r}: expected key=value, got {item!r}")
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return name, args
