"""A cost-aware router among N models: matrix factorisation over (prompt, model).

Each model `m` gets a quality logit on prompt `x` (a unit embedding)::

    s(x, m) = b_m + u . x + v_m . (P x)

with a shared projection ``P`` (rank `dim`), per-model factors ``v_m`` and biases
``b_m``, and a shared difficulty direction ``u``. It is fitted jointly on

- golden labels (per-model correctness on a prompt, in [0, 1]): binary cross-entropy
  of ``sigmoid(s(x, m))``, so ``sigmoid(s)`` is P(correct);
- pairwise battles: a Bradley-Terry term ``P(a beats b) = sigmoid(s(x, a) - s(x, b))``
  against the battle's credit of A,

so a model that appears only in battles is scored on the same logit scale, and models
with few labels borrow strength through the shared factors. A cost model (per model:
USD = intercept + slope x prompt tokens, least squares on per-query costs) prices
requests when no explicit prices are given. `choose` applies a policy from
`prefroute.routers.policy` (max quality - lam x cost, or cheapest within a tolerance
of the best), and `calibrate` picks the knob for a target mean cost or quality on the
predictions stored for the router's calibration prompts: a sample of the training
prompts, or prompts given to `recalibrate`. A budget is met on the distribution it was
calibrated on: prompts of other lengths or tasks than the calibration prompts cost
more or less on average, so calibrate on a sample of your own traffic
(`recalibrate(prompts)`, then `save`) before serving budgets.

With ``task_shrink`` set (the shipped checkpoint uses 0.5), a *task prior* corrects
the factorisation per training task: a prompt is assigned to the nearest task centroid
and each labelled model's logit becomes its smoothed accuracy on that task plus
``task_shrink`` times the factorisation's deviation from its task mean. On RouterBench
the embedding carries little within-task signal (out-of-fold AUC 0.5-0.6), so routing
on the task's accuracy is what the router can do well; see docs/results.md.

`score` keeps the two-model meaning: P(strong needed) for the default pair is
``sigmoid(s(x, strong) - s(x, weak))``, the Bradley-Terry win rate of strong over weak.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from prefroute._lru import LRU
from prefroute.data.models import canonical_model_name
from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError, NotFittedError
from prefroute.routers._multi_fit import (
    fit_costs,
    fit_factors,
    fit_task_prior,
    sigmoid,
    training_arrays,
    unit_rows,
)
from prefroute.routers.base import Router, load_arrays, save_arrays
from prefroute.routers.policy import (
    POLICIES,
    ModelPrice,
    Policy,
    calibrate_knob,
    choose,
    estimate_costs,
    estimate_input_tokens,
)
from prefroute.types import Battle, FloatArray, GoldenRecord

__all__ = ["MultiModelRouter"]

_STATE_FILE = "state.json"
# Calibration rows kept in a saved router (predicted quality per model, float16).
_MAX_CALIBRATION_ROWS = 4000
# Task prior: the group every battle prompt belongs to.
_BATTLE_GROUP = "battles"
# Knobs remembered per (models, prices, policy, target); least recently used evicted,
# so targets invented by callers cannot grow the cache without bound.
_MAX_KNOB_CACHE = 256
# Prompts per embedding call when scoring calibration prompts.
_CALIBRATION_BATCH = 256


def _per_prompt(
    value: FloatArray | Sequence[float] | float, n: int, what: str
) -> FloatArray:
    """A number per prompt, shape (n,), from a scalar or a sequence of length n."""
    out = np.asarray(value, dtype=np.float64)
    if out.ndim == 0:
        out = np.full(n, float(out))
    if out.shape != (n,) or np.any(np.isnan(out)) or np.any(out < 0):
        raise ConfigError(
            f"{what} must be a number >= 0 or one per prompt (shape ({n},)), got "
            f"shape {out.shape}"
        )
    return out


class MultiModelRouter(Router):
    """Predicts each model's quality per prompt and routes by quality and price.

    Example:
        >>> router = MultiModelRouter(embedder="hashing:64", dim=8)
        >>> router.fit_multi(golden_records, battles)  # doctest: +SKIP
        >>> router.choose(["2+2?"], prices, target_cost=0.001)  # doctest: +SKIP
    """

    name = "mf-multi"
    format_version = 1

    def __init__(
        self,
        *,
        embedder: Embedder | str = "minilm",
        dim: int = 16,
        l2: float = 3e-3,
        battle_weight: float = 1.0,
        n_epochs: int = 400,
        learning_rate: float = 0.02,
        seed: int = 0,
        tail_chars: int | None = 384,
        strong: str | None = None,
        weak: str | None = None,
        task_shrink: float | None = None,
    ) -> None:
        """Create an unfitted router (no I/O: a spec string is resolved on first use).

        Args:
            embedder: An Embedder, or its spec (e.g. "minilm", "hashing:256").
            dim: Rank of the shared prompt projection.
            l2: L2 penalty on all weights for 1,000 training prompts; the applied
                penalty is ``l2 * 1000 / n_prompts``.
            battle_weight: Weight of the Bradley-Terry term relative to golden labels.
            n_epochs: Full-batch Adam steps.
            learning_rate: Adam step size.
            seed: Seed for the initial weights.
            tail_chars: Embed only the last `tail_chars` characters of a prompt (the
                question after any fixed few-shot prefix); None embeds it all.
            strong: Strong model of the default pair used by `score`; None picks the
                model with the highest mean predicted quality on the training prompts.
            weak: Weak model of the default pair; None picks the cheapest model (by
                learned cost) or, without costs, the lowest-quality one.
            task_shrink: None (default) scores with the factorisation alone. A value
                in [0, 1] turns on the *task prior*: training prompts are grouped by
                task (golden records' `task`, else `source`; battles form one more
                group), a prompt is assigned to the nearest group centroid (cosine
                of embeddings), and for every (group, model) with golden labels the
                logit becomes ``logit(group accuracy) + task_shrink * (s - mean s
                over the group)``: 0 routes on the task's accuracy alone, 1 keeps
                the factorisation's within-task ranking but fixes its task mean.
                Models without golden labels in a group keep ``s``.
        """
        if dim < 1:
            raise ConfigError(f"dim must be >= 1, got {dim!r}")
        if n_epochs < 0 or learning_rate <= 0 or l2 < 0 or battle_weight < 0:
            raise ConfigError(
                "n_epochs >= 0, learning_rate > 0, l2 >= 0, battle_weight >= 0 "
                f"expected, got {n_epochs!r}, {learning_rate!r}, {l2!r}, "
                f"{battle_weight!r}"
            )
        if task_shrink is not None and not 0.0 <= task_shrink <= 1.0:
            raise ConfigError(
                f"task_shrink must be None or in [0, 1], got {task_shrink!r}"
            )
        if tail_chars is not None and tail_chars < 16:
            raise ConfigError(f"tail_chars must be None or >= 16, got {tail_chars!r}")
        self.embedder = embedder
        self.dim = dim
        self.l2 = l2
        self.battle_weight = battle_weight
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.tail_chars = tail_chars
        self.strong = strong
        self.weak = weak
        self.task_shrink = task_shrink
        self._resolved: Embedder | None = (
            embedder if not isinstance(embedder, str) else None
        )
        self._knob_cache: LRU[tuple[Any, ...], float] = LRU(_MAX_KNOB_CACHE)
        self._index: tuple[list[str], dict[str, int]] | None = None
        self.models_: list[str] | None = None
        self.projection_: FloatArray | None = None  # (dim, d)
        self.factors_: FloatArray | None = None  # (n_models, dim)
        self.biases_: FloatArray | None = None  # (n_models,)
        self.difficulty_: FloatArray | None = None  # (d,)
        self.cost_coef_: FloatArray | None = None  # (n_models, 2): intercept, per token
        self.has_cost_: np.ndarray | None = None  # (n_models,) bool
        self.n_labels_: np.ndarray | None = None  # (n_models, 2): golden cells, battles
        self.calib_quality_: FloatArray | None = None  # (n_cal, n_models)
        self.calib_tokens_: FloatArray | None = None  # (n_cal,)
        self.pair_: tuple[str, str] | None = None
        # Task prior (task_shrink set): group names, unit centroids (n_groups, d),
        # and per (group, model) logit = slope * s + offset.
        self.groups_: list[str] | None = None
        self.centroids_: FloatArray | None = None
        self.group_slope_: FloatArray | None = None
        self.group_offset_: FloatArray | None = None

    # -- embedding -------------------------------------------------------------

    def _get_embedder(self) -> Embedder:
        if self._resolved is None:
            from prefroute.embed import get_embedder

            assert isinstance(self.embedder, str)
            self._resolved = get_embedder(self.embedder)
        return self._resolved

    def embedding_text(self, prompt: str) -> str:
        """The text the router embeds for a prompt (its last `tail_chars`
        characters, or all of it)."""
        if self.tail_chars is None or len(prompt) <= self.tail_chars:
            return prompt
        return prompt[-self.tail_chars :]

    def _embed(self, prompts: Sequence[str]) -> FloatArray:
        x = np.asarray(
            self._get_embedder().embed([self.embedding_text(p) for p in prompts]),
            dtype=np.float64,
        )
        if x.ndim != 2 or x.shape[0] != len(prompts):
            raise ConfigError(
                f"embedder returned shape {x.shape}, expected ({len(prompts)}, dim)"
            )
        return x

    # -- fitting ---------------------------------------------------------------

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Fit on pairwise battles only (see `fit_multi` for golden labels too).

        Args:
            battles: Training battles.

        Returns:
            self.
        """
        return self.fit_multi((), battles)

    def fit_multi(
        self,
        golden: Sequence[GoldenRecord] = (),
        battles: Sequence[Battle] = (),
        *,
        model_aliases: Mapping[str, str] | None = None,
    ) -> Self:
        """Fit on golden labels and battles together.

        Args:
            golden: Records with per-model quality in [0, 1] (and optional per-query
                costs in USD, which fit the cost model).
            battles: Pairwise battles (Bradley-Terry term).
            model_aliases: Name -> canonical name, applied to both sources (so e.g. a
                battle's "gpt4_1106_preview" and a golden "gpt-4-1106-preview" share
                one model).

        Returns:
            self.

        Raises:
            DataError: No training signal, or scores outside [0, 1].
        """
        data = training_arrays(golden, battles, model_aliases, _BATTLE_GROUP)
        models, texts = data.models, data.texts
        n_models = len(models)
        x = self._embed(texts)
        weights = fit_factors(
            x,
            n_models,
            golden=data.golden,
            battles=data.battles,
            dim=self.dim,
            l2=self.l2,
            battle_weight=self.battle_weight,
            n_epochs=self.n_epochs,
            learning_rate=self.learning_rate,
            seed=self.seed,
        )
        self.projection_, self.factors_, self.biases_, self.difficulty_ = weights
        self.models_ = models
        self.cost_coef_, self.has_cost_ = fit_costs(n_models, *data.costs)
        self.n_labels_ = data.n_labels
        self._fit_task_prior(x, data.groups, *data.golden)
        # Calibration set: predicted quality on (a sample of) the training prompts.
        rng = np.random.default_rng(self.seed)
        keep = np.arange(len(texts))
        if len(texts) > _MAX_CALIBRATION_ROWS:
            keep = np.sort(rng.choice(len(texts), _MAX_CALIBRATION_ROWS, replace=False))
        self.calib_quality_ = sigmoid(self._logits(x[keep]))
        self.calib_tokens_ = estimate_input_tokens([texts[i] for i in keep])
        self.pair_ = self._default_pair()
        self._knob_cache = LRU(_MAX_KNOB_CACHE)
        return self

    def _fit_task_prior(
        self,
        x: FloatArray,
        groups: Sequence[str],
        g_rows: np.ndarray,
        g_cols: np.ndarray,
        g_vals: FloatArray,
    ) -> None:
        """Per-task accuracy prior on top of the factorisation (see `task_shrink`)."""
        self.groups_ = self.centroids_ = None
        self.group_slope_ = self.group_offset_ = None
        if self.task_shrink is None:
            return
        assert self.factors_ is not None
        prior = fit_task_prior(
            x,
            groups,
            self.factors_.shape[0],
            golden=(g_rows, g_cols, g_vals),
            golden_logits=self._base_logits(x)[g_rows, g_cols] if g_vals.size else None,
            shrink=self.task_shrink,
        )
        self.groups_, self.centroids_, self.group_slope_, self.group_offset_ = prior

    def _default_pair(self) -> tuple[str, str]:
        assert self.models_ is not None and self.calib_quality_ is not None
        models = self.models_
        for name, value in (("strong", self.strong), ("weak", self.weak)):
            if value is not None and value not in models:
                raise ConfigError(f"{name} model {value!r} is not among {models}")
        mean_q = self.calib_quality_.mean(axis=0)
        strong = self.strong or models[int(np.argmax(mean_q))]
        if self.weak is not None:
            weak = self.weak
        else:
            assert self.has_cost_ is not None and self.cost_coef_ is not None
            order = [j for j in np.argsort(mean_q) if models[j] != strong]
            with_cost = [j for j in order if self.has_cost_[j]]
            if with_cost:
                typical = (
                    float(np.median(self.calib_tokens_))
                    if self.calib_tokens_ is not None
                    else 0.0
                )
                cost = self.cost_coef_[:, 0] + self.cost_coef_[:, 1] * typical
                weak = models[min(with_cost, key=lambda j: (cost[j], mean_q[j]))]
            else:
                weak = models[order[0]] if order else strong
        return strong, weak

    # -- scoring ---------------------------------------------------------------

    def _base_logits(self, x: FloatArray) -> FloatArray:
        assert self.projection_ is not None and self.factors_ is not None
        assert self.biases_ is not None and self.difficulty_ is not None
        s: FloatArray = (
            (x @ self.projection_.T) @ self.factors_.T
            + self.biases_
            + (x @ self.difficulty_)[:, None]
        )
        return s

    def assign_groups(self, prompts: Sequence[str]) -> list[str]:
        """Training task (group) each prompt is assigned to by the task prior.

        Args:
            prompts: Prompts.

        Returns:
            One group name per prompt.

        Raises:
            NotFittedError: Before `fit`/`load`, or when the router has no task
                prior (`task_shrink` was None).
        """
        self._check_fitted("groups_", "centroids_")
        assert self.groups_ is not None
        if len(prompts) == 0:
            return []
        idx = self._group_index(self._embed(prompts))
        return [self.groups_[int(i)] for i in idx]

    def _group_index(self, x: FloatArray) -> np.ndarray:
        assert self.centroids_ is not None
        out: np.ndarray = np.argmax(unit_rows(x) @ self.centroids_.T, axis=1)
        return out

    def _logits(self, x: FloatArray) -> FloatArray:
        s = self._base_logits(x)
        if self.centroids_ is None or self.group_slope_ is None:
            return s
        assert self.group_offset_ is not None
        g = self._group_index(x)
        out: FloatArray = self.group_slope_[g] * s + self.group_offset_[g]
        return out

    def _columns(self, models: Sequence[str] | None) -> list[int]:
        self._check_fitted("models_", "projection_")
        assert self.models_ is not None
        if models is None:
            return list(range(len(self.models_)))
        index = self._column_index()
        cols = [index.get(m) for m in models]
        if None in cols:  # another spelling of a known model?
            cols = [
                j if j is not None else index.get(canonical_model_name(m))
                for m, j in zip(models, cols, strict=True)
            ]
        missing = [m for m, j in zip(models, cols, strict=True) if j is None]
        if missing:
            raise ConfigError(
                f"models {missing} are unknown to this router (also under their "
                f"canonical names); it knows {self.models_}"
            )
        return [j for j in cols if j is not None]

    def _column_index(self) -> dict[str, int]:
        """Column of each model, under its own and its canonical spelling."""
        assert self.models_ is not None
        cached = self._index
        if cached is not None and cached[0] is self.models_:
            return cached[1]
        index = {m: j for j, m in enumerate(self.models_)}
        for j, m in enumerate(self.models_):
            index.setdefault(canonical_model_name(m), j)
        self._index = (self.models_, index)
        return index

    def resolve_models(self, models: Sequence[str]) -> list[str]:
        """The router's own names of `models`.

        A name the router does not know as spelled is looked up by its canonical
        spelling (`prefroute.data.models.canonical_model_name`), so RouterBench's
        ``meta/llama-2-70b-chat`` is the ``llama-2-70b-chat-hf`` it was trained on.
        `score_models`, `predict_costs`, `calibrate` and `choose` accept such
        names as they are.

        Args:
            models: Model names.

        Returns:
            One known model name per entry.

        Raises:
            NotFittedError: Before `fit`/`load`.
            ConfigError: A model unknown under both spellings.
        """
        cols = self._columns(models)
        assert self.models_ is not None
        return [self.models_[j] for j in cols]

    @property
    def models(self) -> list[str]:
        """Models the router can score, in training order."""
        self._check_fitted("models_")
        assert self.models_ is not None
        return list(self.models_)

    @property
    def default_pair(self) -> tuple[str, str]:
        """(strong, weak) used by `score`."""
        self._check_fitted("pair_")
        assert self.pair_ is not None
        return self.pair_

    def score_models(
        self, prompts: Sequence[str], models: Sequence[str] | None = None
    ) -> FloatArray:
        """Predicted quality of each model on each prompt.

        Args:
            prompts: Prompts to score.
            models: Model names (default: all known models, see `models`).

        Returns:
            Shape (len(prompts), len(models)), values in (0, 1): P(correct) for
            models with golden labels; for battle-only models, the Bradley-Terry
            win probability against a model with logit 0 on the same scale.

        Raises:
            NotFittedError: Before `fit`/`load`.
            ConfigError: An unknown model.
        """
        cols = self._columns(models)
        if len(prompts) == 0:
            return np.zeros((0, len(cols)))
        logits = self._logits(self._embed(prompts))[:, cols]
        return sigmoid(logits)

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """P(strong needed) for the default pair: BT win rate of strong over weak.

        Args:
            prompts: Prompts to score.

        Returns:
            Shape (len(prompts),), values in [0, 1].
        """
        strong, weak = self.default_pair
        cols = self._columns([strong, weak])
        if len(prompts) == 0:
            return np.zeros(0)
        s = self._logits(self._embed(prompts))
        out: FloatArray = sigmoid(s[:, cols[0]] - s[:, cols[1]])
        return out

    # -- costs and routing -----------------------------------------------------

    def predict_costs(
        self,
        prompts: Sequence[str],
        models: Sequence[str] | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        *,
        input_tokens: FloatArray | Sequence[float] | None = None,
        max_output_tokens: FloatArray | Sequence[float] | float | None = None,
    ) -> FloatArray:
        """Expected USD of each model on each prompt.

        Args:
            prompts: Prompts.
            models: Model names (default: keys of `prices`, else the models with
                learned costs).
            prices: Explicit prices; without them the learned cost model is used.
            input_tokens: Input tokens per prompt, shape (len(prompts),), instead of
                the estimate from the prompts' text (e.g. the tokens of a whole
                conversation whose last turn is the prompt).
            max_output_tokens: Cap on output tokens per request (a request's
                ``max_tokens``): a number for all prompts or one per prompt
                (``inf`` = no cap). A price is then charged for
                ``min(cap, expected_output_tokens)`` output tokens, or for ``cap``
                when its `expected_output_tokens` is 0. Learned costs ignore it.

        Returns:
            Shape (len(prompts), len(models)).

        Raises:
            ConfigError: A model has neither a price nor learned costs, or
                `input_tokens` / `max_output_tokens` do not fit the prompts.
        """
        n = len(prompts)
        if input_tokens is None:
            tokens = estimate_input_tokens(prompts)
        else:
            tokens = _per_prompt(input_tokens, n, "input_tokens")
        caps = (
            None
            if max_output_tokens is None
            else _per_prompt(max_output_tokens, n, "max_output_tokens")
        )
        return self._costs(tokens, self._model_list(models, prices), prices, caps)

    def _model_list(
        self, models: Sequence[str] | None, prices: Mapping[str, ModelPrice] | None
    ) -> list[str]:
        if models is not None:
            return list(models)
        if prices is not None:
            return list(prices)
        # Without prices, the candidates are the models with learned costs.
        assert self.has_cost_ is not None
        priced = [m for m, ok in zip(self.models, self.has_cost_, strict=True) if ok]
        return priced or self.models

    def _costs(
        self,
        tokens: FloatArray,
        models: Sequence[str],
        prices: Mapping[str, ModelPrice] | None,
        caps: FloatArray | None = None,
    ) -> FloatArray:
        if prices is not None:
            missing = [m for m in models if m not in prices]
            if missing:
                raise ConfigError(
                    f"no price for models {missing}; priced: {sorted(prices)}"
                )
            return estimate_costs([prices[m] for m in models], tokens, caps)
        cols = self._columns(models)
        assert self.has_cost_ is not None and self.cost_coef_ is not None
        unpriced = [models[i] for i, j in enumerate(cols) if not self.has_cost_[j]]
        if unpriced:
            raise ConfigError(
                f"models {unpriced} have no learned costs; pass prices for them"
            )
        coef = self.cost_coef_[cols]
        learned: FloatArray = coef[:, 0][None, :] + np.outer(tokens, coef[:, 1])
        return learned

    @property
    def n_calibration_prompts(self) -> int:
        """How many calibration prompts `calibrate` meets its targets on."""
        self._check_fitted("calib_quality_")
        assert self.calib_quality_ is not None
        return int(self.calib_quality_.shape[0])

    def recalibrate(
        self,
        prompts: Sequence[str],
        *,
        input_tokens: FloatArray | Sequence[float] | None = None,
    ) -> Self:
        """Make `prompts` the calibration prompts that budgets are calibrated on.

        `calibrate` (and `choose` with a target) meets a target mean cost or
        quality on the calibration prompts: after `fit`, a sample of the training
        prompts. Traffic with other prompt lengths or tasks misses the target, so
        pass a sample of the prompts the router will see. Their predicted quality
        for every model and their estimated input tokens replace the stored ones
        (at most 4,000 prompts are kept, a seeded sample of larger sets), cached
        knobs are dropped, and `save` stores them like the training prompts'.

        Args:
            prompts: Calibration prompts (e.g. a sample of your requests' text).
            input_tokens: Input tokens per prompt, shape (len(prompts),), when the
                requests are longer than the text scored (e.g. a system prompt
                before each): default, the estimate from the prompts' text.

        Returns:
            self.

        Raises:
            NotFittedError: Before `fit`/`load`.
            ConfigError: No prompts, or `input_tokens` of another length.
        """
        self._check_fitted("models_", "projection_")
        texts = list(prompts)
        if not texts:
            raise ConfigError("cannot calibrate on 0 prompts; expected at least one")
        tokens = (
            estimate_input_tokens(texts)
            if input_tokens is None
            else _per_prompt(input_tokens, len(texts), "input_tokens")
        )
        if len(texts) > _MAX_CALIBRATION_ROWS:
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.choice(len(texts), _MAX_CALIBRATION_ROWS, replace=False))
            texts = [texts[int(i)] for i in keep]
            tokens = tokens[keep]
        quality = np.concatenate(
            [
                self.score_models(texts[i : i + _CALIBRATION_BATCH])
                for i in range(0, len(texts), _CALIBRATION_BATCH)
            ]
        )
        self.calib_quality_ = quality
        self.calib_tokens_ = tokens
        self._knob_cache = LRU(_MAX_KNOB_CACHE)
        return self

    def calibrate(
        self,
        prices: Mapping[str, ModelPrice] | None = None,
        *,
        models: Sequence[str] | None = None,
        policy: Policy = "utility",
        target_cost: float | None = None,
        target_quality: float | None = None,
    ) -> float:
        """Knob (lam or tol) for a target mean cost or quality on the stored
        calibration prompts.

        The target is met on average over those prompts (a sample of the training
        prompts, unless replaced by `recalibrate`); on traffic of other lengths or
        tasks the mean cost can be far from `target_cost`, so `recalibrate` on a
        sample of that traffic first. Knobs are cached per (models, prices, policy,
        target), the least recently used of 256 evicted.

        Args:
            prices: Model -> price (default: learned costs). Its keys are the
                candidate models unless `models` is given.
            models: Candidate models.
            policy: "utility" or "tolerance".
            target_cost: Mean USD per request not to exceed.
            target_quality: Mean predicted quality to reach.

        Returns:
            The knob for `choose`.
        """
        self._check_fitted("calib_quality_")
        assert self.calib_quality_ is not None and self.calib_tokens_ is not None
        names = self._model_list(models, prices)
        key = (
            tuple(names),
            tuple(sorted((prices or {}).items())) if prices is not None else None,
            policy,
            target_cost,
            target_quality,
        )
        knob = self._knob_cache.get(key)
        if knob is not None:
            return knob
        quality = self.calib_quality_[:, self._columns(names)].astype(np.float64)
        cost = self._costs(self.calib_tokens_, names, prices)
        knob = calibrate_knob(
            quality,
            cost,
            policy=policy,
            target_cost=target_cost,
            target_quality=target_quality,
        )
        self._knob_cache.put(key, knob)
        return knob

    def choose(
        self,
        prompts: Sequence[str],
        prices: Mapping[str, ModelPrice] | None = None,
        *,
        models: Sequence[str] | None = None,
        policy: Policy = "utility",
        knob: float | None = None,
        target_cost: float | None = None,
        target_quality: float | None = None,
    ) -> list[str]:
        """Pick a model per prompt.

        Exactly one of `knob`, `target_cost`, `target_quality` is given; targets
        are turned into a knob by `calibrate` (cached per prices and target).

        Args:
            prompts: Prompts to route.
            prices: Model -> price; its keys are the candidates unless `models` is
                given. Default: learned costs, and the models that have them.
            models: Candidate models.
            policy: "utility" (knob = lam, quality - lam x USD) or "tolerance"
                (knob = tol: cheapest within tol of the best predicted quality).
            knob: lam or tol.
            target_cost: Mean USD per request to stay within.
            target_quality: Mean predicted quality to reach.

        Returns:
            One model name per prompt.

        Raises:
            ConfigError: Not exactly one knob/target, unknown models or policy.
        """
        if sum(v is not None for v in (knob, target_cost, target_quality)) != 1:
            raise ConfigError("give exactly one of knob, target_cost, target_quality")
        if policy not in POLICIES:
            raise ConfigError(f"policy must be one of {POLICIES}, got {policy!r}")
        names = self._model_list(models, prices)
        if not names:
            raise ConfigError("no candidate models given")
        if knob is None:
            knob = self.calibrate(
                prices,
                models=names,
                policy=policy,
                target_cost=target_cost,
                target_quality=target_quality,
            )
        if len(prompts) == 0:
            return []
        quality = self.score_models(prompts, names)
        cost = self._costs(estimate_input_tokens(prompts), names, prices)
        idx = choose(quality, cost, knob, policy)
        return [names[int(j)] for j in idx]

    # -- persistence -----------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        self._check_fitted("models_", "projection_", "calib_quality_")
        assert self.projection_ is not None and self.factors_ is not None
        assert self.biases_ is not None and self.difficulty_ is not None
        assert self.cost_coef_ is not None and self.has_cost_ is not None
        assert self.n_labels_ is not None and self.calib_quality_ is not None
        assert self.calib_tokens_ is not None and self.pair_ is not None
        save_arrays(
            directory,
            projection=self.projection_.astype(np.float32),
            factors=self.factors_.astype(np.float32),
            biases=self.biases_.astype(np.float32),
            difficulty=self.difficulty_.astype(np.float32),
            cost_coef=self.cost_coef_,
            has_cost=self.has_cost_,
            n_labels=self.n_labels_,
            calib_quality=self.calib_quality_.astype(np.float16),
            calib_tokens=self.calib_tokens_.astype(np.float32),
            **self._group_arrays(),
        )
        state: dict[str, Any] = {"models": self.models_, "pair": list(self.pair_)}
        if self.groups_ is not None:
            state["groups"] = self.groups_
        (directory / _STATE_FILE).write_text(
            json.dumps(state, indent=2) + "\n", encoding="utf-8"
        )

    def _load_state(self, directory: Path) -> None:
        arrays = load_arrays(directory)
        try:
            state = json.loads((directory / _STATE_FILE).read_text(encoding="utf-8"))
            models = [str(m) for m in state["models"]]
            pair = (str(state["pair"][0]), str(state["pair"][1]))
            # Scoring uses float64 from the stored float32, so saved and loaded
            # routers agree exactly after a round trip through `_round`.
            self.projection_ = arrays["projection"].astype(np.float64)
            self.factors_ = arrays["factors"].astype(np.float64)
            self.biases_ = arrays["biases"].astype(np.float64)
            self.difficulty_ = arrays["difficulty"].astype(np.float64)
            self.cost_coef_ = arrays["cost_coef"].astype(np.float64)
            self.has_cost_ = arrays["has_cost"].astype(bool)
            self.n_labels_ = arrays["n_labels"]
            self.calib_quality_ = arrays["calib_quality"].astype(np.float64)
            self.calib_tokens_ = arrays["calib_tokens"].astype(np.float64)
            self.groups_ = self.centroids_ = None
            self.group_slope_ = self.group_offset_ = None
            if "groups" in state:
                self.groups_ = [str(g) for g in state["groups"]]
                self.centroids_ = arrays["group_centroids"].astype(np.float64)
                self.group_slope_ = arrays["group_slope"].astype(np.float64)
                self.group_offset_ = arrays["group_offset"].astype(np.float64)
        except (OSError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ArtifactError(
                f"bad multi-model router state in {str(directory)!r}: {exc}"
            ) from exc
        n_models = len(models)
        if (
            self.factors_.shape[0] != n_models
            or self.projection_.shape[0] != self.factors_.shape[1]
        ):
            raise ArtifactError(
                f"{str(directory)!r}: {n_models} models but factors of shape "
                f"{self.factors_.shape} and projection {self.projection_.shape}"
            )
        if self.groups_ is not None and not (
            self.centroids_ is not None
            and self.group_slope_ is not None
            and self.group_offset_ is not None
            and self.centroids_.shape == (len(self.groups_), self.projection_.shape[1])
            and self.group_slope_.shape == (len(self.groups_), n_models)
            and self.group_offset_.shape == (len(self.groups_), n_models)
        ):
            raise ArtifactError(
                f"{str(directory)!r}: task-prior arrays do not match "
                f"{len(self.groups_)} groups and {n_models} models"
            )
        self.models_ = models
        self.pair_ = pair
        self._knob_cache = LRU(_MAX_KNOB_CACHE)

    def _group_arrays(self) -> dict[str, np.ndarray]:
        if self.groups_ is None:
            return {}
        assert self.centroids_ is not None and self.group_slope_ is not None
        assert self.group_offset_ is not None
        return {
            "group_centroids": self.centroids_.astype(np.float32),
            "group_slope": self.group_slope_.astype(np.float32),
            "group_offset": self.group_offset_.astype(np.float32),
        }

    def save(self, directory: Path | str) -> None:
        """Write config.json, arrays.npz and state.json (model names, default pair).

        Weights are stored as float32; the in-memory router is rounded the same way
        so that a saved and a loaded router score identically.

        Args:
            directory: Target folder.

        Raises:
            NotFittedError: Before `fit`.
        """
        if self.models_ is None:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted: nothing to save"
            )
        self._round()
        super().save(directory)

    def _round(self) -> None:
        for attr in (
            "projection_",
            "factors_",
            "biases_",
            "difficulty_",
            "centroids_",
            "group_slope_",
            "group_offset_",
        ):
            value = getattr(self, attr)
            if value is not None:
                setattr(self, attr, value.astype(np.float32).astype(np.float64))
        assert self.calib_quality_ is not None and self.calib_tokens_ is not None
        self.calib_quality_ = self.calib_quality_.astype(np.float16).astype(np.float64)
        self.calib_tokens_ = self.calib_tokens_.astype(np.float32).astype(np.float64)
        self._knob_cache = LRU(_MAX_KNOB_CACHE)
