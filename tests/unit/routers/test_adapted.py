"""The adapted routers: shrinkage toward the starting router, learning from many
labels, the N-model heads, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _adapt_synth import (
    STRONG,
    WEAK,
    LatentEmbedder,
    LatentRouter,
    latent,
    make_prompts,
    traffic,
    true_apgr,
    truth,
)
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError, DataError, NotFittedError
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.adapted_multi import AdaptedMultiModelRouter
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.random import RandomRouter
from prefroute.routers.registry import load_router
from prefroute.types import Battle, GoldenRecord

EVAL = make_prompts(1500, seed=999, tag="eval")


def _adapt(
    base: LatentRouter, n: int, seed: int, explore: float = 0.0
) -> AdaptedRouter:
    prompts = make_prompts(n, seed)
    models, propensity, reward = traffic(base, prompts, explore=explore, seed=seed)
    router = AdaptedRouter(
        base=base, embedder=LatentEmbedder(), strong_model=STRONG, weak_model=WEAK
    )
    return router.fit_feedback(prompts, models, reward, propensities=propensity)


def test_few_labels_never_make_a_good_starting_router_worse() -> None:
    base = LatentRouter(sharpness=3.0)
    before = true_apgr(base.score(EVAL), EVAL)
    drops = [
        before - true_apgr(_adapt(base, 40, seed).score(EVAL), EVAL)
        for seed in range(8)
    ]
    assert max(drops) < 0.01, drops


def test_many_labels_fix_a_starting_router_that_ranks_backwards() -> None:
    base = LatentRouter(sharpness=2.0, flip=True)
    before = true_apgr(base.score(EVAL), EVAL)
    after = true_apgr(_adapt(base, 1500, seed=1, explore=0.3).score(EVAL), EVAL)
    assert before < 0.45
    assert after > before + 0.2


def test_many_labels_improve_an_uninformative_starting_router() -> None:
    base = LatentRouter(sharpness=0.0)
    before = true_apgr(base.score(EVAL), EVAL)
    after = true_apgr(_adapt(base, 800, seed=2, explore=0.5).score(EVAL), EVAL)
    assert after > before + 0.1


def test_no_labels_on_one_model_keep_the_starting_ranking() -> None:
    base = LatentRouter(sharpness=3.0)
    prompts = make_prompts(60, seed=5)
    router = AdaptedRouter(
        base=base, embedder=LatentEmbedder(), strong_model=STRONG, weak_model=WEAK
    ).fit_feedback(prompts, [WEAK] * 60, np.ones(60))
    order_base = np.argsort(base.score(EVAL))
    order = np.argsort(router.score(EVAL))
    np.testing.assert_array_equal(order, order_base)


def test_predicted_quality_moves_toward_the_truth() -> None:
    router = _adapt(LatentRouter(sharpness=3.0), 1000, seed=0, explore=0.5)
    # prompts like the log's (EVAL's tag makes every one longer than the log's)
    fresh = make_prompts(1500, seed=1)
    q = router.score_models(fresh)
    err = np.abs(q.mean(axis=0) - truth(fresh).mean(axis=0))
    assert np.all(err < 0.05)


def test_fit_on_battles_between_the_pair(tiny_battles: list[Battle]) -> None:
    router = AdaptedRouter(
        base=RandomRouter(seed=1),
        embedder=HashingEmbedder(dim=32),
        strong_model="strong-model",
        weak_model="weak-model",
        penalties=(1.0, 1.0),
        correction="heads",
    ).fit(tiny_battles)
    scores = router.score([b.prompt for b in tiny_battles[:4]])
    assert np.all((scores >= 0) & (scores <= 1))
    assert router.n_labels_ is not None and router.n_labels_[0] == router.n_labels_[1]


def test_save_load_round_trip_keeps_scores_and_base(tmp_path: Path) -> None:
    emb = HashingEmbedder(dim=32)
    prompts = [f"prompt {i} about {'math' if i % 2 else 'poems'}" for i in range(80)]
    models = [STRONG if i % 3 else WEAK for i in range(80)]
    rewards = np.array([float(i % 2) for i in range(80)])
    router = AdaptedRouter(
        base=RandomRouter(seed=4), embedder=emb, strong_model=STRONG, weak_model=WEAK
    ).fit_feedback(prompts, models, rewards)
    router.save(tmp_path / "a")
    assert (tmp_path / "a" / "base" / "config.json").is_file()
    loaded = load_router(tmp_path / "a")
    assert isinstance(loaded, AdaptedRouter)
    assert isinstance(loaded.base, RandomRouter)
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))


def test_adapting_an_adapted_router_starts_from_its_base() -> None:
    first = _adapt(LatentRouter(sharpness=3.0), 50, seed=6)
    again = AdaptedRouter(base=first, strong_model=STRONG, weak_model=WEAK)
    assert isinstance(again.base, LatentRouter)


def test_bad_labels_and_setups_are_refused() -> None:
    router = AdaptedRouter(
        base=LatentRouter(),
        embedder=LatentEmbedder(),
        strong_model=STRONG,
        weak_model=WEAK,
    )
    with pytest.raises(NotFittedError):
        router.score(EVAL[:2])
    with pytest.raises(DataError, match="models"):
        router.fit_feedback(EVAL[:2], ["other", STRONG], [1.0, 0.0])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        router.fit_feedback(EVAL[:2], [WEAK, STRONG], [1.5, 0.0])
    with pytest.raises(ConfigError, match="strong_model"):
        AdaptedRouter(base=LatentRouter()).fit_feedback(EVAL[:1], [STRONG], [1.0])
    with pytest.raises(ConfigError):
        AdaptedRouter(base=LatentRouter(), n_folds=1)


def _padded(prompts: list[str]) -> list[str]:
    """The prompts with a tail whose length grows with the latent difficulty (the
    embedder and the starting router see nothing of it)."""
    return [p + " pad" * int(4 + 30 * (latent(p) + 1)) for p in prompts]


@pytest.mark.parametrize("length_feature", [True, False])
def test_the_heads_learn_from_the_prompt_length_only_when_they_see_it(
    length_feature: bool,
) -> None:
    base = LatentRouter(sharpness=0.0)
    embedder = LatentEmbedder(signal=0.0)
    prompts = _padded(make_prompts(800, seed=3))
    evaluation = _padded(EVAL)
    models, propensity, reward = traffic(base, prompts, explore=0.5, seed=3)
    router = AdaptedRouter(
        base=base,
        embedder=embedder,
        strong_model=STRONG,
        weak_model=WEAK,
        length_feature=length_feature,
    ).fit_feedback(prompts, models, reward, propensities=propensity)
    before = true_apgr(base.score(evaluation), evaluation)
    after = true_apgr(router.score(evaluation), evaluation)
    if length_feature:
        assert after > before + 0.1, (before, after)
    else:
        assert after < before + 0.05, (before, after)


def test_a_router_saved_without_the_length_feature_loads_and_scores_the_same(
    tmp_path: Path,
) -> None:
    prompts = _padded(make_prompts(300, seed=8))
    models, propensity, reward = traffic(LatentRouter(), prompts, explore=0.3, seed=8)
    for flag in (False, True):
        router = AdaptedRouter(
            base=RandomRouter(seed=4),
            embedder=HashingEmbedder(dim=32),
            strong_model=STRONG,
            weak_model=WEAK,
            penalties=(10.0, 3.0),
            correction="heads",
            length_feature=flag,
        ).fit_feedback(prompts, models, reward, propensities=propensity)
        assert router.coef_ is not None
        assert router.coef_.shape == (2, 2 + 32 + flag)
        router.save(tmp_path / str(flag))
        loaded = load_router(tmp_path / str(flag))
        assert isinstance(loaded, AdaptedRouter)
        assert (loaded.length_stats_ is not None) is flag
        np.testing.assert_allclose(loaded.score(EVAL[:50]), router.score(EVAL[:50]))


# -- N models ----------------------------------------------------------------------


def _task_records(task: str, n: int, good: str) -> list[GoldenRecord]:
    rng = np.random.default_rng(len(task))
    out = []
    for i in range(n):
        scores = {
            "a": float(rng.random() < (0.85 if good == "a" else 0.35)),
            "b": float(rng.random() < (0.85 if good == "b" else 0.35)),
            "c": float(rng.random() < 0.5),
        }
        costs = {"a": 1.0, "b": 1.0, "c": 0.2}
        out.append(
            GoldenRecord(
                f"{task} item {i} words {task}", scores, task=task, costs=costs
            )
        )
    return out


def test_multi_heads_learn_which_model_is_good_on_new_traffic(tmp_path: Path) -> None:
    emb = HashingEmbedder(dim=64)
    base = MultiModelRouter(embedder=emb, dim=4, n_epochs=150, task_shrink=0.5)
    base.fit_multi(_task_records("alpha", 150, good="a"))
    new = _task_records("beta", 200, good="b")
    prompts = [r.prompt for r in new]
    assert base.score_models(prompts, ["a", "b"]).mean(axis=0)[0] > 0.6
    rng = np.random.default_rng(0)
    models = [str(m) for m in rng.choice(["a", "b", "c"], len(new))]
    rewards = [r.scores[m] for r, m in zip(new, models, strict=True)]
    router = AdaptedMultiModelRouter.from_base(base).fit_feedback(
        prompts, models, rewards
    )
    q = router.score_models(prompts, ["a", "b"]).mean(axis=0)
    assert q[1] > q[0] + 0.2
    assert router.choose(prompts[:20], knob=0.0, models=["a", "b"]).count("b") >= 15
    # the starting router is unchanged, and a round trip keeps the heads
    assert base.score_models(prompts, ["a", "b"]).mean(axis=0)[0] > 0.6
    router.save(tmp_path / "m")
    loaded = load_router(tmp_path / "m", embedder=emb)
    assert isinstance(loaded, AdaptedMultiModelRouter)
    np.testing.assert_allclose(
        loaded.score_models(prompts), router.score_models(prompts), rtol=1e-6
    )


def test_multi_feedback_for_an_unknown_model_is_refused() -> None:
    base = MultiModelRouter(embedder=HashingEmbedder(dim=32), dim=2, n_epochs=20)
    base.fit_multi(_task_records("alpha", 30, good="a"))
    router = AdaptedMultiModelRouter.from_base(base)
    with pytest.raises(DataError, match="does not know"):
        router.fit_feedback(["x"], ["zzz"], [1.0])
