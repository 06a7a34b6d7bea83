"""Bradley-Terry ratings over all models of all battles, bootstrap confidence,
tiers, and strong/weak labels from battles between tiers.

Ties count as half a win for each side (soft labels keep their credit), so
``P(a beats b) = sigmoid(theta_a - theta_b)`` is fitted by weighted logistic
regression with a small ridge (which also pins the scale of disconnected models).
Ratings are reported on the Elo scale: ``1000 + 400 / ln(10) * theta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from prefroute.errors import ConfigError, DataError
from prefroute.types import Battle, FloatArray

__all__ = [
    "Ratings",
    "StrongWeakLabels",
    "assign_tiers",
    "fit_bradley_terry",
    "fit_ratings",
    "strong_weak_labels",
]

_ELO_SCALE = 400.0 / np.log(10.0)


@dataclass(frozen=True)
class Ratings:
    """A leaderboard.

    Attributes:
        models: Model names, sorted by rating, best first.
        elo: Elo-scale rating per model, shape (m,).
        ci_low: Lower end of the bootstrap 95% interval (= elo without bootstrap).
        ci_high: Upper end of the bootstrap 95% interval.
        n_battles: Battles each model took part in.
        tiers: Tier per model, 0 = strongest.
    """

    models: list[str]
    elo: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    n_battles: np.ndarray
    tiers: np.ndarray

    def tier_of(self) -> dict[str, int]:
        """Model -> tier (0 = strongest)."""
        return {m: int(t) for m, t in zip(self.models, self.tiers, strict=True)}

    def elo_of(self) -> dict[str, float]:
        """Model -> Elo-scale rating."""
        return {m: float(e) for m, e in zip(self.models, self.elo, strict=True)}


def _aggregate(
    battles: Sequence[Battle],
) -> tuple[list[str], np.ndarray, np.ndarray, FloatArray, FloatArray]:
    models = sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    index = {m: i for i, m in enumerate(models)}
    ia = np.fromiter(
        (index[b.model_a] for b in battles), dtype=np.int64, count=len(battles)
    )
    ib = np.fromiter(
        (index[b.model_b] for b in battles), dtype=np.int64, count=len(battles)
    )
    w = np.fromiter((b.weight for b in battles), dtype=np.float64, count=len(battles))
    c = np.fromiter((b.credit_a for b in battles), dtype=np.float64, count=len(battles))
    return models, ia, ib, w, c


def fit_bradley_terry(
    ia: np.ndarray,
    ib: np.ndarray,
    credit: FloatArray,
    weight: FloatArray,
    n_models: int,
    *,
    ridge: float = 1e-3,
    n_iter: int = 50,
) -> FloatArray:
    """Weighted Bradley-Terry strengths by Newton's method.

    Battles are first pooled per ordered pair, so the cost is O(n + m^2) per step.

    Args:
        ia: Index of model A per battle, shape (n,).
        ib: Index of model B per battle, shape (n,).
        credit: Credit of A in [0, 1], shape (n,).
        weight: Battle weights, shape (n,).
        n_models: Number of models m.
        ridge: L2 penalty relative to the total weight.
        n_iter: Newton steps.

    Returns:
        Strengths theta, shape (m,), mean zero.
    """
    m = n_models
    pair = ia * m + ib
    w_pair = np.bincount(pair, weights=weight, minlength=m * m).reshape(m, m)
    c_pair = np.bincount(pair, weights=weight * credit, minlength=m * m).reshape(m, m)
    # Symmetrise: (a, b) with credit c equals (b, a) with credit 1 - c.
    n = w_pair + w_pair.T
    wins = c_pair + (w_pair.T - c_pair.T)
    lam = ridge * max(float(n.sum()) / max(m, 1), 1e-9)
    theta = np.zeros(m)
    for _ in range(n_iter):
        diff = theta[:, None] - theta[None, :]
        p = 0.5 * (1.0 + np.tanh(0.5 * diff))
        grad = (wins - n * p).sum(axis=1) - lam * theta
        h = n * p * (1.0 - p)
        hess = -np.diag(h.sum(axis=1)) + h - lam * np.eye(m)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if float(np.abs(step).max(initial=0.0)) < 1e-9:
            break
    out: FloatArray = theta - theta.mean()
    return out


def assign_tiers(elo: FloatArray, n_tiers: int) -> np.ndarray:
    """Group ratings into tiers by 1-D k-means (deterministic quantile start).

    Args:
        elo: Ratings, shape (m,).
        n_tiers: Number of tiers (capped at the number of distinct ratings).

    Returns:
        Tier per model, shape (m,), 0 = highest ratings, consecutive integers.

    Raises:
        ConfigError: n_tiers < 1.
    """
    if n_tiers < 1:
        raise ConfigError(f"n_tiers must be >= 1, got {n_tiers!r}")
    elo = np.asarray(elo, dtype=np.float64)
    if elo.size == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(n_tiers, len(np.unique(np.round(elo, 6))))
    centers = np.quantile(elo, (np.arange(k) + 0.5) / k)
    for _ in range(100):
        labels = np.abs(elo[:, None] - centers[None, :]).argmin(axis=1)
        new = np.array(
            [
                elo[labels == j].mean() if np.any(labels == j) else centers[j]
                for j in range(k)
            ]
        )
        if np.allclose(new, centers):
            break
        centers = new
    labels = np.abs(elo[:, None] - centers[None, :]).argmin(axis=1)
    used = sorted(set(labels.tolist()), key=lambda j: -centers[j])
    remap = {j: t for t, j in enumerate(used)}
    return np.array([remap[j] for j in labels], dtype=np.int64)


def fit_ratings(
    battles: Sequence[Battle],
    *,
    n_tiers: int = 10,
    n_bootstrap: int = 0,
    seed: int = 0,
) -> Ratings:
    """Fit Bradley-Terry ratings with optional bootstrap intervals, and tiers.

    Args:
        battles: Battles among any models.
        n_tiers: Tiers to group models into.
        n_bootstrap: Bootstrap resamples (Poisson(1) weight per battle); 0 = none.
        seed: Seed for the bootstrap.

    Returns:
        The leaderboard, best first.

    Raises:
        DataError: No battles.
    """
    if not battles:
        raise DataError("cannot fit ratings: no battles")
    models, ia, ib, w, c = _aggregate(battles)
    m = len(models)
    theta = fit_bradley_terry(ia, ib, c, w, m)
    elo = 1000.0 + _ELO_SCALE * theta
    lo, hi = elo.copy(), elo.copy()
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = np.empty((n_bootstrap, m))
        for r in range(n_bootstrap):
            wr = w * rng.poisson(1.0, size=len(w))
            samples[r] = 1000.0 + _ELO_SCALE * fit_bradley_terry(ia, ib, c, wr, m)
        lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
    counts = np.bincount(ia, minlength=m) + np.bincount(ib, minlength=m)
    order = np.argsort(-elo, kind="stable")
    tiers = assign_tiers(elo[order], n_tiers)
    return Ratings(
        models=[models[i] for i in order],
        elo=elo[order],
        ci_low=lo[order],
        ci_high=hi[order],
        n_battles=counts[order],
        tiers=tiers,
    )


@dataclass(frozen=True)
class StrongWeakLabels:
    """Battles between a stronger and a weaker tier, oriented strong-first.

    Attributes:
        prompts: Unique prompts, shape (u,).
        strong_win: Weighted strong-wins mass per prompt, shape (u,).
        tie: Weighted tie mass per prompt (credit 0.5 counts half to each side).
        weak_win: Weighted weak-wins mass per prompt.
        n_battles: Number of labelled battles.
        sources: Source of each prompt's first labelled battle, shape (u,).
    """

    prompts: list[str]
    strong_win: FloatArray
    tie: FloatArray
    weak_win: FloatArray
    n_battles: int
    sources: list[str] = field(default_factory=list)

    def normalised_by_source(self) -> StrongWeakLabels:
        """Labels with each prompt's strong credit replaced by its percentile rank
        within its source (ties averaged), as strong/weak masses (no tie mass).

        Sources differ in base rates (task mix, which models they hold); the rank
        within a source keeps only the prompt-level signal, which transfers better.
        """
        credit = self.credit
        pct = np.zeros(len(credit))
        src = np.asarray(self.sources)
        for s in np.unique(src):
            idx = np.flatnonzero(src == s)
            order = np.argsort(credit[idx], kind="stable")
            ranks = np.empty(len(idx))
            ranks[order] = np.arange(len(idx))
            # average ranks over tied credits
            _, inv = np.unique(credit[idx], return_inverse=True)
            sums = np.bincount(inv, weights=ranks)
            counts = np.bincount(inv)
            ranks = (sums / counts)[inv]
            pct[idx] = (ranks + 0.5) / len(idx)
        total = self.total
        return StrongWeakLabels(
            prompts=self.prompts,
            strong_win=pct * total,
            tie=np.zeros(len(total)),
            weak_win=(1.0 - pct) * total,
            n_battles=self.n_battles,
            sources=self.sources,
        )

    @property
    def total(self) -> FloatArray:
        """Total weight per prompt."""
        out: FloatArray = self.strong_win + self.tie + self.weak_win
        return out

    @property
    def credit(self) -> FloatArray:
        """Weighted mean credit of the strong side per prompt, in [0, 1]."""
        tot = np.maximum(self.total, 1e-12)
        out: FloatArray = (self.strong_win + 0.5 * self.tie) / tot
        return out


def strong_weak_labels(
    battles: Sequence[Battle],
    tiers: dict[str, int],
    *,
    min_gap: int = 1,
    pair: tuple[str, str] | None = None,
) -> StrongWeakLabels:
    """Turn battles between tiers into per-prompt strong/tie/weak label masses.

    Args:
        battles: Battles (ties and soft labels allowed).
        tiers: Model -> tier (0 = strongest), from `fit_ratings`.
        min_gap: Minimum tier difference between the two sides.
        pair: (strong, weak): when both have tiers, use only battles with one side
            at or above the strong model's tier and the other at or below the weak
            model's tier. None = any two tiers ``min_gap`` apart.

    Returns:
        Per-prompt label masses; a soft credit c adds c to strong-wins and 1 - c to
        weak-wins, except exact ties, which add to tie.
    """
    index: dict[str, int] = {}
    sources: list[str] = []
    sw: list[float] = []
    tie: list[float] = []
    ww: list[float] = []
    lo_strong = hi_weak = None
    if pair is not None and pair[0] in tiers and pair[1] in tiers:
        lo_strong, hi_weak = tiers[pair[0]], tiers[pair[1]]
    n = 0
    for b in battles:
        ta, tb = tiers.get(b.model_a), tiers.get(b.model_b)
        if ta is None or tb is None or abs(ta - tb) < min_gap:
            continue
        credit = b.credit_a if ta < tb else 1.0 - b.credit_a
        top, bottom = min(ta, tb), max(ta, tb)
        if (
            lo_strong is not None
            and hi_weak is not None
            and (top > lo_strong or bottom < hi_weak)
        ):
            continue
        i = index.get(b.prompt)
        if i is None:
            i = index[b.prompt] = len(sw)
            sources.append(b.source)
            sw.append(0.0)
            tie.append(0.0)
            ww.append(0.0)
        n += 1
        if credit == 0.5:
            tie[i] += b.weight
        else:
            sw[i] += b.weight * credit
            ww[i] += b.weight * (1.0 - credit)
    return StrongWeakLabels(
        prompts=list(index),
        strong_win=np.asarray(sw),
        tie=np.asarray(tie),
        weak_win=np.asarray(ww),
        n_battles=n,
        sources=sources,
    )
