"""Fitting math of `MultiModelRouter`: the factorisation, the task prior, the costs.

Pure functions on arrays; the router turns records into arrays and keeps the results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from prefroute.errors import DataError
from prefroute.routers.policy import estimate_input_tokens
from prefroute.types import Battle, FloatArray, GoldenRecord

__all__ = [
    "Factors",
    "TaskPrior",
    "TrainingArrays",
    "fit_costs",
    "fit_factors",
    "fit_task_prior",
    "sigmoid",
    "training_arrays",
    "unit_rows",
]

# Task prior: the fewest golden labels of a model in a group for the group's accuracy
# to replace the factorisation's mean.
MIN_GROUP_LABELS = 20


def unit_rows(x: FloatArray) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatArray = x / np.where(norm > 0, norm, 1.0)
    return out


def sigmoid(z: FloatArray) -> FloatArray:
    """The logistic function, without overflow warnings."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


class TrainingArrays(NamedTuple):
    """Golden records and battles as index arrays over prompts and models.

    Attributes:
        models: Model names (canonical), in first-seen order: the columns.
        texts: Distinct prompts, in first-seen order: the rows.
        groups: Task group of each prompt (golden `task`, else `source`, else
            "golden"; battle prompts the battle group).
        golden: (rows, columns, labels in [0, 1]) of the golden cells.
        battles: (rows, model a, model b, credit of a, weight).
        costs: (columns, input tokens, USD) of the observed per-query costs.
        n_labels: Per model (golden cells, battles), shape (n_models, 2).
    """

    models: list[str]
    texts: list[str]
    groups: list[str]
    golden: tuple[np.ndarray, np.ndarray, FloatArray]
    battles: tuple[np.ndarray, np.ndarray, np.ndarray, FloatArray, FloatArray]
    costs: tuple[np.ndarray, FloatArray, FloatArray]
    n_labels: np.ndarray


def training_arrays(
    golden: Sequence[GoldenRecord],
    battles: Sequence[Battle],
    model_aliases: Mapping[str, str] | None,
    battle_group: str,
) -> TrainingArrays:
    """Index the training records (see `MultiModelRouter.fit_multi`).

    Args:
        golden: Records with per-model quality in [0, 1] (and optional costs).
        battles: Pairwise battles; self-battles are skipped.
        model_aliases: Name -> canonical name, applied to both sources.
        battle_group: Task group of battle prompts.

    Returns:
        The arrays.

    Raises:
        DataError: No training signal, or scores outside [0, 1].
    """
    alias = dict(model_aliases or {})
    names: dict[str, int] = {}

    def model_id(name: str) -> int:
        name = alias.get(name, name)
        if name not in names:
            names[name] = len(names)
        return names[name]

    prompt_ids: dict[str, int] = {}
    prompt_groups: list[str] = []

    def prompt_id(text: str, group: str) -> int:
        if text not in prompt_ids:
            prompt_ids[text] = len(prompt_ids)
            prompt_groups.append(group)
        return prompt_ids[text]

    g_rows: list[int] = []
    g_cols: list[int] = []
    g_vals: list[float] = []
    c_cols: list[int] = []
    c_tokens: list[float] = []
    c_vals: list[float] = []
    for record in golden:
        row = prompt_id(record.prompt, record.task or record.source or "golden")
        tokens = float(estimate_input_tokens([record.prompt])[0])
        for model, value in record.scores.items():
            v = float(value)
            if not (0.0 <= v <= 1.0) or math.isnan(v):
                raise DataError(
                    f"golden score of {model!r} must be in [0, 1], got {value!r}"
                )
            g_rows.append(row)
            g_cols.append(model_id(model))
            g_vals.append(v)
        for model, cost in (record.costs or {}).items():
            if cost is None or not math.isfinite(float(cost)):
                continue
            c_cols.append(model_id(model))
            c_tokens.append(tokens)
            c_vals.append(float(cost))
    b_rows: list[int] = []
    b_a: list[int] = []
    b_b: list[int] = []
    b_credit: list[float] = []
    b_weight: list[float] = []
    for battle in battles:
        a, b = model_id(battle.model_a), model_id(battle.model_b)
        if a == b:
            continue
        b_rows.append(prompt_id(battle.prompt, battle_group))
        b_a.append(a)
        b_b.append(b)
        b_credit.append(float(battle.credit_a))
        b_weight.append(float(battle.weight))
    if not g_vals and not b_rows:
        raise DataError("fit needs golden records or battles; got neither")
    n_labels = np.zeros((len(names), 2), dtype=np.int64)
    np.add.at(n_labels[:, 0], np.array(g_cols, dtype=np.intp), 1)
    np.add.at(n_labels[:, 1], np.array(b_a + b_b, dtype=np.intp), 1)
    return TrainingArrays(
        models=list(names),
        texts=list(prompt_ids),
        groups=prompt_groups,
        golden=(
            np.array(g_rows, dtype=np.intp),
            np.array(g_cols, dtype=np.intp),
            np.array(g_vals, dtype=np.float64),
        ),
        battles=(
            np.array(b_rows, dtype=np.intp),
            np.array(b_a, dtype=np.intp),
            np.array(b_b, dtype=np.intp),
            np.array(b_credit, dtype=np.float64),
            np.array(b_weight, dtype=np.float64),
        ),
        costs=(
            np.array(c_cols, dtype=np.intp),
            np.array(c_tokens, dtype=np.float64),
            np.array(c_vals, dtype=np.float64),
        ),
        n_labels=n_labels,
    )


class Factors(NamedTuple):
    """Learned weights: ``s(x, m) = b_m + u . x + v_m . (P x)``.

    Attributes:
        projection: P, shape (dim, d).
        factors: v, shape (n_models, dim).
        biases: b, shape (n_models,).
        difficulty: u, shape (d,).
    """

    projection: FloatArray
    factors: FloatArray
    biases: FloatArray
    difficulty: FloatArray


def fit_factors(
    x: FloatArray,
    n_models: int,
    *,
    golden: tuple[np.ndarray, np.ndarray, np.ndarray],
    battles: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    dim: int,
    l2: float,
    battle_weight: float,
    n_epochs: int,
    learning_rate: float,
    seed: int,
) -> Factors:
    """Full-batch Adam on golden cross-entropy plus the Bradley-Terry battle term.

    Args:
        x: Prompt embeddings, shape (n, d).
        n_models: Number of models.
        golden: (prompt rows, model columns, labels in [0, 1]).
        battles: (prompt rows, model a, model b, credit of a, weight).
        dim: Rank of the projection.
        l2: Penalty per 1,000 prompts.
        battle_weight: Weight of the battle term.
        n_epochs: Adam steps.
        learning_rate: Adam step size.
        seed: Seed of the initial weights.

    Returns:
        The weights.
    """
    rng = np.random.default_rng(seed)
    n, d = x.shape
    k = dim
    params = {
        "P": rng.normal(0.0, 1.0 / math.sqrt(d), size=(k, d)),
        "V": rng.normal(0.0, 0.1, size=(n_models, k)),
        "b": np.zeros(n_models),
        "u": np.zeros(d),
    }
    g_rows, g_cols, g_vals = golden
    has_golden = g_vals.size > 0
    if has_golden:
        # Start biases at each model's mean label logit: faster, steadier fits.
        sums = np.bincount(g_cols, weights=g_vals, minlength=n_models)
        counts = np.bincount(g_cols, minlength=n_models)
        mean = np.where(counts > 0, (sums + 0.5) / (counts + 1.0), 0.5)
        params["b"] = np.log(mean / (1 - mean))
        # Dense label matrix and mask: fast vectorised loss on few models.
        y = np.zeros((n, n_models))
        mask = np.zeros((n, n_models))
        y[g_rows, g_cols] = g_vals
        mask[g_rows, g_cols] = 1.0
        mask /= mask.sum()
    b_rows, b_a, b_b, b_credit, b_weight = battles
    has_battles = b_rows.size > 0 and battle_weight > 0
    if has_battles:
        b_scale = battle_weight * b_weight / b_weight.sum()
        cell_a = b_rows * n_models + b_a
        cell_b = b_rows * n_models + b_b
    # The loss is a mean over labels, so a fixed penalty would regularise big data
    # sets as hard as small ones: scale it like a summed loss would (per 1,000
    # prompts). One default then suits 2k (RouterBench) and 13k (RouterDC) prompts.
    l2 = l2 * 1000.0 / max(n, 1)
    m1 = {key: np.zeros_like(value) for key, value in params.items()}
    m2 = {key: np.zeros_like(value) for key, value in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, n_epochs + 1):
        p_mat, v_mat, bias, u = params["P"], params["V"], params["b"], params["u"]
        z = x @ p_mat.T  # (n, k)
        s = z @ v_mat.T + bias + (x @ u)[:, None]  # (n, n_models)
        grad_s = np.zeros_like(s)
        if has_golden:
            grad_s += (sigmoid(s) - y) * mask
        if has_battles:
            flat = s.ravel()
            diff = flat[cell_a] - flat[cell_b]
            g = (sigmoid(diff) - b_credit) * b_scale
            # bincount scatters far faster than np.add.at on 100k battles.
            grad_s += (
                np.bincount(cell_a, weights=g, minlength=s.size)
                - np.bincount(cell_b, weights=g, minlength=s.size)
            ).reshape(s.shape)
        grad_z = grad_s @ v_mat
        grads = {
            "P": grad_z.T @ x + l2 * p_mat,
            "V": grad_s.T @ z + l2 * v_mat,
            "b": grad_s.sum(axis=0),
            "u": x.T @ grad_s.sum(axis=1) + l2 * u,
        }
        lr = learning_rate * math.sqrt(1 - beta2**step) / (1 - beta1**step)
        for key, grad in grads.items():
            m1[key] = beta1 * m1[key] + (1 - beta1) * grad
            m2[key] = beta2 * m2[key] + (1 - beta2) * grad * grad
            params[key] = params[key] - lr * m1[key] / (np.sqrt(m2[key]) + eps)
    return Factors(params["P"], params["V"], params["b"], params["u"])


class TaskPrior(NamedTuple):
    """Per-task correction: logit = slope[g, m] * s + offset[g, m] in group g.

    Attributes:
        groups: Group names, sorted.
        centroids: Unit centroid per group, shape (n_groups, d).
        slope: Shape (n_groups, n_models).
        offset: Shape (n_groups, n_models).
    """

    groups: list[str]
    centroids: FloatArray
    slope: FloatArray
    offset: FloatArray


def fit_task_prior(
    x: FloatArray,
    groups: Sequence[str],
    n_models: int,
    *,
    golden: tuple[np.ndarray, np.ndarray, FloatArray],
    golden_logits: FloatArray | None,
    shrink: float,
) -> TaskPrior:
    """Smoothed per-task accuracy on top of the factorisation.

    Args:
        x: Training prompt embeddings, shape (n, d).
        groups: Group (task) of each training prompt.
        n_models: Number of models.
        golden: (prompt rows, model columns, labels) of the golden cells.
        golden_logits: The factorisation's logit of each golden cell (None
            without golden labels).
        shrink: Weight of the factorisation's deviation from its task mean.

    Returns:
        The prior; (group, model) cells with fewer than 20 labels keep ``s``.
    """
    g_rows, g_cols, g_vals = golden
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    group_of = np.array([index[g] for g in groups], dtype=np.intp)
    unit = unit_rows(x)
    sums: FloatArray = np.zeros((len(names), x.shape[1]))
    np.add.at(sums, group_of, unit)
    centroids = unit_rows(sums)
    slope: FloatArray = np.ones((len(names), n_models))
    offset: FloatArray = np.zeros((len(names), n_models))
    if g_vals.size:
        assert golden_logits is not None
        s = golden_logits
        cell = group_of[g_rows] * n_models + g_cols
        size = len(names) * n_models
        count = np.bincount(cell, minlength=size).reshape(len(names), n_models)
        total = np.bincount(cell, weights=g_vals, minlength=size)
        sum_s = np.bincount(cell, weights=s, minlength=size)
        labelled = count >= MIN_GROUP_LABELS
        # Smoothed accuracy (add half a success and half a failure).
        acc = (total.reshape(count.shape) + 0.5) / (count + 1.0)
        mean_s = sum_s.reshape(count.shape) / np.maximum(count, 1)
        beta = float(shrink)
        slope = np.where(labelled, beta, 1.0)
        offset = np.where(labelled, np.log(acc / (1 - acc)) - beta * mean_s, 0.0)
    return TaskPrior(names, centroids, slope, offset)


def fit_costs(
    n_models: int, cols: np.ndarray, tokens: FloatArray, values: FloatArray
) -> tuple[FloatArray, np.ndarray]:
    """Per model: USD = intercept + slope x input tokens, least squares.

    Args:
        n_models: Number of models.
        cols: Model column of each observed cost.
        tokens: Input tokens of each observed cost.
        values: The costs in USD.

    Returns:
        (coefficients (n_models, 2): intercept, per token; has_cost (n_models,)).
        Slopes are >= 0; a negative intercept falls back to a pure per-token fit.
    """
    coef = np.zeros((n_models, 2))
    has_cost = np.zeros(n_models, dtype=bool)
    for j in range(n_models):
        sel = cols == j
        if not np.any(sel):
            continue
        has_cost[j] = True
        t, c = tokens[sel], values[sel]
        if t.size >= 2 and np.ptp(t) > 0:
            slope, intercept = np.polyfit(t, c, 1)
            slope = max(float(slope), 0.0)
            intercept = float(c.mean() - slope * t.mean())
            if intercept < 0:
                slope, intercept = float(c.sum() / t.sum()), 0.0
        else:
            slope, intercept = 0.0, float(c.mean())
        coef[j] = (intercept, slope)
    return coef, has_cost
