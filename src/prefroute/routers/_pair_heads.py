"""The pair router's heads: a shared difficulty part and a strong-vs-weak part on top
of the starting router, chosen by cross-validation, and a guard that keeps the
starting router's ranking unless the log shows the new ranking routes better.

For a prompt with features ``f = [1, z, PCA(embedding)]`` and starting logit ``z0``
(``logit`` of the starting router's score)::

    logit q_strong = +z0 / 2 + f . u + (f . v) / 2
    logit q_weak   = -z0 / 2 + f . u - (f . v) / 2

``u`` moves both models together (how hard the prompt is), ``v`` moves them apart
(how much the strong model adds, on top of the starting router's ``z0``). Their
slopes have separate ridge penalties (intercepts are penalised lightly). The routing
score is the predicted gain ``q_strong - q_weak``.

The shared penalty is chosen by grouped K-fold cross-validation of the log loss
(one-standard-error rule toward more shrinkage). The strong-vs-weak penalty is chosen
by a guard that cross-validates the routing decision itself: on held-out folds, the
area under the cumulative-gain curve (doubly robust gain per request, from the logged
propensities and an outcome model with the slopes off) of each candidate ranking
against the starting router's, both ranked within each fold (each fold's heads differ
by an offset, which must not reorder requests across folds). A candidate is a penalty
pair (the shared penalty picked, or the shared slopes off: few labels estimate the
strong-vs-weak part alone with less noise) and a blend weight ``w`` (heads ``start +
w * (fitted - start)``, `BLEND_GRID`; by default only 1). The candidate with the
largest lower confidence bound ``gain - GUARD_Z * se`` is used when that bound is
above 0; otherwise the slopes are switched off, which keeps the starting router's
ranking (only the intercepts, i.e. the calibration, are learned).
A lower ``guard_z`` with partial weights (``prefroute adapt --guard-se 1 --blends
0.25,0.5,1``) takes small, uncertain corrections in part instead of not at all.

The default correction (`fit_gain`) models the routing score itself rather than each
model's quality. Its outcome model (`gain_outcome`) is the levels (one intercept per
model, the starting logit ``z0`` moving each model's logit by half of it) plus a
strong-vs-weak slope on the starting logit learned from the log, since on a task the
starting router never saw the gain is usually much flatter in its score than its logit
claims; it gives the predicted gain ``g0(x) = q_strong - q_weak``, and a ridge
regression on a few standardised features (the starting logit, the leading principal
components, the log length) fits the doubly robust residual gain of each logged
request::

    gain(x) = g0(x) + b + f(x) . w,
    (b, w) = argmin sum_r (d_r - g0(x_r) - b - f(x_r) . w)^2 + GAIN_PENALTY |w|^2

where ``d_r = g0 + arm * (y - q_arm) / max(propensity, MIN_PROPENSITY)`` summed
over the request's labels (both models' labels on one request give ``y_s - y_w``);
where a request has one model's label, the other's is the outcome model's. The ridge
penalty shrinks ``w`` to 0: with few labels the correction is small, and it grows with
the evidence. A guard (`gain_guard`) cross-validates the corrected ranking against the
starting one like the heads' guard does (the same outcome model predicting the
unobserved model), and the correction is used only when its held-out gain less
``GAIN_GUARD_Z`` standard errors is above 0; otherwise the levels alone
(`face_value_levels`) keep the starting ranking. A direct fit of the gain is what
routing needs (a logistic head per model spends its labels on how hard each prompt
is), so it needs far fewer labels to move the ranking the right way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prefroute.routers._heads import (
    INTERCEPT_PENALTY,
    fit_logistic,
    head_design,
    log_loss,
)
from prefroute.types import FloatArray

__all__ = [
    "BLEND_GRID",
    "DIFFERENCE_GRID",
    "GAIN_CLIP",
    "GAIN_COMPONENTS",
    "GAIN_GUARD_Z",
    "GAIN_PENALTY",
    "GUARD_Z",
    "MIN_PROPENSITY",
    "OFF",
    "OUTCOME_SLOPE_PENALTY",
    "SHARED_GRID",
    "GainChoice",
    "PairChoice",
    "PairLabels",
    "face_value_levels",
    "fit_gain",
    "fit_pair_heads",
    "gain_guard",
    "gain_outcome",
    "pair_quality",
]

#: A slope penalty that switches the slopes off.
OFF = 1e8
#: Shared slope penalties tried by cross-validating the log loss.
SHARED_GRID: tuple[float, ...] = (OFF, 100.0, 10.0)
#: Strong-vs-weak slope penalties the guard tries (with the shared one picked).
DIFFERENCE_GRID: tuple[float, ...] = (OFF, 300.0, 30.0, 3.0)
#: Standard errors by which a new ranking must beat the starting one (a one-sided
#: test at about 2.5% per candidate; the standard error is a bootstrap over requests
#: of the pooled out-of-fold comparison). The guard picks the candidate with the
#: largest lower confidence bound ``gain - GUARD_Z * se`` (the starting ranking's
#: is 0).
GUARD_Z = 2.0
#: Blend weights tried per candidate: the heads used are ``start + w * (candidate -
#: start)``, so a correction the log supports only weakly can be taken in part.
BLEND_GRID: tuple[float, ...] = (1.0,)
#: Ridge penalty of the gain correction's slopes, on features standardised over the
#: log's prompts (200 labelled requests weigh about 7 times the penalty).
GAIN_PENALTY = 30.0
#: Standard errors by which the gain correction's held-out gain must beat the starting
#: ranking (a one-sided test at about 16%: the ridge penalty already keeps the
#: correction small, so the guard only has to catch corrections that do not help).
GAIN_GUARD_Z = 1.0
#: Principal components the gain correction sees, beside the standardised starting
#: logit and log length.
GAIN_COMPONENTS = 4
#: Floor of the logged propensities in the gain correction's pseudo-outcomes (a
#: label weighs at most 1 / 0.5 = 2): a rare exploration moves the fit less, at a
#: small bias toward the outcome model.
MIN_PROPENSITY = 0.5
#: Standardised gain features are clipped to this many standard deviations of the
#: log's prompts (a prompt far outside the log moves the score no further).
GAIN_CLIP = 3.0
#: Ridge penalty of the strong-vs-weak slope on the standardised starting logit in the
#: gain correction's outcome model (`gain_outcome`): light, since a few dozen labels
#: measure it well.
OUTCOME_SLOPE_PENALTY = 3.0
# Fewest labelled requests per model for the gain correction (with fewer, one
# model's quality is only the levels model's guess and the slopes stay 0).
_MIN_ARM_REQUESTS = 10
# Candidates' scores of prompt rows, shape (n_candidates, n_rows).
_Scores = Callable[[np.ndarray], FloatArray]
# A fold's fit: (outcome model's (u, v), the candidates' scores).
_FoldFit = Callable[["PairLabels"], tuple[FloatArray, _Scores]]
# Fewest distinct labelled prompts for cross-validation and the guard.
_MIN_PROMPTS = 20
_GUARD_REPEATS = 3
# Bootstrap resamples of the guard's standard error.
_N_BOOT = 200


@dataclass(frozen=True)
class PairLabels:
    """Labels of the pair's heads over distinct prompts.

    Attributes:
        projected: Principal components per prompt, (n_prompts, k).
        z: Standardised starting logit per prompt, (n_prompts,).
        z0: Starting logit per prompt, (n_prompts,).
        rows: Prompt of each label, (n_labels,).
        arms: +1 for a strong-model label, -1 for weak, (n_labels,).
        targets: Quality in [0, 1], (n_labels,).
        weights: Label weights, (n_labels,).
        propensities: Logged propensity of each label's routing choice; NaN for
            labels that were not a logged choice (judge labels), (n_labels,).
        requests: Request of each label, (n_labels,): labels of one request were
            observed together (both models' answers, each with propensity 1).
    """

    projected: FloatArray
    z: FloatArray
    z0: FloatArray
    rows: np.ndarray
    arms: FloatArray
    targets: FloatArray
    weights: FloatArray
    propensities: FloatArray
    requests: np.ndarray

    def take(self, mask: np.ndarray) -> PairLabels:
        """The labels where `mask` is True (same prompts)."""
        return PairLabels(
            self.projected,
            self.z,
            self.z0,
            self.rows[mask],
            self.arms[mask],
            self.targets[mask],
            self.weights[mask],
            self.propensities[mask],
            self.requests[mask],
        )


@dataclass(frozen=True)
class PairChoice:
    """The penalties picked, and the guard's verdict.

    Attributes:
        penalties: (shared, difference) slope penalties in use; (OFF, OFF) keeps
            the starting ranking.
        cv_penalties: The candidate the guard found most promising.
        guard_gain: Its mean held-out gain over the starting ranking (area under
            the cumulative-gain curve), NaN when not run.
        guard_se: Its standard error.
        n_folds: Folds of the cross-validation (0: too few labels).
        blend: Weight of the candidate's heads in use, ``start + blend *
            (candidate - start)`` (1: the candidate; 0 with penalties (OFF, OFF):
            the starting ranking).
    """

    penalties: tuple[float, float]
    cv_penalties: tuple[float, float]
    guard_gain: float = float("nan")
    guard_se: float = float("nan")
    n_folds: int = 0
    blend: float = 1.0

    @property
    def keeps_ranking(self) -> bool:
        """True when the slopes are off (the starting router's ranking is kept)."""
        return self.penalties == (OFF, OFF) or self.blend <= 0.0


@dataclass(frozen=True)
class GainChoice:
    """What the gain correction learned.

    Attributes:
        penalty: Ridge penalty of its slopes.
        n_requests: Requests it was fitted on (below 20 the slopes stay 0).
        slopes: Its slopes on the standardised features (starting logit, the
            components, the log length when on); zeros when the guard kept the
            starting ranking.
        guard_gain: The correction's held-out gain over the starting ranking
            (`gain_guard`; NaN when not run).
        guard_se: Its standard error.
        guard_z: Standard errors the gain had to clear.
    """

    penalty: float
    n_requests: int
    slopes: tuple[float, ...]
    guard_gain: float = float("nan")
    guard_se: float = float("nan")
    guard_z: float = GAIN_GUARD_Z

    @property
    def keeps_ranking(self) -> bool:
        """True when the correction is 0 (the starting router's ranking)."""
        return not any(self.slopes)


def _design(labels: PairLabels) -> tuple[FloatArray, FloatArray]:
    f = head_design(labels.z[labels.rows], labels.projected[labels.rows])
    a = labels.arms[:, None]
    return np.hstack([f, 0.5 * a * f]), 0.5 * labels.arms * labels.z0[labels.rows]


def _penalty(p: int, shared: float, difference: float) -> FloatArray:
    out = np.concatenate([np.full(p, shared), np.full(p, difference)])
    out[0] = out[p] = INTERCEPT_PENALTY
    return out


def fit_pair(
    labels: PairLabels,
    penalties: tuple[float, float] | FloatArray,
    coef0: FloatArray | None = None,
) -> FloatArray:
    """Fit (u, v) at given (shared, difference) penalties, or one penalty per
    coefficient (length 2p, u's then v's); returns shape (2, p)."""
    g, offset = _design(labels)
    p = g.shape[1] // 2
    c = fit_logistic(
        g,
        labels.targets,
        offset,
        labels.weights,
        _penalty(p, *penalties) if isinstance(penalties, tuple) else penalties,
        coef0=None if coef0 is None else coef0.ravel(),
    )
    return c.reshape(2, p)


def pair_quality(
    coef: FloatArray, z: FloatArray, projected: FloatArray, z0: FloatArray
) -> FloatArray:
    """Predicted quality of (strong, weak) per prompt, shape (n, 2).

    Args:
        coef: (u, v), shape (2, p).
        z: Standardised starting logit, (n,).
        projected: Principal components, (n, k).
        z0: Starting logit, (n,).

    Returns:
        Shape (n, 2).
    """
    f = head_design(z, projected)
    shared, diff = f @ coef[0], f @ coef[1]
    eta = np.stack([shared + 0.5 * (z0 + diff), shared - 0.5 * (z0 + diff)], axis=1)
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * eta))
    return out


def _folds(rows: np.ndarray, n_folds: int, seed: int) -> tuple[np.ndarray, int]:
    ids = np.unique(rows)
    k = min(n_folds, len(ids))
    fold_of = np.zeros(int(ids.max()) + 1 if len(ids) else 0, dtype=np.int64)
    fold_of[ids] = np.random.default_rng(seed).permutation(len(ids)) % max(k, 1)
    return fold_of[rows], k


def _select_shared(labels: PairLabels, n_folds: int, seed: int) -> tuple[float, int]:
    """The shared slope penalty (strong-vs-weak slopes off) by the log loss."""
    fold, k = _folds(labels.rows, n_folds, seed)
    losses = np.zeros((len(SHARED_GRID), k))
    counts = np.zeros(k)
    for f in range(k):
        train, test = labels.take(fold != f), labels.take(fold == f)
        g, offset = _design(test)
        counts[f] = test.weights.sum()
        for i, shared in enumerate(SHARED_GRID):
            coef = fit_pair(train, (shared, OFF))
            losses[i, f] = test.weights @ log_loss(
                g, test.targets, offset, coef.ravel()
            )
    ok = counts > 0
    per = losses[:, ok] / counts[ok]
    mean = per.mean(axis=1)
    se = per.std(axis=1, ddof=1) / np.sqrt(per.shape[1])
    best = int(np.argmin(mean))
    # one-SE rule: the most shrunk penalty (first in the grid) close enough
    chosen = next(
        i for i in range(len(SHARED_GRID)) if mean[i] <= mean[best] + se[best]
    )
    return SHARED_GRID[chosen], int(ok.sum())


def _weighted_aucg(
    score: FloatArray, gain: FloatArray, counts: FloatArray
) -> FloatArray:
    """Area under the cumulative-gain curve of a ranking, per weighting.

    Args:
        score: Ranking score per request, (n,).
        gain: Gain per request, (n,).
        counts: Request weights, (b, n) (bootstrap multiplicities).

    Returns:
        Shape (b,): the area under ``share -> sum of gains of the top share / n``.
    """
    order = np.argsort(-score, kind="stable")
    w = counts[:, order]
    total = w.sum(axis=1, keepdims=True)
    share = np.cumsum(w, axis=1) / total
    cum = np.cumsum(w * gain[order], axis=1) / total
    prev_share = np.concatenate([np.zeros((w.shape[0], 1)), share[:, :-1]], axis=1)
    prev_cum = np.concatenate([np.zeros((w.shape[0], 1)), cum[:, :-1]], axis=1)
    out: FloatArray = np.sum((share - prev_share) * (cum + prev_cum) / 2.0, axis=1)
    return out


def _within(score: FloatArray) -> FloatArray:
    """Ranks of a fold's scores as shares in (0, 1] (ties broken by order), so the
    rankings of different folds' heads pool without their offsets mixing."""
    out: FloatArray = (np.argsort(np.argsort(score, kind="stable")) + 1.0) / max(
        len(score), 1
    )
    return out


def _blend(start: FloatArray, candidate: FloatArray, weight: float) -> FloatArray:
    out: FloatArray = start + weight * (candidate - start)
    return out


def _weighted_residuals(
    outcome: FloatArray, labels: PairLabels, min_propensity: float
) -> FloatArray:
    """Each label's doubly robust term ``arm * (y - q_arm) / propensity`` under the
    outcome model (propensities floored at `min_propensity`; 1 for labels that were
    not a routing choice)."""
    r = labels.rows
    q = pair_quality(outcome, labels.z[r], labels.projected[r], labels.z0[r])
    residual = labels.targets - np.where(labels.arms > 0, q[:, 0], q[:, 1])
    prop = np.where(
        np.isfinite(labels.propensities),
        np.maximum(labels.propensities, min_propensity),
        1.0,
    )
    out: FloatArray = labels.arms * residual / prop
    return out


def _held_out_gains(
    labels: PairLabels,
    n_scores: int,
    fold_fit: _FoldFit,
    n_folds: int,
    seed: int,
    min_propensity: float = 0.0,
) -> list[tuple[float, float]]:
    """Mean and standard error of each candidate ranking's held-out gain over the
    starting ranking.

    Every logged request gets out-of-fold scores (`fold_fit` fitted without its
    fold, turned into ranks within the fold) and a doubly robust gain from the
    fold's outcome model (propensities floored at `min_propensity`); the areas under
    the cumulative-gain curves of the pooled within-fold rankings are compared with
    the starting ranking's (ranked the same way), averaged over repeated fold draws,
    and the standard error is that of the average over bootstrap resamples of the
    requests. NaN with fewer than 20 logged requests.

    Args:
        labels: The labels.
        n_scores: Candidate rankings `fold_fit` scores.
        fold_fit: Fitted on a fold's training labels, returns the outcome model's
            (u, v) and a function of prompt rows giving the candidates' scores,
            shape (n_scores, len(rows)).
        n_folds: Folds.
        seed: Fold and bootstrap seed.
        min_propensity: Floor of the propensities in the doubly robust gains.

    Returns:
        (mean gain, standard error) per candidate.
    """
    logged = np.isfinite(labels.propensities)
    ids, first = np.unique(labels.requests[logged], return_index=True)
    n = len(ids)
    if n < _MIN_PROMPTS:
        return [(float("nan"), float("nan"))] * n_scores
    at = labels.rows[logged][first]
    counts = np.vstack(
        [
            np.ones(n),
            np.random.default_rng(seed).multinomial(
                n, np.full(n, 1.0 / n), size=_N_BOOT
            ),
        ]
    ).astype(np.float64)
    diff = np.zeros((n_scores, counts.shape[0]))
    for rep in range(_GUARD_REPEATS):
        fold, k = _folds(labels.rows, n_folds, seed + 1 + rep)
        request_fold = fold[logged][first]
        gain = np.zeros(n)
        scores = np.zeros((n_scores, n))
        start_rank = np.zeros(n)
        for f in range(k):
            mine = request_fold == f
            if not mine.any():
                continue
            outcome, score = fold_fit(labels.take(fold != f))
            test = labels.take((fold == f) & logged)
            # one doubly robust gain per request: the outcome model's once, plus
            # the propensity-weighted residual of every label observed on it
            correction = np.bincount(
                np.searchsorted(ids, test.requests),
                weights=_weighted_residuals(outcome, test, min_propensity),
                minlength=n,
            )
            idx = np.flatnonzero(mine)
            p = at[idx]
            m0 = pair_quality(outcome, labels.z[p], labels.projected[p], labels.z0[p])
            gain[idx] = m0[:, 0] - m0[:, 1] + correction[idx]
            for j, s in enumerate(score(p)):
                scores[j, idx] = _within(s)
            start_rank[idx] = _within(labels.z0[p])
        before = _weighted_aucg(start_rank, gain, counts)
        for j in range(n_scores):
            diff[j] += (
                _weighted_aucg(scores[j], gain, counts) - before
            ) / _GUARD_REPEATS
    return [(float(d[0]), float(d[1:].std(ddof=1))) for d in diff]


def _guard(
    labels: PairLabels,
    candidates: list[tuple[tuple[float, float], float]],
    n_folds: int,
    seed: int,
) -> list[tuple[float, float]]:
    """Mean and standard error of each heads candidate's held-out gain over the
    start (`_held_out_gains`); a candidate is (penalties, blend weight)."""
    penalty_set = list(dict.fromkeys(p for p, _ in candidates))

    def fold_fit(train: PairLabels) -> tuple[FloatArray, _Scores]:
        start = fit_pair(train, (OFF, OFF))
        fitted = {p: fit_pair(train, p) for p in penalty_set}

        def score(rows: np.ndarray) -> FloatArray:
            out = np.zeros((len(candidates), len(rows)))
            for j, (penalties, weight) in enumerate(candidates):
                q = pair_quality(
                    _blend(start, fitted[penalties], weight),
                    labels.z[rows],
                    labels.projected[rows],
                    labels.z0[rows],
                )
                out[j] = q[:, 0] - q[:, 1]
            return out

        return start, score

    return _held_out_gains(labels, len(candidates), fold_fit, n_folds, seed)


def fit_pair_heads(
    labels: PairLabels,
    *,
    penalties: tuple[float, float] | None = None,
    n_folds: int = 5,
    seed: int = 0,
    guard_z: float | None = None,
    blends: tuple[float, ...] | None = None,
) -> tuple[FloatArray, PairChoice]:
    """Choose the penalties and blend weight (unless given), fit on every label.

    The guard scores every (penalties, blend weight) candidate out of fold and
    uses the one with the largest lower confidence bound ``gain - guard_z * se``
    when it is above 0 (the starting ranking's); otherwise the slopes are off.

    Args:
        labels: The labels.
        penalties: Fixed (shared, difference) penalties: no cross-validation and
            no guard (blend 1).
        n_folds: Folds.
        seed: Fold seed.
        guard_z: Standard errors of the lower bound (default `GUARD_Z`).
        blends: Blend weights tried per candidate (default `BLEND_GRID`).

    Returns:
        ((u, v) of shape (2, p), the choice).
    """
    if penalties is not None:
        return fit_pair(labels, penalties), PairChoice(penalties, penalties)
    off = (OFF, OFF)
    if len(np.unique(labels.rows)) < _MIN_PROMPTS:
        return fit_pair(labels, off), PairChoice(off, off)
    z = GUARD_Z if guard_z is None else float(guard_z)
    grid = BLEND_GRID if blends is None else tuple(float(w) for w in blends)
    shared, k = _select_shared(labels, n_folds, seed)
    candidates = [
        ((s, d), w)
        for s in dict.fromkeys((shared, OFF))
        for d in DIFFERENCE_GRID
        if (s, d) != off
        for w in grid
        if w > 0
    ]
    results = _guard(labels, candidates, n_folds, seed)
    bounds = [
        g - z * se if np.isfinite(g) and np.isfinite(se) else -np.inf
        for g, se in results
    ]
    best = int(np.argmax(bounds)) if bounds else -1
    if best < 0 or not bounds[best] > 0:
        # report the most promising full-weight candidate's evidence
        full = [j for j, (_, w) in enumerate(candidates) if w == max(grid)]
        gains = [results[j][0] for j in full]
        known = bool(full) and bool(np.isfinite(gains).any())
        top = full[int(np.nanargmax(gains))] if known else -1
        gain, se = results[top] if top >= 0 else (float("nan"), float("nan"))
        picked = candidates[top][0] if top >= 0 else off
        return fit_pair(labels, off), PairChoice(off, picked, gain, se, k, 0.0)
    used, weight = candidates[best]
    gain, se = results[best]
    coef = fit_pair(labels, used)
    if weight < 1.0:
        coef = _blend(fit_pair(labels, off), coef, weight)
    return coef, PairChoice(used, used, gain, se, k, weight)


def face_value_levels(labels: PairLabels) -> FloatArray:
    """The levels alone: one intercept per model, the starting logit at face value
    (each model's logit moves by half of it), so they rank as the starting router.

    Args:
        labels: The labels.

    Returns:
        (u, v), shape (2, p), the slopes 0.
    """
    levels = fit_pair(labels, (OFF, OFF))
    levels[:, 1:] = 0.0  # the penalty leaves the slopes near 0; make them 0
    return levels


def fit_gain(
    labels: PairLabels,
    features: FloatArray,
    *,
    penalty: float = GAIN_PENALTY,
    min_propensity: float = MIN_PROPENSITY,
) -> tuple[FloatArray, FloatArray, float, int]:
    """Fit the outcome model and the gain correction (module docstring).

    Args:
        labels: The labels.
        features: Standardised gain features per distinct prompt, (n_prompts, k),
            clipped to `GAIN_CLIP`.
        penalty: Ridge penalty of the correction's slopes.
        min_propensity: Floor of the logged propensities.

    Returns:
        (the outcome model's (u, v) of shape (2, p) (`gain_outcome`; the levels
        alone, `face_value_levels`, under the minimum counts), the correction's
        slopes of shape (k,), its intercept, the requests it was fitted on).
    """
    k = features.shape[1]
    ids, first, inverse = np.unique(
        labels.requests, return_index=True, return_inverse=True
    )
    per_arm = [len(np.unique(labels.requests[labels.arms == a])) for a in (1, -1)]
    if len(ids) < _MIN_PROMPTS or min(per_arm) < _MIN_ARM_REQUESTS or k == 0:
        # too few requests to move the ranking: the levels alone (the start's)
        return face_value_levels(labels), np.zeros(k), 0.0, len(ids)
    levels = gain_outcome(labels)
    # one residual gain per request (both models' labels on one request: y_s - y_w
    # less the outcome model's gain), weighted by its labels' largest weight
    d = np.bincount(
        inverse, weights=_weighted_residuals(levels, labels, min_propensity)
    )
    weight = np.zeros(len(ids))
    np.maximum.at(weight, inverse, labels.weights)
    f = features[labels.rows[first]]
    total = max(float(weight.sum()), 1e-12)
    f_mean = weight @ f / total
    d_mean = float(weight @ d) / total
    fc = f - f_mean
    fw = fc * weight[:, None]
    w: FloatArray = np.linalg.solve(
        fc.T @ fw + penalty * np.eye(k), fw.T @ (d - d_mean)
    )
    # the intercept keeps the outcome model's mean gain over the fitted requests
    return levels, w, -float(f_mean @ w), len(ids)


def gain_outcome(
    labels: PairLabels, penalty: float = OUTCOME_SLOPE_PENALTY
) -> FloatArray:
    """The gain correction's outcome model: the levels (one intercept per model) plus
    a strong-vs-weak slope on the standardised starting logit, the components' and
    length's slopes off.

    The levels alone take the starting router's logit at face value (each model's
    logit moves by half of it), so their predicted gain is as steep in the starting
    score as the starting router claims; on a task it never saw it is usually much
    flatter. Where the log holds one model's label only (no exploration), the doubly
    robust gain of a request (the correction's target and the guard's evidence) takes
    the other model's quality from this model, so a face-value slope would credit the
    starting ranking with what it claims rather than what the log shows. The slope is
    measured well with a few dozen labels, and its prediction depends on the starting
    score alone, so it cannot favour the way the correction reorders requests by
    their components and length.

    Args:
        labels: The labels.
        penalty: Ridge penalty of the slope.

    Returns:
        (u, v), shape (2, p).
    """
    p = 2 + labels.projected.shape[1]
    penalties = _penalty(p, OFF, OFF)
    penalties[p + 1] = penalty  # the strong-vs-weak slope on z
    out = fit_pair(labels, penalties)
    out[:, 2:] = 0.0  # switched off; make them 0
    out[0, 1] = 0.0
    return out


def gain_guard(
    labels: PairLabels,
    features: FloatArray,
    *,
    penalty: float = GAIN_PENALTY,
    min_propensity: float = MIN_PROPENSITY,
    n_folds: int = 5,
    seed: int = 0,
    fixed: FloatArray | None = None,
) -> list[tuple[float, float]]:
    """Held-out gain of the gain correction's ranking over the starting ranking.

    The same comparison as the heads' guard (`_guard`): every logged request gets an
    out-of-fold corrected score (turned into a rank within its fold) and a doubly
    robust gain from the fold's outcome model (`gain_outcome`, fitted with the fold's
    correction; propensities floored at
    `min_propensity`, as in the fit: less variance for a small bias toward the
    outcome model); the areas under the cumulative-gain curves of the pooled
    rankings are compared, averaged over repeated fold draws, with a bootstrap
    standard error over requests.

    Args:
        labels: The labels.
        features: Standardised gain features per distinct prompt.
        penalty: Ridge penalty of the correction.
        min_propensity: Floor of the propensities in the fit and the gains.
        n_folds: Folds.
        seed: Fold and bootstrap seed.
        fixed: More rankings to judge on the same folds, gains and resamples, as
            scores of the distinct prompts, (m, n_prompts): rankings that are not
            fitted on the log (another router's), so each fold scores them as they
            are. What the log can show about a known ranking, beside the
            correction.

    Returns:
        [(mean gain, standard error)] of the correction, then of each `fixed`
        ranking; NaN with fewer than 20 logged requests.
    """
    extra = np.zeros((0, len(labels.z))) if fixed is None else np.atleast_2d(fixed)

    def fold_fit(train: PairLabels) -> tuple[FloatArray, _Scores]:
        levels, w, b, _ = fit_gain(
            train, features, penalty=penalty, min_propensity=min_propensity
        )

        def score(rows: np.ndarray) -> FloatArray:
            q = pair_quality(
                levels, labels.z[rows], labels.projected[rows], labels.z0[rows]
            )
            own = q[:, 0] - q[:, 1] + features[rows] @ w + b
            out: FloatArray = np.vstack([own[None, :], extra[:, rows]])
            return out

        return levels, score

    return _held_out_gains(
        labels, 1 + len(extra), fold_fit, n_folds, seed, min_propensity=min_propensity
    )
