"""A pair router adapted to your own traffic: the starting router plus a correction
learned from feedback on the answers it routed.

Each logged request says which model answered and how good the answer was (partial,
bandit-style labels: the other model's answer was never seen).

The default correction (``correction="gain"``) fits the strong model's predicted
gain directly: the model below with only its intercepts and the strong-vs-weak slope
on ``z`` (`prefroute.routers._pair_heads.gain_outcome`) gives
``g0(x) = q_strong(x) - q_weak(x)``, a function of the starting score alone, and a ridge
regression on the standardised starting logit, the leading principal components and
the log length adds ``f(x) . w``, fitted to each request's doubly robust gain (see
`prefroute.routers._pair_heads.fit_gain`). The score is ``(1 + g0 + f . w) / 2``;
the ridge penalty keeps it near the starting ranking until the labels say otherwise,
and when the guard keeps the starting ranking, the intercepts alone give ``g0``.

The older correction (``correction="heads"``) predicts each model's quality on a
prompt as a logistic head on top of the starting router::

    logit q_strong(x) = +z0(x) / 2 + c_s + b_s z(x) + w_s . e(x)
    logit q_weak(x)   = -z0(x) / 2 + c_w + b_w z(x) + w_w . e(x)

where ``z0 = logit(score of the starting router)``, ``z`` is it standardised over the
log's prompts and ``e`` the leading principal components of the prompt embeddings
(fitted on the log's prompts, labelled or not) followed by the prompt's log length,
standardised over the same prompts (``length_feature``). ``b`` and ``w`` are
shrunk to zero by a ridge penalty chosen by cross-validation on the log
(one-standard-error rule, toward more shrinkage), so with few labels the heads keep
the starting router's ranking: with ``b = w = 0`` the score below is a monotone
function of ``z0`` whatever the intercepts.
The score is the predicted quality gain of the strong model, mapped to [0, 1]::

    score(x) = (1 + q_strong(x) - q_weak(x)) / 2

so thresholds of the starting router do not carry over: calibrate again
(`prefroute calibrate`). The starting router is saved inside the folder (``base/``);
when both embed prompts with the same model, a request is embedded once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError, DataError
from prefroute.routers._heads import HeadData, pca_basis
from prefroute.routers._pair_heads import (
    BLEND_GRID,
    GAIN_CLIP,
    GAIN_COMPONENTS,
    GAIN_GUARD_Z,
    GAIN_PENALTY,
    GUARD_Z,
    OFF,
    GainChoice,
    PairChoice,
    PairLabels,
    face_value_levels,
    fit_gain,
    fit_pair_heads,
    gain_guard,
    pair_quality,
)
from prefroute.routers.base import (
    Router,
    embedder_spec,
    load_arrays,
    read_config,
    save_arrays,
)
from prefroute.routers.difficulty import log_length
from prefroute.types import Battle, FloatArray

__all__ = ["CORRECTIONS", "AdaptedRouter", "logit", "shared_embedder"]

#: Corrections of the starting router: the gain regression (default) and the
#: logistic heads with their guard.
CORRECTIONS = ("gain", "heads")

BASE_DIR = "base"
# Scores of the starting router are clipped away from 0 and 1 before the logit.
_CLIP = 1e-6
# Texts remembered by the shared embedder (a request is embedded by the starting
# router, then by the heads).
_MEMO_ITEMS = 256


def logit(p: FloatArray) -> FloatArray:
    """``log(p / (1 - p))`` of probabilities clipped to [1e-6, 1 - 1e-6]."""
    q = np.clip(np.asarray(p, dtype=np.float64), _CLIP, 1.0 - _CLIP)
    out: FloatArray = np.log(q) - np.log1p(-q)
    return out


# _labels: embeddings, distinct texts and starting logits of the distinct prompts;
# prompt row, model column, target and weight of each label
_LabelArrays = tuple[
    FloatArray, list[str], FloatArray, np.ndarray, np.ndarray, FloatArray, FloatArray
]


class _RecentMemo:
    """An embedder that remembers the vectors of the last texts it embedded, so a
    starting router and the heads on top embed each request once."""

    def __init__(self, inner: Embedder, capacity: int = _MEMO_ITEMS) -> None:
        self.inner = inner
        self.spec: str = inner.spec
        self.cache_key: str = str(getattr(inner, "cache_key", inner.spec))
        self.capacity = capacity
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @dim.setter
    def dim(self, value: int) -> None:
        self.inner.dim = value

    def embed(self, texts: Sequence[str]) -> FloatArray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        fresh = (
            np.asarray(self.inner.embed(missing), dtype=np.float32)
            if missing
            else np.zeros((0, self.dim), dtype=np.float32)
        )
        with self._lock:
            found = {t: self._memo[t] for t in texts if t in self._memo}
            found.update(zip(missing, fresh, strict=True))
            for t, v in zip(missing, fresh, strict=True):
                self._memo[t] = v
            while len(self._memo) > self.capacity:
                self._memo.popitem(last=False)
        out = np.empty(
            (len(texts), fresh.shape[1] if missing else self.dim), np.float32
        )
        for i, t in enumerate(texts):
            out[i] = found[t]
        return out


def shared_embedder(embedder: Embedder | str | None) -> Embedder:
    """An embedder (object or spec; None = the package default) wrapped so that
    embedding the same texts twice in a row computes them once.

    Args:
        embedder: Embedder or spec.

    Returns:
        The wrapper (same `spec`).
    """
    from prefroute.routers._prefs import resolve_embedder

    inner = resolve_embedder(embedder)
    return inner if isinstance(inner, _RecentMemo) else _RecentMemo(inner)


def share_embedder(base: Router, embedder: Embedder) -> Router:
    """`base` scoring with `embedder` when it embeds with the same model, else as is."""
    if embedder_spec(base) == embedder.spec:
        return base.with_embedder(embedder)
    return base


class AdaptedRouter(Router):
    """A starting pair router with quality heads learned from logged feedback.

    Example:
        >>> router = AdaptedRouter(  # doctest: +SKIP
        ...     base=load_router("default"), strong_model="gpt-4", weak_model="mixtral"
        ... )
        >>> router.fit_feedback(prompts, answered_by, quality)  # doctest: +SKIP
    """

    name = "adapted"
    format_version = 1

    def __init__(
        self,
        *,
        base: Router | None = None,
        embedder: Embedder | str | None = None,
        strong_model: str | None = None,
        weak_model: str | None = None,
        n_components: int = 32,
        penalties: tuple[float, float] | None = None,
        n_folds: int = 5,
        seed: int = 0,
        guard_z: float | None = None,
        blends: Sequence[float] = BLEND_GRID,
        length_feature: bool = True,
        correction: str = "gain",
        gain_penalty: float = GAIN_PENALTY,
        gain_components: int = GAIN_COMPONENTS,
        guard: bool = True,
    ) -> None:
        """Create an unfitted router (no I/O).

        Args:
            base: The starting router (ready to score); saved inside the folder.
                An adapted router is replaced by the router it started from (its
                heads are refitted, so fit on the whole log).
            embedder: Embedder of the heads (object or spec); None = the starting
                router's when it has one, else the package default.
            strong_model: The strong model (the name the log uses).
            weak_model: The weak model.
            n_components: Principal components of the embeddings the heads see
                (the gain correction uses the first `gain_components` of them).
            penalties: Heads: ridge penalties of the shared and the
                strong-vs-weak slopes; None chooses them by cross-validation on the
                labels and keeps the starting ranking unless the guard finds the
                new one better (see `prefroute.routers._pair_heads`).
            n_folds: Cross-validation folds.
            seed: Seed of the fold assignment.
            guard_z: Standard errors of the guard's lower confidence bound: the
                correction is used only when its held-out gain over the starting
                ranking less ``guard_z * se`` is above 0 (heads: the candidate
                maximising that bound). Default: 1 for the gain correction (its
                ridge penalty already keeps it small), 2 for the heads (a one-sided
                test at about 2.5%); lower takes less certain corrections.
            blends: Weights of a candidate's correction the guard tries (heads
                ``start + w * (candidate - start)``; 1 alone: all or nothing).
            length_feature: The heads also see the prompt's log length
                (standardised over the log's prompts) beside the components.
            correction: "gain" (default: a ridge regression of the strong model's
                gain) or "heads" (logistic heads per model; `penalties` and `blends`
                apply to it).
            gain_penalty: Ridge penalty of the gain correction's slopes.
            gain_components: Principal components the gain correction sees.
            guard: Gain correction: False uses it without the guard (e.g. fitted
                on full labels of a known task). The heads skip their guard when
                `penalties` are given.
        """
        if n_components < 0 or n_folds < 2:
            raise ConfigError(
                f"n_components must be >= 0 and n_folds >= 2, got {n_components!r}, "
                f"{n_folds!r}"
            )
        if penalties is not None and (
            len(penalties) != 2 or min(float(p) for p in penalties) <= 0
        ):
            raise ConfigError(f"penalties must be two numbers > 0, got {penalties!r}")
        weights = [float(w) for w in blends]
        if not weights or not all(0.0 < w <= 1.0 for w in weights):
            raise ConfigError(f"blends must be weights in (0, 1], got {blends!r}")
        if guard_z is None:
            guard_z = GUARD_Z if correction == "heads" else GAIN_GUARD_Z
        if not (np.isfinite(guard_z) and guard_z >= 0):
            raise ConfigError(f"guard_z must be a number >= 0, got {guard_z!r}")
        if correction not in CORRECTIONS:
            raise ConfigError(
                f"correction must be one of {', '.join(CORRECTIONS)}, got "
                f"{correction!r}"
            )
        if penalties is not None and correction != "heads":
            raise ConfigError("penalties apply to correction='heads'")
        if not (np.isfinite(gain_penalty) and gain_penalty > 0) or gain_components < 0:
            raise ConfigError(
                "gain_penalty must be > 0 and gain_components >= 0, got "
                f"{gain_penalty!r}, {gain_components!r}"
            )
        start = base
        while isinstance(start, AdaptedRouter) and start.base is not None:
            start = start.base
        self.base: Router | None = start
        self.embedder = embedder
        self.strong_model = strong_model
        self.weak_model = weak_model
        self.n_components = n_components
        self.penalties = (
            None if penalties is None else (float(penalties[0]), float(penalties[1]))
        )
        self.n_folds = n_folds
        self.seed = seed
        self.guard_z = float(guard_z)
        self.blends = weights
        self.length_feature = bool(length_feature)
        self.correction = correction
        self.gain_penalty = float(gain_penalty)
        self.gain_components = int(gain_components)
        self.guard = bool(guard)
        self._shared: Embedder | None = None
        self.coef_: FloatArray | None = None  # (2, 2 + k): shared, difference
        self.center_: FloatArray | None = None  # (d,)
        self.components_: FloatArray | None = None  # (k, d)
        self.z_stats_: FloatArray | None = None  # mean, std of the base logit
        self.length_stats_: FloatArray | None = None  # mean, std of log length
        self.n_labels_: np.ndarray | None = None  # (2,)
        self.penalty_: PairChoice | None = None
        self.gain_: FloatArray | None = None  # (k,): the gain correction's slopes
        self.gain_stats_: FloatArray | None = None  # (2, k): mean, std of features
        self.gain_offset_ = 0.0  # its intercept
        # the gain correction's held-out gain and standard error (the guard's)
        self.gain_guard_: tuple[float, float] = (float("nan"), float("nan"))
        self.gain_requests_ = 0  # requests the gain correction was fitted on
        # the same guard's evidence for each of `fit_feedback`'s `references`
        self.reference_guard_: list[tuple[float, float]] = []

    # -- collaborators ---------------------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        """Constructor arguments but the starting router (saved as a folder)."""
        out = super().hyperparameters()
        out.pop("base")
        if out["embedder"] is None and self._shared is not None:
            out["embedder"] = self._shared
        return out

    def _embedder(self) -> Embedder:
        if self._shared is None:
            chosen: Any = self.embedder
            if chosen is None and self.base is not None:
                # the starting router's own embedder object (e.g. a cached one),
                # else its spec
                own = self.base.hyperparameters().get("embedder")
                chosen = own if own is not None else embedder_spec(self.base)
            self._shared = shared_embedder(chosen)
            if self.base is not None:
                self.base = share_embedder(self.base, self._shared)
        return self._shared

    def _base(self) -> Router:
        if self.base is None:
            raise ConfigError("the adapted router needs a starting router (base=...)")
        return self.base

    def _pair(self) -> tuple[str, str]:
        if not self.strong_model or not self.weak_model:
            raise ConfigError("strong_model and weak_model must both be given")
        if self.strong_model == self.weak_model:
            raise ConfigError(
                f"strong and weak model are both {self.strong_model!r}; expected two"
            )
        return self.strong_model, self.weak_model

    # -- fitting ---------------------------------------------------------------

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Fit the heads on battles between the strong and the weak model (both
        answers judged: each battle gives both models a label, the strong model
        its credit and the weak model the rest).

        Args:
            battles: Battles; those not between the pair are ignored.

        Returns:
            self.

        Raises:
            DataError: No battle between the pair.
        """
        strong, weak = self._pair()
        prompts: list[str] = []
        models: list[str] = []
        rewards: list[float] = []
        weights: list[float] = []
        for b in battles:
            if {b.model_a, b.model_b} != {strong, weak} or b.weight <= 0:
                continue
            credit = b.credit_a if b.model_a == strong else 1.0 - b.credit_a
            prompts += [b.prompt, b.prompt]
            models += [strong, weak]
            rewards += [credit, 1.0 - credit]
            weights += [b.weight, b.weight]
        if not prompts:
            raise DataError(f"no battle between {strong!r} and {weak!r} to fit on")
        return self.fit_feedback(
            prompts,
            models,
            rewards,
            weights=weights,
            propensities=np.full(len(prompts), np.nan),
        )

    def fit_feedback(
        self,
        prompts: Sequence[str],
        models: Sequence[str],
        rewards: Sequence[float] | FloatArray,
        *,
        weights: Sequence[float] | FloatArray | None = None,
        propensities: Sequence[float] | FloatArray | None = None,
        requests: Sequence[int] | np.ndarray | None = None,
        unlabeled: Sequence[str] = (),
        references: Sequence[Router] = (),
    ) -> Self:
        """Fit the heads on feedback: request i was answered by `models[i]` with
        quality `rewards[i]`.

        Args:
            prompts: The routed prompt of each label.
            models: The model that answered (strong or weak model name).
            rewards: Quality in [0, 1].
            weights: Label weights (default 1).
            propensities: Probability with which the logging policy sent each
                request to `models[i]` (default 1); NaN for a label that was not a
                routing choice (a judge's comparison), which the guard skips.
            requests: Request id of each label (default: one request per label);
                labels of one request were observed together, e.g. both models'
                answers to one prompt, each with propensity 1.
            unlabeled: More prompts of the same traffic (shape the embedding
                components only).
            references: Other routers of the pair whose rankings the gain
                correction's guard judges too, on the same folds and resamples
                (their (gain, se) in `reference_guard_`, NaN without the guard's
                evidence): what this log can show about a known ranking, e.g. one
                fitted with every label of the traffic.

        Returns:
            self.

        Raises:
            DataError: Lengths differ, a reward outside [0, 1], or a model that is
                neither of the pair.
        """
        x, texts, z0, rows, cols, y, w = self._labels(
            prompts, models, rewards, weights, unlabeled
        )
        self.center_, self.components_ = pca_basis(x, self.n_components)
        self.length_stats_ = None
        if self.length_feature:
            lengths = log_length(texts)
            spread = float(lengths.std())
            self.length_stats_ = np.array(
                [float(lengths.mean()), spread if spread > 1e-9 else 1.0]
            )
        std = float(z0.std())
        self.z_stats_ = np.array([float(z0.mean()), std if std > 1e-9 else 1.0])
        prop = (
            np.ones(len(rows))
            if propensities is None
            else np.asarray(propensities, dtype=np.float64)
        )
        if prop.shape != (len(rows),) or np.any(prop[np.isfinite(prop)] <= 0):
            raise DataError("propensities must be one per label, in (0, 1] or NaN")
        req = (
            np.arange(len(rows))
            if requests is None
            else np.asarray(requests, dtype=np.int64)
        )
        if req.shape != (len(rows),):
            raise DataError(f"expected one request id per label, got shape {req.shape}")
        labels = PairLabels(
            projected=self._project(x, texts),
            z=(z0 - self.z_stats_[0]) / self.z_stats_[1],
            z0=z0,
            rows=rows,
            arms=np.where(cols == 0, 1.0, -1.0),
            targets=y,
            weights=w,
            propensities=np.minimum(prop, 1.0),
            requests=req,
        )
        self.gain_ = self.gain_stats_ = None
        self.penalty_ = None
        # the heads' guard judges no references
        self.reference_guard_ = [(float("nan"), float("nan"))] * len(references)
        if self.correction == "gain":
            raw = self._gain_raw(labels.z, labels.projected)
            spread = raw.std(axis=0)
            self.gain_stats_ = np.stack(
                [raw.mean(axis=0), np.where(spread > 1e-9, spread, 1.0)]
            )
            features = self._gain_features(raw)
            self.coef_, self.gain_, self.gain_offset_, self.gain_requests_ = fit_gain(
                labels, features, penalty=self.gain_penalty
            )
            self.gain_guard_ = (float("nan"), float("nan"))
            if self.guard and self.gain_.any():
                fixed = [np.asarray(r.score(texts), np.float64) for r in references]
                (g, se), *others = gain_guard(
                    labels,
                    features,
                    penalty=self.gain_penalty,
                    n_folds=self.n_folds,
                    seed=self.seed,
                    fixed=np.array(fixed) if fixed else None,
                )
                self.gain_guard_ = (g, se)
                self.reference_guard_ = others
                if not g - self.guard_z * se > 0:  # NaN keeps the ranking too
                    # the levels alone rank as the starting router
                    self.coef_ = face_value_levels(labels)
                    self.gain_ = np.zeros_like(self.gain_)
                    self.gain_offset_ = 0.0
        else:
            self.coef_, self.penalty_ = fit_pair_heads(
                labels,
                penalties=self.penalties,
                n_folds=self.n_folds,
                seed=self.seed,
                guard_z=self.guard_z,
                blends=tuple(self.blends),
            )
        self.n_labels_ = np.bincount(cols, minlength=2)
        return self

    def _gain_raw(self, z: FloatArray, projected: FloatArray) -> FloatArray:
        """The gain correction's features before standardising: the standardised
        starting logit, the leading components and the log length (when on)."""
        assert self.components_ is not None
        k = min(self.gain_components, self.components_.shape[0])
        parts = [np.asarray(z)[:, None], projected[:, :k]]
        if self.length_stats_ is not None:
            parts.append(projected[:, -1:])
        return np.hstack(parts)

    def _gain_features(self, raw: FloatArray) -> FloatArray:
        """`_gain_raw` standardised over the log's prompts, clipped to `GAIN_CLIP`."""
        assert self.gain_stats_ is not None
        out: FloatArray = np.clip(
            (raw - self.gain_stats_[0]) / self.gain_stats_[1], -GAIN_CLIP, GAIN_CLIP
        )
        return out

    def _labels(
        self,
        prompts: Sequence[str],
        models: Sequence[str],
        rewards: Sequence[float] | FloatArray,
        weights: Sequence[float] | FloatArray | None,
        unlabeled: Sequence[str] = (),
    ) -> _LabelArrays:
        """Embeddings, texts and starting logits of the distinct prompts, and the
        labels as (prompt row, model column, target, weight)."""
        strong, weak = self._pair()
        arms = {strong: 0, weak: 1}
        y, w = _check_labels(prompts, models, rewards, weights)
        unknown = sorted({m for m in models if m not in arms})
        if unknown:
            raise DataError(
                f"labels for models {unknown}; this router scores {strong!r} vs "
                f"{weak!r}"
            )
        texts = list(dict.fromkeys([*prompts, *unlabeled]))
        index = {t: i for i, t in enumerate(texts)}
        x, z0 = self._embed_and_score(texts)
        rows = np.array([index[p] for p in prompts], dtype=np.int64)
        cols = np.array([arms[m] for m in models], dtype=np.int64)
        return x, texts, z0, rows, cols, y, w

    def _project(self, x: FloatArray, prompts: Sequence[str]) -> FloatArray:
        """The heads' features beside the starting logit: the embeddings'
        principal components, and the standardised log length when enabled."""
        assert self.center_ is not None and self.components_ is not None
        projected: FloatArray = (x - self.center_) @ self.components_.T
        if self.length_stats_ is None:
            return projected
        mean, spread = self.length_stats_
        return np.hstack([projected, ((log_length(prompts) - mean) / spread)[:, None]])

    def _head_data(
        self,
        x: FloatArray,
        texts: list[str],
        z0: FloatArray,
        rows: np.ndarray,
        cols: np.ndarray,
        y: FloatArray,
        w: FloatArray,
    ) -> HeadData:
        assert self.center_ is not None and self.components_ is not None
        assert self.z_stats_ is not None
        z = (z0 - self.z_stats_[0]) / self.z_stats_[1]
        return HeadData(
            projected=self._project(x, texts),
            z=np.stack([z, z], axis=1),
            offsets=np.stack([0.5 * z0, -0.5 * z0], axis=1),
            rows=rows,
            cols=cols,
            targets=y,
            weights=w,
        )

    def head_data(
        self,
        prompts: Sequence[str],
        models: Sequence[str],
        rewards: Sequence[float] | FloatArray,
        weights: Sequence[float] | FloatArray | None = None,
    ) -> HeadData:
        """Labels in the form the heads are fitted on, with this router's fitted
        embedding components (e.g. to cross-fit an outcome model for off-policy
        evaluation). Rows index the distinct prompts in order of appearance.

        Args:
            prompts: The routed prompt of each label.
            models: The model that answered.
            rewards: Quality in [0, 1].
            weights: Label weights.

        Returns:
            The labels; columns 0 and 1 are the strong and the weak model.
        """
        self._check_fitted("coef_", "center_")
        return self._head_data(*self._labels(prompts, models, rewards, weights))

    # -- scoring ---------------------------------------------------------------

    def _embed(self, prompts: Sequence[str]) -> FloatArray:
        x = np.asarray(self._embedder().embed(list(prompts)), dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != len(prompts):
            raise ConfigError(
                f"embedder returned shape {x.shape}, expected ({len(prompts)}, dim)"
            )
        return x

    def _embed_and_score(self, prompts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        """Embeddings and the starting router's logit, in chunks small enough for
        the shared embedder to embed each prompt once."""
        xs, zs = [], []
        for i in range(0, len(prompts), _MEMO_ITEMS // 2):
            chunk = list(prompts[i : i + _MEMO_ITEMS // 2])
            xs.append(self._embed(chunk))
            zs.append(logit(self._base().score(chunk)))
        return np.concatenate(xs), np.concatenate(zs)

    def _quality(self, prompts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        """The heads' (or levels') quality of (strong, weak) per prompt, and the gain
        correction (zeros for the heads)."""
        self._check_fitted("coef_", "center_", "components_", "z_stats_")
        assert self.coef_ is not None and self.center_ is not None
        assert self.components_ is not None and self.z_stats_ is not None
        if len(prompts) == 0:
            return np.zeros((0, 2)), np.zeros(0)
        x, z0 = self._embed_and_score(prompts)
        z = (z0 - self.z_stats_[0]) / self.z_stats_[1]
        projected = self._project(x, prompts)
        q = pair_quality(self.coef_, z, projected, z0)
        if self.gain_ is None or self.gain_stats_ is None:
            return q, np.zeros(len(prompts))
        f = self._gain_features(self._gain_raw(z, projected))
        shift: FloatArray = f @ self.gain_ + self.gain_offset_
        return q, shift

    @property
    def choice(self) -> GainChoice | PairChoice | None:
        """What the fitted correction learned: the gain correction's slopes and its
        guard's evidence, or the heads' penalties and guard (None before fitting)."""
        if self.gain_ is None:
            return self.penalty_
        gain, se = self.gain_guard_
        return GainChoice(
            self.gain_penalty,
            self.gain_requests_,
            tuple(float(v) for v in self.gain_),
            gain,
            se,
            self.guard_z,
        )

    def score_models(
        self, prompts: Sequence[str], models: Sequence[str] | None = None
    ) -> FloatArray:
        """Predicted quality (P(good answer)) of the pair's models on each prompt.

        Args:
            prompts: Prompts, n of them.
            models: Some of (strong_model, weak_model); default both, in that order.

        Returns:
            Shape (n, len(models)).

        Raises:
            ConfigError: A model outside the pair.
        """
        strong, weak = self._pair()
        names = [strong, weak] if models is None else list(models)
        bad = [m for m in names if m not in (strong, weak)]
        if bad:
            raise ConfigError(f"models {bad} are not {strong!r} or {weak!r}")
        q, shift = self._quality(prompts)
        both = np.clip(q + 0.5 * shift[:, None] * np.array([1.0, -1.0]), 0.0, 1.0)
        out: FloatArray = both[:, [0 if m == strong else 1 for m in names]]
        return out

    def score(self, prompts: Sequence[str]) -> FloatArray:
        """``(1 + q_strong - q_weak + correction) / 2`` per prompt, shape (n,), in
        [0, 1]."""
        q, shift = self._quality(prompts)
        out: FloatArray = np.clip(0.5 * (1.0 + q[:, 0] - q[:, 1] + shift), 0.0, 1.0)
        return out

    # -- persistence -----------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        """Write config.json and arrays.npz, and the starting router into ``base/``.

        Args:
            directory: Target folder.
        """
        directory = Path(directory)
        self._check_fitted("coef_")
        self._embedder()  # record the heads' embedder spec
        super().save(directory)
        self._base().save(directory / BASE_DIR)

    def _save_state(self, directory: Path) -> None:
        assert self.coef_ is not None and self.center_ is not None
        assert self.components_ is not None and self.z_stats_ is not None
        assert self.n_labels_ is not None
        choice = self.penalty_ or PairChoice((OFF, OFF), (OFF, OFF))
        save_arrays(
            directory,
            coef=self.coef_,
            center=self.center_,
            components=self.components_,
            z_stats=self.z_stats_,
            length_stats=(
                np.zeros(0) if self.length_stats_ is None else self.length_stats_
            ),
            n_labels=self.n_labels_,
            penalties=np.array(choice.penalties),
            cv_penalties=np.array(choice.cv_penalties),
            guard=np.array(
                [choice.guard_gain, choice.guard_se, choice.n_folds, choice.blend]
            ),
            gain=np.zeros(0) if self.gain_ is None else self.gain_,
            gain_stats=(
                np.zeros((0, 0)) if self.gain_stats_ is None else self.gain_stats_
            ),
            gain_requests=np.array([self.gain_requests_]),
            gain_offset=np.array([self.gain_offset_]),
            gain_guard=np.array(self.gain_guard_),
        )

    def _load_state(self, directory: Path) -> None:
        arrays = load_arrays(directory)
        try:
            self.coef_ = arrays["coef"]
            self.center_ = arrays["center"]
            self.components_ = arrays["components"]
            self.z_stats_ = arrays["z_stats"]
            spread = arrays.get("length_stats", np.zeros(0))
            self.length_stats_ = spread if len(spread) == 2 else None
            self.n_labels_ = arrays["n_labels"]
            used = arrays["penalties"]
            picked = arrays["cv_penalties"]
            guard = arrays["guard"]
            self.penalty_ = PairChoice(
                (float(used[0]), float(used[1])),
                (float(picked[0]), float(picked[1])),
                float(guard[0]),
                float(guard[1]),
                int(guard[2]),
                float(guard[3]) if len(guard) > 3 else 1.0,
            )
            # folders written before the gain correction hold heads only
            gain = arrays.get("gain", np.zeros(0))
            self.gain_ = gain if len(gain) else None
            self.gain_stats_ = arrays["gain_stats"] if self.gain_ is not None else None
            self.gain_requests_ = int(arrays.get("gain_requests", np.zeros(1))[0])
            self.gain_offset_ = float(arrays.get("gain_offset", np.zeros(1))[0])
            guarded = arrays.get("gain_guard", np.full(2, np.nan))
            self.gain_guard_ = (float(guarded[0]), float(guarded[1]))
            self.correction = "heads" if self.gain_ is None else "gain"
            if self.gain_ is not None:
                self.penalty_ = None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ArtifactError(f"{str(directory)!r} lacks array {exc}") from exc
        k = self.components_.shape[0] + (self.length_stats_ is not None)
        if self.coef_.shape != (2, 2 + k) or self.center_.shape != (
            self.components_.shape[1],
        ):
            raise ArtifactError(
                f"{str(directory)!r}: heads of shape {self.coef_.shape} do not match "
                f"{k} components of dimension {self.center_.shape}"
            )
        if self.gain_ is not None and (
            self.gain_stats_ is None or self.gain_stats_.shape != (2, len(self.gain_))
        ):
            raise ArtifactError(
                f"{str(directory)!r}: gain correction of {len(self.gain_)} slopes "
                "without matching feature statistics"
            )
        folder = directory / BASE_DIR
        read_config(folder)  # a clear error when the starting router is missing
        from prefroute.routers.registry import load_router

        self._shared = shared_embedder(self.embedder)
        base = load_router(folder)
        self.base = share_embedder(base, self._shared)


def _check_labels(
    prompts: Sequence[str],
    models: Sequence[str],
    rewards: Sequence[float] | FloatArray,
    weights: Sequence[float] | FloatArray | None,
) -> tuple[FloatArray, FloatArray]:
    """Rewards and weights as arrays, checked against the prompts."""
    n = len(prompts)
    y = np.asarray(rewards, dtype=np.float64)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(models) != n or y.shape != (n,) or w.shape != (n,):
        raise DataError(
            f"prompts, models, rewards and weights must have one length, got {n}, "
            f"{len(models)}, {y.shape}, {w.shape}"
        )
    if n == 0:
        raise DataError("no labels to fit on")
    if not np.all(np.isfinite(y) & (y >= 0) & (y <= 1)):
        raise DataError("rewards must be in [0, 1]")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise DataError("weights must be finite and >= 0")
    return y, w
