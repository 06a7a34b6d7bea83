"""Helpers shared by the preference-trained routers (sw_ranking, mf, classifier):
prompt features, strong/weak labels from tiers, AdamW."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import ConfigError, DataError
from prefroute.types import Battle, FloatArray

logger = logging.getLogger(__name__)

TIER_MODES = ("any", "pair")


def resolve_embedder(embedder: Embedder | str | None) -> Embedder:
    """The injected embedder, or one built from a spec (None: the package default)."""
    if embedder is None or isinstance(embedder, str):
        from prefroute import embed

        spec = embedder or str(getattr(embed, "DEFAULT_EMBEDDER", "minilm"))
        return embed.get_embedder(spec)
    return embedder


def length_stats(prompts: Sequence[str]) -> FloatArray:
    """Mean and std of log(1 + characters) over prompts, shape (2,)."""
    ll = np.log1p(
        np.fromiter((len(p) for p in prompts), dtype=np.float64, count=len(prompts))
    )
    return np.array([ll.mean(), max(float(ll.std()), 1e-6)])


def features(
    embedder: Embedder,
    prompts: Sequence[str],
    stats: FloatArray | None,
    *,
    length_weight: float = 1.0,
) -> FloatArray:
    """Embedding rows, plus a standardised log-length column when `stats` is given.

    Returns:
        float64 array (n, dim [+ 1]).
    """
    x = np.asarray(embedder.embed(list(prompts)), dtype=np.float64)
    if stats is None:
        return x
    ll = np.log1p(
        np.fromiter((len(p) for p in prompts), dtype=np.float64, count=len(prompts))
    )
    col = length_weight * (ll - stats[0]) / stats[1]
    return np.hstack([x, col[:, None]])


def check_tier_mode(mode: str) -> None:
    """Raise ConfigError unless `mode` is a known tier mode."""
    if mode not in TIER_MODES:
        raise ConfigError(f"tier_mode must be one of {list(TIER_MODES)}, got {mode!r}")


def sigmoid(z: FloatArray) -> FloatArray:
    """Numerically safe logistic function."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def router_tier_labels(router: Any, battles: Sequence[Battle]) -> Any:
    """`tier_labels` with a tier-labelled router's own settings (n_tiers,
    min_tier_gap, tier_mode, strong_model/weak_model, label_norm).

    Raises:
        DataError: No battle between two tiers.
    """
    return tier_labels(
        battles,
        n_tiers=router.n_tiers,
        min_tier_gap=router.min_tier_gap,
        tier_mode=router.tier_mode,
        pair=(router.strong_model, router.weak_model),
        label_norm=router.label_norm,
    )


def class_targets(labels: Any) -> tuple[FloatArray, FloatArray]:
    """Per-prompt strong-wins / tie / weak-wins distributions and sample weights.

    Args:
        labels: From `tier_labels` (strong_win, tie, weak_win, total per prompt).

    Returns:
        (target (n, 3) rows summing to 1, weight (n,)): prompts with more (weighted)
        battles count more, with diminishing returns (square root of the mass).
    """
    total = labels.total
    target = np.stack([labels.strong_win, labels.tie, labels.weak_win], axis=1)
    target = target / np.maximum(total, 1e-12)[:, None]
    weight: FloatArray = np.sqrt(total)
    return target, weight


def tier_labels(
    battles: Sequence[Battle],
    *,
    n_tiers: int,
    min_tier_gap: int,
    tier_mode: str,
    pair: tuple[str | None, str | None],
    label_norm: str = "none",
) -> Any:
    """Fit ratings and tiers on `battles` and return strong/weak label masses.

    Returns:
        `prefroute.train.ratings.StrongWeakLabels`.
    """
    from prefroute.train.ratings import fit_ratings, strong_weak_labels

    ratings = fit_ratings(battles, n_tiers=n_tiers)
    tiers = ratings.tier_of()
    chosen = None
    if tier_mode == "pair" and pair[0] is not None and pair[1] is not None:
        chosen = (pair[0], pair[1])
        if pair[0] not in tiers or pair[1] not in tiers:
            logger.warning(
                "pair %s/%s not both in the battles; using any two tiers",
                pair[0],
                pair[1],
            )
    labels = strong_weak_labels(battles, tiers, min_gap=min_tier_gap, pair=chosen)
    if not labels.prompts:
        raise DataError("no battles between a stronger and a weaker tier to learn from")
    if label_norm == "source":
        return labels.normalised_by_source()
    if label_norm != "none":
        raise ConfigError(f"label_norm must be 'none' or 'source', got {label_norm!r}")
    return labels


class AdamW:
    """Full-batch AdamW over a dict of float64 arrays (deterministic)."""

    def __init__(
        self, params: dict[str, np.ndarray], lr: float, weight_decay: float
    ) -> None:
        """Start with zero moments."""
        self.lr, self.wd, self.t = lr, weight_decay, 0
        # Moments keep each parameter's dtype (float32 training stays float32).
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        decay: set[str],
    ) -> None:
        """Update `params` in place."""
        self.t += 1
        b1, b2 = 0.9, 0.999
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            mh = self.m[k] / (1 - b1**self.t)
            vh = self.v[k] / (1 - b2**self.t)
            if k in decay:
                params[k] *= 1 - self.lr * self.wd
            params[k] -= self.lr * mh / (np.sqrt(vh) + 1e-8)
