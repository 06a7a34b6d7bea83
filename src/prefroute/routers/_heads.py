"""Penalised logistic heads with offsets, and the penalty chosen by grouped
cross-validation: the numerics behind the adapted routers (`routers/adapted.py`).

A head predicts one model's quality on a prompt as ``sigmoid(offset + F @ c)``: the
offset is what the starting router already predicts, ``F`` holds an intercept, the
starting router's standardised score and a few principal components of the prompt's
embedding, and ``c`` is shrunk to 0 by a ridge penalty (the intercept only lightly),
so with little data a head reproduces the starting router. Labels may be soft (in
[0, 1]) and weighted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefroute.errors import DataError
from prefroute.types import FloatArray

__all__ = [
    "DEVIATION_PENALTY",
    "INTERCEPT_PENALTY",
    "PENALTY_GRID",
    "HeadData",
    "PenaltyChoice",
    "fit_all_heads",
    "fit_heads",
    "fit_logistic",
    "head_design",
    "log_loss",
    "pca_basis",
    "select_penalty",
]

#: Ridge penalty of the intercept (about one pseudo-observation at logit 0).
INTERCEPT_PENALTY = 1.0
#: Ridge penalty of a model's intercept deviation from the shared level.
DEVIATION_PENALTY = 4.0
#: Candidate penalties of the slopes, most shrinkage first; 1e8 switches them off.
PENALTY_GRID: tuple[float, ...] = (1e8, 3000.0, 1000.0, 300.0, 100.0, 30.0, 10.0, 3.0)
# Fewest labelled prompts for cross-validation; with fewer the slopes stay off.
_MIN_CV_PROMPTS = 20
_EPS = 1e-12


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def pca_basis(x: FloatArray, n_components: int) -> tuple[FloatArray, FloatArray]:
    """Centre and leading principal directions of embeddings, scaled so the first
    component has unit standard deviation.

    Args:
        x: Embeddings, shape (n, d).
        n_components: Components wanted (fewer when n or d is smaller).

    Returns:
        (centre of shape (d,), components of shape (k, d)); project with
        ``(x - centre) @ components.T``.
    """
    x = np.asarray(x, dtype=np.float64)
    center = x.mean(axis=0)
    k = max(0, min(n_components, x.shape[0] - 1, x.shape[1]))
    if k == 0:
        return center, np.zeros((0, x.shape[1]))
    _, sing, vt = np.linalg.svd(x - center, full_matrices=False)
    scale = sing[0] / np.sqrt(max(x.shape[0] - 1, 1))
    comps: FloatArray = vt[:k] / (scale if scale > _EPS else 1.0)
    return center, comps


def head_design(z: FloatArray, projected: FloatArray) -> FloatArray:
    """Design matrix ``[1, z, projected]`` of shape (n, 2 + k).

    Args:
        z: Standardised starting-router score per prompt, shape (n,).
        projected: Principal components of the prompts' embeddings, shape (n, k)
            (``(x - centre) @ components.T`` with `pca_basis`).

    Returns:
        Shape (n, 2 + k).
    """
    return np.hstack([np.ones((len(z), 1)), np.asarray(z)[:, None], projected])


def log_loss(
    features: FloatArray, targets: FloatArray, offset: FloatArray, coef: FloatArray
) -> FloatArray:
    """Per-row binary cross-entropy of soft targets under ``sigmoid(offset + F c)``.

    Args:
        features: Shape (n, p).
        targets: Shape (n,), in [0, 1].
        offset: Shape (n,).
        coef: Shape (p,).

    Returns:
        Shape (n,).
    """
    eta = offset + features @ coef
    # log(1 + e^eta) - y eta, stable for large |eta|
    out: FloatArray = np.logaddexp(0.0, eta) - targets * eta
    return out


def fit_logistic(
    features: FloatArray,
    targets: FloatArray,
    offset: FloatArray,
    weights: FloatArray,
    penalty: FloatArray,
    *,
    coef0: FloatArray | None = None,
    max_iter: int = 50,
    tol: float = 1e-9,
) -> FloatArray:
    """Minimise ``sum w_i loss_i + 1/2 sum penalty_j c_j^2`` by damped Newton steps.

    Args:
        features: Shape (n, p).
        targets: Soft labels in [0, 1], shape (n,).
        offset: Fixed part of the logit, shape (n,).
        weights: Sample weights >= 0, shape (n,).
        penalty: Ridge penalty per coefficient, > 0, shape (p,).
        coef0: Starting point (warm start); zeros if None.
        max_iter: Newton steps at most.
        tol: Stop when the largest step is below this.

    Returns:
        Coefficients, shape (p,).
    """
    p = features.shape[1]
    coef = np.zeros(p) if coef0 is None else np.array(coef0, dtype=np.float64)
    if features.shape[0] == 0:
        return coef

    def objective(c: FloatArray) -> float:
        loss = log_loss(features, targets, offset, c)
        return float(weights @ loss + 0.5 * penalty @ (c * c))

    current = objective(coef)
    for _ in range(max_iter):
        mu = _sigmoid(offset + features @ coef)
        grad = features.T @ (weights * (mu - targets)) + penalty * coef
        curvature = weights * mu * (1.0 - mu)
        hess = (features * curvature[:, None]).T @ features
        hess[np.diag_indices(p)] += penalty
        step = np.linalg.solve(hess, grad)
        # Halve the step until the objective does not increase (Newton on a convex
        # objective, guarded for far-off starts).
        t = 1.0
        while True:
            trial = coef - t * step
            value = objective(trial)
            if value <= current + 1e-12 or t < 1e-4:
                break
            t *= 0.5
        coef, current = trial, value
        if float(np.max(np.abs(t * step))) < tol:
            break
    return coef


@dataclass(frozen=True)
class PenaltyChoice:
    """The slope penalty picked by cross-validation, with its evidence.

    Attributes:
        penalty: The chosen penalty (`PENALTY_GRID`'s first entry = slopes off).
        grid: Penalties tried.
        mean_loss: Mean held-out log loss per label at each penalty.
        se_loss: Its standard error over folds.
        n_folds: Folds used (0: too few labels, no cross-validation).
    """

    penalty: float
    grid: tuple[float, ...]
    mean_loss: tuple[float, ...]
    se_loss: tuple[float, ...]
    n_folds: int


def fit_heads(
    designs: Sequence[FloatArray],
    targets: Sequence[FloatArray],
    offsets: Sequence[FloatArray],
    weights: Sequence[FloatArray],
    slope_penalty: float,
    *,
    coef0: Sequence[FloatArray] | None = None,
) -> list[FloatArray]:
    """Fit the heads of all models together at one slope penalty.

    Every model's intercept is a shared level (lightly penalised) plus the model's
    own deviation from it (penalised by `DEVIATION_PENALTY`): labels on some models
    move the others' level too, so a model the logging policy never picked is not
    left at the starting router's (often optimistic) level while the picked ones
    are corrected.

    Args:
        designs: Per model, its rows' features (n_j, p), intercept first.
        targets: Per model, soft labels (n_j,).
        offsets: Per model, offsets (n_j,).
        weights: Per model, sample weights (n_j,).
        slope_penalty: Penalty of every coefficient but the intercepts.
        coef0: Warm starts (per model, as returned).

    Returns:
        Per model, coefficients (p,), the shared level included in the intercept;
        a model without rows gets the shared level and zero slopes.
    """
    m = len(designs)
    p = designs[0].shape[1] if m else 0
    n_rows = [d.shape[0] for d in designs]
    total = sum(n_rows)
    big = np.zeros((total, 1 + m * p))
    big[:, 0] = 1.0
    start = 0
    for j, d in enumerate(designs):
        big[start : start + n_rows[j], 1 + j * p : 1 + (j + 1) * p] = d
        start += n_rows[j]
    penalty = np.full(1 + m * p, float(slope_penalty))
    penalty[0] = INTERCEPT_PENALTY
    penalty[1::p] = DEVIATION_PENALTY
    warm = None
    if coef0 is not None:
        shared = float(np.mean([c[0] for c in coef0])) if m else 0.0
        warm = np.concatenate(
            [[shared], *[np.concatenate([[c[0] - shared], c[1:]]) for c in coef0]]
        )
    c = fit_logistic(
        big,
        np.concatenate(list(targets)) if m else np.zeros(0),
        np.concatenate(list(offsets)) if m else np.zeros(0),
        np.concatenate(list(weights)) if m else np.zeros(0),
        penalty,
        coef0=warm,
    )
    out = []
    for j in range(m):
        coef = c[1 + j * p : 1 + (j + 1) * p].copy()
        coef[0] += c[0]
        out.append(coef)
    return out


def select_penalty(
    designs: Sequence[FloatArray],
    targets: Sequence[FloatArray],
    offsets: Sequence[FloatArray],
    weights: Sequence[FloatArray],
    groups: Sequence[np.ndarray],
    *,
    grid: Sequence[float] = PENALTY_GRID,
    n_folds: int = 5,
    seed: int = 0,
) -> PenaltyChoice:
    """Pick the slope penalty by grouped K-fold cross-validation and the one-SE rule.

    Folds split prompts (a `groups` id per row: the same prompt logged twice is
    never on both sides), the same folds for every model. The chosen penalty is the
    largest (most shrinkage toward the starting router) whose held-out loss is
    within one standard error of the best: with few labels that is usually the
    starting router itself.

    Args:
        designs: Per model, features (n_j, p).
        targets: Per model, soft labels (n_j,).
        offsets: Per model, offsets (n_j,).
        weights: Per model, sample weights (n_j,).
        groups: Per model, an integer prompt id per row (n_j,).
        grid: Penalties, largest first.
        n_folds: Folds.
        seed: Fold assignment seed.

    Returns:
        The choice.

    Raises:
        DataError: Per-model sequences of different lengths.
    """
    if not (
        len(designs) == len(targets) == len(offsets) == len(weights) == len(groups)
    ):
        raise DataError("designs, targets, offsets, weights and groups must align")
    grid = tuple(float(g) for g in grid)
    ids = np.unique(np.concatenate([np.asarray(g) for g in groups] or [np.zeros(0)]))
    k = min(n_folds, len(ids))
    if len(ids) < _MIN_CV_PROMPTS or k < 2:
        return PenaltyChoice(grid[0], grid, (), (), 0)
    rng = np.random.default_rng(seed)
    fold_of = dict(
        zip(ids.tolist(), (rng.permutation(len(ids)) % k).tolist(), strict=True)
    )
    row_folds = [
        np.array([fold_of[int(g)] for g in gs], dtype=np.int64) for gs in groups
    ]
    losses = np.zeros((len(grid), k))
    counts = np.zeros(k)
    for fold in range(k):
        train = [rf != fold for rf in row_folds]
        test = [rf == fold for rf in row_folds]
        counts[fold] = sum(float(weights[j][t].sum()) for j, t in enumerate(test))
        warm: list[FloatArray] | None = None
        for i, lam in enumerate(grid):
            coefs = fit_heads(
                [d[t] for d, t in zip(designs, train, strict=True)],
                [y[t] for y, t in zip(targets, train, strict=True)],
                [o[t] for o, t in zip(offsets, train, strict=True)],
                [w[t] for w, t in zip(weights, train, strict=True)],
                lam,
                coef0=warm,
            )
            warm = coefs
            losses[i, fold] = sum(
                float(
                    weights[j][t]
                    @ log_loss(designs[j][t], targets[j][t], offsets[j][t], coefs[j])
                )
                for j, t in enumerate(test)
            )
    ok = counts > 0
    per_label = losses[:, ok] / counts[ok]
    mean = per_label.mean(axis=1)
    se = (
        per_label.std(axis=1, ddof=1) / np.sqrt(per_label.shape[1])
        if ok.sum() > 1
        else np.zeros(len(grid))
    )
    best = int(np.argmin(mean))
    # one-SE rule: the most shrunk penalty within one standard error of the best
    chosen = next(i for i in range(len(grid)) if mean[i] <= mean[best] + se[best])
    return PenaltyChoice(
        grid[chosen],
        grid,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in se),
        int(ok.sum()),
    )


@dataclass(frozen=True)
class HeadData:
    """Labels for the per-model heads, over a set of distinct prompts.

    Attributes:
        projected: Principal components of each prompt's embedding, (n_prompts, k).
        z: Standardised starting-router score per prompt and model, (n_prompts, m).
        offsets: Starting router's logit per prompt and model, (n_prompts, m).
        rows: Prompt index of each label, (n_labels,).
        cols: Model index of each label, (n_labels,).
        targets: Label (quality in [0, 1]), (n_labels,).
        weights: Label weight, (n_labels,).
    """

    projected: FloatArray
    z: FloatArray
    offsets: FloatArray
    rows: np.ndarray
    cols: np.ndarray
    targets: FloatArray
    weights: FloatArray


def fit_all_heads(
    data: HeadData,
    *,
    slope_penalty: float | None = None,
    n_folds: int = 5,
    seed: int = 0,
) -> tuple[FloatArray, PenaltyChoice]:
    """Fit every model's head; the slope penalty by `select_penalty` unless given.

    Args:
        data: The labels.
        slope_penalty: Fixed penalty, or None to cross-validate.
        n_folds: Folds for the cross-validation.
        seed: Fold seed.

    Returns:
        (coefficients of shape (m, 2 + k); a model without labels gets the shared
        level only; the penalty choice).
    """
    m = data.z.shape[1]
    k = data.projected.shape[1]
    designs, targets, offsets, weights, groups = [], [], [], [], []
    for j in range(m):
        sel = data.cols == j
        rows = data.rows[sel]
        designs.append(head_design(data.z[rows, j], data.projected[rows]))
        targets.append(data.targets[sel])
        offsets.append(data.offsets[rows, j])
        weights.append(data.weights[sel])
        groups.append(rows)
    if slope_penalty is None:
        choice = select_penalty(
            designs, targets, offsets, weights, groups, n_folds=n_folds, seed=seed
        )
    else:
        choice = PenaltyChoice(float(slope_penalty), (float(slope_penalty),), (), (), 0)
    coefs = fit_heads(designs, targets, offsets, weights, choice.penalty)
    out = np.zeros((m, 2 + k))
    for j, c in enumerate(coefs):
        out[j] = c
    return out, choice
