"""MultiModelRouter: joint golden + battle fit, costs, choose/calibrate, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError, NotFittedError
from prefroute.routers import load_router
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.policy import ModelPrice
from prefroute.types import Battle, GoldenRecord

MATH = [
    f"Compute the integral number {i} of a polynomial with calculus" for i in range(12)
]
CHAT = [f"Say hello to friend number {i} and wish them a nice day" for i in range(12)]


def _golden() -> list[GoldenRecord]:
    """coder: 0.7 on math, wrong on chat; chatter: right on chat only; big: right on
    both.

    Costs: chatter cheapest, coder mid, big dearest (and longer prompts cost more).
    """
    records = []
    for p in MATH:
        records.append(
            GoldenRecord(
                p,
                {"coder": 0.7, "chatter": 0.0, "big": 1.0},
                task="math",
                costs={"coder": 0.002, "chatter": 0.001, "big": 0.01 + len(p) * 1e-6},
            )
        )
    for p in CHAT:
        records.append(
            GoldenRecord(
                p,
                {"coder": 0.0, "chatter": 1.0, "big": 1.0},
                task="chat",
                costs={"coder": 0.002, "chatter": 0.001, "big": 0.01 + len(p) * 1e-6},
            )
        )
    return records


def _battles() -> list[Battle]:
    """'judge-only' appears only in battles: it beats big on math, loses on chat."""
    out = []
    for p in MATH:
        out.append(Battle(p, "judge-only", "big", "a"))
    for p in CHAT:
        out.append(Battle(p, "judge-only", "big", "b"))
    return out


@pytest.fixture()
def router() -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64),
        dim=4,
        n_epochs=300,
        learning_rate=0.05,
        l2=1e-4,
    ).fit_multi(_golden(), _battles())


def test_score_models_learns_who_is_right_where(router: MultiModelRouter) -> None:
    q = router.score_models(MATH[:3] + CHAT[:3], ["coder", "chatter"])
    assert q.shape == (6, 2)
    assert np.all(q[:3, 0] > q[:3, 1])
    assert np.all(q[3:, 1] > q[3:, 0])


def test_battle_only_model_is_scored_on_the_same_scale(
    router: MultiModelRouter,
) -> None:
    assert "judge-only" in router.models
    q = router.score_models([MATH[0], CHAT[0]], ["judge-only", "big"])
    assert q[0, 0] > q[0, 1]  # wins its battles against big on math
    assert q[1, 0] < q[1, 1]  # loses them on chat


def test_unknown_model_raises_config_error(router: MultiModelRouter) -> None:
    with pytest.raises(ConfigError, match="unknown to this router"):
        router.score_models(["x"], ["nope"])


# Canonical training names and RouterBench's own spellings of the same models.
CANONICAL = {
    "coder": "llama-2-70b-chat-hf",
    "chatter": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "big": "gpt-4-1106-preview",
}
ROUTERBENCH = ["meta/llama-2-70b-chat", "mistralai/mixtral-8x7b-chat"]


def _renamed(names: dict[str, str]) -> list[GoldenRecord]:
    return [
        GoldenRecord(
            r.prompt,
            {names[m]: v for m, v in r.scores.items()},
            task=r.task,
            costs={names[m]: c for m, c in (r.costs or {}).items()},
        )
        for r in _golden()
    ]


def _small(golden: list[GoldenRecord]) -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=50
    ).fit_multi(golden)


def test_score_models_accepts_routerbench_names_of_canonical_models() -> None:
    router = _small(_renamed(CANONICAL))
    canonical = [CANONICAL["coder"], CANONICAL["chatter"]]
    expected = router.score_models(MATH[:2] + CHAT[:2], canonical)
    got = router.score_models(MATH[:2] + CHAT[:2], ROUTERBENCH)
    np.testing.assert_array_equal(got, expected)
    assert router.resolve_models([*ROUTERBENCH, "gpt-4-1106-preview"]) == [
        *canonical,
        "gpt-4-1106-preview",
    ]
    prices = {n: ModelPrice(per_query=0.001) for n in ROUTERBENCH}
    best = ROUTERBENCH[int(np.argmax(got[0]))]  # equal prices: the best quality
    assert router.choose(MATH[:1], prices, knob=0.0) == [best]


def test_canonical_names_find_models_trained_under_routerbench_names() -> None:
    raw = {"coder": ROUTERBENCH[0], "chatter": ROUTERBENCH[1], "big": "big"}
    router = _small(_renamed(raw))
    canonical = [CANONICAL["coder"], CANONICAL["chatter"]]
    np.testing.assert_array_equal(
        router.score_models(CHAT[:2], canonical),
        router.score_models(CHAT[:2], ROUTERBENCH),
    )
    assert router.resolve_models(canonical) == ROUTERBENCH


def test_alias_lookup_does_not_guess_other_models() -> None:
    router = _small(_renamed(CANONICAL))
    # a Mixtral of another size is not the one the router knows
    with pytest.raises(ConfigError, match="unknown to this router"):
        router.score_models(["x"], ["mistralai/mixtral-8x22b-chat"])


def test_score_is_strong_over_weak_win_rate(router: MultiModelRouter) -> None:
    strong, weak = router.default_pair
    assert strong == "big"  # highest mean predicted quality
    assert weak == "chatter"  # cheapest learned cost
    scores = router.score(MATH[:2] + CHAT[:2])
    # big is needed over chatter on math; on chat both are right (about even).
    assert min(scores[:2]) > 0.9
    assert max(scores[2:]) < 0.7


def test_learned_costs_follow_training_costs(router: MultiModelRouter) -> None:
    costs = router.predict_costs([MATH[0]], ["chatter", "coder", "big"])
    np.testing.assert_allclose(costs[0, :2], [0.001, 0.002], rtol=1e-6, atol=1e-9)
    assert costs[0, 2] == pytest.approx(0.01 + len(MATH[0]) * 1e-6, rel=0.05)


def test_choose_picks_cheapest_adequate_model(router: MultiModelRouter) -> None:
    prices = {
        "chatter": ModelPrice(per_query=0.001),
        "coder": ModelPrice(per_query=0.002),
        "big": ModelPrice(per_query=0.01),
    }
    picks = router.choose(MATH[:2] + CHAT[:2], prices, policy="tolerance", knob=0.4)
    assert picks == ["coder", "coder", "chatter", "chatter"]
    assert router.choose(MATH[:1], prices, knob=0.0) == ["big"]
    assert router.choose(MATH[:1], prices, knob=float("inf")) == ["chatter"]


def test_choose_follows_prices_not_names(router: MultiModelRouter) -> None:
    # Make big free: it is now the cheapest adequate model everywhere.
    prices = {
        "chatter": ModelPrice(per_query=0.001),
        "coder": ModelPrice(per_query=0.002),
        "big": ModelPrice(),
    }
    picks = router.choose(MATH[:1] + CHAT[:1], prices, policy="tolerance", knob=0.05)
    assert picks == ["big", "big"]


def test_choose_with_target_cost_meets_budget_on_calibration_prompts(
    router: MultiModelRouter,
) -> None:
    prompts = MATH + CHAT
    picks = router.choose(prompts, target_cost=0.004)
    costs = router.predict_costs(prompts, ["chatter", "coder", "big"])
    index = {"chatter": 0, "coder": 1, "big": 2}
    spent = np.mean([costs[i, index[m]] for i, m in enumerate(picks)])
    assert spent <= 0.004
    assert set(picks) >= {"coder", "chatter"}


def test_choose_needs_exactly_one_knob(router: MultiModelRouter) -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        router.choose(["x"])


def test_unpriced_battle_only_model_needs_a_price(router: MultiModelRouter) -> None:
    with pytest.raises(ConfigError, match="no learned costs"):
        router.choose(["x"], models=["big", "judge-only"], knob=0.0)


def test_save_load_round_trip_keeps_scores_costs_and_choices(
    router: MultiModelRouter, tmp_path: Path
) -> None:
    router.save(tmp_path / "m")
    loaded = load_router(tmp_path / "m")
    assert isinstance(loaded, MultiModelRouter)
    prompts = MATH[:3] + CHAT[:3]
    assert loaded.models == router.models
    assert loaded.default_pair == router.default_pair
    np.testing.assert_array_equal(
        loaded.score_models(prompts), router.score_models(prompts)
    )
    np.testing.assert_array_equal(
        loaded.predict_costs(prompts), router.predict_costs(prompts)
    )
    assert loaded.choose(prompts, target_cost=0.004) == router.choose(
        prompts, target_cost=0.004
    )
    assert loaded.calibrate(target_cost=0.004) == router.calibrate(target_cost=0.004)


def test_unfitted_router_raises() -> None:
    router = MultiModelRouter(embedder=HashingEmbedder(dim=16))
    with pytest.raises(NotFittedError):
        router.score_models(["x"])
    with pytest.raises(NotFittedError):
        router.save(Path("unused"))


def test_constructing_with_spec_does_no_io() -> None:
    router = MultiModelRouter(embedder="no-such-backend:1")
    assert router.embedder == "no-such-backend:1"


def test_explicit_pair_must_be_known() -> None:
    router = MultiModelRouter(
        embedder=HashingEmbedder(dim=16), n_epochs=5, strong="ghost"
    )
    with pytest.raises(ConfigError, match="ghost"):
        router.fit_multi(_golden())
