"""Exploration draws: shares, propensities, seeding."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from prefroute.errors import ConfigError
from prefroute.gateway.explore import Explorer


def test_zero_share_always_keeps_the_policy_pick() -> None:
    explorer = Explorer(0.0, seed=0)
    choices = {explorer.choose("weak", ["strong", "weak"]) for _ in range(200)}
    assert [(c.model, c.is_exploration, c.propensity) for c in choices] == [
        ("weak", False, 1.0)
    ]


def test_pair_explores_the_other_model_at_the_share() -> None:
    explorer = Explorer(0.2, seed=1)
    choices = [explorer.choose("weak", ["strong", "weak"]) for _ in range(20_000)]
    explored = [c for c in choices if c.is_exploration]
    assert {c.model for c in explored} == {"strong"}
    assert {c.propensity for c in explored} == {0.2}
    assert {c.propensity for c in choices if not c.is_exploration} == {0.8}
    assert abs(len(explored) / len(choices) - 0.2) < 0.015


def test_n_model_spreads_exploration_uniformly_over_the_others() -> None:
    explorer = Explorer(0.3, seed=2)
    candidates = ["a", "b", "c", "d"]
    choices = [explorer.choose("b", candidates) for _ in range(30_000)]
    counts = Counter(c.model for c in choices if c.is_exploration)
    assert set(counts) == {"a", "c", "d"}
    for model in ("a", "c", "d"):
        assert abs(counts[model] / len(choices) - 0.1) < 0.01
    assert {c.propensity for c in choices if c.is_exploration} == {0.3 / 3}
    assert {c.propensity for c in choices if not c.is_exploration} == {0.7}


def test_propensities_of_all_choices_sum_to_one() -> None:
    share, m = 0.25, 5
    assert math.isclose((1 - share) + (m - 1) * (share / (m - 1)), 1.0)
    explorer = Explorer(share, seed=3)
    seen = {
        c.model: c.propensity
        for c in (
            explorer.choose("m0", [f"m{i}" for i in range(m)]) for _ in range(5000)
        )
    }
    assert len(seen) == m
    assert math.isclose(sum(seen.values()), 1.0)


def test_same_seed_same_draws() -> None:
    a, b = Explorer(0.5, seed=7), Explorer(0.5, seed=7)
    draws_a = [a.choose("x", ["x", "y", "z"]) for _ in range(100)]
    draws_b = [b.choose("x", ["x", "y", "z"]) for _ in range(100)]
    assert draws_a == draws_b


def test_single_candidate_cannot_explore() -> None:
    choice = Explorer(0.9, seed=0).choose("only", ["only"])
    assert (choice.model, choice.is_exploration, choice.propensity) == (
        "only",
        False,
        1.0,
    )


@pytest.mark.parametrize("share", [-0.1, 1.0, math.nan])
def test_share_outside_unit_interval_is_rejected(share: float) -> None:
    with pytest.raises(ConfigError, match="explore share"):
        Explorer(share)
