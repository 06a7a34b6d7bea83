"""Bootstrap intervals over prompts for routing metrics, and paired comparisons.

Each resample draws n prompts with replacement; every router is evaluated on the
same resamples (so a difference between two routers is paired), by passing the
resample's prompt multiplicities to the batched kernels in `metrics`. Resamples are
processed in chunks, so 1000 resamples of 14k prompts take a few seconds and a few
tens of MB.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prefroute.errors import ConfigError
from prefroute.evals.metrics import (
    CPT_TARGETS,
    binned_metrics,
    exact_metrics,
    sort_scores,
)
from prefroute.types import FloatArray

__all__ = [
    "BootstrapResult",
    "bootstrap_metrics",
    "iter_resample_counts",
    "paired_difference",
    "percentile_interval",
    "router_metrics",
]

# Metrics where a larger value is better; for the rest (CPT) smaller is better.
HIGHER_IS_BETTER = ("APGR", "APGR_10bin")


@dataclass(frozen=True)
class BootstrapResult:
    """Per-resample values of every metric.

    Attributes:
        n_resamples: Number of resamples.
        routers: Router name -> metric name -> values, shape (n_resamples,).
        strong_quality: Strong model's mean quality per resample.
        weak_quality: Weak model's mean quality per resample.
        optimal: The oracle's metrics per resample ("APGR", "CPT50", ...,
            "PGR_max": its highest PGR).
    """

    n_resamples: int
    routers: dict[str, dict[str, FloatArray]] = field(default_factory=dict)
    strong_quality: FloatArray = field(default_factory=lambda: np.empty(0))
    weak_quality: FloatArray = field(default_factory=lambda: np.empty(0))
    optimal: dict[str, FloatArray] = field(default_factory=dict)


def iter_resample_counts(
    n: int, n_resamples: int, rng: np.random.Generator, chunk_size: int = 100
) -> Iterator[FloatArray]:
    """Yield prompt multiplicities of bootstrap resamples, in chunks.

    Args:
        n: Number of prompts.
        n_resamples: Total number of resamples.
        rng: Random generator.
        chunk_size: Resamples per chunk.

    Yields:
        Arrays of shape (chunk, n): how often each prompt is drawn; rows sum to n.
    """
    done = 0
    while done < n_resamples:
        b = min(chunk_size, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def router_metrics(
    scores: FloatArray,
    gain: FloatArray,
    counts: FloatArray,
    n_bins: int = 10,
    targets: Sequence[float] = CPT_TARGETS,
) -> dict[str, FloatArray]:
    """Every metric (exact and binned) of one router for a batch of weightings.

    Args:
        scores: Router scores, shape (n,).
        gain: strong - weak quality per prompt, shape (n,).
        counts: Prompt weights, shape (b, n).
        n_bins: Quantile bins for the paper's method.
        targets: PGR targets for CPT.

    Returns:
        Metric name -> values, shape (b,).
    """
    ss = sort_scores(scores)
    out = exact_metrics(ss, gain, counts, targets)
    out.update(binned_metrics(ss, gain, counts, n_bins, targets))
    return out


def bootstrap_metrics(
    scores: Mapping[str, FloatArray],
    strong_quality: FloatArray,
    weak_quality: FloatArray,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    n_bins: int = 10,
    chunk_size: int = 100,
) -> BootstrapResult:
    """Resample prompts with replacement and recompute every metric.

    Args:
        scores: Router name -> scores, each shape (n,) or (k, n) for k replicates
            of a stochastic router (chunk i of resamples uses replicate i mod k).
        strong_quality: Strong model's quality per prompt, shape (n,).
        weak_quality: Weak model's quality per prompt, shape (n,).
        n_resamples: Number of resamples (0 gives empty arrays).
        seed: Seed of the resampling (same seed, same resamples).
        n_bins: Quantile bins for the paper's method.
        chunk_size: Resamples processed at once (memory ~ 10 * chunk * n * 8 bytes).

    Returns:
        Per-resample values. Resamples in which strong and weak quality are equal
        give NaN (ignored by `percentile_interval`).

    Raises:
        ConfigError: n_resamples is negative.
    """
    if n_resamples < 0:
        raise ConfigError(f"n_resamples must be >= 0, got {n_resamples}")
    strong = np.asarray(strong_quality, dtype=np.float64)
    weak = np.asarray(weak_quality, dtype=np.float64)
    n = strong.size
    gain = strong - weak
    # The oracle routes prompts by gain, largest first, and never routes one whose
    # gain is <= 0: clipping the gain at 0 makes those a last tie group that adds
    # nothing (a flat segment), while PGR stays relative to the strong model.
    oracle = np.maximum(gain, 0.0)
    sorted_scores = {
        name: [sort_scores(r) for r in np.atleast_2d(np.asarray(s, dtype=np.float64))]
        for name, s in scores.items()
    }
    sorted_oracle = sort_scores(oracle)
    parts: dict[str, dict[str, list[FloatArray]]] = {name: {} for name in scores}
    optimal: dict[str, list[FloatArray]] = {}
    strong_q: list[FloatArray] = []
    weak_q: list[FloatArray] = []
    rng = np.random.default_rng(seed)
    for i_chunk, counts in enumerate(
        iter_resample_counts(n, n_resamples, rng, chunk_size)
    ):
        strong_q.append(counts @ strong / n)
        weak_q.append(counts @ weak / n)
        for name, replicates in sorted_scores.items():
            ss = replicates[i_chunk % len(replicates)]
            values = exact_metrics(ss, gain, counts)
            values.update(binned_metrics(ss, gain, counts, n_bins))
            for key, v in values.items():
                parts[name].setdefault(key, []).append(v)
        oracle_values = exact_metrics(sorted_oracle, oracle, counts, norm_gain=gain)
        # The oracle's highest PGR: all positive gain over the net gain. Above 1
        # when the weak model wins some prompts; large when a resample's net gain
        # (the strong - weak gap, PGR's denominator) is small.
        net = counts @ gain
        with np.errstate(divide="ignore", invalid="ignore"):
            peak = np.where(net != 0, (counts @ oracle) / net, np.nan)
        oracle_values["PGR_max"] = peak
        for key, v in oracle_values.items():
            optimal.setdefault(key, []).append(v)

    def cat(chunks: list[FloatArray]) -> FloatArray:
        return np.concatenate(chunks) if chunks else np.empty(0)

    return BootstrapResult(
        n_resamples=n_resamples,
        routers={name: {k: cat(v) for k, v in d.items()} for name, d in parts.items()},
        strong_quality=cat(strong_q),
        weak_quality=cat(weak_q),
        optimal={k: cat(v) for k, v in optimal.items()},
    )


def percentile_interval(
    samples: FloatArray, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval, ignoring NaN resamples.

    Args:
        samples: Per-resample values.
        level: Coverage, in (0, 1).

    Returns:
        (low, high); (nan, nan) when no finite value exists.

    Raises:
        ConfigError: level outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    finite = np.asarray(samples, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def paired_difference(
    a: FloatArray,
    b: FloatArray,
    point_a: float,
    point_b: float,
    level: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap difference A - B of one metric (same resamples for both).

    Args:
        a: Router A's per-resample values.
        b: Router B's per-resample values (same resamples, same order).
        point_a: A's point estimate.
        point_b: B's point estimate.
        level: Interval coverage.

    Returns:
        {"diff": A - B, "diff_ci": [lo, hi], "share_a_le_b": share of resamples
        where A <= B (for APGR, a one-sided p-value-like figure for "A is better"),
        "share_a_ge_b": the same for A >= B (for CPT, where lower is better)}.

    Raises:
        ConfigError: The arrays differ in length.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ConfigError(
            f"paired samples must have equal shapes, got {a.shape} and {b.shape}"
        )
    d = a - b
    ok = np.isfinite(d)
    lo, hi = percentile_interval(d, level)
    n_ok = int(ok.sum())
    return {
        "diff": float(point_a - point_b),
        "diff_ci": [lo, hi],
        "share_a_le_b": float((d[ok] <= 0).sum() / n_ok) if n_ok else float("nan"),
        "share_a_ge_b": float((d[ok] >= 0).sum() / n_ok) if n_ok else float("nan"),
    }
