"""Off-policy evaluation (OPE): what a routing policy would have scored on logged
traffic, from the quality of the model that answered each request and the logged
propensity of that choice (pure functions).

A log holds, per request i, the model that answered (action ``a_i``), a quality score
``y_i`` in [0, 1] (feedback), the probability ``p_i`` with which the logging policy
sent the request to ``a_i``, and optionally the request's cost. A target policy is
any rule that picks one model per request (a router at a threshold, an N-model
router at a knob), given here as its choices, shape (n,).

Both estimators are written as *pseudo-outcomes* ``G`` of shape (n, m): the value of
a policy is the mean of ``G[i, choice_i]``, so one matrix serves every threshold,
every knob, bootstrap resamples and the routing metrics of `metrics` (APGR from
``G[:, strong] - G[:, weak]`` as the per-prompt gain).

- Inverse propensity (IPW, Horvitz-Thompson): ``G[i, j] = 1[a_i = j] y_i / p_i``.
  Unbiased whenever every action a target policy may take had a positive logging
  probability; its variance grows as ``1 / p``.
- Doubly robust (DR; Dudik, Langford and Li 2011): ``G[i, j] = m(i, j) +
  1[a_i = j] (y_i - m(i, j)) / p_i`` with an outcome model ``m`` (predicted quality
  of model j on request i, fitted on other requests: cross-fitting). Unbiased when
  either the propensities or the outcome model are right, and far less variable.

A log without exploration (every propensity 1) supports neither estimator for a
policy that departs from the logging one: where the target picks another model than
the logged one, nothing was observed, and DR falls back on its outcome model (the
direct method). `support_report` measures this (share of matching choices, effective
sample size of the importance weights) and words the warnings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from prefroute.errors import ConfigError, DataError
from prefroute.evals.bootstrap import iter_resample_counts, percentile_interval
from prefroute.types import FloatArray

__all__ = [
    "MIN_ESS",
    "MIN_LABELS",
    "BanditLog",
    "Method",
    "SupportReport",
    "bootstrap_policy_values",
    "effective_sample_size",
    "importance_weights",
    "policy_values",
    "pseudo_outcomes",
    "support_report",
    "threshold_choices",
    "value_interval",
]

IntArray = npt.NDArray[np.int64]
Method = Literal["ipw", "dr", "dm"]
METHODS: tuple[Method, ...] = ("ipw", "dr", "dm")

#: Fewer labelled requests than this: estimates are flagged as unreliable.
MIN_LABELS = 50
#: Effective sample size of a policy's importance weights below this: flagged.
MIN_ESS = 30.0


@dataclass(frozen=True)
class BanditLog:
    """Logged requests with partial (bandit) feedback, as arrays.

    Attributes:
        models: Model names; actions index into them.
        actions: Index of the model that answered each request, shape (n,).
        rewards: Quality of that answer in [0, 1], shape (n,).
        propensities: Probability that the logging policy sent the request to that
            model, in (0, 1], shape (n,).
        costs: Realised cost of each request (USD), shape (n,), or None.
    """

    models: tuple[str, ...]
    actions: IntArray
    rewards: FloatArray
    propensities: FloatArray
    costs: FloatArray | None = field(default=None)

    def __post_init__(self) -> None:
        """Check shapes and ranges (a log that breaks them cannot be estimated on)."""
        n = self.actions.shape[0]
        if self.actions.ndim != 1 or self.rewards.shape != (n,):
            raise DataError(
                f"actions and rewards must be 1-D of one length, got shapes "
                f"{self.actions.shape} and {self.rewards.shape}"
            )
        if self.propensities.shape != (n,):
            raise DataError(
                f"expected one propensity per request ({n}), got shape "
                f"{self.propensities.shape}"
            )
        if n and (self.actions.min() < 0 or self.actions.max() >= len(self.models)):
            raise DataError(
                f"actions must index {len(self.models)} models, got values in "
                f"[{self.actions.min()}, {self.actions.max()}]"
            )
        p = self.propensities
        if not np.all(np.isfinite(p) & (p > 0) & (p <= 1)):
            bad = p[~(np.isfinite(p) & (p > 0) & (p <= 1))][0]
            raise DataError(f"propensities must be in (0, 1], got {bad!r}")
        if not np.all(np.isfinite(self.rewards)):
            raise DataError("rewards must be finite numbers, got NaN/inf")
        if self.costs is not None and self.costs.shape != (n,):
            raise DataError(
                f"expected one cost per request ({n}), got shape {self.costs.shape}"
            )

    @property
    def n(self) -> int:
        """Number of logged requests."""
        return int(self.actions.shape[0])

    @property
    def has_exploration(self) -> bool:
        """True when some request was routed with probability below 1."""
        return bool(np.any(self.propensities < 1.0 - 1e-12))


def pseudo_outcomes(
    log: BanditLog,
    outcome: FloatArray | None = None,
    *,
    method: Method = "dr",
    observed: FloatArray | None = None,
) -> FloatArray:
    """Per-request, per-model pseudo-outcomes whose mean under a policy estimates it.

    Args:
        log: The logged requests.
        outcome: Outcome model's prediction for every (request, model), shape
            (n, m); required by "dr" and "dm", ignored by "ipw".
        method: "ipw", "dr" or "dm" (outcome model only, no correction).
        observed: What was observed for the logged action, shape (n,): default the
            rewards; pass the costs to estimate a policy's cost.

    Returns:
        Shape (n, m).

    Raises:
        ConfigError: Unknown method, or no outcome model for "dr"/"dm".
        DataError: Shapes do not match.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    n, m = log.n, len(log.models)
    y = log.rewards if observed is None else np.asarray(observed, dtype=np.float64)
    if y.shape != (n,):
        raise DataError(f"observed must have shape ({n},), got {y.shape}")
    if method == "ipw":
        base = np.zeros((n, m))
    else:
        if outcome is None:
            raise ConfigError(f"method {method!r} needs an outcome model")
        base = np.array(outcome, dtype=np.float64)
        if base.shape != (n, m):
            raise DataError(f"outcome must have shape ({n}, {m}), got {base.shape}")
    if method == "dm":
        return base
    rows = np.arange(n)
    residual = (y - base[rows, log.actions]) / log.propensities
    out = base.copy()
    out[rows, log.actions] += residual
    return out


def _as_choices(choices: npt.ArrayLike, n: int) -> IntArray:
    c = np.atleast_2d(np.asarray(choices, dtype=np.int64))
    if c.shape[1] != n:
        raise DataError(
            f"choices must have {n} columns (one per request), got {c.shape}"
        )
    return c


def policy_values(pseudo: FloatArray, choices: npt.ArrayLike) -> FloatArray:
    """Estimated mean outcome of each policy.

    Args:
        pseudo: Pseudo-outcomes, shape (n, m).
        choices: Model index per request for k policies, shape (k, n) (or (n,)).

    Returns:
        Shape (k,).
    """
    c = _as_choices(choices, pseudo.shape[0])
    out: FloatArray = np.take_along_axis(pseudo, c.T, axis=1).mean(axis=0)
    return out


def bootstrap_policy_values(
    pseudo: FloatArray,
    choices: npt.ArrayLike,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> FloatArray:
    """Policy values on bootstrap resamples of the requests (paired across policies).

    Args:
        pseudo: Pseudo-outcomes, shape (n, m).
        choices: Model index per request for k policies, shape (k, n).
        n_resamples: Number of resamples.
        seed: Resampling seed (same seed, same resamples).

    Returns:
        Shape (n_resamples, k).
    """
    n = pseudo.shape[0]
    c = _as_choices(choices, n)
    picked = np.take_along_axis(pseudo, c.T, axis=1)  # (n, k)
    parts = [counts @ picked / n for counts in _resamples(n, n_resamples, seed)]
    return np.concatenate(parts) if parts else np.empty((0, c.shape[0]))


def _resamples(n: int, n_resamples: int, seed: int) -> Iterator[FloatArray]:
    if n_resamples < 0:
        raise ConfigError(f"n_resamples must be >= 0, got {n_resamples}")
    yield from iter_resample_counts(n, n_resamples, np.random.default_rng(seed))


def value_interval(
    pseudo: FloatArray,
    choices: npt.ArrayLike,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[tuple[float, float, float]]:
    """Point estimate and percentile bootstrap interval of each policy's value.

    Args:
        pseudo: Pseudo-outcomes, shape (n, m).
        choices: Model index per request for k policies, shape (k, n).
        n_resamples: Number of resamples.
        seed: Resampling seed.
        level: Interval coverage.

    Returns:
        One (estimate, low, high) per policy.
    """
    point = policy_values(pseudo, choices)
    boot = bootstrap_policy_values(pseudo, choices, n_resamples=n_resamples, seed=seed)
    out = []
    for j, value in enumerate(point):
        lo, hi = percentile_interval(boot[:, j], level)
        out.append((float(value), lo, hi))
    return out


def threshold_choices(
    scores: FloatArray, thresholds: Sequence[float], strong: int, weak: int
) -> IntArray:
    """Choices of a pair router at each threshold: strong where score >= threshold.

    Args:
        scores: Router scores, shape (n,).
        thresholds: Thresholds, k of them.
        strong: Index of the strong model.
        weak: Index of the weak model.

    Returns:
        Shape (k, n).
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)[:, None]
    return np.where(s[None, :] >= t, strong, weak).astype(np.int64)


def importance_weights(log: BanditLog, choices: npt.ArrayLike) -> FloatArray:
    """IPW weights ``1[choice_i = a_i] / p_i`` of each policy.

    Args:
        log: The logged requests.
        choices: Shape (k, n) or (n,).

    Returns:
        Shape (k, n).
    """
    c = _as_choices(choices, log.n)
    out: FloatArray = (c == log.actions[None, :]) / log.propensities[None, :]
    return out


def effective_sample_size(weights: FloatArray) -> FloatArray:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of each row of weights.

    Args:
        weights: Shape (k, n) (or (n,)).

    Returns:
        Shape (k,); 0 where every weight is 0.
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    total = w.sum(axis=1)
    squares = (w * w).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.where(squares > 0, total * total / squares, 0.0)
    out: FloatArray = ess
    return out


@dataclass(frozen=True)
class SupportReport:
    """How well a log supports estimating one policy.

    Attributes:
        n_records: Labelled requests in the log.
        has_exploration: Some request was routed with probability below 1.
        match_share: Share of requests where the policy picks the logged model.
        ess: Effective sample size of the policy's importance weights.
        n_unsupported: Requests logged with propensity 1 where the policy picks
            another model (nothing was observed for its choice).
        warnings: Plain-language reasons the estimate may not hold.
    """

    n_records: int
    has_exploration: bool
    match_share: float
    ess: float
    n_unsupported: int
    warnings: tuple[str, ...] = ()

    @property
    def is_supported(self) -> bool:
        """No warning: the estimate rests on the log, not on a model."""
        return not self.warnings


def support_report(
    log: BanditLog,
    choices: npt.ArrayLike,
    *,
    name: str = "the policy",
    min_labels: int = MIN_LABELS,
    min_ess: float = MIN_ESS,
) -> SupportReport:
    """Say whether the log can support an estimate of one policy, and why not.

    Args:
        log: The logged requests.
        choices: The policy's model index per request, shape (n,).
        name: The policy's name in the warnings.
        min_labels: Fewer labelled requests than this give a warning.
        min_ess: An effective sample size below this gives a warning.

    Returns:
        The report.
    """
    c = _as_choices(choices, log.n)[0]
    match = c == log.actions
    ess = float(effective_sample_size(importance_weights(log, c))[0])
    certain = log.propensities >= 1.0 - 1e-12
    unsupported = int(np.sum(certain & ~match))
    share = float(match.mean()) if log.n else 0.0
    warnings: list[str] = []
    if log.n < min_labels:
        warnings.append(
            f"only {log.n} labelled requests (fewer than {min_labels}): intervals are "
            "wide and may miss"
        )
    if not log.has_exploration and unsupported:
        warnings.append(
            "the log has no exploration (every propensity is 1): only the logging "
            f"policy itself is estimable; {name} picks another model than the logged "
            f"one on {unsupported} of {log.n} requests ({100 * (1 - share):.0f}%), "
            "where the estimate is the outcome model's guess (serve with --explore "
            "to log counterfactual answers)"
        )
    elif unsupported:
        warnings.append(
            f"{unsupported} requests were logged with propensity 1 and {name} picks "
            "another model there: those rely on the outcome model"
        )
    if ess < min_ess and log.n:
        warnings.append(
            f"effective sample size {ess:.0f} is below {min_ess:.0f}: {name} agrees "
            "with the logged choices too rarely (or only where they were unlikely) "
            "for a reliable estimate"
        )
    return SupportReport(
        n_records=log.n,
        has_exploration=log.has_exploration,
        match_share=share,
        ess=ess,
        n_unsupported=unsupported,
        warnings=tuple(warnings),
    )
