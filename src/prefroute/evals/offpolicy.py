"""Routing metrics estimated off-policy from logged traffic: APGR and CPT of pair
routers, cost-quality curves of N-model routers, with bootstrap intervals, paired
differences and the log's support for each estimate (see `prefroute.evals.ope`).

Pair routers: with pseudo-outcomes ``G`` (IPW or DR) of the strong and the weak
model per request, ``G[:, strong] - G[:, weak]`` is an unbiased per-request gain and
``G[:, weak]`` a per-request weak quality, so the exact curve, APGR and CPT of any
score are those of `prefroute.evals.metrics` on these columns, and the bootstrap of
`prefroute.evals.bootstrap` gives their intervals (same resamples for every router).

N-model routers: each router's choices at a grid of knobs give a curve of estimated
(mean cost, mean quality); routers are compared by their quality at one matched cost
(the interpolated hull of the curve, as in `prefroute.evals.multi`).

The outcome model of the DR estimator is fitted here by cross-fitting the heads of
`prefroute.routers._heads` (offsets from a router's own predictions, principal
components of the prompt embeddings): each request's prediction comes from heads
fitted without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from prefroute.errors import DataError
from prefroute.evals.bootstrap import (
    bootstrap_metrics,
    paired_difference,
    percentile_interval,
    router_metrics,
)
from prefroute.evals.multi import quality_at_cost, upper_hull
from prefroute.evals.ope import (
    BanditLog,
    Method,
    SupportReport,
    bootstrap_policy_values,
    policy_values,
    pseudo_outcomes,
    support_report,
)
from prefroute.routers._heads import HeadData, fit_all_heads, head_design
from prefroute.types import FloatArray

__all__ = [
    "Estimate",
    "MultiEstimates",
    "PairEstimates",
    "cross_fit_outcomes",
    "estimate_multi",
    "estimate_pair",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float

    def text(self, digits: int = 3) -> str:
        """``value [low, high]``; "n/a" for a missing value."""
        if not math.isfinite(self.value):
            return "n/a"
        lo = f"{self.low:.{digits}f}" if math.isfinite(self.low) else "n/a"
        hi = f"{self.high:.{digits}f}" if math.isfinite(self.high) else "n/a"
        return f"{self.value:.{digits}f} [{lo}, {hi}]"

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready (NaN and inf as None)."""
        return {
            k: (v if math.isfinite(v) else None)
            for k, v in (("value", self.value), ("low", self.low), ("high", self.high))
        }


def _estimate(point: float, samples: FloatArray, level: float = 0.95) -> Estimate:
    lo, hi = percentile_interval(samples, level)
    return Estimate(float(point), lo, hi)


def cross_fit_outcomes(
    data: HeadData, *, n_folds: int = 2, seed: int = 0
) -> FloatArray:
    """Predicted quality of every model on every prompt, each prompt's from heads
    fitted on the other folds (penalty chosen inside, by `fit_all_heads`).

    Args:
        data: Labels over distinct prompts (see `HeadData`).
        n_folds: Folds of prompts.
        seed: Fold seed.

    Returns:
        Shape (n_prompts, m), in (0, 1).
    """
    n, m = data.offsets.shape
    rng = np.random.default_rng(seed)
    fold = rng.permutation(n) % max(2, min(n_folds, n))
    out = np.empty((n, m))
    for f in np.unique(fold):
        train = fold[data.rows] != f
        part = HeadData(
            projected=data.projected,
            z=data.z,
            offsets=data.offsets,
            rows=data.rows[train],
            cols=data.cols[train],
            targets=data.targets[train],
            weights=data.weights[train],
        )
        coef, _ = fit_all_heads(part, seed=seed)
        rows = np.flatnonzero(fold == f)
        for j in range(m):
            eta = (
                data.offsets[rows, j]
                + head_design(data.z[rows, j], data.projected[rows]) @ coef[j]
            )
            out[rows, j] = 0.5 * (1.0 + np.tanh(0.5 * eta))
    return out


# -- pair routers ----------------------------------------------------------------


@dataclass(frozen=True)
class PairEstimates:
    """Off-policy estimates for pair routers on one log.

    Attributes:
        method: "ipw" or "dr".
        n: Labelled requests used.
        strong_quality: Mean quality if every request went strong.
        weak_quality: The same for weak.
        routers: Router name -> metric name ("APGR", "CPT50", ...) -> estimate.
        diffs: Router name -> APGR minus the reference router's (paired).
        reference: The reference router of `diffs` (None: no comparison).
        support: Router name -> support at `share`.
        logged_share: Share of requests the logging policy sent strong.
        share: Strong share of `at_share` (default the logged one).
        at_share: Router name -> (mean quality, mean cost) when it sends the
            top `share` of requests strong; cost NaN when the log has no costs.
        warnings: Reasons the log may not support the estimates.
    """

    method: str
    n: int
    strong_quality: Estimate
    weak_quality: Estimate
    routers: dict[str, dict[str, Estimate]]
    diffs: dict[str, Estimate]
    reference: str | None
    support: dict[str, SupportReport]
    logged_share: float
    share: float = math.nan
    at_share: dict[str, tuple[Estimate, Estimate]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _top_share_choices(
    scores: FloatArray, share: float, strong: int, weak: int
) -> np.ndarray:
    n = len(scores)
    k = round(share * n)
    out = np.full(n, weak, dtype=np.int64)
    if k > 0:
        out[np.argsort(-np.asarray(scores), kind="stable")[:k]] = strong
    return out


def estimate_pair(
    log: BanditLog,
    scores: Mapping[str, FloatArray],
    *,
    outcome: FloatArray | None = None,
    method: Method = "dr",
    strong: int = 0,
    weak: int = 1,
    policy: np.ndarray | None = None,
    reference: str | None = None,
    share: float | None = None,
    cost_outcome: FloatArray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> PairEstimates:
    """APGR and CPT of each router's scores, estimated from the log.

    Args:
        log: Requests routed between the two models (actions `strong`/`weak`).
        scores: Router name -> score per request, shape (n,).
        outcome: Outcome model (n, 2) for "dr".
        method: "ipw" or "dr".
        strong: Index of the strong model in `log.models`.
        weak: Index of the weak model.
        policy: The logging policy's pick per request (before exploration), to
            measure the logged strong share; default the logged actions.
        reference: Router whose APGR the others are compared with.
        share: Strong share at which quality and cost are reported (default: the
            logged strong share).
        cost_outcome: Expected cost of each model per request (n, 2), for the
            cost at `share` (the logged costs correct it where known).
        n_resamples: Bootstrap resamples.
        seed: Resampling seed.

    Returns:
        The estimates.

    Raises:
        DataError: An empty log, or scores of another length.
    """
    if log.n == 0:
        raise DataError("the log has no labelled requests to estimate on")
    for name, s in scores.items():
        if np.shape(s) != (log.n,):
            raise DataError(
                f"router {name!r}: expected {log.n} scores, got shape {np.shape(s)}"
            )
    pseudo = pseudo_outcomes(log, outcome, method=method)
    gs, gw = pseudo[:, strong], pseudo[:, weak]
    boot = bootstrap_metrics(dict(scores), gs, gw, n_resamples=n_resamples, seed=seed)
    ones = np.ones((1, log.n))
    routers: dict[str, dict[str, Estimate]] = {}
    points: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        values = router_metrics(np.asarray(s, dtype=np.float64), gs - gw, ones)
        points[name] = {k: float(v[0]) for k, v in values.items()}
        routers[name] = {
            k: _estimate(points[name][k], boot.routers[name][k])
            for k in ("APGR", "CPT20", "CPT50", "CPT80")
        }
    both = np.stack([np.full(log.n, strong), np.full(log.n, weak)])
    sq, wq = policy_values(pseudo, both)
    values_boot = bootstrap_policy_values(
        pseudo, both, n_resamples=n_resamples, seed=seed
    )
    strong_q = _estimate(sq, values_boot[:, 0])
    weak_q = _estimate(wq, values_boot[:, 1])
    gap = _estimate(sq - wq, values_boot[:, 0] - values_boot[:, 1])
    diffs: dict[str, Estimate] = {}
    if reference is not None and reference in scores:
        for name in scores:
            if name == reference:
                continue
            d = paired_difference(
                boot.routers[name]["APGR"],
                boot.routers[reference]["APGR"],
                points[name]["APGR"],
                points[reference]["APGR"],
            )
            diffs[name] = Estimate(d["diff"], d["diff_ci"][0], d["diff_ci"][1])
    picks = log.actions if policy is None else np.asarray(policy)
    logged = float(np.mean(picks == strong))
    at = logged if share is None else float(share)
    chosen = {
        name: _top_share_choices(np.asarray(s), at, strong, weak)
        for name, s in scores.items()
    }
    support = {name: support_report(log, c, name=name) for name, c in chosen.items()}
    at_share: dict[str, tuple[Estimate, Estimate]] = {}
    if chosen:
        names = list(chosen)
        stack = np.stack([chosen[n] for n in names])
        q_point = policy_values(pseudo, stack)
        q_boot = bootstrap_policy_values(
            pseudo, stack, n_resamples=n_resamples, seed=seed
        )
        c_point = np.full(len(names), math.nan)
        c_boot = np.full_like(q_boot, math.nan)
        if cost_outcome is not None:
            observed = np.asarray(cost_outcome, dtype=np.float64)[
                np.arange(log.n), log.actions
            ].copy()
            if log.costs is not None:
                known = np.isfinite(log.costs)
                observed[known] = log.costs[known]
            pc = pseudo_outcomes(log, cost_outcome, method="dr", observed=observed)
            c_point = policy_values(pc, stack)
            c_boot = bootstrap_policy_values(
                pc, stack, n_resamples=n_resamples, seed=seed
            )
        for j, name in enumerate(names):
            at_share[name] = (
                _estimate(q_point[j], q_boot[:, j]),
                _estimate(c_point[j], c_boot[:, j]),
            )
    warnings: list[str] = []
    if not (gap.low > 0 or gap.high < 0):
        warnings.append(
            f"the strong and the weak model cannot be told apart on this log (quality "
            f"gap {gap.text()}): APGR divides by that gap and is not meaningful"
        )
    return PairEstimates(
        method=method,
        n=log.n,
        strong_quality=strong_q,
        weak_quality=weak_q,
        routers=routers,
        diffs=diffs,
        reference=reference,
        support=support,
        logged_share=logged,
        share=at,
        at_share=at_share,
        warnings=warnings,
    )


# -- N-model routers ---------------------------------------------------------------


@dataclass(frozen=True)
class MultiEstimates:
    """Off-policy estimates for N-model routers on one log.

    Attributes:
        method: "ipw" or "dr".
        n: Labelled requests used.
        match_cost: The mean cost at which routers are compared (default: the
            logged traffic's).
        logged_quality: Mean quality of the logged answers.
        singles: Model -> (estimated mean cost, estimated mean quality) if every
            request went to it.
        curves: Router name -> (knobs, 2) estimated mean cost and quality.
        quality_at_cost: Router name -> quality at `match_cost` (hull).
        diffs: Router name -> quality at `match_cost` minus the reference's.
        reference: The reference router of `diffs`.
        support: Router name -> support at the knob nearest `match_cost`.
        warnings: Reasons the log may not support the estimates.
    """

    method: str
    n: int
    match_cost: float
    logged_quality: Estimate
    singles: dict[str, tuple[Estimate, Estimate]]
    curves: dict[str, FloatArray]
    quality_at_cost: dict[str, Estimate]
    diffs: dict[str, Estimate]
    reference: str | None
    support: dict[str, SupportReport]
    warnings: list[str] = field(default_factory=list)


def _q_at(costs: FloatArray, qualities: FloatArray, budget: float) -> float:
    hull = upper_hull(costs, qualities)
    if budget < hull[0, 0]:
        return math.nan
    return quality_at_cost(costs, qualities, budget, interpolate=True)


def estimate_multi(
    log: BanditLog,
    choices: Mapping[str, np.ndarray],
    *,
    outcome: FloatArray | None = None,
    cost_outcome: FloatArray,
    method: Method = "dr",
    match_cost: float | None = None,
    reference: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> MultiEstimates:
    """Cost-quality curves of N-model routers, estimated from the log.

    Args:
        log: The logged requests (with `costs` where known).
        choices: Router name -> model index per request at each knob, (k, n).
        outcome: Outcome model of quality (n, m) for "dr".
        cost_outcome: Predicted cost of every model on every request (n, m): the
            cost estimate where the logged cost is missing, and the outcome model
            of cost for "dr".
        method: "ipw" or "dr".
        match_cost: Mean cost to compare routers at; default the logged mean cost.
        reference: Router whose quality the others are compared with.
        n_resamples: Bootstrap resamples.
        seed: Resampling seed.

    Returns:
        The estimates.

    Raises:
        DataError: An empty log or choices of the wrong shape.
    """
    if log.n == 0:
        raise DataError("the log has no labelled requests to estimate on")
    rows = np.arange(log.n)
    predicted = np.asarray(cost_outcome, dtype=np.float64)
    observed = predicted[rows, log.actions].copy()
    if log.costs is not None:
        known = np.isfinite(log.costs)
        observed[known] = log.costs[known]
    pq = pseudo_outcomes(log, outcome, method=method)
    pc = pseudo_outcomes(log, predicted, method="dr", observed=observed)
    target = float(observed.mean()) if match_cost is None else float(match_cost)
    m = len(log.models)
    singles_choices = np.repeat(np.arange(m)[:, None], log.n, axis=1)
    sq = policy_values(pq, singles_choices)
    sc = policy_values(pc, singles_choices)
    bq = bootstrap_policy_values(
        pq, singles_choices, n_resamples=n_resamples, seed=seed
    )
    bc = bootstrap_policy_values(
        pc, singles_choices, n_resamples=n_resamples, seed=seed
    )
    singles = {
        model: (_estimate(sc[j], bc[:, j]), _estimate(sq[j], bq[:, j]))
        for j, model in enumerate(log.models)
    }
    logged_boot = bootstrap_policy_values(
        pq, log.actions[None, :], n_resamples=n_resamples, seed=seed
    )
    logged_q = _estimate(float(policy_values(pq, log.actions)[0]), logged_boot[:, 0])
    curves: dict[str, FloatArray] = {}
    at_cost: dict[str, Estimate] = {}
    samples: dict[str, FloatArray] = {}
    support: dict[str, SupportReport] = {}
    for name, c in choices.items():
        c = np.atleast_2d(np.asarray(c, dtype=np.int64))
        if c.shape[1] != log.n:
            raise DataError(
                f"router {name!r}: choices must have {log.n} columns, got {c.shape}"
            )
        q, cost = policy_values(pq, c), policy_values(pc, c)
        curves[name] = np.stack([cost, q], axis=1)
        qb = bootstrap_policy_values(pq, c, n_resamples=n_resamples, seed=seed)
        cb = bootstrap_policy_values(pc, c, n_resamples=n_resamples, seed=seed)
        samples[name] = np.array(
            [_q_at(cb[b], qb[b], target) for b in range(qb.shape[0])]
        )
        at_cost[name] = _estimate(_q_at(cost, q, target), samples[name])
        nearest = int(np.argmin(np.abs(cost - target)))
        support[name] = support_report(log, c[nearest], name=name)
    diffs: dict[str, Estimate] = {}
    if reference is not None and reference in choices:
        for name in choices:
            if name == reference:
                continue
            d = samples[name] - samples[reference]
            diffs[name] = _estimate(at_cost[name].value - at_cost[reference].value, d)
    warnings = [
        f"{name} cannot get as cheap as {target:.4g} per request on this log"
        for name, e in at_cost.items()
        if not math.isfinite(e.value)
    ]
    return MultiEstimates(
        method=method,
        n=log.n,
        match_cost=target,
        logged_quality=logged_q,
        singles=singles,
        curves=curves,
        quality_at_cost=at_cost,
        diffs=diffs,
        reference=reference,
        support=support,
        warnings=warnings,
    )
