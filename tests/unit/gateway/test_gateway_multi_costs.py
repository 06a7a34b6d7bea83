"""Routing core, N-model requests: the whole conversation is priced, max_tokens caps
output tokens, budgets first seen in requests are cached with a bound, and
`calibration_prompts` recalibrates N-model budgets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from _evicting_lru import EvictedMeanwhile
from _multi_records import CHAT, MATH, three_model_records
from prefroute.embed.hashing import HashingEmbedder
from prefroute.gateway.calibrations import load_calibrations_for
from prefroute.gateway.config import RoutingConfig
from prefroute.gateway.core import RoutingCore
from prefroute.gateway.request import output_token_cap, tool_input_tokens
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.policy import ModelPrice

# About 23k tokens by the 4-characters-per-token estimate.
SYSTEM = "You are a meticulous assistant. " * 2900


@pytest.fixture()
def router() -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=100
    ).fit_multi(three_model_records())


def _priced(name: str, **price: float) -> dict[str, Any]:
    return {"model": name, "base_url": "http://127.0.0.1:1/v1", "price": price}


def _config(models: list[dict[str, Any]], **overrides: Any) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {"routers": ["mf-multi"], "models": models, **overrides}
    )


# Input tokens priced very differently: short prompts cost about per_query.
BY_INPUT = [
    _priced("cheap", per_query=0.001, input_per_mtok=0.1),
    _priced("mid", per_query=0.003, input_per_mtok=10.0),
    _priced("dear", per_query=0.01, input_per_mtok=30.0),
]
# dear's cost is its 1,000 expected output tokens.
BY_OUTPUT = [
    _priced("cheap", per_query=0.001),
    _priced("mid", per_query=0.003),
    _priced("dear", per_query=0.001, output_per_mtok=9.0, expected_output_tokens=1000),
]


def test_long_system_prompt_moves_the_choice_to_a_cheaper_model(
    router: MultiModelRouter,
) -> None:
    core = RoutingCore(_config(BY_INPUT), routers={"mf-multi": router})
    short = [{"role": "user", "content": MATH}]
    long = [{"role": "system", "content": SYSTEM}, *short]
    assert core.decide("router-mf-multi@0.0022", short).model == "mid"
    # the same routed text (the last user turn), but mid now costs ~$0.23
    decision = core.decide("router-mf-multi@0.0022", long)
    assert decision.model == "cheap"
    assert decision.threshold == core.budget_knob("mf-multi", 0.0022)


def test_max_tokens_caps_the_output_tokens_priced(router: MultiModelRouter) -> None:
    core = RoutingCore(_config(BY_OUTPUT), routers={"mf-multi": router})
    messages = [{"role": "user", "content": CHAT}]
    model = "router-mf-multi@0.0022"
    assert core.decide(model, messages).model == "cheap"
    # 5 output tokens: dear costs about what cheap does and is predicted better
    assert core.decide(model, messages, request={"max_tokens": 5}).model == "dear"
    # a cap above the expected output tokens changes nothing
    assert core.decide(model, messages, request={"max_tokens": 50_000}).model == "cheap"

    async def run() -> str:
        decision = await core.adecide(model, messages, request={"max_tokens": 5})
        await core.aclose()
        return decision.model

    assert asyncio.run(run()) == "dear"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, None),
        ({"max_tokens": 100}, 100.0),
        ({"max_completion_tokens": 50}, 50.0),
        ({"max_tokens": 100, "max_completion_tokens": 50}, 50.0),
        ({"max_tokens": None, "max_completion_tokens": "9"}, None),
        ({"max_tokens": -1}, None),
        ({"max_tokens": True}, None),
    ],
)
def test_output_token_cap_reads_max_tokens(
    body: dict[str, Any], expected: float | None
) -> None:
    assert output_token_cap(body) == expected


def test_on_demand_budgets_are_capped_and_config_budgets_kept(
    router: MultiModelRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = RoutingCore(
        _config(BY_INPUT, budgets=[0.002], budget_cache_size=3),
        routers={"mf-multi": router},
    )
    core.calibrate_budgets()
    calls: list[float] = []
    calibrate = router.calibrate

    def counting(*args: Any, **kwargs: Any) -> float:
        calls.append(kwargs["target_cost"])
        return calibrate(*args, **kwargs)

    monkeypatch.setattr(router, "calibrate", counting)
    invented = [0.0011, 0.0012, 0.0013, 0.0014, 0.0015]
    for budget in invented:
        core.budget_knob("mf-multi", budget)
    assert core.on_demand_budgets == [("mf-multi", b) for b in invented[-3:]]
    assert set(core.budget_knobs) == {("mf-multi", 0.002)}
    core.budget_knob("mf-multi", 0.0013)  # kept: no calibration
    core.budget_knob("mf-multi", 0.002)  # the config's: no calibration
    assert calls == invented
    core.budget_knob("mf-multi", 0.0011)  # evicted: calibrated again
    assert calls == [*invented, 0.0011]
    # 0.0013 was used last but one, so 0.0014 was the least recently used
    assert core.on_demand_budgets == [
        ("mf-multi", 0.0015),
        ("mf-multi", 0.0013),
        ("mf-multi", 0.0011),
    ]


def test_requests_with_invented_budgets_keep_the_cache_bounded(
    router: MultiModelRouter,
) -> None:
    core = RoutingCore(
        _config(BY_INPUT, budgets=[0.002], budget_cache_size=4),
        routers={"mf-multi": router},
    )
    core.calibrate_budgets()
    messages = [{"role": "user", "content": CHAT}]

    async def run() -> None:
        for i in range(20):
            await core.adecide(f"router-mf-multi@{0.001 + i * 1e-5:.5f}", messages)
        await core.aclose()

    asyncio.run(run())
    assert len(core.on_demand_budgets) == 4
    assert list(core.budget_knobs) == [("mf-multi", 0.002)]


def test_calibration_prompts_recalibrate_n_model_budgets(
    router: MultiModelRouter, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "\n".join(f"{SYSTEM[:4000]} {MATH} {i}" for i in range(25)) + "\n",
        encoding="utf-8",
    )
    config = _config(BY_INPUT, calibration_prompts=str(prompts))
    before = router.calibrate(
        {m["model"]: ModelPrice.from_mapping(m["price"]) for m in BY_INPUT},
        target_cost=0.0022,
    )
    assert router.n_calibration_prompts == 40
    calibrations = load_calibrations_for(config, {"mf-multi": router})
    assert calibrations["mf-multi"].n_prompts == 25  # the two-model thresholds too
    assert router.n_calibration_prompts == 25
    core = RoutingCore(config, routers={"mf-multi": router})
    assert core.budget_knob("mf-multi", 0.0022) != before


def test_given_threshold_calibration_still_recalibrates_budgets(
    router: MultiModelRouter, tmp_path: Path
) -> None:
    # A router whose two-model calibration came from elsewhere (the Controller's
    # `calibrations=`) gets no new one, but its budgets follow the prompts.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "\n".join(f"{MATH} {i}" for i in range(30)) + "\n", encoding="utf-8"
    )
    config = _config(BY_INPUT, calibration_prompts=str(prompts))
    calibrations = load_calibrations_for(
        config, {"mf-multi": router}, have={"mf-multi"}
    )
    assert calibrations == {}
    assert router.n_calibration_prompts == 30


def test_calibration_prompts_leave_n_model_routers_alone_without_models(
    router: MultiModelRouter, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{MATH}\n{CHAT}\n", encoding="utf-8")
    config = RoutingConfig.model_validate(
        {
            "strong": {"model": "dear"},
            "weak": {"model": "cheap"},
            "routers": ["mf-multi"],
            "calibration_prompts": str(prompts),
        }
    )
    load_calibrations_for(config, {"mf-multi": router})
    assert router.n_calibration_prompts == 40


def test_tool_input_tokens_counts_tools_and_functions() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    one = tool_input_tokens({"tools": tools})
    assert one == pytest.approx(
        len('[{"type":"function","function":{"name":"f","parameters":{}}}]') / 4
    )
    assert tool_input_tokens({"tools": tools, "functions": [{"name": "g"}]}) > one
    assert tool_input_tokens({}) == 0.0
    assert tool_input_tokens({"tools": None}) == 0.0


def test_on_demand_budget_survives_eviction_by_another_thread(
    router: MultiModelRouter,
) -> None:
    core = RoutingCore(
        _config(BY_INPUT, budget_cache_size=2), routers={"mf-multi": router}
    )
    knob = core.budget_knob("mf-multi", 0.003)
    demand = core.decider.budgets.on_demand
    demand._data = EvictedMeanwhile(demand._data)
    # the read succeeds although the entry vanished right after it was read
    assert core.budget_knob("mf-multi", 0.003) == knob
    assert core.on_demand_budgets == [("mf-multi", 0.003)]
