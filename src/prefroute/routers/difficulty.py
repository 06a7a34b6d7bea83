"""The difficulty router: ridge heads on a sentence embedding, rank-averaged.

Each head is a ridge regression from ``[embedding, standardised log length]`` to a
per-prompt target in [0, 1] (for example the share of graded models that fail the
prompt, as a percentile within its source file, or P(strong model better) from judged
battles). At scoring time every head's output is turned into its percentile among
the training prompts (a stored quantile grid), the percentiles are averaged with
fixed weights (rank averaging that also works for one prompt at a time), and a
monotone, piecewise-linear calibration maps the average to [0, 1] so that
thresholds read as an estimated P(strong model needed).

`fit` learns one head from battles (the target is how often the model that wins
more battles overall beats its opponent on that prompt); `fit_targets` trains any
number of heads from prompts and per-prompt targets, which is what the shipped
checkpoint uses (`prefroute.train.difficulty`; `prefroute train default`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from prefroute.embed.base import Embedder
from prefroute.errors import ArtifactError, ConfigError, DataError
from prefroute.routers.base import Router, load_arrays, save_arrays
from prefroute.types import Battle, FloatArray

__all__ = ["DifficultyRouter", "isotonic_fit", "log_length"]

_HEADS_FILE = "heads.json"
# Floor on the weight of the raw (pre-calibration) average in the final score, so
# that flat stretches of the isotonic map never create ties between prompts.
_TIE_BREAK = 1e-3


def log_length(prompts: Sequence[str]) -> FloatArray:
    """log(1 + number of characters) per prompt, shape (n,)."""
    return np.log1p(np.array([len(p) for p in prompts], dtype=np.float64))


def isotonic_fit(
    x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Non-decreasing least-squares fit of y on x (pool adjacent violators).

    Args:
        x: Inputs, shape (n,).
        y: Targets, shape (n,).
        weights: Non-negative sample weights, shape (n,); ones if None.

    Returns:
        (knots_x, knots_y): the fitted step function's block means as knots of a
        piecewise-linear, non-decreasing map (use with `np.interp`).

    Raises:
        DataError: Empty input or mismatched shapes.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    wa = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ya.shape or xa.shape != wa.shape or xa.size == 0:
        raise DataError(
            f"isotonic_fit wants equal non-empty 1-D arrays, got shapes "
            f"{xa.shape}, {ya.shape}, {wa.shape}"
        )
    order = np.argsort(xa, kind="stable")
    xs, ys, ws = xa[order], ya[order], np.maximum(wa[order], 1e-12)
    # Blocks as parallel lists: weighted mean of y, total weight, weighted mean of x.
    means: list[float] = []
    totals: list[float] = []
    centres: list[float] = []
    for xi, yi, wi in zip(xs, ys, ws, strict=True):
        means.append(float(yi))
        totals.append(float(wi))
        centres.append(float(xi))
        while len(means) > 1 and means[-2] > means[-1]:
            w2, w1 = totals.pop(), totals.pop()
            m2, m1 = means.pop(), means.pop()
            c2, c1 = centres.pop(), centres.pop()
            total = w1 + w2
            means.append((m1 * w1 + m2 * w2) / total)
            centres.append((c1 * w1 + c2 * w2) / total)
            totals.append(total)
    return np.asarray(centres), np.asarray(means)


def _ridge(
    features: FloatArray, target: FloatArray, weights: FloatArray, alpha: float
) -> tuple[FloatArray, float]:
    """Weighted ridge regression with an unpenalised intercept."""
    w = weights / weights.sum()
    mean_x = w @ features
    mean_y = float(w @ target)
    xc = features - mean_x
    gram = (xc * w[:, None]).T @ xc
    gram[np.diag_indices_from(gram)] += alpha / len(target)
    coef = np.linalg.solve(gram, (xc * w[:, None]).T @ (target - mean_y))
    return coef, mean_y - float(mean_x @ coef)


class DifficultyRouter(Router):
    """Ridge heads on embedding + log length, rank-averaged and calibrated to [0, 1].

    Args (keyword-only):
        embedder: An `Embedder`, or its spec string (resolved on first use, so
            constructing does no I/O).
        alpha: Ridge penalty (on the sum of squared errors scale).
        length_weight: Weight of the plain log-length percentile in the average
            (the heads already see length as a feature; this adds it as a vote).
        head_weights: Head name -> weight in the rank average; heads not named
            get weight 1.
        n_quantiles: Size of each head's stored quantile grid.
        head_alphas: Head name -> ridge penalty for that head; heads not named use
            `alpha`.
        raw_heads: Heads that enter the average as their prediction clipped to
            [0, 1] (a probability scale, e.g. a 0/1 task-type head) instead of as
            their percentile among the training prompts.
    """

    name = "difficulty"
    format_version = 1

    def __init__(
        self,
        *,
        embedder: Embedder | str,
        alpha: float = 1.0,
        length_weight: float = 0.0,
        head_weights: Mapping[str, float] | None = None,
        n_quantiles: int = 201,
        head_alphas: Mapping[str, float] | None = None,
        raw_heads: Sequence[str] | None = None,
    ) -> None:
        """Store hyperparameters (see the class docstring)."""
        if alpha <= 0:
            raise ConfigError(f"alpha must be > 0, got {alpha!r}")
        if length_weight < 0:
            raise ConfigError(f"length_weight must be >= 0, got {length_weight!r}")
        if n_quantiles < 3:
            raise ConfigError(f"n_quantiles must be >= 3, got {n_quantiles!r}")
        if head_weights is not None and any(v < 0 for v in head_weights.values()):
            raise ConfigError(f"head_weights must be >= 0, got {dict(head_weights)!r}")
        if head_alphas is not None and any(v <= 0 for v in head_alphas.values()):
            raise ConfigError(f"head_alphas must be > 0, got {dict(head_alphas)!r}")
        self.embedder = embedder
        self.alpha = float(alpha)
        self.length_weight = float(length_weight)
        self.head_weights = dict(head_weights) if head_weights is not None else None
        self.n_quantiles = int(n_quantiles)
        self.head_alphas = (
            {k: float(v) for k, v in head_alphas.items()}
            if head_alphas is not None
            else None
        )
        self.raw_heads = list(raw_heads) if raw_heads is not None else None
        self.heads_: list[str] | None = None
        self.coef_: FloatArray | None = None  # (n_heads, dim + 1)
        self.intercept_: FloatArray | None = None  # (n_heads,)
        self.length_stats_: FloatArray | None = None  # (mean, std) of log length
        self.quantiles_: FloatArray | None = None  # (n_heads + 1, n_quantiles)
        self.calib_x_: FloatArray | None = None
        self.calib_y_: FloatArray | None = None

    # -- embedding ---------------------------------------------------------------

    def _embedder(self) -> Embedder:
        if isinstance(self.embedder, str):
            from prefroute.embed import get_embedder

            self.embedder = get_embedder(self.embedder)
        return self.embedder

    def hyperparameters(self) -> dict[str, Any]:
        """Constructor arguments; an embedder is reported as itself (saved as spec)."""
        return {
            "embedder": self.embedder,
            "alpha": self.alpha,
            "length_weight": self.length_weight,
            "head_weights": self.head_weights,
            "n_quantiles": self.n_quantiles,
            "head_alphas": self.head_alphas,
            "raw_heads": self.raw_heads,
        }

    def _features(
        self, prompts: Sequence[str], embeddings: FloatArray | None
    ) -> FloatArray:
        assert self.length_stats_ is not None
        emb = self._embedder().embed(prompts) if embeddings is None else embeddings
        emb = np.asarray(emb, dtype=np.float64)
        if emb.shape[0] != len(prompts):
            raise DataError(f"got {emb.shape[0]} embeddings for {len(prompts)} prompts")
        mean, std = self.length_stats_
        z_len = (log_length(prompts) - mean) / std
        return np.hstack([emb, z_len[:, None]])

    # -- fitting -----------------------------------------------------------------

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Fit one head ("battles") from battles.

        Models are ranked by overall win rate (ties count half); a prompt's target is
        the mean credit of the higher-ranked model in its battles. The calibration
        maps the score to that same target.

        Args:
            battles: Training battles.

        Returns:
            self.

        Raises:
            DataError: No battle between two differently ranked models.
        """
        wins: dict[str, float] = defaultdict(float)
        games: dict[str, float] = defaultdict(float)
        for b in battles:
            wins[b.model_a] += b.weight * b.credit_a
            wins[b.model_b] += b.weight * (1.0 - b.credit_a)
            games[b.model_a] += b.weight
            games[b.model_b] += b.weight
        rate = {m: wins[m] / games[m] for m in games if games[m] > 0}
        credit: dict[str, float] = defaultdict(float)
        weight: dict[str, float] = defaultdict(float)
        for b in battles:
            ra, rb = rate.get(b.model_a), rate.get(b.model_b)
            if ra is None or rb is None or ra == rb or b.weight <= 0:
                continue
            strong_credit = b.credit_a if ra > rb else 1.0 - b.credit_a
            credit[b.prompt] += b.weight * strong_credit
            weight[b.prompt] += b.weight
        prompts = sorted(weight)
        if not prompts:
            raise DataError("fit needs battles between models with different win rates")
        target = np.array([credit[p] / weight[p] for p in prompts])
        sample_weight = np.array([weight[p] for p in prompts])
        return self.fit_targets(
            prompts, {"battles": target}, weights=sample_weight, calibration=target
        )

    def fit_targets(
        self,
        prompts: Sequence[str],
        targets: Mapping[str, npt.ArrayLike],
        *,
        weights: npt.ArrayLike | Mapping[str, npt.ArrayLike] | None = None,
        calibration: npt.ArrayLike | None = None,
        calibration_mask: npt.ArrayLike | None = None,
        embeddings: FloatArray | None = None,
    ) -> Self:
        """Fit one ridge head per named target, then the rank average's calibration.

        Args:
            prompts: Training prompts, length n.
            targets: Head name -> per-prompt target, shape (n,); NaN = no label for
                that head (the prompt is skipped for it).
            weights: Sample weights, shape (n,), or head name -> weights; ones if None.
            calibration: Per-prompt value the final score should estimate (e.g.
                P(strong better)), shape (n,); NaN = unlabeled. If None, the mean
                of the heads' targets.
            calibration_mask: Boolean (n,) selecting the prompts used for the
                calibration (default: all labeled ones).
            embeddings: Precomputed embeddings of `prompts` (n, dim), e.g. from a
                cache; computed with the embedder if None.

        Returns:
            self.

        Raises:
            DataError: Shapes disagree or a head has fewer than 2 labeled prompts.
        """
        n = len(prompts)
        if n < 2 or not targets:
            raise DataError(f"fit_targets needs >= 2 prompts and >= 1 target, got {n}")
        self.heads_ = None
        lengths = log_length(prompts)
        std = float(lengths.std()) or 1.0
        self.length_stats_ = np.array([float(lengths.mean()), std])
        features = self._features(prompts, embeddings)
        names = list(targets)
        coefs, intercepts, grids = [], [], []
        probs = np.linspace(0.0, 1.0, self.n_quantiles)
        for name in names:
            target = np.asarray(targets[name], dtype=np.float64)
            if target.shape != (n,):
                raise DataError(
                    f"target {name!r} has shape {target.shape}, expected ({n},)"
                )
            w_raw = weights.get(name) if isinstance(weights, Mapping) else weights
            w = np.ones(n) if w_raw is None else np.asarray(w_raw, dtype=np.float64)
            if w.shape != (n,):
                raise DataError(f"weights have shape {w.shape}, expected ({n},)")
            keep = np.isfinite(target) & (w > 0)
            if keep.sum() < 2:
                raise DataError(
                    f"target {name!r} has {int(keep.sum())} labeled prompts"
                )
            alpha = (self.head_alphas or {}).get(name, self.alpha)
            coef, intercept = _ridge(features[keep], target[keep], w[keep], alpha)
            coefs.append(coef)
            intercepts.append(intercept)
            grids.append(np.quantile(features @ coef + intercept, probs))
        grids.append(np.quantile(features[:, -1], probs))
        self.coef_ = np.asarray(coefs)
        self.intercept_ = np.asarray(intercepts)
        self.quantiles_ = np.asarray(grids)
        self.heads_ = names
        raw = self._average(features)
        if calibration is None:
            stacked = np.vstack(
                [np.asarray(targets[k], dtype=np.float64) for k in names]
            )
            labeled = np.isfinite(stacked)
            counts = labeled.sum(axis=0)
            sums = np.where(labeled, stacked, 0.0).sum(axis=0)
            cal = np.full(n, np.nan)
            np.divide(sums, counts, out=cal, where=counts > 0)
        else:
            cal = np.asarray(calibration, dtype=np.float64)
        mask = np.isfinite(cal)
        if calibration_mask is not None:
            mask &= np.asarray(calibration_mask, dtype=bool)
        if mask.sum() < 2:
            raise DataError(
                f"calibration needs >= 2 labeled prompts, got {int(mask.sum())}"
            )
        knots_x, knots_y = isotonic_fit(raw[mask], np.clip(cal[mask], 0.0, 1.0))
        self.calib_x_, self.calib_y_ = _thin(knots_x, knots_y, self.n_quantiles)
        return self

    # -- scoring -----------------------------------------------------------------

    def _weights(self) -> FloatArray:
        assert self.heads_ is not None
        given = self.head_weights or {}
        w = [float(given.get(h, 1.0)) for h in self.heads_] + [self.length_weight]
        total = sum(w)
        if total <= 0:
            raise ConfigError("head_weights and length_weight are all zero")
        return np.asarray(w) / total

    def _columns(self, features: FloatArray) -> FloatArray:
        """Each head's value on the averaging scale, then length: (n, n_heads + 1).

        A head's value is its percentile among the training prompts, or for a
        head named in `raw_heads` its prediction clipped to [0, 1]."""
        assert self.coef_ is not None and self.intercept_ is not None
        assert self.quantiles_ is not None and self.heads_ is not None
        raw = features @ self.coef_.T + self.intercept_  # (n, n_heads)
        columns = np.hstack([raw, features[:, -1:]])
        probs = np.linspace(0.0, 1.0, self.quantiles_.shape[1])
        as_raw = set(self.raw_heads or ())
        out = []
        for k in range(columns.shape[1]):
            if k < len(self.heads_) and self.heads_[k] in as_raw:
                out.append(np.clip(columns[:, k], 0.0, 1.0))
            else:
                out.append(_percentile(columns[:, k], self.quantiles_[k], probs))
        return np.column_stack(out)

    def _average(self, features: FloatArray) -> FloatArray:
        """Weighted mean of the heads' values (see `_columns`), shape (n,)."""
        return self._columns(features) @ self._weights()

    def head_scores(
        self, prompts: Sequence[str], *, embeddings: FloatArray | None = None
    ) -> dict[str, FloatArray]:
        """Each head's value in the average (plus "length"): its percentile among
        the training prompts, or its clipped prediction for a head in `raw_heads`.

        Args:
            prompts: Prompts to score.
            embeddings: Precomputed embeddings (n, dim), optional.

        Returns:
            Head name -> array (n,) in [0, 1].
        """
        self._check_fitted("heads_", "coef_", "calib_x_")
        assert self.heads_ is not None and self.coef_ is not None
        assert self.quantiles_ is not None and self.intercept_ is not None
        columns = self._columns(self._features(prompts, embeddings))
        names = [*self.heads_, "length"]
        return {name: columns[:, k] for k, name in enumerate(names)}

    def score(
        self, prompts: Sequence[str], *, embeddings: FloatArray | None = None
    ) -> FloatArray:
        """Calibrated P(strong model needed) per prompt.

        Args:
            prompts: Prompts to score.
            embeddings: Precomputed embeddings of `prompts` (n, dim), optional.

        Returns:
            Array (n,) in [0, 1].
        """
        self._check_fitted("heads_", "coef_", "calib_x_")
        assert self.calib_x_ is not None and self.calib_y_ is not None
        if len(prompts) == 0:
            return np.zeros(0)
        raw = self._average(self._features(prompts, embeddings))
        calibrated = np.interp(raw, self.calib_x_, self.calib_y_)
        out = (1.0 - _TIE_BREAK) * calibrated + _TIE_BREAK * raw
        return np.clip(out, 0.0, 1.0)

    # -- persistence -------------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        self._check_fitted("heads_", "coef_", "calib_x_")
        assert self.heads_ is not None
        save_arrays(
            directory,
            coef=np.asarray(self.coef_, dtype=np.float64),
            intercept=np.asarray(self.intercept_, dtype=np.float64),
            length_stats=np.asarray(self.length_stats_, dtype=np.float64),
            quantiles=np.asarray(self.quantiles_, dtype=np.float64),
            calib_x=np.asarray(self.calib_x_, dtype=np.float64),
            calib_y=np.asarray(self.calib_y_, dtype=np.float64),
        )
        (directory / _HEADS_FILE).write_text(
            json.dumps({"heads": self.heads_}, indent=2) + "\n", encoding="utf-8"
        )

    def _load_state(self, directory: Path) -> None:
        arrays = load_arrays(directory)
        try:
            heads = json.loads((directory / _HEADS_FILE).read_text(encoding="utf-8"))[
                "heads"
            ]
            self.coef_ = arrays["coef"]
            self.intercept_ = arrays["intercept"]
            self.length_stats_ = arrays["length_stats"]
            self.quantiles_ = arrays["quantiles"]
            self.calib_x_ = arrays["calib_x"]
            self.calib_y_ = arrays["calib_y"]
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            raise ArtifactError(
                f"incomplete difficulty router in {str(directory)!r}: {exc}"
            ) from exc
        if not isinstance(heads, list) or len(heads) != self.coef_.shape[0]:
            raise ArtifactError(
                f"{str(directory)!r}: expected {self.coef_.shape[0]} head names, "
                f"got {heads!r}"
            )
        self.heads_ = [str(h) for h in heads]


def _percentile(values: FloatArray, grid: FloatArray, probs: FloatArray) -> FloatArray:
    """Percentile of `values` within a non-decreasing quantile grid, in [0, 1]."""
    return np.interp(values, grid, probs, left=0.0, right=1.0)


def _thin(x: FloatArray, y: FloatArray, n_max: int) -> tuple[FloatArray, FloatArray]:
    """Keep at most `n_max` knots of a monotone piecewise-linear map."""
    if x.size <= n_max:
        return x, y
    idx = np.unique(np.linspace(0, x.size - 1, n_max).round().astype(int))
    return x[idx], y[idx]
