"""Routing policies on hand-made quality/price tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from prefroute.errors import ConfigError
from prefroute.routers.policy import (
    ModelPrice,
    calibrate_knob,
    calibrate_lambda,
    calibrate_tolerance,
    choose,
    choose_max_utility,
    choose_within_tolerance,
    estimate_costs,
    policy_outcome,
)

# 3 prompts x 3 models: cheap (0.001), mid (0.01), dear (0.1 USD).
QUALITY = np.array(
    [
        [0.50, 0.70, 0.90],
        [0.80, 0.81, 0.82],
        [0.10, 0.90, 0.95],
    ]
)
COST = np.array([0.001, 0.01, 0.1])


def test_lambda_zero_picks_best_quality() -> None:
    assert choose_max_utility(QUALITY, COST, 0.0).tolist() == [2, 2, 2]


def test_lambda_inf_picks_cheapest() -> None:
    assert choose_max_utility(QUALITY, COST, math.inf).tolist() == [0, 0, 0]


def test_lambda_middle_trades_quality_for_cost() -> None:
    # lam = 2: utilities row 0: .498 .68 .70 -> dear; row 1: .798 .79 .62 -> cheap;
    # row 2: .098 .88 .75 -> mid.
    assert choose_max_utility(QUALITY, COST, 2.0).tolist() == [2, 0, 1]


def test_utility_tie_goes_to_cheaper_model() -> None:
    quality = np.array([[0.5, 0.6]])
    cost = np.array([0.0, 0.1])
    # lam = 1: utilities 0.5 and 0.5 tie exactly -> the cheaper (column 0).
    assert choose_max_utility(quality, cost, 1.0).tolist() == [0]


def test_equal_prices_pick_higher_quality_then_lower_index() -> None:
    quality = np.array([[0.3, 0.9, 0.9], [0.5, 0.5, 0.5]])
    cost = np.array([0.2, 0.2, 0.2])
    for lam in (0.0, 1.0, math.inf):
        assert choose_max_utility(quality, cost, lam).tolist() == [1, 0]
    for tol in (0.0, 0.1, 1.0):
        assert choose_within_tolerance(quality, cost, tol).tolist() == [1, 0]


def test_free_model_wins_at_any_positive_lambda_when_as_good() -> None:
    quality = np.array([[0.8, 0.8, 0.7]])
    cost = np.array([0.05, 0.0, 0.0])
    assert choose_max_utility(quality, cost, 0.0).tolist() == [1]
    assert choose_max_utility(quality, cost, 1e-9).tolist() == [1]
    # Among free models the better one is taken even at lam = inf.
    assert choose_max_utility(quality, cost, math.inf).tolist() == [1]


def test_free_model_makes_lambda_calibration_finite() -> None:
    quality = np.array([[0.6, 0.9], [0.6, 0.9]])
    cost = np.array([0.0, 1.0])
    lam = calibrate_lambda(quality, cost, target_cost=0.5)
    mean_cost, _ = policy_outcome(quality, cost, lam, "utility")
    assert mean_cost <= 0.5


def test_tolerance_zero_picks_best_and_large_picks_cheapest() -> None:
    assert choose_within_tolerance(QUALITY, COST, 0.0).tolist() == [2, 2, 2]
    assert choose_within_tolerance(QUALITY, COST, 1.0).tolist() == [0, 0, 0]


def test_tolerance_picks_cheapest_within_shortfall() -> None:
    # tol = 0.05: row 0 best .9 -> only dear; row 1 all within -> cheap; row 2 mid.
    assert choose_within_tolerance(QUALITY, COST, 0.05).tolist() == [2, 0, 1]


def test_per_prompt_cost_table_is_used() -> None:
    quality = np.array([[0.8, 0.8], [0.8, 0.8]])
    cost = np.array([[0.1, 0.2], [0.3, 0.2]])
    assert choose_max_utility(quality, cost, 1.0).tolist() == [0, 1]


def test_mean_cost_non_increasing_in_lambda() -> None:
    rng = np.random.default_rng(0)
    quality = rng.random((200, 5))
    cost = rng.random((200, 5)) * 0.01
    costs = [
        policy_outcome(quality, cost, lam, "utility")[0]
        for lam in np.logspace(-2, 4, 40)
    ]
    assert all(a >= b - 1e-15 for a, b in itertools.pairwise(costs))


@pytest.mark.parametrize("policy", ["utility", "tolerance"])
def test_calibrate_for_target_cost_stays_within_budget(policy: str) -> None:
    rng = np.random.default_rng(1)
    quality = rng.random((300, 4))
    cost = np.array([0.001, 0.002, 0.004, 0.01])
    target = 0.004
    knob = calibrate_knob(quality, cost, policy=policy, target_cost=target)  # type: ignore[arg-type]
    mean_cost, _ = policy_outcome(quality, cost, knob, policy)  # type: ignore[arg-type]
    assert mean_cost <= target
    # A slightly smaller knob would overspend: the budget is (nearly) used.
    assert mean_cost > 0.8 * target


def test_calibrate_for_target_quality_reaches_it() -> None:
    rng = np.random.default_rng(2)
    quality = rng.random((300, 4))
    cost = np.array([0.001, 0.002, 0.004, 0.01])
    best = quality.max(axis=1).mean()
    tol = calibrate_tolerance(quality, cost, target_quality=best - 0.05)
    _, mean_quality = policy_outcome(quality, cost, tol, "tolerance")
    assert mean_quality >= best - 0.05
    assert tol > 0


def test_calibrate_budget_above_best_cost_gives_zero() -> None:
    assert calibrate_lambda(QUALITY, COST, target_cost=1.0) == 0.0


def test_calibrate_budget_below_cheapest_gives_inf() -> None:
    assert calibrate_lambda(QUALITY, COST, target_cost=1e-6) == math.inf


def test_calibrate_needs_exactly_one_target() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        calibrate_lambda(QUALITY, COST)
    with pytest.raises(ConfigError, match="exactly one"):
        calibrate_lambda(QUALITY, COST, target_cost=0.1, target_quality=0.5)


def test_negative_lambda_and_bad_shapes_raise() -> None:
    with pytest.raises(ConfigError, match="lam must be >= 0"):
        choose_max_utility(QUALITY, COST, -1.0)
    with pytest.raises(ConfigError, match="cost must have shape"):
        choose_max_utility(QUALITY, np.array([1.0, 2.0]), 0.0)
    with pytest.raises(ConfigError, match="policy must be one of"):
        choose(QUALITY, COST, 0.0, "greedy")  # type: ignore[arg-type]


def test_model_price_per_token_and_per_query() -> None:
    price = ModelPrice(
        per_query=0.001,
        input_per_mtok=10.0,
        output_per_mtok=30.0,
        expected_output_tokens=100,
    )
    # 1000 input tokens: 0.001 + 0.01 + 0.003
    assert price.cost(1000.0) == pytest.approx(0.014)
    table = estimate_costs([price, ModelPrice()], np.array([0.0, 1000.0]))
    assert table.shape == (2, 2)
    assert table[:, 1].tolist() == [0.0, 0.0]


def test_model_price_rejects_negative_and_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="input_per_mtok"):
        ModelPrice(input_per_mtok=-1.0)
    with pytest.raises(ConfigError, match="unknown price keys"):
        ModelPrice.from_mapping({"per_call": 1.0})
    assert ModelPrice.from_mapping({"per_query": "0.5"}).per_query == 0.5
