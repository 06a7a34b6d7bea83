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
against the starting router's. The candidate with the largest mean gain among those
that win by more than `GUARD_Z` standard errors is used; when none does, the slopes
are switched off, which keeps the starting router's ranking (only the intercepts,
i.e. the calibration, are learned).
"""

from __future__ import annotations

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
    "DIFFERENCE_GRID",
    "GUARD_Z",
    "OFF",
    "SHARED_GRID",
    "PairChoice",
    "PairLabels",
    "fit_pair_heads",
    "pair_quality",
]

#: A slope penalty that switches the slopes off.
OFF = 1e8
#: Shared slope penalties tried by cross-validating the log loss.
SHARED_GRID: tuple[float, ...] = (OFF, 100.0, 10.0)
#: Strong-vs-weak slope penalties the guard tries (with the shared one picked).
DIFFERENCE_GRID: tuple[float, ...] = (OFF, 300.0, 30.0, 3.0)
#: Standard errors by which a new ranking must beat the starting one (about a
#: one-sided 2.5% test after a Bonferroni correction for the four candidates).
GUARD_Z = 2.5
# Fewest distinct labelled prompts for cross-validation and the guard.
_MIN_PROMPTS = 20
_GUARD_REPEATS = 3


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
    """

    penalties: tuple[float, float]
    cv_penalties: tuple[float, float]
    guard_gain: float = float("nan")
    guard_se: float = float("nan")
    n_folds: int = 0

    @property
    def keeps_ranking(self) -> bool:
        """True when the slopes are off (the starting router's ranking is kept)."""
        return self.penalties == (OFF, OFF)


def _design(labels: PairLabels) -> tuple[FloatArray, FloatArray]:
    f = head_design(labels.z[labels.rows], labels.projected[labels.rows])
    a = labels.arms[:, None]
    return np.hstack([f, 0.5 * a * f]), 0.5 * labels.arms * labels.z0[labels.rows]


def _penalty(p: int, shared: float, difference: float) -> FloatArray:
    out = np.concatenate([np.full(p, shared), np.full(p, difference)])
    out[0] = out[p] = INTERCEPT_PENALTY
    return out


def fit_pair(
    labels: PairLabels, penalties: tuple[float, float], coef0: FloatArray | None = None
) -> FloatArray:
    """Fit (u, v) at given penalties; returns shape (2, p)."""
    g, offset = _design(labels)
    p = g.shape[1] // 2
    c = fit_logistic(
        g,
        labels.targets,
        offset,
        labels.weights,
        _penalty(p, *penalties),
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


def _aucg(score: FloatArray, gain: FloatArray) -> float:
    order = np.argsort(-score, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(gain[order])]) / len(gain)
    return float(np.sum((cum[1:] + cum[:-1]) / 2.0) / len(gain))


def _guard(
    labels: PairLabels,
    candidates: list[tuple[float, float]],
    n_folds: int,
    seed: int,
) -> list[tuple[float, float]]:
    """Mean and standard error of each candidate's held-out gain over the start."""
    diffs: list[list[float]] = [[] for _ in candidates]
    for rep in range(_GUARD_REPEATS):
        fold, k = _folds(labels.rows, n_folds, seed + 1 + rep)
        for f in range(k):
            test_mask = (fold == f) & np.isfinite(labels.propensities)
            if test_mask.sum() < 2:
                continue
            train, test = labels.take(fold != f), labels.take(test_mask)
            start = fit_pair(train, (OFF, OFF))
            # one doubly robust gain per request: the outcome model's once, plus
            # the propensity-weighted residual of every label observed on it
            ids, first, inverse = np.unique(
                test.requests, return_index=True, return_inverse=True
            )
            r = test.rows
            m = pair_quality(start, labels.z[r], labels.projected[r], labels.z0[r])
            residual = test.targets - np.where(test.arms > 0, m[:, 0], m[:, 1])
            correction = np.bincount(
                inverse,
                weights=test.arms * residual / test.propensities,
                minlength=len(ids),
            )
            at = r[first]
            m = m[first]
            gain = m[:, 0] - m[:, 1] + correction
            before = _aucg(labels.z0[at], gain)
            for j, penalties in enumerate(candidates):
                new = fit_pair(train, penalties)
                q = pair_quality(new, labels.z[at], labels.projected[at], labels.z0[at])
                diffs[j].append(_aucg(q[:, 0] - q[:, 1], gain) - before)
    out = []
    for d in diffs:
        if len(d) < 2:
            out.append((float("nan"), float("nan")))
        else:
            a = np.asarray(d)
            out.append((float(a.mean()), float(a.std(ddof=1) / np.sqrt(len(a)))))
    return out


def fit_pair_heads(
    labels: PairLabels,
    *,
    penalties: tuple[float, float] | None = None,
    n_folds: int = 5,
    seed: int = 0,
) -> tuple[FloatArray, PairChoice]:
    """Choose the penalties (unless given), run the guard, fit on every label.

    Args:
        labels: The labels.
        penalties: Fixed (shared, difference) penalties: no cross-validation and
            no guard.
        n_folds: Folds.
        seed: Fold seed.

    Returns:
        ((u, v) of shape (2, p), the choice).
    """
    if penalties is not None:
        return fit_pair(labels, penalties), PairChoice(penalties, penalties)
    off = (OFF, OFF)
    if len(np.unique(labels.rows)) < _MIN_PROMPTS:
        return fit_pair(labels, off), PairChoice(off, off)
    shared, k = _select_shared(labels, n_folds, seed)
    candidates = [(shared, d) for d in DIFFERENCE_GRID if (shared, d) != off]
    results = _guard(labels, candidates, n_folds, seed)
    best = -1
    for j, (gain, se) in enumerate(results):
        passes = np.isfinite(gain) and gain > GUARD_Z * se
        if passes and (best < 0 or gain > results[best][0]):
            best = j
    if best < 0:
        # report the most promising candidate's evidence
        top = int(np.nanargmax([g for g, _ in results])) if results else 0
        gain, se = results[top] if results else (float("nan"), float("nan"))
        picked = candidates[top] if candidates else off
        return fit_pair(labels, off), PairChoice(off, picked, gain, se, k)
    used = candidates[best]
    gain, se = results[best]
    return fit_pair(labels, used), PairChoice(used, used, gain, se, k)
