"""The adapted pair router's gain correction: what it fits, how it weighs logged
labels, when it keeps the starting ranking, persistence, and what it learns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from _adapt_synth import (
    STRONG,
    WEAK,
    LatentEmbedder,
    LatentRouter,
    make_prompts,
    traffic,
    true_apgr,
)
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers._pair_heads import (
    GAIN_CLIP,
    GAIN_GUARD_Z,
    PairLabels,
    face_value_levels,
    fit_gain,
    gain_guard,
    gain_outcome,
    pair_quality,
)
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.base import Router
from prefroute.routers.random import RandomRouter
from prefroute.routers.registry import load_router

EVAL = make_prompts(1500, seed=999, tag="eval")


def _labels(
    n: int, *, both: bool, propensity: float, seed: int = 0
) -> tuple[PairLabels, np.ndarray]:
    """n prompts with 3 features; both models' labels per request, or one (the
    arms alternating), each with the given propensity (NaN: not a routing choice)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 3))
    z0 = rng.normal(0, 1, n)
    ys = (rng.random(n) < 0.5 + 0.3 * np.tanh(features[:, 0])).astype(float)
    yw = (rng.random(n) < 0.4).astype(float)
    if both:
        rows = np.concatenate([np.arange(n), np.arange(n)])
        arms = np.concatenate([np.ones(n), -np.ones(n)])
        targets = np.concatenate([ys, yw])
    else:
        rows = np.arange(n)
        arms = np.where(rows % 2 == 0, 1.0, -1.0)
        targets = np.where(arms > 0, ys, yw)
    labels = PairLabels(
        projected=np.zeros((n, 0)),
        z=(z0 - z0.mean()) / z0.std(),
        z0=z0,
        rows=rows,
        arms=arms,
        targets=targets,
        weights=np.ones(len(rows)),
        propensities=np.full(len(rows), propensity),
        requests=rows.copy(),
    )
    return labels, features


def test_both_models_labels_on_a_request_fit_their_difference() -> None:
    labels, features = _labels(200, both=True, propensity=np.nan)
    levels, w, b, n = fit_gain(labels, features, penalty=1e-9)
    assert n == 200
    # the base is the outcome model (the levels and a slope on the starting logit),
    # the slopes least squares of the observed difference y_s - y_w less its gain
    np.testing.assert_allclose(levels, gain_outcome(labels))
    assert not levels[:, 2:].any() and levels[1, 1] != 0.0
    q = pair_quality(levels, labels.z, labels.projected, labels.z0)
    d = labels.targets[:200] - labels.targets[200:] - (q[:, 0] - q[:, 1])
    f = features
    expected = np.linalg.lstsq(np.hstack([f, np.ones((200, 1))]), d, rcond=None)[0]
    np.testing.assert_allclose(w, expected[:3], atol=1e-6)
    # with its intercept the correction averages 0 over the fitted requests (the
    # outcome model keeps the mean gain)
    np.testing.assert_allclose(b + f.mean(axis=0) @ w, 0.0, atol=1e-12)
    # the strong model's edge grows with the first feature only
    assert w[0] > 0.1 and abs(w[1]) < w[0] and abs(w[2]) < w[0]


def test_a_rare_exploration_weighs_at_most_twice() -> None:
    rare, features = _labels(300, both=False, propensity=0.05)
    floor, _ = _labels(300, both=False, propensity=0.5)
    w_rare = fit_gain(rare, features)[1]
    w_floor = fit_gain(floor, features)[1]
    np.testing.assert_allclose(w_rare, w_floor)
    w_half = fit_gain(rare, features, min_propensity=0.025)[1]
    assert not np.allclose(w_half, w_rare)


def test_a_larger_penalty_keeps_the_correction_smaller() -> None:
    labels, features = _labels(300, both=False, propensity=1.0)
    sizes = [
        float(np.abs(fit_gain(labels, features, penalty=p)[1]).sum())
        for p in (1.0, 30.0, 1000.0)
    ]
    assert sizes[0] > sizes[1] > sizes[2] > 0


def test_too_few_requests_or_labels_of_one_model_keep_the_starting_ranking() -> None:
    labels, features = _labels(19, both=True, propensity=np.nan)
    levels, w, _, _ = fit_gain(labels, features)
    assert not w.any()
    np.testing.assert_allclose(levels, face_value_levels(labels))
    assert not levels[:, 1:].any()  # the levels alone: the starting ranking
    labels, features = _labels(200, both=False, propensity=1.0)
    only_strong = labels.take(labels.arms > 0)
    assert not fit_gain(only_strong, features)[1].any()
    assert fit_gain(labels, features)[1].any()


def _fit(
    base: object,
    n: int,
    seed: int,
    explore: float,
    references: Sequence[Router] = (),
    **options: object,
) -> AdaptedRouter:
    prompts = make_prompts(n, seed)
    models, propensity, reward = traffic(base, prompts, explore=explore, seed=seed)  # type: ignore[arg-type]
    return AdaptedRouter(
        base=base,  # type: ignore[arg-type]
        embedder=LatentEmbedder(),
        strong_model=STRONG,
        weak_model=WEAK,
        **options,  # type: ignore[arg-type]
    ).fit_feedback(
        prompts, models, reward, propensities=propensity, references=references
    )


def test_the_gain_correction_is_the_default_and_ranks_better_with_200_labels() -> None:
    assert AdaptedRouter().correction == "gain"
    base = LatentRouter(sharpness=0.0)
    before = true_apgr(base.score(EVAL), EVAL)
    gains = [
        true_apgr(_fit(base, 200, seed, explore=0.0).score(EVAL), EVAL) - before
        for seed in range(4)
    ]
    assert min(gains) > 0.05, gains


def test_a_few_dozen_labels_move_a_good_router_little() -> None:
    base = LatentRouter(sharpness=3.0)
    before = true_apgr(base.score(EVAL), EVAL)
    drops = [
        before - true_apgr(_fit(base, 40, seed, explore=0.1).score(EVAL), EVAL)
        for seed in range(6)
    ]
    assert max(drops) < 0.02, drops


def test_a_prompt_far_outside_the_log_moves_the_score_a_bounded_amount() -> None:
    router = _fit(LatentRouter(sharpness=0.0), 300, seed=3, explore=0.5)
    assert router.gain_ is not None
    prompt = make_prompts(1, seed=4)[0]
    _, shift = router._quality([prompt + " and more" * 2000])
    bound = GAIN_CLIP * np.abs(router.gain_).sum() + abs(router.gain_offset_)
    assert abs(shift[0]) <= bound + 1e-12
    assert 0.0 <= router.score([prompt + " and more" * 2000])[0] <= 1.0


def test_save_and_load_keep_the_correction_and_a_heads_folder_loads_as_heads(
    tmp_path: Path,
) -> None:
    prompts = [f"prompt {i} about {'math' if i % 2 else 'poems'}" for i in range(120)]
    models = [STRONG if i % 3 else WEAK for i in range(120)]
    rewards = np.array([float((i // 2) % 2) for i in range(120)])
    for correction in ("gain", "heads"):
        router = AdaptedRouter(
            base=RandomRouter(seed=4),
            embedder=HashingEmbedder(dim=32),
            strong_model=STRONG,
            weak_model=WEAK,
            correction=correction,
        ).fit_feedback(prompts, models, rewards)
        assert (router.gain_ is not None) is (correction == "gain")
        router.save(tmp_path / correction)
        loaded = load_router(tmp_path / correction)
        assert isinstance(loaded, AdaptedRouter)
        assert loaded.correction == correction
        np.testing.assert_allclose(loaded.score(EVAL[:50]), router.score(EVAL[:50]))
    # a folder written before the gain correction existed: no gain arrays
    arrays = dict(np.load(tmp_path / "heads" / "arrays.npz"))
    for key in ("gain", "gain_stats", "gain_requests", "gain_offset"):
        arrays.pop(key)
    np.savez(tmp_path / "heads" / "arrays.npz", **arrays)
    old = load_router(tmp_path / "heads")
    assert isinstance(old, AdaptedRouter) and old.correction == "heads"
    assert old.gain_ is None and old.penalty_ is not None


@pytest.mark.parametrize(
    "options",
    [
        {"correction": "linear"},
        {"penalties": (1.0, 1.0)},
        {"gain_penalty": 0.0},
        {"gain_components": -1},
    ],
)
def test_bad_gain_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        AdaptedRouter(
            base=RandomRouter(), strong_model=STRONG, weak_model=WEAK, **options
        )  # type: ignore[arg-type]


def test_the_guard_uses_a_correction_only_when_it_wins_on_held_out_folds() -> None:
    base = LatentRouter(sharpness=0.0)
    router = _fit(base, 300, seed=5, explore=0.3)
    assert router.guard_z == GAIN_GUARD_Z == 1.0
    gain, se = router.gain_guard_
    assert gain - se > 0 and router.gain_ is not None and router.gain_.any()
    # the same log, a guard that asks for 100 standard errors: the starting ranking
    strict = _fit(base, 300, seed=5, explore=0.3, guard_z=100.0)
    assert strict.gain_guard_ == router.gain_guard_
    assert strict.gain_ is not None and not strict.gain_.any()
    # its scores are a non-decreasing function of the starting router's
    by_start = np.argsort(base.score(EVAL))
    assert np.all(np.diff(strict.score(EVAL)[by_start]) >= -1e-12)


def test_the_guard_needs_twenty_logged_requests() -> None:
    labels, features = _labels(19, both=False, propensity=1.0)
    assert all(np.isnan(v) for v in gain_guard(labels, features)[0])
    labels, features = _labels(200, both=False, propensity=1.0)
    [(gain, se)] = gain_guard(labels, features)
    assert np.isfinite(gain) and se > 0
    # judge labels (no propensity) are not routing choices: nothing to compare
    judged = PairLabels(**{**labels.__dict__, "propensities": np.full(200, np.nan)})
    assert all(np.isnan(v) for v in gain_guard(judged, features)[0])


def test_the_guard_judges_reference_rankings_on_the_same_folds() -> None:
    base = LatentRouter(sharpness=0.0)
    alone = _fit(base, 300, seed=5, explore=0.3)
    good, bad = LatentRouter(sharpness=3.0), LatentRouter(sharpness=3.0, flip=True)
    router = _fit(base, 300, seed=5, explore=0.3, references=[base, good, bad])
    # the references do not change the correction's own evidence
    assert router.gain_guard_ == alone.gain_guard_
    same, better, worse = router.reference_guard_
    assert same == (0.0, 0.0)  # the starting ranking against itself
    assert better[0] - 2 * better[1] > 0  # the true ranking, clearly better
    assert worse[0] + 2 * worse[1] < 0  # the reversed one, clearly worse
    # without the guard there is no evidence, for the references either
    free = _fit(base, 300, seed=5, explore=0.3, guard=False, references=[good])
    assert len(free.reference_guard_) == 1
    assert all(np.isnan(v) for v in free.reference_guard_[0])


def test_without_the_guard_the_correction_is_used_as_fitted() -> None:
    base = LatentRouter(sharpness=0.0)
    strict = _fit(base, 300, seed=5, explore=0.3, guard_z=100.0)
    free = _fit(base, 300, seed=5, explore=0.3, guard_z=100.0, guard=False)
    assert strict.gain_ is not None and not strict.gain_.any()
    assert free.gain_ is not None and free.gain_.any()
    assert all(np.isnan(v) for v in free.gain_guard_)


def _steep_start(true_slope: float, n: int = 4000, seed: int = 3) -> PairLabels:
    """Both models' labels where the starting logit z0 is steep (sd 3) and each
    model's logit moves by `true_slope` times z0 / 2 (1: the start at face value)."""
    rng = np.random.default_rng(seed)
    z0 = rng.normal(0, 3, n)
    ps = 1 / (1 + np.exp(-(0.2 + true_slope * z0 / 2)))
    pw = 1 / (1 + np.exp(-(-0.2 - true_slope * z0 / 2)))
    rows = np.concatenate([np.arange(n), np.arange(n)])
    return PairLabels(
        projected=rng.normal(size=(n, 2)),
        z=(z0 - z0.mean()) / z0.std(),
        z0=z0,
        rows=rows,
        arms=np.concatenate([np.ones(n), -np.ones(n)]),
        targets=np.concatenate([rng.random(n) < ps, rng.random(n) < pw]).astype(float),
        weights=np.ones(2 * n),
        propensities=np.full(2 * n, np.nan),
        requests=rows.copy(),
    )


@pytest.mark.parametrize("true_slope", [0.2, 1.0])
def test_the_outcome_model_measures_how_steep_the_gain_is(true_slope: float) -> None:
    labels = _steep_start(true_slope)
    coef = gain_outcome(labels)
    # only the intercepts and the strong-vs-weak slope on the starting logit
    assert not coef[:, 2:].any() and coef[0, 1] == 0.0
    # the strong model's logit moves with z0 as much as the log shows, not by the
    # face value of 1/2
    q = pair_quality(coef, labels.z, labels.projected, labels.z0)
    fitted = np.polyfit(labels.z0, np.log(q[:, 0] / (1 - q[:, 0])), 1)[0]
    assert fitted == pytest.approx(true_slope / 2, abs=0.06)
    # the levels alone keep the face value whatever the log shows
    levels = pair_quality(
        face_value_levels(labels), labels.z, labels.projected, labels.z0
    )
    face = np.polyfit(labels.z0, np.log(levels[:, 0] / (1 - levels[:, 0])), 1)[0]
    assert face == pytest.approx(0.5, abs=1e-4)
