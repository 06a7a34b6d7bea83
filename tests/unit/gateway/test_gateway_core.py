"""Routing core: model strings, prompt extraction, micro-batching, decisions."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from prefroute.calibrate import calibrate_router
from prefroute.errors import UnknownRouterError
from prefroute.gateway.batcher import ScoreBatcher
from prefroute.gateway.config import RoutingConfig
from prefroute.gateway.core import RoutingCore
from prefroute.gateway.decision import fallback_order
from prefroute.gateway.request import (
    InvalidRequestError,
    ModelSpec,
    extract_prompt,
    parse_model,
)
from prefroute.routers.base import Router
from prefroute.routers.registry import load_router


class CountingRouter(Router):
    """Scores by prompt length; records each batch it receives."""

    name = "counting"
    needs_fit = False

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def score(self, prompts: Sequence[str]) -> Any:
        self.batches.append(list(prompts))
        self.threads.add(threading.current_thread().name)
        return np.array([min(1.0, len(p) / 100) for p in prompts])


class BrokenRouter(Router):
    name = "broken"
    needs_fit = False

    def score(self, prompts: Sequence[str]) -> Any:
        raise RuntimeError("router exploded")


def _config(**overrides: Any) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "strong": {"model": "big", "base_url": "http://127.0.0.1:1/v1"},
            "weak": {"model": "small", "base_url": "http://127.0.0.1:1/v1"},
            "routers": ["counting"],
            **overrides,
        }
    )


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("router-mf-0.116", ModelSpec("mf", threshold=0.116)),
        ("router-sw_ranking-0", ModelSpec("sw_ranking", threshold=0.0)),
        ("router-mf-multi-1", ModelSpec("mf-multi", threshold=1.0)),
        ("router-mf@0.3", ModelSpec("mf", strong_share=0.3)),
        ("big", ModelSpec(None, direct="strong")),
        ("small", ModelSpec(None, direct="weak")),
    ],
)
def test_parse_model_accepts_documented_forms(model: str, expected: ModelSpec) -> None:
    assert parse_model(model, strong_model="big", weak_model="small") == expected


@pytest.mark.parametrize(
    "model",
    [
        None,
        "",
        3,
        "gpt-4",
        "router-mf",
        "router--0.5",
        "router-mf-1.01",
        "router-mf--0.2",
        "router-mf-x",
        "router-mf-inf",
        "router-mf@",
        "router-@0.3",
        "router-mf@1.5",
    ],
)
def test_parse_model_rejects_malformed_with_param_model(model: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_model(model)
    assert info.value.param == "model"
    assert "expected" in str(info.value) or "must be" in str(info.value)


def test_extract_prompt_defaults_to_last_user_turn() -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "second"},
                {"type": "image_url", "image_url": {"url": "x"}},
            ],
        },
    ]
    assert extract_prompt(messages) == "second"
    assert extract_prompt(messages, "all_user") == "first\nsecond"
    assert extract_prompt(messages, "conversation") == (
        "system: sys\nuser: first\nassistant: reply\nuser: second"
    )


def test_extract_prompt_without_user_uses_last_message() -> None:
    assert extract_prompt([{"role": "system", "content": "only"}]) == "only"


@pytest.mark.parametrize("messages", [None, [], "hi", [{"content": "no role"}], [3]])
def test_extract_prompt_rejects_malformed_messages(messages: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        extract_prompt(messages)
    assert info.value.param is not None and info.value.param.startswith("messages")


def test_extract_prompt_rejects_non_text_content() -> None:
    with pytest.raises(InvalidRequestError, match="content"):
        extract_prompt([{"role": "user", "content": 42}])


def test_batcher_scores_concurrent_prompts_in_one_batch() -> None:
    router = CountingRouter()

    async def run() -> list[float]:
        batcher = ScoreBatcher(router, window_s=0.05, max_batch=64)
        try:
            return await asyncio.gather(*(batcher.score("x" * i) for i in range(10)))
        finally:
            batcher.close()

    scores = asyncio.run(run())
    assert scores == pytest.approx([i / 100 for i in range(10)])
    assert len(router.batches) == 1
    assert router.threads and "MainThread" not in router.threads


def test_batcher_respects_max_batch() -> None:
    router = CountingRouter()

    async def run() -> None:
        batcher = ScoreBatcher(router, window_s=0.05, max_batch=4)
        await asyncio.gather(*(batcher.score(str(i)) for i in range(10)))
        batcher.close()

    asyncio.run(run())
    assert max(len(b) for b in router.batches) <= 4
    assert sum(len(b) for b in router.batches) == 10


def test_batcher_passes_router_errors_to_every_caller() -> None:
    async def run() -> list[Any]:
        batcher = ScoreBatcher(BrokenRouter(), window_s=0.01)
        results = await asyncio.gather(
            batcher.score("a"), batcher.score("b"), return_exceptions=True
        )
        ok = await ScoreBatcher(CountingRouter(), window_s=0.0).score("c")
        return [*results, ok]

    first, second, ok = asyncio.run(run())
    assert isinstance(first, RuntimeError) and isinstance(second, RuntimeError)
    assert ok == pytest.approx(0.01)


def test_core_decides_by_threshold() -> None:
    core = RoutingCore(_config(), routers={"counting": CountingRouter()})
    long_prompt = "x" * 80  # score 0.8
    assert core.decide("router-counting-0.5", _user(long_prompt)).model == "big"
    assert core.decide("router-counting-0.9", _user(long_prompt)).model == "small"
    decision = core.decide("router-counting-0.8", _user(long_prompt))
    assert decision.is_strong  # score >= threshold goes strong
    assert decision.score == pytest.approx(0.8)


def test_core_async_decision_matches_sync() -> None:
    core = RoutingCore(_config(), routers={"counting": CountingRouter()})

    async def run() -> Any:
        try:
            return await core.adecide("router-counting-0.5", _user("y" * 30))
        finally:
            await core.aclose()

    decision = asyncio.run(run())
    sync = core.decide("router-counting-0.5", _user("y" * 30))
    assert (decision.model, decision.score) == (sync.model, sync.score)
    assert decision.model == "small"


def test_core_unknown_router_raises_unknown_router_error() -> None:
    core = RoutingCore(_config(), routers={"counting": CountingRouter()})
    with pytest.raises(UnknownRouterError, match="offers: counting"):
        core.decide("router-mf-0.5", _user("x"))


def test_core_share_uses_calibration(prompts: list[str]) -> None:
    router = load_router("random")
    calibration = calibrate_router(router, prompts, name="random")
    core = RoutingCore(
        _config(routers=["random"]),
        routers={"random": router},
        calibrations={"random": calibration},
    )
    decision = core.decide("router-random@0.5", _user(prompts[0]))
    assert decision.threshold == calibration.threshold_for(0.5)
    strong = [core.decide("router-random@0.5", _user(p)).is_strong for p in prompts]
    assert sum(strong) == len(prompts) // 2


def test_core_share_without_calibration_says_to_calibrate() -> None:
    core = RoutingCore(_config(), routers={"counting": CountingRouter()})
    with pytest.raises(InvalidRequestError, match="calibrate"):
        core.decide("router-counting@0.3", _user("x"))


def test_core_route_returns_decision_and_checks_threshold() -> None:
    core = RoutingCore(_config(), routers={"counting": CountingRouter()})
    assert core.route("x" * 90, "counting", 0.5).model == "big"
    with pytest.raises(InvalidRequestError):
        core.route("x", "counting", 2.0)


def test_core_loads_routers_by_name_from_config() -> None:
    core = RoutingCore(_config(routers="random"))
    assert core.routers["random"].name == "random"


def test_config_rejects_unknown_keys_and_bad_router_names() -> None:
    with pytest.raises(ValueError, match="extra"):
        _config(colour="blue")
    with pytest.raises(ValueError, match="router names"):
        _config(routers=["a@b"])


def test_batcher_cache_skips_rescoring_repeated_prompts() -> None:
    router = CountingRouter()

    async def run() -> list[float]:
        batcher = ScoreBatcher(router, window_s=0.0, cache_size=2)
        first = await batcher.score("aaaa")
        again = await batcher.score("aaaa")
        await batcher.score("b")
        await batcher.score("cc")  # evicts "aaaa" (least recently used)
        evicted = await batcher.score("aaaa")
        batcher.close()
        assert batcher.n_cache_hits == 1
        return [first, again, evicted]

    assert asyncio.run(run()) == pytest.approx([0.04, 0.04, 0.04])
    assert [b for batch in router.batches for b in batch] == ["aaaa", "b", "cc", "aaaa"]


def test_fallback_order_follows_utility_not_list_order() -> None:
    # utilities at lam=50: .641, .370, .442 -> cheap, then dear, then mid
    order = fallback_order([0.691, 0.520, 0.942], [0.001, 0.003, 0.010], 50.0)
    assert order == [0, 2, 1]


def test_fallback_order_ties_go_to_the_cheaper_model() -> None:
    assert fallback_order([0.8, 0.8, 0.8], [0.3, 0.1, 0.2], 0.0) == [1, 2, 0]
    # a free model and an infinite knob: order by cost, quality breaks cost ties
    assert fallback_order([0.2, 0.9, 0.5], [0.0, 0.0, 0.1], math.inf) == [1, 0, 2]
    # lam = 0: pure quality
    assert fallback_order([0.2, 0.9, 0.5], [0.0, 5.0, 0.1], 0.0) == [1, 2, 0]


def test_priced_models_default_strong_and_weak_and_check_budgets() -> None:
    def priced(name: str, usd: float) -> dict[str, Any]:
        return {"model": name, "base_url": "http://x/v1", "price": {"per_query": usd}}

    config = RoutingConfig(
        models=[priced("mid", 0.003), priced("dear", 0.01), priced("cheap", 0.001)],
        budgets=[0.002],
    )
    assert (config.strong.model, config.weak.model) == ("dear", "cheap")
    with pytest.raises(ValueError, match="budgets"):
        RoutingConfig(models=[priced("a", 0.1)], budgets=[-1.0])
    with pytest.raises(ValueError, match="strong"):
        RoutingConfig(routers=["random"])


def test_a_priced_model_id_is_a_direct_call() -> None:
    config = RoutingConfig(
        models=[
            {"model": m, "base_url": "http://x/v1", "price": {"per_query": p}}
            for m, p in (("cheap", 0.001), ("mid", 0.003), ("dear", 0.01))
        ],
    )
    core = RoutingCore(config)
    decision = core.decide("mid", [{"role": "user", "content": "hi"}])
    assert decision.model == "mid" and decision.router is None
    assert [e.model for e in core.endpoints_for(decision)] == ["mid"]
