"""The pair router's heads correction and its guard: a lower confidence bound on the
held-out gain, blends of the correction, the strict default against a lenient rule,
and `adapt_router` passing the rule through."""

from __future__ import annotations

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
    write_log,
)
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers._pair_heads import BLEND_GRID, GUARD_Z, OFF
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.random import RandomRouter
from prefroute.routers.registry import load_router
from prefroute.train.adapt import adapt_router
from prefroute.train.logdata import read_log

EVAL = make_prompts(1500, seed=999, tag="eval")
LENIENT = {"guard_z": 1.0, "blends": (0.25, 0.5, 1.0)}


def _labels(
    base: LatentRouter, n: int, seed: int, explore: float
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    prompts = make_prompts(n, seed)
    models, propensity, reward = traffic(base, prompts, explore=explore, seed=seed)
    return prompts, models, reward, propensity


def _fit(
    base: LatentRouter,
    labels: tuple[list[str], list[str], np.ndarray, np.ndarray],
    **rule: object,
) -> AdaptedRouter:
    prompts, models, reward, propensity = labels
    router = AdaptedRouter(
        base=base,
        embedder=LatentEmbedder(),
        strong_model=STRONG,
        weak_model=WEAK,
        correction="heads",
        **rule,  # type: ignore[arg-type]
    )
    return router.fit_feedback(prompts, models, reward, propensities=propensity)


def test_the_heads_default_rule_is_the_strict_all_or_nothing_guard() -> None:
    router = AdaptedRouter(
        base=LatentRouter(), strong_model=STRONG, weak_model=WEAK, correction="heads"
    )
    assert router.guard_z == GUARD_Z == 2.0
    assert tuple(router.blends) == BLEND_GRID == (1.0,)


def test_a_blended_correction_is_the_start_plus_that_share_of_the_candidate() -> None:
    base = LatentRouter(sharpness=2.0, flip=True)
    labels = _labels(base, 600, seed=1, explore=0.3)
    blended = _fit(base, labels, guard_z=0.0, blends=(0.5,))
    choice = blended.penalty_
    assert choice is not None and choice.blend == 0.5 and not choice.keeps_ranking
    start = _fit(base, labels, penalties=(OFF, OFF))
    full = _fit(base, labels, penalties=choice.penalties)
    assert blended.coef_ is not None and start.coef_ is not None
    assert full.coef_ is not None
    np.testing.assert_allclose(
        blended.coef_, start.coef_ + 0.5 * (full.coef_ - start.coef_), atol=1e-10
    )
    # half of a correction that reverses a backwards router already helps
    assert true_apgr(blended.score(EVAL), EVAL) > true_apgr(base.score(EVAL), EVAL)


def test_a_lenient_guard_accepts_whenever_the_strict_one_does_and_sooner() -> None:
    base = LatentRouter(sharpness=2.0, flip=True)
    strict_used, lenient_used = [], []
    for seed in range(6):
        labels = _labels(base, 120, seed=seed, explore=0.3)
        strict = _fit(base, labels).penalty_
        lenient = _fit(base, labels, **LENIENT).penalty_
        assert strict is not None and lenient is not None
        strict_used.append(not strict.keeps_ranking)
        lenient_used.append(not lenient.keeps_ranking)
        # the lenient rule's bound is the largest over a superset of candidates
        if not lenient.keeps_ranking:
            assert lenient.guard_gain - 1.0 * lenient.guard_se > 0
    assert all(lu for su, lu in zip(strict_used, lenient_used, strict=True) if su)
    assert sum(lenient_used) > sum(strict_used), (strict_used, lenient_used)


def test_a_lenient_guard_with_few_labels_rarely_hurts_a_good_router() -> None:
    base = LatentRouter(sharpness=3.0)
    before = true_apgr(base.score(EVAL), EVAL)
    drops = [
        before
        - true_apgr(
            _fit(base, _labels(base, 60, seed, explore=0.1), **LENIENT).score(EVAL),
            EVAL,
        )
        for seed in range(6)
    ]
    assert max(drops) < 0.02, drops


def test_the_blend_and_the_rule_survive_save_and_load(tmp_path: Path) -> None:
    prompts = [f"prompt {i} about {'math' if i % 2 else 'poems'}" for i in range(120)]
    models = [STRONG if i % 3 else WEAK for i in range(120)]
    rewards = np.array([float((i // 2) % 2) for i in range(120)])
    router = AdaptedRouter(
        base=RandomRouter(seed=4),
        embedder=HashingEmbedder(dim=32),
        strong_model=STRONG,
        weak_model=WEAK,
        correction="heads",
        **LENIENT,  # type: ignore[arg-type]
    ).fit_feedback(prompts, models, rewards)
    assert router.penalty_ is not None
    router.save(tmp_path / "a")
    loaded = load_router(tmp_path / "a")
    assert isinstance(loaded, AdaptedRouter)
    assert loaded.penalty_ == router.penalty_
    assert loaded.guard_z == 1.0 and list(loaded.blends) == [0.25, 0.5, 1.0]
    np.testing.assert_allclose(loaded.score(prompts), router.score(prompts))


@pytest.mark.parametrize(
    "rule",
    [{"blends": (0.0, 1.0)}, {"blends": (1.5,)}, {"blends": ()}, {"guard_z": -1.0}],
)
def test_bad_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        AdaptedRouter(base=LatentRouter(), strong_model=STRONG, weak_model=WEAK, **rule)  # type: ignore[arg-type]


def test_adapt_router_passes_the_rule_to_the_pair_heads(tmp_path: Path) -> None:
    base = LatentRouter(sharpness=2.0, flip=True)
    prompts, models, reward, propensity = _labels(base, 300, seed=4, explore=0.3)
    write_log(tmp_path / "log.db", prompts, models, propensity, reward)
    result = adapt_router(
        base,
        read_log(tmp_path / "log.db"),
        n_resamples=50,
        embedder=LatentEmbedder(),
        guard_z=0.0,
        blends=(0.5,),
        correction="heads",
    )
    assert isinstance(result.router, AdaptedRouter)
    assert result.router.guard_z == 0.0 and list(result.router.blends) == [0.5]
    assert result.choice_dict()["blend"] in (0.0, 0.5)
    assert result.pair is not None  # before / after on the held-out requests


def test_a_candidate_ranking_like_the_start_in_every_fold_gains_nothing() -> None:
    # no embedding components and no shared slopes: the candidate's gain is a
    # monotone function of the starting logit, so within every fold it ranks the
    # requests exactly as the start does, whatever each fold's heads add as offset
    from prefroute.routers._pair_heads import PairLabels, _guard

    rng = np.random.default_rng(0)
    n = 300
    z0 = rng.normal(0, 1.5, n)
    arms = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    p = 1 / (1 + np.exp(-(0.3 + 0.5 * arms * z0)))
    labels = PairLabels(
        projected=np.zeros((n, 0)),
        z=(z0 - z0.mean()) / z0.std(),
        z0=z0,
        rows=np.arange(n),
        arms=arms,
        targets=(rng.random(n) < p).astype(float),
        weights=np.ones(n),
        propensities=np.full(n, 0.5),
        requests=np.arange(n),
    )
    [(gain, se)] = _guard(labels, [((OFF, 3.0), 1.0)], n_folds=5, seed=0)
    assert gain == 0.0 and se == 0.0
