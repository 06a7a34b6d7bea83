"""N-model routing through the real server: three fake upstreams, a fitted
MultiModelRouter, ``router-mf-multi@<USD budget>`` model strings, spend metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from fake_upstream import FakeUpstream, RunningServer

from prefroute.client.core import RoutingCore
from prefroute.embed.hashing import HashingEmbedder
from prefroute.routers.multi import MultiModelRouter
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig
from prefroute.types import GoldenRecord

CHAT = "hello there friend number 3, how are you today"
MATH = "integrate the polynomial x^3 times exp of x carefully"


def _records(n: int = 20) -> list[GoldenRecord]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        out.append(
            GoldenRecord(
                f"hello there friend number {i}, how are you today",
                {"cheap": 1.0, "mid": float(rng.random() < 0.5), "dear": 1.0},
                task="chat",
            )
        )
        out.append(
            GoldenRecord(
                f"integrate the polynomial x^{i} times exp of x carefully",
                {"cheap": 0.0, "mid": 1.0, "dear": float(rng.random() < 0.9)},
                task="math",
            )
        )
    return out


@pytest.fixture(scope="module")
def router() -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=100
    ).fit_multi(_records())


@pytest.fixture(scope="module")
def fakes() -> Iterator[list[FakeUpstream]]:
    started = [FakeUpstream().start() for _ in range(3)]
    yield started
    for fake in started:
        fake.stop()


def _server(
    router: MultiModelRouter, fakes: list[FakeUpstream], mid_price: float
) -> RunningServer:
    def ep(name: str, fake: FakeUpstream, per_query: float) -> dict[str, Any]:
        return {
            "model": f"up-{name}",
            "base_url": fake.base_url,
            "router_name": name,
            "timeout": 2,
            "price": {"per_query": per_query, "input_per_mtok": 1.0},
        }

    config = ServeConfig.model_validate(
        {
            "strong": {"model": "up-dear", "base_url": fakes[2].base_url},
            "weak": {"model": "up-cheap", "base_url": fakes[0].base_url},
            "routers": ["mf-multi"],
            "models": [
                ep("cheap", fakes[0], 0.001),
                ep("mid", fakes[1], mid_price),
                ep("dear", fakes[2], 0.01),
            ],
        }
    )
    core = RoutingCore(config, routers={"mf-multi": router})
    return RunningServer(create_app(config, core=core))


def _ask(url: str, model: str, prompt: str) -> Any:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )


def test_budget_routes_chat_cheap_math_mid_and_counts_spend(
    router: MultiModelRouter, fakes: list[FakeUpstream]
) -> None:
    server = _server(router, fakes, 0.003)
    try:
        chat = _ask(server.url, "router-mf-multi@0.0022", CHAT)
        math = _ask(server.url, "router-mf-multi@0.0022", MATH)
        assert chat.parse().model == "up-cheap"
        assert chat.headers["x-prefroute-routed-to"] == "up-cheap"
        assert math.parse().model == "up-mid"
        assert math.headers["x-prefroute-routed-to"] == "up-mid"
        text = httpx.get(f"{server.url}/metrics").text
        # per_query + usage of the fake: 3 prompt tokens at 1 USD / Mtok
        assert 'prefroute_spend_usd_total{model="up-cheap"} 0.001003' in text
        assert 'prefroute_spend_usd_total{model="up-mid"} 0.003003' in text
        assert 'model="up-mid",router="mf-multi"' in text
    finally:
        server.stop()


def test_dear_mid_flips_math_to_dear(
    router: MultiModelRouter, fakes: list[FakeUpstream]
) -> None:
    server = _server(router, fakes, 0.02)
    try:
        math = _ask(server.url, "router-mf-multi-0", MATH)
        assert math.parse().model == "up-dear"
        chat = _ask(server.url, "router-mf-multi-1000", CHAT)
        assert chat.parse().model == "up-cheap"
    finally:
        server.stop()


@pytest.mark.parametrize("model", ["router-mf-multi@-1", "router-mf-multi@abc"])
def test_bad_budget_is_400_envelope(
    router: MultiModelRouter, fakes: list[FakeUpstream], model: str
) -> None:
    server = _server(router, fakes, 0.003)
    try:
        response = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": CHAT}]},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_budget"
    finally:
        server.stop()
