"""MultiModelRouter task prior (`task_shrink`): per-task accuracy on top of the MF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError, NotFittedError
from prefroute.routers import load_router
from prefroute.routers.multi import MultiModelRouter
from prefroute.types import Battle, GoldenRecord

N = 24  # prompts per task (>= the 20 labels a group needs for its prior)
MATH = [
    f"Compute the integral number {i} of a polynomial with calculus" for i in range(N)
]
CHAT = [f"Say hello to friend number {i} and wish them a nice day" for i in range(N)]


def _golden(n_chat: int = N) -> list[GoldenRecord]:
    """coder is right on 3 of 4 math prompts (alternating), never on chat; chatter
    is right on chat only; big is right everywhere."""
    out = [
        GoldenRecord(
            p,
            {"coder": float(i % 4 != 0), "chatter": 0.0, "big": 1.0},
            task="math",
            costs={"coder": 0.002, "chatter": 0.001, "big": 0.01},
        )
        for i, p in enumerate(MATH)
    ]
    out += [
        GoldenRecord(
            p,
            {"coder": 0.0, "chatter": 1.0, "big": 1.0},
            task="chat",
            costs={"coder": 0.002, "chatter": 0.001, "big": 0.01},
        )
        for p in CHAT[:n_chat]
    ]
    return out


POEM = [f"Write a short poem about the sea and ship number {i}" for i in range(6)]


def _battles() -> list[Battle]:
    """judge-only appears in battles only; the poem prompts form the battle group."""
    out = [Battle(p, "judge-only", "big", "a") for p in MATH[:6]]
    return out + [Battle(p, "big", "chatter", "a") for p in POEM]


def _router(task_shrink: float | None, n_chat: int = N) -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64),
        dim=4,
        n_epochs=200,
        learning_rate=0.05,
        l2=1e-4,
        task_shrink=task_shrink,
    ).fit_multi(_golden(n_chat), _battles())


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_shrink_zero_scores_each_model_by_its_task_accuracy() -> None:
    router = _router(0.0)
    q = router.score_models(MATH[:5] + CHAT[:5], ["coder", "chatter", "big"])
    # Smoothed accuracy (successes + 0.5) / (labels + 1), the same on every prompt.
    coder_math = (0.75 * N + 0.5) / (N + 1)
    np.testing.assert_allclose(q[:5, 0], coder_math, rtol=1e-9)
    np.testing.assert_allclose(q[5:, 1], (N + 0.5) / (N + 1), rtol=1e-9)
    np.testing.assert_allclose(q[5:, 0], 0.5 / (N + 1), rtol=1e-9)


def test_prompts_are_assigned_to_the_nearest_training_task() -> None:
    router = _router(0.5)
    assert router.groups_ == ["battles", "chat", "math"]
    new = ["Compute the integral of a polynomial", "Say hello and wish a nice day"]
    assert router.assign_groups(MATH[:2] + CHAT[:2] + new + POEM[:1]) == [
        "math",
        "math",
        "chat",
        "chat",
        "math",
        "chat",
        "battles",
    ]
    assert router.assign_groups([]) == []


def test_shrink_one_keeps_the_mf_ranking_within_a_task_and_fixes_its_mean() -> None:
    base, prior = _router(None), _router(1.0)
    x = base._embed(MATH)
    s_base = base._logits(x)[:, base.models.index("coder")]
    s_prior = prior._logits(x)[:, prior.models.index("coder")]
    # Same fit (same seed), so the correction is one shift per (task, model).
    np.testing.assert_allclose(s_prior - s_base, (s_prior - s_base)[0], atol=1e-9)
    assert s_prior.mean() == pytest.approx(_logit((0.75 * N + 0.5) / (N + 1)))


def test_models_without_labels_in_a_task_keep_the_mf_score() -> None:
    base, prior = _router(None), _router(0.0)
    prompts = MATH[:3] + CHAT[:3]
    np.testing.assert_array_equal(
        prior.score_models(prompts, ["judge-only"]),
        base.score_models(prompts, ["judge-only"]),
    )
    # The battle group has no golden labels: every model keeps its MF score there.
    np.testing.assert_array_equal(
        prior.score_models(POEM[:3]), base.score_models(POEM[:3])
    )


def test_tasks_with_too_few_labels_keep_the_mf_score() -> None:
    base, prior = _router(None, n_chat=10), _router(0.0, n_chat=10)
    chat = CHAT[:3]
    np.testing.assert_array_equal(prior.score_models(chat), base.score_models(chat))
    math = prior.score_models(MATH[:2], ["coder"])
    np.testing.assert_allclose(math, (0.75 * N + 0.5) / (N + 1), rtol=1e-9)


def test_task_prior_is_deterministic_and_survives_save_load(tmp_path: Path) -> None:
    router, again = _router(0.5), _router(0.5)
    prompts = MATH[:3] + CHAT[:3]
    np.testing.assert_array_equal(
        router.score_models(prompts), again.score_models(prompts)
    )
    router.save(tmp_path / "r")
    loaded = load_router(tmp_path / "r")
    assert isinstance(loaded, MultiModelRouter)
    assert loaded.task_shrink == 0.5
    assert loaded.groups_ == router.groups_
    np.testing.assert_array_equal(
        loaded.score_models(prompts), router.score_models(prompts)
    )
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))
    assert loaded.choose(prompts, target_cost=0.004) == router.choose(
        prompts, target_cost=0.004
    )


def test_task_shrink_is_checked_and_assign_groups_needs_the_prior() -> None:
    with pytest.raises(ConfigError, match="task_shrink"):
        MultiModelRouter(embedder=HashingEmbedder(dim=8), task_shrink=1.5)
    with pytest.raises(NotFittedError):
        _router(None).assign_groups(MATH[:1])
