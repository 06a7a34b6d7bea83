"""The shipped mf-multi checkpoint loads, scores the models of every source, and
routes by price."""

from __future__ import annotations

import pytest

from prefroute.routers import load_router
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.policy import ModelPrice

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.fixture(scope="module")
def shipped() -> MultiModelRouter:
    router = load_router("mf-multi")
    assert isinstance(router, MultiModelRouter)
    return router


def test_shipped_router_knows_golden_and_battle_models(
    shipped: MultiModelRouter,
) -> None:
    models = set(shipped.models)
    assert {GPT4, MIXTRAL, "zero-one-ai/Yi-34B-Chat"} <= models  # RouterBench
    assert "meta-math/MetaMath-Mistral-7B" in models  # RouterDC only
    assert len(models) > 50  # AlpacaEval battle-only models too
    assert shipped.default_pair == (GPT4, MIXTRAL)


def test_shipped_router_scores_and_routes_by_price(shipped: MultiModelRouter) -> None:
    prompts = ["What is the capital of France?", "Prove Fermat's little theorem."]
    quality = shipped.score_models(prompts, [GPT4, MIXTRAL])
    assert quality.shape == (2, 2)
    assert ((quality > 0) & (quality < 1)).all()
    prices = {GPT4: ModelPrice(per_query=0.01), MIXTRAL: ModelPrice(per_query=0.0005)}
    assert shipped.choose(prompts, prices, knob=0.0) == [
        [GPT4, MIXTRAL][int(i)] for i in quality.argmax(axis=1)
    ]
    assert shipped.choose(prompts, prices, knob=float("inf")) == [MIXTRAL, MIXTRAL]
    # A budget between the two prices sends some, not all, calibration traffic strong.
    lam = shipped.calibrate(prices, target_cost=0.005)
    assert 0.0 < lam < float("inf")


def test_shipped_router_scores_routerbench_raw_names(shipped: MultiModelRouter) -> None:
    prompts = ["What is the capital of France?"]
    raw = ["meta/llama-2-70b-chat", "mistralai/mixtral-8x7b-chat"]
    canonical = ["llama-2-70b-chat-hf", MIXTRAL]
    assert shipped.resolve_models(raw) == canonical
    assert (
        shipped.score_models(prompts, raw) == shipped.score_models(prompts, canonical)
    ).all()
