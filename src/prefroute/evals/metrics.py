"""Routing metrics as pure functions: quality vs strong-call share curves, PGR, APGR,
CPT, each by the paper's 10-bin method and by the exact curve.

Definitions (RouteLLM, Ong et al. 2024, section 2.2 and lm-sys/RouteLLM
`routellm/evals`):

- A router gives each prompt a score; a prompt goes strong when its score is >= the
  threshold. Sweeping the threshold traces quality q(c) against the share c of calls
  that go strong.
- PGR(c) = (q(c) - q_weak) / (q_strong - q_weak).
- APGR = area under PGR(c) over c in [0, 1] (trapezoids).
- CPT(x) = the smallest strong-call share at which PGR reaches x.

Two ways to trace the curve:

- exact: every prompt sorted by score, descending; prompts with tied scores are routed
  as one group (no threshold separates them), so the curve has a point at the end of
  each tie group and is linear in between.
- 10-bin (the paper's): thresholds at the 11 edges of 10 quantile bins of the scores
  (`pd.qcut(scores, 10, retbins=True)`, i.e. linear-interpolated quantiles); at every
  edge but the last a prompt goes strong when score >= edge, at the last when
  score > edge (so the curve spans 0 to 100 % strong). CPT on these 11 points is
  `np.interp(target, pgr, share)` as the paper computes it.

The batched kernels take prompt weights `counts` of shape (b, n) (ones for the point
estimate, bootstrap multiplicities for a resample), so the point estimate and every
bootstrap resample run the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prefroute.errors import DataError
from prefroute.types import FloatArray

__all__ = [
    "CPT_TARGETS",
    "RoutingCurve",
    "SortedScores",
    "apgr",
    "binned_curve",
    "binned_metrics",
    "cpt",
    "cpt_interp",
    "exact_curve",
    "exact_metrics",
    "optimal_curve",
    "pgr",
    "quality_at",
    "sort_scores",
]

CPT_TARGETS: tuple[float, ...] = (0.2, 0.5, 0.8)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RoutingCurve:
    """Quality against strong-call share, sorted by share ascending.

    Attributes:
        strong_share: Share of prompts routed strong at each point, shape (m,), in
            [0, 1], non-decreasing, first 0 and last 1.
        quality: Mean quality at each point, shape (m,).
        thresholds: The score threshold giving each point, shape (m,), or None
            (the optimal curve has no threshold).
    """

    strong_share: FloatArray
    quality: FloatArray
    thresholds: FloatArray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists (thresholds omitted when None; inf becomes None)."""
        out: dict[str, Any] = {
            "strong_share": [float(x) for x in self.strong_share],
            "quality": [float(x) for x in self.quality],
        }
        if self.thresholds is not None:
            out["threshold"] = [
                float(x) if np.isfinite(x) else None for x in self.thresholds
            ]
        return out


def _check_inputs(
    scores: FloatArray | None, strong_quality: FloatArray, weak_quality: FloatArray
) -> tuple[FloatArray | None, FloatArray, FloatArray]:
    strong = np.asarray(strong_quality, dtype=np.float64)
    weak = np.asarray(weak_quality, dtype=np.float64)
    if strong.ndim != 1 or strong.shape != weak.shape:
        raise DataError(
            "strong and weak quality must be 1-D of the same length, got shapes "
            f"{strong.shape} and {weak.shape}"
        )
    if strong.size == 0:
        raise DataError("need at least one prompt, got 0")
    if not (np.isfinite(strong).all() and np.isfinite(weak).all()):
        raise DataError("strong and weak quality must be finite numbers, got NaN/inf")
    if scores is None:
        return None, strong, weak
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != strong.shape:
        raise DataError(
            f"expected one score per prompt ({strong.size}), got shape {s.shape}"
        )
    if not np.isfinite(s).all():
        bad = int(np.flatnonzero(~np.isfinite(s))[0])
        raise DataError(f"scores must be finite, got {s[bad]!r} at prompt {bad}")
    return s, strong, weak


def _denominator(strong: FloatArray, weak: FloatArray) -> float:
    gap = float(strong.mean() - weak.mean())
    if gap == 0.0:
        raise DataError(
            "strong and weak mean quality are equal "
            f"({float(strong.mean())!r}); PGR is undefined (expected them to differ)"
        )
    return gap


def pgr(quality: FloatArray | float, strong_quality: float, weak_quality: float) -> Any:
    """Performance gap recovered: (q - q_weak) / (q_strong - q_weak).

    Args:
        quality: Mean quality at some strong-call share (scalar or array).
        strong_quality: Mean quality of the strong model.
        weak_quality: Mean quality of the weak model.

    Returns:
        PGR, same shape as `quality`.

    Raises:
        DataError: strong and weak quality are equal.
    """
    if strong_quality == weak_quality:
        raise DataError(
            f"strong and weak quality are equal ({strong_quality!r}); "
            "PGR is undefined (expected them to differ)"
        )
    return (np.asarray(quality, dtype=np.float64) - weak_quality) / (
        strong_quality - weak_quality
    )


def apgr(curve: RoutingCurve, strong_quality: float, weak_quality: float) -> float:
    """Average PGR: trapezoid area under PGR against strong-call share.

    Matches the paper's `(AUC - weak_auc) / (strong_auc - weak_auc)`, which for a
    curve spanning shares 0 to 1 is the area under PGR.

    Args:
        curve: A curve spanning shares 0 to 1.
        strong_quality: Mean quality of the strong model.
        weak_quality: Mean quality of the weak model.

    Returns:
        APGR (1 for a router matching the strong model at no cost, ~0.5 for random).
    """
    values = pgr(curve.quality, strong_quality, weak_quality)
    x = curve.strong_share
    span = float(x[-1] - x[0])
    if span <= 0:
        raise DataError(f"curve must span a range of shares, got {x[0]}..{x[-1]}")
    return float(np.sum(np.diff(x) * (values[1:] + values[:-1]) / 2.0) / span)


def cpt(
    curve: RoutingCurve, strong_quality: float, weak_quality: float, target: float
) -> float:
    """Call-performance threshold: the smallest strong-call share where PGR >= target.

    The curve is taken as linear between its points, so the crossing is
    interpolated inside the first segment that reaches the target.

    Args:
        curve: Curve sorted by share.
        strong_quality: Mean quality of the strong model.
        weak_quality: Mean quality of the weak model.
        target: PGR to reach, e.g. 0.5 for CPT(50%).

    Returns:
        The share in [0, 1], or NaN when the curve never reaches the target.
    """
    values = np.asarray(pgr(curve.quality, strong_quality, weak_quality))
    return float(
        _first_crossing(curve.strong_share[None, :], values[None, :], target)[0]
    )


def cpt_interp(
    curve: RoutingCurve, strong_quality: float, weak_quality: float, target: float
) -> float:
    """CPT as the paper's code computes it: `np.interp(target, pgr, share)`.

    `np.interp` assumes PGR increases along the curve; on a non-monotone curve this
    is the paper's number, not the first crossing (use `cpt` for that). Targets
    beyond the curve's PGR range clamp to its ends.

    Args:
        curve: Curve sorted by share.
        strong_quality: Mean quality of the strong model.
        weak_quality: Mean quality of the weak model.
        target: PGR to reach.

    Returns:
        The interpolated share.
    """
    values = np.asarray(pgr(curve.quality, strong_quality, weak_quality))
    return float(np.interp(target, values, curve.strong_share))


def quality_at(
    curve: RoutingCurve, strong_share: FloatArray | Sequence[float]
) -> FloatArray:
    """Quality at given strong-call shares, linear between the curve's points.

    Args:
        curve: Curve sorted by share.
        strong_share: Shares to evaluate at, in [0, 1].

    Returns:
        Quality at each share.
    """
    return np.interp(
        np.asarray(strong_share, dtype=np.float64), curve.strong_share, curve.quality
    )


# -- sorting and curves -----------------------------------------------------------


@dataclass(frozen=True)
class SortedScores:
    """Prompts sorted by score descending, with tie groups (the routing order).

    Attributes:
        order: Prompt indices by score descending (stable), shape (n,).
        scores: Scores in that order, shape (n,).
        group_starts: Index (into `order`) where each tie group starts, shape (g,).
    """

    order: IntArray
    scores: FloatArray
    group_starts: IntArray

    @property
    def group_ends(self) -> IntArray:
        """Exclusive end of each tie group, shape (g,)."""
        return np.append(self.group_starts[1:], self.scores.size).astype(np.int64)


def sort_scores(scores: FloatArray) -> SortedScores:
    """Sort prompts by score descending and find tie groups.

    Args:
        scores: Router scores, shape (n,), finite.

    Returns:
        The routing order.
    """
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable").astype(np.int64)
    ordered = s[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered) != 0) + 1]).astype(
        np.int64
    )
    return SortedScores(order=order, scores=ordered, group_starts=starts)


def exact_curve(
    scores: FloatArray, strong_quality: FloatArray, weak_quality: FloatArray
) -> RoutingCurve:
    """The exact curve: one point per tie group of scores, linear in between.

    Args:
        scores: Router scores, shape (n,) (higher = more need of the strong model).
        strong_quality: Strong model's quality per prompt, shape (n,).
        weak_quality: Weak model's quality per prompt, shape (n,).

    Returns:
        Curve with g + 1 points (g tie groups), from share 0 to share 1; the
        threshold of the first point is +inf (nothing goes strong).
    """
    s, strong, weak = _check_inputs(scores, strong_quality, weak_quality)
    assert s is not None
    ss = sort_scores(s)
    n = s.size
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[ss.order])])
    ends = ss.group_ends
    share = np.concatenate([[0.0], ends / n])
    quality = weak.mean() + np.concatenate([[0.0], gain[ends]]) / n
    thresholds = np.concatenate([[np.inf], ss.scores[ends - 1]])
    return RoutingCurve(share, quality, thresholds)


def binned_curve(
    scores: FloatArray,
    strong_quality: FloatArray,
    weak_quality: FloatArray,
    n_bins: int = 10,
) -> RoutingCurve:
    """The paper's curve: thresholds at the edges of `n_bins` quantile bins.

    Args:
        scores: Router scores, shape (n,).
        strong_quality: Strong model's quality per prompt, shape (n,).
        weak_quality: Weak model's quality per prompt, shape (n,).
        n_bins: Number of quantile bins (the paper uses 10).

    Returns:
        Curve with n_bins + 1 points sorted by share ascending.
    """
    s, strong, weak = _check_inputs(scores, strong_quality, weak_quality)
    assert s is not None
    edges = np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1))
    strong_mask = s[None, :] >= edges[:, None]
    strong_mask[-1] = s > edges[-1]
    share = strong_mask.mean(axis=1)
    quality = np.where(strong_mask, strong[None, :], weak[None, :]).mean(axis=1)
    # pandas sort_values: by share ascending; same share means the same prompt set.
    idx = np.argsort(share, kind="stable")
    return RoutingCurve(share[idx], quality[idx], edges[idx])


def optimal_curve(strong_quality: FloatArray, weak_quality: FloatArray) -> RoutingCurve:
    """The oracle's curve: only prompts where strong > weak go strong, largest gain
    first; past the last such prompt quality stays at its maximum.

    Args:
        strong_quality: Strong model's quality per prompt, shape (n,).
        weak_quality: Weak model's quality per prompt, shape (n,).

    Returns:
        Curve with one point per positive-gain prompt, plus share 0 and share 1.
    """
    _, strong, weak = _check_inputs(None, strong_quality, weak_quality)
    n = strong.size
    gain = strong - weak
    positive = np.sort(gain[gain > 0])[::-1]
    k = positive.size
    share = (
        np.concatenate([np.arange(k + 1) / n, [1.0]]) if k < n else np.arange(n + 1) / n
    )
    cum = np.concatenate([[0.0], np.cumsum(positive)])
    if k < n:
        cum = np.append(cum, cum[-1])
    return RoutingCurve(share, weak.mean() + cum / n, None)


# -- batched kernels (point estimate = counts of ones; bootstrap = multiplicities) --


def _first_crossing(share: FloatArray, values: FloatArray, target: float) -> FloatArray:
    """Per row, the share where `values` first reaches `target` (linear between
    points); NaN where never. Shapes (b, m) -> (b,)."""
    # Tolerance: PGR computed from means vs from integer sums differs in the last ulp.
    reached = values >= target - 1e-12
    has = reached.any(axis=1)
    first = np.argmax(reached, axis=1)
    rows = np.arange(values.shape[0])
    prev = np.maximum(first - 1, 0)
    x0, x1 = share[rows, prev], share[rows, first]
    y0, y1 = values[rows, prev], values[rows, first]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(y1 > y0, (target - y0) / (y1 - y0), 1.0)
    out = np.where(first == 0, share[rows, 0], x0 + np.clip(frac, 0.0, 1.0) * (x1 - x0))
    return np.where(has, out, np.nan)


def _trapezoid(share: FloatArray, values: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        area: FloatArray = np.sum(
            np.diff(share, axis=1) * (values[:, 1:] + values[:, :-1]) / 2.0, axis=1
        )
    return area


def exact_metrics(
    ss: SortedScores,
    gain: FloatArray,
    counts: FloatArray,
    targets: Sequence[float] = CPT_TARGETS,
    *,
    norm_gain: FloatArray | None = None,
) -> dict[str, FloatArray]:
    """APGR and CPTs of the exact curve for a batch of prompt weightings.

    Args:
        ss: Routing order of the scores.
        gain: strong - weak quality per prompt in ORIGINAL order, shape (n,).
        counts: Weight of each prompt in ORIGINAL order, shape (b, n) (bootstrap
            multiplicities; ones for the point estimate).
        targets: PGR targets for CPT.
        norm_gain: Per-prompt strong - weak quality that defines PGR's denominator,
            when it differs from `gain` (the oracle's curve uses its gain clipped
            at 0 but PGR is still relative to the strong model); default `gain`.

    Returns:
        "APGR" and "CPT{int(100 t)}" -> shape (b,). NaN where a weighting makes
        strong and weak quality equal.
    """
    w = counts[:, ss.order]
    total = w.sum(axis=1, keepdims=True)
    wg = np.add.reduceat(w, ss.group_starts, axis=1)
    gg = np.add.reduceat(w * gain[ss.order][None, :], ss.group_starts, axis=1)
    zeros = np.zeros((w.shape[0], 1))
    share = np.concatenate([zeros, np.cumsum(wg, axis=1)], axis=1) / total
    cum = np.concatenate([zeros, np.cumsum(gg, axis=1)], axis=1)
    denom = cum[:, -1:] if norm_gain is None else (counts @ norm_gain)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = cum / denom
    out = {"APGR": _trapezoid(share, values)}
    for t in targets:
        out[f"CPT{round(100 * t)}"] = _first_crossing(share, values, t)
    bad = denom[:, 0] == 0
    for v in out.values():
        v[bad] = np.nan
    return out


def binned_metrics(
    ss: SortedScores,
    gain: FloatArray,
    counts: FloatArray,
    n_bins: int = 10,
    targets: Sequence[float] = CPT_TARGETS,
) -> dict[str, FloatArray]:
    """APGR and CPTs by the paper's 10-bin method for a batch of prompt weightings.

    The bin edges are the linear-interpolated quantiles of each weighting's own
    multiset of scores, as `pd.qcut` would compute them on a resampled column.

    Args:
        ss: Routing order of the scores.
        gain: strong - weak quality per prompt in ORIGINAL order, shape (n,).
        counts: Integer weight of each prompt in ORIGINAL order, shape (b, n); each
            row sums to the resample size.
        n_bins: Number of quantile bins.
        targets: PGR targets for CPT (computed with `np.interp`, as the paper).

    Returns:
        "APGR_10bin" and "CPT{int(100 t)}_10bin" -> shape (b,).
    """
    b = counts.shape[0]
    asc = ss.order[::-1]
    s_asc = ss.scores[::-1]
    w = counts[:, asc]
    n_rows = w.shape[1]
    cw = np.cumsum(w, axis=1)
    size = cw[:, -1]
    if not np.all(size == size[0]):
        raise DataError("every weighting must have the same total count")
    m = round(float(size[0]))
    # Order statistic j of row r: first index with cw > j; one flat searchsorted by
    # offsetting each row by r * (m + 1) keeps the flattened array sorted.
    offset = (np.arange(b) * (m + 1))[:, None]
    flat = (cw + offset).ravel()
    h = (m - 1) * np.linspace(0.0, 1.0, n_bins + 1)
    lo = np.floor(h).astype(np.int64)
    frac = h - lo
    hi = np.minimum(lo + 1, m - 1)

    def order_stat(j: IntArray) -> FloatArray:
        pos = np.searchsorted(flat, (j[None, :] + offset).ravel(), side="right")
        idx = pos.reshape(b, -1) - (np.arange(b) * n_rows)[:, None]
        picked: FloatArray = s_asc[idx]
        return picked

    v_lo, v_hi = order_stat(lo), order_stat(hi)
    edges = v_lo + frac[None, :] * (v_hi - v_lo)  # (b, n_bins + 1)
    start = np.searchsorted(s_asc, edges.ravel(), side="left").reshape(b, -1)
    start[:, -1] = np.searchsorted(s_asc, edges[:, -1], side="right")
    zeros = np.zeros((b, 1))
    cum_w = np.concatenate([zeros, cw], axis=1)
    cum_g = np.concatenate([zeros, np.cumsum(w * gain[asc][None, :], axis=1)], axis=1)
    rows = np.arange(b)[:, None]
    strong_w = cum_w[:, -1:] - cum_w[rows, start]
    strong_g = cum_g[:, -1:] - cum_g[rows, start]
    share = strong_w / cum_w[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = strong_g / cum_g[:, -1:]
    idx = np.argsort(share, axis=1, kind="stable")
    share = np.take_along_axis(share, idx, axis=1)
    values = np.take_along_axis(values, idx, axis=1)
    out = {"APGR_10bin": _trapezoid(share, values) / (share[:, -1] - share[:, 0])}
    for t in targets:
        out[f"CPT{round(100 * t)}_10bin"] = np.array(
            [np.interp(t, values[r], share[r]) for r in range(b)]
        )
    bad = cum_g[:, -1] == 0
    for v in out.values():
        v[bad] = np.nan
    return out
