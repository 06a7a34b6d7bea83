"""Matrix-factorisation (MF) router (RouteLLM, Ong et al. 2024, section 4.1).

Every model m has a learned vector ``v_m`` and bias ``b_m``; a prompt's embedding x
(plus, optionally, a standardised log-length feature) is projected into the same
space, and the model's quality score on the prompt is::

    s(x, m) = b_m + v_m . (P^T x)

with ``P(a beats b | x) = sigmoid(s(x, a) - s(x, b))``. It is trained on battles among
*all* models (soft labels, ties as 1/2, battle weights) by full-batch AdamW in numpy.
Battles are pooled through the dense prompt-by-model score matrix, so one step costs
O(prompts x models x dim) instead of a pass per battle.

`score` gives ``sigmoid(s(x, strong) - s(x, weak))`` for the configured pair;
`score_models` gives the per-model scores for any models it has seen, and `with_pair`
returns the same router scoring another pair. A model it has not seen is mapped to
one it has by `prefroute.data.models.resolve_model` (alias, canonical name, closest
name of the same size and version, same family), with a warning; an unseen pair
member that matches nothing maps to the strongest (weakest) seen model. Strongest
means the highest Bradley-Terry rating of the training battles (``model_rating_``,
saved since it was added), else, for older checkpoints, the highest learned bias.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np

from prefroute.data.models import resolve_model
from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError, DataError
from prefroute.routers._prefs import (
    AdamW,
    features,
    length_stats,
    resolve_embedder,
    sigmoid,
)
from prefroute.routers.base import Router, load_arrays, save_arrays
from prefroute.types import Battle, FloatArray

__all__ = ["MFRouter"]

logger = logging.getLogger(__name__)


class MFRouter(Router):
    """Per-model vectors against projected prompt embeddings; Bradley-Terry loss."""

    name = "mf"
    #: Progress hook (not state): called with 1 after each training epoch when set
    #: (`prefroute.train.pipeline.train_router` sets it).
    on_epoch: Callable[[int], None] | None = None
    # ((strong_model, weak_model), resolved pair): see `pair`; dropped by `fit`,
    # `load` and `with_pair`.
    _pair_memo: tuple[tuple[str | None, str | None], tuple[str, str]] | None = None

    def __init__(
        self,
        *,
        embedder: Embedder | str | None = None,
        dim: int = 32,
        n_epochs: int = 300,
        lr: float = 0.01,
        weight_decay: float = 0.01,
        length_feature: bool = True,
        strong_model: str | None = None,
        weak_model: str | None = None,
        model_aliases: Mapping[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        """Create the router.

        Args:
            embedder: Prompt embedder (object or spec); None = package default.
            dim: Size of the model vectors and of the projection.
            n_epochs: Full-batch AdamW steps.
            lr: Learning rate.
            weight_decay: Decoupled weight decay of the projection and model vectors.
            length_feature: Append a standardised log(1 + characters) feature.
            strong_model: Strong model of the scored pair (None = strongest seen).
            weak_model: Weak model of the scored pair (None = weakest seen).
            model_aliases: Unseen model name -> seen model name.
            seed: Initialisation seed.
        """
        self.embedder = embedder
        self.dim = dim
        self.n_epochs = n_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.length_feature = length_feature
        self.strong_model = strong_model
        self.weak_model = weak_model
        self.model_aliases = dict(model_aliases) if model_aliases else None
        self.seed = seed
        self.models_: list[str] | None = None
        self.proj_: FloatArray | None = None
        self.model_vecs_: FloatArray | None = None
        self.model_bias_: FloatArray | None = None
        self.model_rating_: FloatArray | None = None
        self.length_stats_: FloatArray | None = None
        self._embedder: Embedder | None = None

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = resolve_embedder(self.embedder)
        return self._embedder

    def _features(self, prompts: Sequence[str]) -> FloatArray:
        return features(self._get_embedder(), prompts, self.length_stats_)

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Fit model vectors, biases and the projection on all battles.

        Also stores each model's Bradley-Terry rating of the battles
        (``model_rating_``), which orders models when a pair needs the strongest or
        weakest seen one.

        Args:
            battles: Battles among any models.

        Returns:
            self.

        Raises:
            ConfigError: Bad hyperparameters.
            DataError: No battles between two different models.
        """
        if self.dim < 1 or self.n_epochs < 1 or self.lr <= 0:
            raise ConfigError(
                f"dim, n_epochs must be >= 1 and lr > 0, got {self.dim}, "
                f"{self.n_epochs}, {self.lr}"
            )
        battles = [b for b in battles if b.model_a != b.model_b and b.weight > 0]
        if not battles:
            raise DataError("MF needs battles between two different models; got none")
        models = sorted({b.model_a for b in battles} | {b.model_b for b in battles})
        mi = {m: i for i, m in enumerate(models)}
        prompts = list(dict.fromkeys(b.prompt for b in battles))
        pi = {p: i for i, p in enumerate(prompts)}
        n = len(battles)
        p_idx = np.fromiter((pi[b.prompt] for b in battles), np.int64, n)
        a_idx = np.fromiter((mi[b.model_a] for b in battles), np.int64, n)
        b_idx = np.fromiter((mi[b.model_b] for b in battles), np.int64, n)
        # float32 throughout training: half the memory traffic of float64, and the
        # saved arrays are float32 anyway.
        f32 = np.float32
        credit = np.fromiter((b.credit_a for b in battles), np.float64, n).astype(f32)
        weight = np.fromiter((b.weight for b in battles), np.float64, n)
        weight = (weight / weight.sum()).astype(f32)
        self.length_stats_ = length_stats(prompts) if self.length_feature else None
        x = self._features(prompts).astype(f32)
        u, m, d = len(prompts), len(models), x.shape[1]
        rng = np.random.default_rng(self.seed)
        params = {
            "P": rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, self.dim)).astype(f32),
            "V": rng.normal(0.0, 0.1, size=(m, self.dim)).astype(f32),
            "b": np.zeros(m, dtype=f32),
        }
        opt = AdamW(params, self.lr, self.weight_decay)
        ka, kb = p_idx * m + a_idx, p_idx * m + b_idx
        on_epoch = self.on_epoch
        for _ in range(self.n_epochs):
            z = x @ params["P"]
            s = (z @ params["V"].T + params["b"]).ravel()
            g = weight * (sigmoid(s[ka] - s[kb]) - credit)
            grad_s = (
                (
                    np.bincount(ka, weights=g, minlength=u * m)
                    - np.bincount(kb, weights=g, minlength=u * m)
                )
                .reshape(u, m)
                .astype(f32)
            )
            grads = {
                "b": grad_s.sum(axis=0),
                "V": grad_s.T @ z,
                "P": x.T @ (grad_s @ params["V"]),
            }
            opt.step(params, grads, decay={"P", "V"})
            if on_epoch is not None:
                on_epoch(1)
        # Keep float32 precision, as saved, so a loaded router scores identically.
        self.models_ = models
        self.proj_ = params["P"].astype(np.float32)
        self.model_vecs_ = params["V"].astype(np.float32)
        self.model_bias_ = (params["b"] - params["b"].mean()).astype(np.float32)
        self.model_rating_ = _rating(a_idx, b_idx, credit, weight, m)
        self._pair_memo = None
        return self

    # -- scoring ---------------------------------------------------------------

    @property
    def models(self) -> list[str]:
        """Models the router has seen, sorted."""
        self._check_fitted("models_")
        assert self.models_ is not None
        return list(self.models_)

    def _column(self, name: str) -> int:
        assert self.models_ is not None
        return self.models_.index(resolve_model(name, self.models_, self.model_aliases))

    def _strength(self) -> tuple[FloatArray, str]:
        """Per-model strength and what it is: rating if known, else learned bias."""
        if self.model_rating_ is not None:
            return self.model_rating_, "Bradley-Terry rating"
        assert self.model_bias_ is not None
        return self.model_bias_, "learned bias"

    def _pair_member(self, name: str | None, *, strongest: bool) -> str:
        assert self.models_ is not None
        strength, order = self._strength()
        pick = np.argmax if strongest else np.argmin
        fallback = self.models_[int(pick(strength))]
        if name is None:
            return fallback
        try:
            return self.models_[self._column(name)]
        except ConfigError:
            if self.model_aliases and name in self.model_aliases:
                raise
            # The top (bottom) of the ratings is the best guess for an unseen strong
            # (weak) model of a pair; say so, since it changes what the score means.
            logger.warning(
                "model %r not seen in training and matches no seen model by name or "
                "family; using the %s seen model %r (by %s)",
                name,
                "strongest" if strongest else "weakest",
                fallback,
                order,
            )
            return fallback

    def pair(self) -> tuple[str, str]:
        """The (strong, weak) pair `score` uses, resolved to seen models.

        A pair member never seen in training maps like `score_models` does; one
        that matches no seen model (and has no alias) maps to the strongest (for
        strong) or weakest (for weak) seen model, with a warning. Resolved once per
        pair and fitted state (warnings too), not on every `score` call.

        Raises:
            ConfigError: Both members resolve to the same seen model (every score
                would be 0.5).
        """
        self._check_fitted("models_", "model_bias_")
        key = (self.strong_model, self.weak_model)
        memo = self._pair_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        resolved = (
            self._pair_member(self.strong_model, strongest=True),
            self._pair_member(self.weak_model, strongest=False),
        )
        if resolved[0] == resolved[1]:
            raise ConfigError(
                f"strong {self.strong_model!r} and weak {self.weak_model!r} both "
                f"resolve to the seen model {resolved[0]!r}: pass model_aliases "
                "naming two different seen models"
            )
        self._pair_memo = (key, resolved)
        return resolved

    def with_pair(self, strong: str, weak: str) -> MFRouter:
        """The same fitted router scoring another strong/weak pair.

        Args:
            strong: Strong model name.
            weak: Weak model name.

        Returns:
            A shallow copy sharing the learned arrays.

        Raises:
            ConfigError: Both names resolve to the same seen model.
        """
        other = copy.copy(self)
        other.strong_model, other.weak_model = strong, weak
        other._pair_memo = None
        other.pair()  # resolve now: unknown names fail here, not at score time
        return other

    def score_models(
        self, prompts: Sequence[str], models: Sequence[str] | None = None
    ) -> FloatArray:
        """Per-model quality scores (logits; higher = better answer expected).

        An unseen model maps to a seen one (alias, canonical name, closest name of
        the same size and version, or same family), with a warning.

        Args:
            prompts: Prompts, n of them.
            models: Models to score (default: all seen, in `models` order).

        Returns:
            Array (n, len(models)).

        Raises:
            ConfigError: A model that matches no seen model (pass `model_aliases`).
        """
        self._check_fitted("models_", "proj_", "model_vecs_", "model_bias_")
        assert self.proj_ is not None and self.model_vecs_ is not None
        assert self.model_bias_ is not None and self.models_ is not None
        cols = (
            list(range(len(self.models_)))
            if models is None
            else [self._column(m) for m in models]
        )
        if len(prompts) == 0:
            return np.zeros((0, len(cols)))
        z = self._features(prompts) @ self.proj_.astype(np.float64)
        v = self.model_vecs_[cols].astype(np.float64)
        out: FloatArray = z @ v.T + self.model_bias_[cols].astype(np.float64)
        return out

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """P(strong beats weak) per prompt, shape (n,)."""
        strong, weak = self.pair()
        s = self.score_models(prompts, [strong, weak])
        out: FloatArray = sigmoid(s[:, 0] - s[:, 1])
        return out

    # -- persistence -----------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        self._check_fitted("models_", "proj_")
        extra: dict[str, FloatArray] = {}
        if self.length_stats_ is not None:
            extra["length_stats"] = self.length_stats_
        if self.model_rating_ is not None:
            extra["model_rating"] = np.asarray(self.model_rating_, dtype=np.float32)
        save_arrays(
            directory,
            models=np.array(self.models_, dtype=str),
            proj=np.asarray(self.proj_, dtype=np.float32),
            model_vecs=np.asarray(self.model_vecs_, dtype=np.float32),
            model_bias=np.asarray(self.model_bias_, dtype=np.float32),
            **extra,
        )

    def _load_state(self, directory: Path) -> None:
        arrays = load_arrays(directory)
        try:
            self.models_ = [str(m) for m in arrays["models"]]
            self.proj_ = arrays["proj"]
            self.model_vecs_ = arrays["model_vecs"]
            self.model_bias_ = arrays["model_bias"]
        except KeyError as exc:
            raise ArtifactError(f"{str(directory)!r} lacks array {exc}") from exc
        self.length_stats_ = arrays.get("length_stats")
        if self.length_feature and self.length_stats_ is None:
            raise ArtifactError(f"{str(directory)!r} lacks array 'length_stats'")
        # Optional: checkpoints saved before it existed order models by bias.
        self.model_rating_ = arrays.get("model_rating")
        self._pair_memo = None
        if self.model_rating_ is not None and self.model_rating_.shape != (
            len(self.models_),
        ):
            raise ArtifactError(
                f"{str(directory)!r}: array 'model_rating' has shape "
                f"{self.model_rating_.shape}, expected ({len(self.models_)},)"
            )


def _rating(
    a_idx: np.ndarray,
    b_idx: np.ndarray,
    credit: FloatArray,
    weight: FloatArray,
    n_models: int,
) -> FloatArray:
    """Bradley-Terry strength per model (mean zero), as `prefroute ratings` fits it."""
    # Imported here, as `_prefs` does for tiers: ratings live with the training code.
    from prefroute.train.ratings import fit_bradley_terry

    theta = fit_bradley_terry(
        a_idx,
        b_idx,
        credit.astype(np.float64),
        weight.astype(np.float64),
        n_models,
    )
    return theta.astype(np.float32)
