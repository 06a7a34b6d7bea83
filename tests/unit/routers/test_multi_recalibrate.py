"""MultiModelRouter: recalibrating budgets on given prompts, and pricing with explicit
input tokens and an output-token cap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from _evicting_lru import EvictedMeanwhile
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers import load_router
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.policy import ModelPrice
from prefroute.types import GoldenRecord

MATH = [
    f"Compute the integral number {i} of a polynomial with calculus" for i in range(30)
]
CHAT = [f"Say hello to friend number {i} and wish them a nice day" for i in range(30)]
# Input tokens dominate: big's are 60x chatter's.
PRICES = {
    "chatter": ModelPrice(input_per_mtok=0.5, expected_output_tokens=0),
    "coder": ModelPrice(input_per_mtok=3.0, expected_output_tokens=0),
    "big": ModelPrice(input_per_mtok=30.0, expected_output_tokens=0),
}
NAMES = list(PRICES)


def _golden() -> list[GoldenRecord]:
    rng = np.random.default_rng(0)
    records = []
    for p in MATH:
        records.append(
            GoldenRecord(
                p,
                {"coder": float(rng.random() < 0.7), "chatter": 0.0, "big": 1.0},
                task="math",
            )
        )
    for p in CHAT:
        records.append(
            GoldenRecord(
                p,
                {"coder": 0.0, "chatter": float(rng.random() < 0.8), "big": 1.0},
                task="chat",
            )
        )
    return records


@pytest.fixture()
def router() -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=200, learning_rate=0.05
    ).fit_multi(_golden())


def _long_prompts(n: int, seed: int) -> list[str]:
    """Training questions after a pasted context of 2k-40k characters (the router
    embeds only the tail, so quality is predicted as for the short questions)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        context = "lorem ipsum dolor " * int(rng.integers(110, 2200))
        out.append(f"{context}\n{(MATH + CHAT)[i % 60]}")
    return out


def _mean_cost(router: MultiModelRouter, prompts: list[str], budget: float) -> float:
    picks = router.choose(prompts, PRICES, target_cost=budget)
    costs = router.predict_costs(prompts, NAMES, PRICES)
    return float(np.mean([costs[i, NAMES.index(m)] for i, m in enumerate(picks)]))


def test_recalibrated_budget_is_met_on_prompts_of_other_lengths(
    router: MultiModelRouter,
) -> None:
    calibration, traffic = _long_prompts(300, seed=1), _long_prompts(300, seed=2)
    budget = 0.05
    # calibrated on the short training prompts, the long traffic overspends
    assert _mean_cost(router, traffic, budget) > 1.5 * budget
    router.recalibrate(calibration)
    assert router.n_calibration_prompts == 300
    assert _mean_cost(router, traffic, budget) == pytest.approx(budget, rel=0.15)


def test_recalibrate_replaces_the_calibration_tables_and_knob_cache(
    router: MultiModelRouter,
) -> None:
    before = router.calibrate(PRICES, target_cost=0.05)
    prompts = _long_prompts(50, seed=3)
    router.recalibrate(prompts)
    assert router.calib_quality_ is not None and router.calib_tokens_ is not None
    np.testing.assert_array_equal(router.calib_quality_, router.score_models(prompts))
    np.testing.assert_array_equal(router.calib_tokens_, [len(p) / 4 for p in prompts])
    assert router.calibrate(PRICES, target_cost=0.05) > before


def test_recalibration_survives_save_and_load(
    router: MultiModelRouter, tmp_path: Path
) -> None:
    router.recalibrate(_long_prompts(40, seed=4))
    router.save(tmp_path / "m")
    loaded = load_router(tmp_path / "m")
    assert isinstance(loaded, MultiModelRouter)
    assert loaded.n_calibration_prompts == 40
    for budget in (0.01, 0.05, 0.2):
        assert loaded.calibrate(PRICES, target_cost=budget) == router.calibrate(
            PRICES, target_cost=budget
        )


def test_recalibrate_takes_explicit_input_tokens(router: MultiModelRouter) -> None:
    router.recalibrate(MATH[:3], input_tokens=[1e5, 2e5, 3e5])
    assert router.calib_tokens_ is not None
    np.testing.assert_array_equal(router.calib_tokens_, [1e5, 2e5, 3e5])
    with pytest.raises(ConfigError, match="input_tokens"):
        router.recalibrate(MATH[:3], input_tokens=[1.0])


def test_recalibrate_on_no_prompts_raises(router: MultiModelRouter) -> None:
    with pytest.raises(ConfigError, match="0 prompts"):
        router.recalibrate([])


def test_knob_cache_keeps_at_most_256_targets(router: MultiModelRouter) -> None:
    for i in range(300):
        router.calibrate(PRICES, target_cost=1e-5 * (i + 1))
    assert len(router._knob_cache) == 256


def test_input_tokens_replace_the_estimate_from_the_prompt(
    router: MultiModelRouter,
) -> None:
    costs = router.predict_costs(
        ["hi", "hello"], NAMES, PRICES, input_tokens=[1e6, 2e6]
    )
    np.testing.assert_allclose(costs, [[0.5, 3.0, 30.0], [1.0, 6.0, 60.0]])


def test_max_output_tokens_caps_expected_output_tokens(
    router: MultiModelRouter,
) -> None:
    prices = {
        "chatter": ModelPrice(output_per_mtok=1e6, expected_output_tokens=100),
        "big": ModelPrice(output_per_mtok=1e6, expected_output_tokens=0),
    }
    plain = router.predict_costs(["x"], ["chatter", "big"], prices)
    np.testing.assert_allclose(plain, [[100.0, 0.0]])
    capped = router.predict_costs(
        ["x", "y", "z"],
        ["chatter", "big"],
        prices,
        max_output_tokens=[10.0, 500.0, math.inf],
    )
    # min(cap, expected); a price without expected output is charged the cap
    np.testing.assert_allclose(capped, [[10.0, 10.0], [100.0, 500.0], [100.0, 0.0]])


def test_bad_token_counts_raise(router: MultiModelRouter) -> None:
    with pytest.raises(ConfigError, match="input_tokens"):
        router.predict_costs(["x", "y"], NAMES, PRICES, input_tokens=[1.0])
    with pytest.raises(ConfigError, match="max_output_tokens"):
        router.predict_costs(["x"], NAMES, PRICES, max_output_tokens=-1.0)


def test_knob_cache_read_survives_eviction_by_another_thread(
    router: MultiModelRouter,
) -> None:
    # Threads sharing a router: the entry read may be evicted right after.
    knob = router.calibrate(PRICES, target_cost=0.004)
    router._knob_cache._data = EvictedMeanwhile(router._knob_cache._data)
    assert router.calibrate(PRICES, target_cost=0.004) == knob
    assert len(router._knob_cache) == 1
