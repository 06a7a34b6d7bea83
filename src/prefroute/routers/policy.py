"""Cost-aware routing policies among N models: pure functions on score/price tables.

Given predicted quality `quality[i, j]` of model `j` on prompt `i` (probability of a
correct answer, or win probability against a reference) and its cost `cost[i, j]`
(USD per request), a policy picks one model per prompt:

- ``"utility"``: the model maximising ``quality - lam * cost`` (lam >= 0; lam = 0 is
  "best predicted quality", lam = inf is "cheapest").
- ``"tolerance"``: the cheapest model whose predicted quality is within ``tol`` of the
  best predicted quality on that prompt (tol = 0 is "best", tol >= 1 is "cheapest").

Ties are broken deterministically: a lower cost wins, then a higher quality, then the
lower column index. Either knob moves monotonically along the cost-quality frontier
(mean chosen cost is non-increasing in the knob), so `calibrate_knob` finds the knob
for a target mean cost or a target mean predicted quality by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from prefroute.errors import ConfigError
from prefroute.types import FloatArray

__all__ = [
    "POLICIES",
    "IntArray",
    "ModelPrice",
    "Policy",
    "calibrate_knob",
    "calibrate_lambda",
    "calibrate_tolerance",
    "choose",
    "choose_max_utility",
    "choose_within_tolerance",
    "estimate_costs",
    "estimate_input_tokens",
    "policy_outcome",
]

IntArray: TypeAlias = npt.NDArray[np.intp]
Policy: TypeAlias = Literal["utility", "tolerance"]
POLICIES: tuple[Policy, ...] = ("utility", "tolerance")

# Relative slack under which two utilities (or qualities) count as tied.
_TIE_EPS = 1e-12
# Characters per token for estimating prompt length without a tokenizer.
_CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What one request to a model costs, in USD.

    Attributes:
        per_query: Fixed USD per request (e.g. a measured mean cost per query).
        input_per_mtok: USD per 1M input (prompt) tokens.
        output_per_mtok: USD per 1M output (completion) tokens.
        expected_output_tokens: Output tokens assumed per request when pricing by
            token before the answer exists.
    """

    per_query: float = 0.0
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    expected_output_tokens: float = 256.0

    def __post_init__(self) -> None:
        """Reject negative or non-finite prices."""
        for key in (
            "per_query",
            "input_per_mtok",
            "output_per_mtok",
            "expected_output_tokens",
        ):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{key} must be a finite number >= 0, got {value!r}")

    def cost(
        self,
        n_input_tokens: FloatArray | float,
        max_output_tokens: FloatArray | float | None = None,
    ) -> FloatArray:
        """Expected USD of requests with the given prompt lengths.

        Args:
            n_input_tokens: Prompt tokens per request, shape (n,) or scalar.
            max_output_tokens: The requests' output-token caps (a request's
                ``max_tokens``), scalar or shape (n,); ``inf`` or None = no cap.
                A cap charges ``min(cap, expected_output_tokens)`` output tokens,
                or ``cap`` when no output tokens are expected.

        Returns:
            USD per request, shape like `n_input_tokens` (float64).
        """
        tokens = np.asarray(n_input_tokens, dtype=np.float64)
        expected = self.expected_output_tokens
        output: FloatArray | float = expected
        if max_output_tokens is not None:
            cap = np.asarray(max_output_tokens, dtype=np.float64)
            capped = np.minimum(cap, expected) if expected > 0 else cap
            output = np.where(np.isfinite(cap), capped, expected)
        return np.asarray(
            self.per_query
            + tokens * self.input_per_mtok / 1e6
            + output * self.output_per_mtok / 1e6,
            dtype=np.float64,
        )

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any]) -> ModelPrice:
        """Build from a config mapping with the attribute names as keys.

        Args:
            value: E.g. ``{"input_per_mtok": 10, "output_per_mtok": 30}``.

        Returns:
            The price.

        Raises:
            ConfigError: Unknown keys or bad values.
        """
        unknown = set(value) - set(cls.__slots__)
        if unknown:
            raise ConfigError(
                f"unknown price keys {sorted(unknown)}; expected some of "
                f"{sorted(cls.__slots__)}"
            )
        try:
            return cls(**{k: float(v) for k, v in value.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad price {dict(value)!r}: {exc}") from exc


def estimate_input_tokens(prompts: Sequence[str]) -> FloatArray:
    """Rough prompt length in tokens (characters / 4), no tokenizer needed.

    Args:
        prompts: Prompts.

    Returns:
        Tokens per prompt, shape (n,), float64, at least 1.
    """
    return np.array(
        [max(1.0, len(p) / _CHARS_PER_TOKEN) for p in prompts], dtype=np.float64
    )


def estimate_costs(
    prices: Sequence[ModelPrice],
    n_input_tokens: FloatArray,
    max_output_tokens: FloatArray | float | None = None,
) -> FloatArray:
    """Expected cost of each model on each prompt.

    Args:
        prices: One price per model, length m.
        n_input_tokens: Prompt tokens, shape (n,).
        max_output_tokens: Output-token caps, scalar or shape (n,) (see
            `ModelPrice.cost`); None = no cap.

    Returns:
        USD, shape (n, m).
    """
    tokens = np.asarray(n_input_tokens, dtype=np.float64).reshape(-1)
    out = np.empty((tokens.shape[0], len(prices)), dtype=np.float64)
    for j, price in enumerate(prices):
        out[:, j] = price.cost(tokens, max_output_tokens)
    return out


def _tables(quality: FloatArray, cost: FloatArray) -> tuple[FloatArray, FloatArray]:
    q = np.asarray(quality, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] == 0:
        raise ConfigError(
            f"quality must have shape (n_prompts, n_models>0), got {q.shape}"
        )
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim == 1 and c.shape[0] == q.shape[1]:
        c = np.broadcast_to(c, q.shape)
    if c.shape != q.shape:
        raise ConfigError(
            f"cost must have shape {q.shape} or ({q.shape[1]},), got {np.shape(cost)}"
        )
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(c))):
        raise ConfigError("quality and cost must be finite")
    if np.any(c < 0):
        raise ConfigError("cost must be >= 0")
    return q, c


def _pick(candidates: npt.NDArray[np.bool_], q: FloatArray, c: FloatArray) -> IntArray:
    """Among candidate cells per row: lowest cost, then highest quality, then index."""
    n, m = q.shape
    c_masked = np.where(candidates, c, np.inf)
    c_min = c_masked.min(axis=1, keepdims=True)
    cheap = candidates & (c_masked <= c_min + _TIE_EPS * np.maximum(1.0, np.abs(c_min)))
    q_masked = np.where(cheap, q, -np.inf)
    q_max = q_masked.max(axis=1, keepdims=True)
    best = cheap & (q_masked >= q_max - _TIE_EPS * np.maximum(1.0, np.abs(q_max)))
    # argmax of a boolean row returns its first True: the lowest column index.
    chosen: IntArray = np.argmax(best, axis=1).astype(np.intp)
    assert chosen.shape == (n,) and m > 0
    return chosen


def choose_max_utility(quality: FloatArray, cost: FloatArray, lam: float) -> IntArray:
    """Per prompt, the model maximising ``quality - lam * cost``.

    Args:
        quality: Predicted quality, shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        lam: Price of one USD in quality units, >= 0; ``math.inf`` picks the
            cheapest model (higher quality breaks cost ties).

    Returns:
        Chosen column per prompt, shape (n,).

    Raises:
        ConfigError: Bad shapes, negative cost, or lam < 0 / NaN.
    """
    q, c = _tables(quality, cost)
    if math.isnan(lam) or lam < 0:
        raise ConfigError(f"lam must be >= 0, got {lam!r}")
    if math.isinf(lam):
        return _pick(np.ones(q.shape, dtype=bool), q, c)
    utility = q - lam * c
    u_max = utility.max(axis=1, keepdims=True)
    tied = utility >= u_max - _TIE_EPS * np.maximum(1.0, np.abs(u_max))
    return _pick(tied, q, c)


def choose_within_tolerance(
    quality: FloatArray, cost: FloatArray, tol: float
) -> IntArray:
    """Per prompt, the cheapest model predicted within `tol` of the best quality.

    Args:
        quality: Predicted quality, shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        tol: Allowed quality shortfall, >= 0 (absolute, in quality units).

    Returns:
        Chosen column per prompt, shape (n,).

    Raises:
        ConfigError: Bad shapes, negative cost, or tol < 0 / NaN.
    """
    q, c = _tables(quality, cost)
    if math.isnan(tol) or tol < 0:
        raise ConfigError(f"tol must be >= 0, got {tol!r}")
    q_max = q.max(axis=1, keepdims=True)
    within = q >= q_max - tol - _TIE_EPS * np.maximum(1.0, np.abs(q_max))
    return _pick(within, q, c)


def choose(
    quality: FloatArray, cost: FloatArray, knob: float, policy: Policy
) -> IntArray:
    """Dispatch to `choose_max_utility` (knob = lam) or `choose_within_tolerance`.

    Args:
        quality: Predicted quality, shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        knob: lam or tol.
        policy: "utility" or "tolerance".

    Returns:
        Chosen column per prompt, shape (n,).

    Raises:
        ConfigError: Unknown policy or bad arguments.
    """
    if policy == "utility":
        return choose_max_utility(quality, cost, knob)
    if policy == "tolerance":
        return choose_within_tolerance(quality, cost, knob)
    raise ConfigError(f"policy must be one of {POLICIES}, got {policy!r}")


def policy_outcome(
    quality: FloatArray, cost: FloatArray, knob: float, policy: Policy
) -> tuple[float, float]:
    """Mean cost and mean quality of the choices at one knob value.

    Args:
        quality: Quality (predicted or true), shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        knob: lam or tol.
        policy: "utility" or "tolerance".

    Returns:
        (mean cost, mean quality) of the chosen cells.
    """
    q, c = _tables(quality, cost)
    idx = choose(q, c, knob, policy)
    rows = np.arange(q.shape[0])
    return float(c[rows, idx].mean()), float(q[rows, idx].mean())


def _knob_upper(q: FloatArray, c: FloatArray, policy: Policy) -> float:
    """A finite knob at which every prompt already gets its cheapest model."""
    spread = float(q.max() - q.min()) + 1.0
    if policy == "tolerance":
        return spread
    diffs = np.abs(c[:, :, None] - c[:, None, :]) if c.shape[1] <= 64 else None
    if diffs is not None and np.any(diffs > 0):
        min_gap = float(diffs[diffs > 0].min())
    else:
        positive = c[c > 0]
        min_gap = float(positive.min()) if positive.size else 1.0
    return 2.0 * spread / min_gap


def calibrate_knob(
    quality: FloatArray,
    cost: FloatArray,
    *,
    policy: Policy = "utility",
    target_cost: float | None = None,
    target_quality: float | None = None,
    n_iter: int = 100,
) -> float:
    """Find the knob for a target mean cost (highest quality within it) or a target
    mean predicted quality (lowest cost reaching it).

    The mean chosen cost is non-increasing in the knob, so bisection (on a log scale
    for lam) brackets the boundary.

    Args:
        quality: Predicted quality on calibration prompts, shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        policy: "utility" (knob = lam) or "tolerance" (knob = tol).
        target_cost: Mean USD per request not to exceed. Exactly one target is given.
        target_quality: Mean predicted quality to reach.
        n_iter: Bisection steps.

    Returns:
        The knob: 0 when the target is met at the best-quality end; for
        `target_cost` below the always-cheapest cost, the knob that picks the
        cheapest model everywhere (``math.inf`` for "utility"); for an unreachable
        `target_quality`, 0.

    Raises:
        ConfigError: Not exactly one target, or bad tables.
    """
    if (target_cost is None) == (target_quality is None):
        raise ConfigError("give exactly one of target_cost and target_quality")
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {POLICIES}, got {policy!r}")
    q, c = _tables(quality, cost)
    hi = _knob_upper(q, c, policy)

    def ok(knob: float) -> bool:
        mean_cost, mean_quality = policy_outcome(q, c, knob, policy)
        if target_cost is not None:
            return mean_cost <= target_cost * (1 + 1e-12)
        assert target_quality is not None
        return mean_quality >= target_quality - 1e-12

    # Bisect on log(lam) for "utility" (lam spans many decades), on tol otherwise.
    log_scale = policy == "utility"
    lo_end = hi * 1e-15 if log_scale else 0.0

    def knob_at(t: float) -> float:
        return math.exp(t) if log_scale else t

    t_lo = math.log(lo_end) if log_scale else 0.0
    t_hi = math.log(hi) if log_scale else hi
    cheapest_knob = math.inf if policy == "utility" else hi
    if target_cost is not None:
        # Smallest knob whose mean cost is within budget.
        if ok(0.0):
            return 0.0
        if not ok(hi):
            return cheapest_knob
        if ok(lo_end):
            return lo_end
        for _ in range(n_iter):
            mid = (t_lo + t_hi) / 2
            if ok(knob_at(mid)):
                t_hi = mid
            else:
                t_lo = mid
        return knob_at(t_hi)
    # Largest knob whose mean predicted quality still reaches the target.
    if not ok(0.0):
        return 0.0
    if ok(hi):
        return cheapest_knob
    if not ok(lo_end):
        return 0.0
    for _ in range(n_iter):
        mid = (t_lo + t_hi) / 2
        if ok(knob_at(mid)):
            t_lo = mid
        else:
            t_hi = mid
    return knob_at(t_lo)


def calibrate_lambda(
    quality: FloatArray,
    cost: FloatArray,
    *,
    target_cost: float | None = None,
    target_quality: float | None = None,
) -> float:
    """`calibrate_knob` for the "utility" policy: lam for a target.

    Args:
        quality: Predicted quality, shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        target_cost: Mean USD per request not to exceed.
        target_quality: Mean predicted quality to reach.

    Returns:
        lam >= 0 (possibly ``math.inf``).
    """
    return calibrate_knob(
        quality,
        cost,
        policy="utility",
        target_cost=target_cost,
        target_quality=target_quality,
    )


def calibrate_tolerance(
    quality: FloatArray,
    cost: FloatArray,
    *,
    target_cost: float | None = None,
    target_quality: float | None = None,
) -> float:
    """`calibrate_knob` for the "tolerance" policy: tol for a target.

    Args:
        quality: Predicted quality, shape (n, m).
        cost: USD per request, shape (n, m) or (m,).
        target_cost: Mean USD per request not to exceed.
        target_quality: Mean predicted quality to reach.

    Returns:
        tol >= 0.
    """
    return calibrate_knob(
        quality,
        cost,
        policy="tolerance",
        target_cost=target_cost,
        target_quality=target_quality,
    )
