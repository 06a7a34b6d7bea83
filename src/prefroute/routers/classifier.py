"""Classifier router (the paper's BERT router, RouteLLM section 4.1), head on a
frozen embedder.

Battles between a stronger and a weaker tier give each training prompt a soft
distribution over {strong wins, tie, weak wins}; a multinomial logistic regression
(``hidden=0``) or a one-hidden-layer MLP over the prompt embedding (plus a
standardised log-length feature) is fitted to it by full-batch AdamW in numpy.
The score is the expected credit of the strong side,
``P(strong wins) + P(tie) / 2`` (the Bradley-Terry win probability with ties as
half a win, the same quantity `sw_ranking` and `mf` estimate).

The full fine-tune of the encoder is the ``classifier-ft`` router
(`prefroute.routers.classifier_ft`, trained with torch, the ``train`` extra, in
`prefroute.train.finetune`); this module never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError
from prefroute.routers._prefs import (
    AdamW,
    check_tier_mode,
    class_targets,
    features,
    length_stats,
    resolve_embedder,
    router_tier_labels,
)
from prefroute.routers.base import Router, load_arrays, save_arrays
from prefroute.types import Battle, FloatArray

__all__ = ["ClassifierRouter"]


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


class ClassifierRouter(Router):
    """Predicts strong-wins / tie / weak-wins from the prompt."""

    name = "classifier"
    #: Progress hook (not state): called with 1 after each training epoch when set
    #: (`prefroute.train.pipeline.train_router` sets it).
    on_epoch: Callable[[int], None] | None = None

    def __init__(
        self,
        *,
        embedder: Embedder | str | None = None,
        hidden: int = 0,
        n_epochs: int = 300,
        lr: float = 0.01,
        weight_decay: float = 0.01,
        length_feature: bool = True,
        n_tiers: int = 10,
        min_tier_gap: int = 1,
        tier_mode: str = "any",
        label_norm: str = "none",
        strong_model: str | None = None,
        weak_model: str | None = None,
        seed: int = 0,
    ) -> None:
        """Create the router.

        Args:
            embedder: Prompt embedder (object or spec); None = package default.
            hidden: Hidden units of the MLP head; 0 = multinomial logistic.
            n_epochs: Full-batch AdamW steps.
            lr: Learning rate.
            weight_decay: Decoupled weight decay of the weight matrices.
            length_feature: Append a standardised log(1 + characters) feature.
            n_tiers: Tiers to group models into.
            min_tier_gap: Minimum tier difference for a strong/weak label.
            tier_mode: "any" (any two tiers) or "pair" (the pair's tiers).
            label_norm: "none", or "source": replace each prompt's strong credit
                by its percentile rank within its source.
            strong_model: Strong model (used by tier_mode="pair").
            weak_model: Weak model (used by tier_mode="pair").
            seed: Initialisation seed.
        """
        self.embedder = embedder
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.length_feature = length_feature
        self.n_tiers = n_tiers
        self.min_tier_gap = min_tier_gap
        self.tier_mode = tier_mode
        self.label_norm = label_norm
        self.strong_model = strong_model
        self.weak_model = weak_model
        self.seed = seed
        self.weights_: dict[str, FloatArray] | None = None
        self.length_stats_: FloatArray | None = None
        self._embedder: Embedder | None = None

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = resolve_embedder(self.embedder)
        return self._embedder

    def _forward(
        self, x: FloatArray, w: dict[str, FloatArray]
    ) -> tuple[FloatArray, FloatArray | None]:
        if self.hidden > 0:
            h = np.maximum(x @ w["W1"] + w["b1"], 0.0)
            return _softmax(h @ w["W2"] + w["b2"]), h
        return _softmax(x @ w["W2"] + w["b2"]), None

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Fit the head on per-prompt strong/tie/weak label distributions.

        Args:
            battles: Battles among any models.

        Returns:
            self.

        Raises:
            ConfigError: Bad hyperparameters.
            DataError: No battle between two tiers.
        """
        check_tier_mode(self.tier_mode)
        if self.hidden < 0 or self.n_epochs < 1 or self.lr <= 0:
            raise ConfigError(
                f"hidden must be >= 0, n_epochs >= 1, lr > 0; got {self.hidden}, "
                f"{self.n_epochs}, {self.lr}"
            )
        labels = router_tier_labels(self, battles)
        target, sample_w = class_targets(labels)
        sample_w = sample_w / sample_w.sum()
        self.length_stats_ = (
            length_stats(labels.prompts) if self.length_feature else None
        )
        x = features(self._get_embedder(), labels.prompts, self.length_stats_)
        d = x.shape[1]
        rng = np.random.default_rng(self.seed)
        w: dict[str, FloatArray] = {"b2": np.log(target.T @ sample_w + 1e-6)}
        if self.hidden > 0:
            w["W1"] = rng.normal(0.0, np.sqrt(2.0 / d), size=(d, self.hidden))
            w["b1"] = np.zeros(self.hidden)
            w["W2"] = rng.normal(0.0, 0.01, size=(self.hidden, 3))
        else:
            w["W2"] = np.zeros((d, 3))
        opt = AdamW(w, self.lr, self.weight_decay)
        on_epoch = self.on_epoch
        for _ in range(self.n_epochs):
            prob, h = self._forward(x, w)
            delta = (prob - target) * sample_w[:, None]
            inp = h if h is not None else x
            grads = {"W2": inp.T @ delta, "b2": delta.sum(axis=0)}
            if h is not None:
                dh = (delta @ w["W2"].T) * (h > 0)
                grads["W1"] = x.T @ dh
                grads["b1"] = dh.sum(axis=0)
            opt.step(w, grads, decay={"W1", "W2"})
            if on_epoch is not None:
                on_epoch(1)
        self.weights_ = {
            k: v.astype(np.float32).astype(np.float64) for k, v in w.items()
        }
        return self

    def predict_proba(self, prompts: Sequence[str]) -> FloatArray:
        """P(strong wins), P(tie), P(weak wins) per prompt, shape (n, 3)."""
        self._check_fitted("weights_")
        assert self.weights_ is not None
        if len(prompts) == 0:
            return np.zeros((0, 3))
        x = features(self._get_embedder(), prompts, self.length_stats_)
        return self._forward(x, self.weights_)[0]

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """Expected strong credit ``P(strong wins) + P(tie) / 2``, shape (n,)."""
        p = self.predict_proba(prompts)
        out: FloatArray = np.clip(p[:, 0] + 0.5 * p[:, 1], 0.0, 1.0)
        return out

    def _save_state(self, directory: Path) -> None:
        self._check_fitted("weights_")
        assert self.weights_ is not None
        arrays = {k: v.astype(np.float32) for k, v in self.weights_.items()}
        if self.length_stats_ is not None:
            arrays["length_stats"] = np.asarray(self.length_stats_)
        save_arrays(directory, **arrays)

    def _load_state(self, directory: Path) -> None:
        arrays = load_arrays(directory)
        need = {"W2", "b2"} | ({"W1", "b1"} if self.hidden > 0 else set())
        missing = need - set(arrays)
        if missing:
            raise ArtifactError(f"{str(directory)!r} lacks arrays {sorted(missing)}")
        self.weights_ = {k: arrays[k].astype(np.float64) for k in need}
        self.length_stats_ = arrays.get("length_stats")
        if self.length_feature and self.length_stats_ is None:
            raise ArtifactError(f"{str(directory)!r} lacks array 'length_stats'")
