"""The N-model router (`mf-multi`) adapted to your own traffic: its quality logits
plus one head per model learned from feedback on the answers it routed.

For model m the adapted logit is::

    s'(x, m) = s(x, m) + c_m + b_m z_m(x) + w_m . e(x)

where ``s`` is the starting router's logit (factorisation and task prior), ``z_m`` it
standardised over the log's prompts and ``e`` the leading principal components of the
router's own prompt embedding (fitted on the log's prompts). ``c_m`` corrects the
model's overall quality on this traffic (a task the router never saw): a level shared
by all models plus the model's own deviation, so that feedback on the models the
router picked also moves the ones it never picked (otherwise those would keep the
starting router's often optimistic level and look best). ``b_m`` and ``w_m`` correct its
ranking of prompts, shrunk by a ridge penalty chosen by cross-validation on the log
(one-standard-error rule). Budgets are recalibrated on the log's prompts.
Everything else (costs, policies, `choose`, `calibrate`, serving) is
`MultiModelRouter`'s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError, DataError
from prefroute.routers._heads import (
    HeadData,
    PenaltyChoice,
    fit_all_heads,
    pca_basis,
)
from prefroute.routers.adapted import _check_labels
from prefroute.routers.multi import MultiModelRouter
from prefroute.types import Battle, FloatArray, GoldenRecord

__all__ = ["AdaptedMultiModelRouter"]

_HEAD_FILE = "heads.npz"


class AdaptedMultiModelRouter(MultiModelRouter):
    """`MultiModelRouter` with per-model quality heads learned from logged feedback.

    Build one from a fitted router with `from_base`, then `fit_feedback`.
    """

    name = "mf-multi-adapted"
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
        n_components: int = 8,
        slope_penalty: float | None = None,
        n_folds: int = 5,
    ) -> None:
        """Create an unfitted router; the first eleven arguments are
        `MultiModelRouter`'s.

        Args:
            embedder: See `MultiModelRouter`.
            dim: See `MultiModelRouter`.
            l2: See `MultiModelRouter`.
            battle_weight: See `MultiModelRouter`.
            n_epochs: See `MultiModelRouter`.
            learning_rate: See `MultiModelRouter`.
            seed: See `MultiModelRouter` (also seeds the heads' folds).
            tail_chars: See `MultiModelRouter`.
            strong: See `MultiModelRouter`.
            weak: See `MultiModelRouter`.
            task_shrink: See `MultiModelRouter`.
            n_components: Principal components of the embeddings the heads see.
            slope_penalty: Ridge penalty of the heads' slopes; None chooses it by
                cross-validation on the labels.
            n_folds: Cross-validation folds.
        """
        super().__init__(
            embedder=embedder,
            dim=dim,
            l2=l2,
            battle_weight=battle_weight,
            n_epochs=n_epochs,
            learning_rate=learning_rate,
            seed=seed,
            tail_chars=tail_chars,
            strong=strong,
            weak=weak,
            task_shrink=task_shrink,
        )
        if n_components < 0 or n_folds < 2:
            raise ConfigError(
                f"n_components must be >= 0 and n_folds >= 2, got {n_components!r}, "
                f"{n_folds!r}"
            )
        if slope_penalty is not None and slope_penalty <= 0:
            raise ConfigError(f"slope_penalty must be > 0, got {slope_penalty!r}")
        self.n_components = n_components
        self.slope_penalty = slope_penalty
        self.n_folds = n_folds
        self.head_coef_: FloatArray | None = None  # (n_models, 2 + k)
        self.head_center_: FloatArray | None = None  # (d,)
        self.head_components_: FloatArray | None = None  # (k, d)
        self.head_z_stats_: FloatArray | None = None  # (n_models, 2): mean, std
        self.head_n_labels_: np.ndarray | None = None  # (n_models,)
        self.penalty_: PenaltyChoice | None = None

    @classmethod
    def from_base(
        cls,
        base: MultiModelRouter,
        *,
        n_components: int = 8,
        slope_penalty: float | None = None,
        n_folds: int = 5,
    ) -> AdaptedMultiModelRouter:
        """A copy of a fitted router, ready for `fit_feedback` (no heads yet).

        Args:
            base: The fitted starting router (unchanged). For an adapted router,
                the router it started from (its heads are refitted by
                `fit_feedback`, so give that the whole log).
            n_components: See the constructor.
            slope_penalty: See the constructor.
            n_folds: See the constructor.

        Returns:
            The new router.
        """
        base._check_fitted("models_", "projection_")
        own = ("n_components", "slope_penalty", "n_folds")
        params = {k: v for k, v in base.hyperparameters().items() if k not in own}
        out = cls(
            **params,
            n_components=n_components,
            slope_penalty=slope_penalty,
            n_folds=n_folds,
        )
        for key, value in vars(base).items():
            if key.endswith("_") and not key.startswith("head_") and key != "penalty_":
                setattr(out, key, copy.deepcopy(value))
        out._resolved = base._resolved
        return out

    # -- fitting ---------------------------------------------------------------

    def fit_multi(
        self,
        golden: Sequence[GoldenRecord] = (),
        battles: Sequence[Battle] = (),
        *,
        model_aliases: Mapping[str, str] | None = None,
    ) -> Self:
        """`MultiModelRouter.fit_multi`; drops any heads (the logits are new)."""
        self._clear_heads()
        return super().fit_multi(golden, battles, model_aliases=model_aliases)

    def _clear_heads(self) -> None:
        self.head_coef_ = self.head_center_ = self.head_components_ = None
        self.head_z_stats_ = self.head_n_labels_ = None
        self.penalty_ = None

    def fit_feedback(
        self,
        prompts: Sequence[str],
        models: Sequence[str],
        rewards: Sequence[float] | FloatArray,
        *,
        weights: Sequence[float] | FloatArray | None = None,
        unlabeled: Sequence[str] = (),
    ) -> Self:
        """Fit the heads on feedback: request i was answered by `models[i]` with
        quality `rewards[i]`; then recalibrate budgets on the log's prompts.

        Args:
            prompts: The routed prompt of each label.
            models: The model that answered (a model the router knows).
            rewards: Quality in [0, 1].
            weights: Label weights (default 1).
            unlabeled: More prompts of the same traffic (embedding components and
                budget calibration).

        Returns:
            self.

        Raises:
            DataError: Lengths differ, a reward outside [0, 1], or a model the
                router does not know.
        """
        self.head_coef_ = None  # labels are read against the starting logits
        texts, x, s, rows, cols, y, w = self._labels(
            prompts, models, rewards, weights, unlabeled
        )
        self.head_center_, self.head_components_ = pca_basis(x, self.n_components)
        std = s.std(axis=0)
        self.head_z_stats_ = np.stack(
            [s.mean(axis=0), np.where(std > 1e-9, std, 1.0)], axis=1
        )
        coef, choice = fit_all_heads(
            self._head_data(x, s, rows, cols, y, w),
            slope_penalty=self.slope_penalty,
            n_folds=self.n_folds,
            seed=self.seed,
        )
        assert self.models_ is not None
        self.head_n_labels_ = np.bincount(cols, minlength=len(self.models_))
        self.penalty_ = choice
        self.head_coef_ = coef
        self.recalibrate(texts)
        return self

    def _labels(
        self,
        prompts: Sequence[str],
        models: Sequence[str],
        rewards: Sequence[float] | FloatArray,
        weights: Sequence[float] | FloatArray | None,
        unlabeled: Sequence[str] = (),
    ) -> tuple[
        list[str],
        FloatArray,
        FloatArray,
        np.ndarray,
        np.ndarray,
        FloatArray,
        FloatArray,
    ]:
        """Distinct prompts, their embeddings and starting logits, and the labels as
        (prompt row, model column, target, weight)."""
        self._check_fitted("models_", "projection_")
        assert self.models_ is not None
        y, w = _check_labels(prompts, models, rewards, weights)
        index_of = {m: j for j, m in enumerate(self.models_)}
        unknown = sorted({m for m in models if m not in index_of})
        if unknown:
            raise DataError(
                f"labels for models {unknown} the router does not know; it knows "
                f"{self.models_}"
            )
        texts = list(dict.fromkeys([*prompts, *unlabeled]))
        index = {t: i for i, t in enumerate(texts)}
        x = self._embed(texts)
        rows = np.array([index[p] for p in prompts], dtype=np.int64)
        cols = np.array([index_of[m] for m in models], dtype=np.int64)
        return texts, x, self._start_logits(x), rows, cols, y, w

    def _head_data(
        self,
        x: FloatArray,
        s: FloatArray,
        rows: np.ndarray,
        cols: np.ndarray,
        y: FloatArray,
        w: FloatArray,
    ) -> HeadData:
        assert self.head_center_ is not None and self.head_components_ is not None
        assert self.head_z_stats_ is not None
        return HeadData(
            projected=(x - self.head_center_) @ self.head_components_.T,
            z=(s - self.head_z_stats_[:, 0]) / self.head_z_stats_[:, 1],
            offsets=s,
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
        evaluation). Rows index the distinct prompts in order of appearance;
        columns follow `models`.

        Args:
            prompts: The routed prompt of each label.
            models: The model that answered.
            rewards: Quality in [0, 1].
            weights: Label weights.

        Returns:
            The labels.
        """
        self._check_fitted("head_center_")
        _, x, s, rows, cols, y, w = self._labels(prompts, models, rewards, weights)
        return self._head_data(x, s, rows, cols, y, w)

    # -- scoring ---------------------------------------------------------------

    def _start_logits(self, x: FloatArray) -> FloatArray:
        return super()._logits(x)

    def _logits(self, x: FloatArray) -> FloatArray:
        s = self._start_logits(x)
        if self.head_coef_ is None:
            return s
        assert self.head_center_ is not None and self.head_components_ is not None
        assert self.head_z_stats_ is not None
        projected = (x - self.head_center_) @ self.head_components_.T
        z = (s - self.head_z_stats_[:, 0]) / self.head_z_stats_[:, 1]
        k = projected.shape[1]
        coef = self.head_coef_
        out: FloatArray = (
            s + coef[:, 0] + z * coef[:, 1] + projected @ coef[:, 2 : 2 + k].T
        )
        return out

    # -- persistence -----------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        super()._save_state(directory)
        if self.head_coef_ is None:
            return
        assert self.head_center_ is not None and self.head_components_ is not None
        assert self.head_z_stats_ is not None and self.head_n_labels_ is not None
        penalty = self.penalty_.penalty if self.penalty_ is not None else np.nan
        # a second file: arrays.npz is written whole by the parent class
        with (directory / _HEAD_FILE).open("wb") as handle:
            np.savez_compressed(
                handle,
                coef=self.head_coef_,
                center=self.head_center_,
                components=self.head_components_,
                z_stats=self.head_z_stats_,
                n_labels=self.head_n_labels_,
                penalty=np.array(penalty),
            )

    def _load_state(self, directory: Path) -> None:
        super()._load_state(directory)
        self._clear_heads()
        path = directory / _HEAD_FILE
        if not path.is_file():
            return
        try:
            with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
                coef = data["coef"]
                center = data["center"]
                components = data["components"]
                z_stats = data["z_stats"]
                n_labels = data["n_labels"]
                penalty = float(data["penalty"])
        except (OSError, KeyError, ValueError, EOFError) as exc:
            raise ArtifactError(f"cannot read heads from {str(path)!r}: {exc}") from exc
        assert self.models_ is not None and self.projection_ is not None
        m, d, k = len(self.models_), self.projection_.shape[1], components.shape[0]
        if (
            coef.shape != (m, 2 + k)
            or center.shape != (d,)
            or components.shape != (k, d)
            or z_stats.shape != (m, 2)
        ):
            raise ArtifactError(
                f"{str(path)!r}: heads of shape {coef.shape} do not match {m} models "
                f"and {d}-dimensional embeddings"
            )
        self.head_coef_ = coef
        self.head_center_ = center
        self.head_components_ = components
        self.head_z_stats_ = z_stats
        self.head_n_labels_ = n_labels
        self.penalty_ = PenaltyChoice(penalty, (penalty,), (), (), 0)
