"""Bradley-Terry ratings, bootstrap intervals, tiers and strong/weak labels."""

from __future__ import annotations

import numpy as np

from prefroute.train.ratings import assign_tiers, fit_ratings, strong_weak_labels
from prefroute.types import Battle


def _synthetic(strengths: dict[str, float], n: int, seed: int = 0) -> list[Battle]:
    rng = np.random.default_rng(seed)
    names = list(strengths)
    out = []
    for i in range(n):
        a, b = rng.choice(len(names), size=2, replace=False)
        p = 1 / (1 + np.exp(-(strengths[names[a]] - strengths[names[b]])))
        r = rng.random()
        winner = "tie" if abs(r - p) < 0.05 else ("a" if r < p else "b")
        out.append(Battle(f"prompt {i}", names[a], names[b], winner))
    return out


def test_ratings_recover_known_order() -> None:
    truth = {"m4": 2.0, "m3": 1.0, "m2": 0.0, "m1": -1.0, "m0": -2.0}
    ratings = fit_ratings(_synthetic(truth, 3000), n_tiers=5)
    assert ratings.models == ["m4", "m3", "m2", "m1", "m0"]
    # Elo scale: one logit = 400 / ln 10 ~ 174 points.
    gaps = -np.diff(ratings.elo)
    np.testing.assert_allclose(gaps, 174, rtol=0.25)


def test_bootstrap_interval_contains_estimate() -> None:
    truth = {"a": 1.0, "b": 0.0, "c": -1.0}
    ratings = fit_ratings(_synthetic(truth, 600), n_bootstrap=30, seed=1)
    assert np.all(ratings.ci_low <= ratings.elo + 1e-9)
    assert np.all(ratings.ci_high >= ratings.elo - 1e-9)
    assert np.all(ratings.ci_high - ratings.ci_low > 0)


def test_soft_labels_count_as_credit() -> None:
    battles = [Battle("p", "x", "y", "a", p_a=0.75) for _ in range(100)]
    ratings = fit_ratings(battles)
    elo = ratings.elo_of()
    expected = 400 / np.log(10) * np.log(3)  # odds 3:1
    assert abs((elo["x"] - elo["y"]) - expected) < 5


def test_tiers_group_close_ratings() -> None:
    tiers = assign_tiers(np.array([1500, 1490, 1200, 1195, 900.0]), 3)
    assert tiers.tolist() == [0, 0, 1, 1, 2]


def test_tiers_capped_by_models() -> None:
    assert assign_tiers(np.array([1.0, 2.0]), 10).tolist() == [1, 0]


def test_strong_weak_labels_orient_stronger_tier_first() -> None:
    battles = [
        Battle("p1", "weak", "strong", "b"),  # strong wins
        Battle("p1", "strong", "weak", "tie"),
        Battle("p2", "strong", "weak", "b"),  # weak wins
        Battle("p3", "mid", "mid2", "a"),  # same tier: ignored
    ]
    tiers = {"strong": 0, "weak": 1, "mid": 1, "mid2": 1}
    labels = strong_weak_labels(battles, tiers)
    assert labels.prompts == ["p1", "p2"]
    np.testing.assert_allclose(labels.strong_win, [1.0, 0.0])
    np.testing.assert_allclose(labels.tie, [1.0, 0.0])
    np.testing.assert_allclose(labels.weak_win, [0.0, 1.0])
    np.testing.assert_allclose(labels.credit, [0.75, 0.0])


def test_pair_mode_keeps_only_pair_tiers() -> None:
    battles = [
        Battle("p1", "top", "bottom", "a"),
        Battle("p2", "mid", "bottom", "a"),  # mid is below the strong model's tier
    ]
    tiers = {"top": 0, "mid": 1, "bottom": 2}
    labels = strong_weak_labels(battles, tiers, pair=("top", "bottom"))
    assert labels.prompts == ["p1"]


def test_source_normalisation_ranks_within_each_source() -> None:
    battles = [
        Battle("a1", "strong", "weak", "a", source="A"),
        Battle("a2", "strong", "weak", "b", source="A"),
        Battle("b1", "strong", "weak", "tie", source="B"),
        Battle("b2", "strong", "weak", "b", source="B"),
    ]
    labels = strong_weak_labels(
        battles, {"strong": 0, "weak": 1}
    ).normalised_by_source()
    assert labels.sources == ["A", "A", "B", "B"]
    # Within each source, the prompt with the higher strong credit ranks 0.75.
    np.testing.assert_allclose(labels.credit, [0.75, 0.25, 0.75, 0.25])
    np.testing.assert_allclose(labels.tie, 0.0)
