"""N-model routing through the real server: three fake upstreams, a fitted
MultiModelRouter, ``router-mf-multi@<USD budget>`` model strings, spend metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fake_upstream import FakeUpstream, RunningServer

from _multi_records import CHAT, MATH, three_model_records
from prefroute import Controller
from prefroute.client import AsyncController
from prefroute.embed.hashing import HashingEmbedder
from prefroute.gateway.core import RoutingCore
from prefroute.routers.multi import MultiModelRouter
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig


@pytest.fixture(scope="module")
def router() -> MultiModelRouter:
    return MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=100
    ).fit_multi(three_model_records())


@pytest.fixture(scope="module")
def fakes() -> Iterator[list[FakeUpstream]]:
    started = [FakeUpstream().start() for _ in range(3)]
    yield started
    for fake in started:
        fake.stop()


def _ep(name: str, fake: FakeUpstream, per_query: float) -> dict[str, Any]:
    return {
        "model": f"up-{name}",
        "base_url": fake.base_url,
        "router_name": name,
        "timeout": 2,
        "max_retries": 0,
        "price": {"per_query": per_query, "input_per_mtok": 1.0},
    }


def _models(fakes: list[FakeUpstream], mid_price: float) -> list[dict[str, Any]]:
    return [
        _ep("cheap", fakes[0], 0.001),
        _ep("mid", fakes[1], mid_price),
        _ep("dear", fakes[2], 0.01),
    ]


def _server(
    router: MultiModelRouter,
    fakes: list[FakeUpstream],
    mid_price: float,
    budgets: tuple[float, ...] = (),
) -> RunningServer:
    config = ServeConfig.model_validate(
        {
            "strong": {"model": "up-dear", "base_url": fakes[2].base_url},
            "weak": {"model": "up-cheap", "base_url": fakes[0].base_url},
            "routers": ["mf-multi"],
            "models": _models(fakes, mid_price),
            "budgets": list(budgets),
        }
    )
    core = RoutingCore(config, routers={"mf-multi": router})
    return RunningServer(create_app(config, core=core))


@pytest.fixture()
def clean(fakes: list[FakeUpstream]) -> Iterator[list[FakeUpstream]]:
    """The three fakes, with behaviours and recorded requests reset around a test."""
    for fake in fakes:
        fake.reset()
    yield fakes
    for fake in fakes:
        fake.reset()


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


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# Predicted qualities of the fixture router (cheap, mid, dear): CHAT .69/.52/.94,
# MATH .32/.73/.91. At lambda = 50 (quality - 50 x USD) CHAT ranks cheap > dear >
# mid, so the next-best model after cheap is dear, not mid (the next in the list).


def test_models_lists_priced_models_and_budgets_calibrated_at_start(
    router: MultiModelRouter, clean: list[FakeUpstream]
) -> None:
    server = _server(router, clean, 0.003, budgets=(0.0022, 0.005, 0.0))
    try:
        core = server.server.config.app.state.core
        # calibrated when the app was built, before any request
        assert set(core.budget_knobs) == {
            ("mf-multi", 0.0022),
            ("mf-multi", 0.005),
            ("mf-multi", 0.0),
        }
        data = httpx.get(f"{server.url}/v1/models").json()["data"]
        by_id = {entry["id"]: entry for entry in data}
        assert {"up-cheap", "up-mid", "up-dear"} <= set(by_id)
        assert by_id["up-mid"]["price"]["per_query"] == 0.003
        assert by_id["up-mid"]["router_name"] == "mid"
        multi = by_id["router-mf-multi"]
        assert multi["kind"] == "n-model"
        assert multi["models"] == ["up-cheap", "up-mid", "up-dear"]
        assert set(multi["calibrated_budgets"]) == {"0.0022", "0.005", "0"}
        # a budget below every model's cost: lambda is infinite (JSON null), and the
        # cheapest model answers even where it is predicted worst
        assert by_id["router-mf-multi@0"]["lambda"] is None
        assert _ask(server.url, "router-mf-multi@0", MATH).parse().model == "up-cheap"
        entry = by_id["router-mf-multi@0.0022"]
        assert entry["lambda"] == core.budget_knobs[("mf-multi", 0.0022)]
        # the listed equivalent lambda routes like the budget
        for prompt, expected in ((CHAT, "up-cheap"), (MATH, "up-mid")):
            for model in ("router-mf-multi@0.0022", entry["equivalent"]):
                assert _ask(server.url, model, prompt).parse().model == expected
        assert len(core.budget_knobs) == 3  # no calibration on the request path
    finally:
        server.stop()


def test_server_falls_back_to_the_next_best_model(
    router: MultiModelRouter, clean: list[FakeUpstream]
) -> None:
    clean[0].behaviour["up-cheap"] = "500"
    server = _server(router, clean, 0.003)
    try:
        reply = _ask(server.url, "router-mf-multi-50", CHAT)
        assert reply.headers["x-prefroute-fallback"] == "true"
        assert reply.headers["x-prefroute-decided"] == "up-cheap"
        assert reply.parse().model == "up-dear"  # not up-mid, the next in the list
        assert clean[1].requests == []
        text = httpx.get(f"{server.url}/metrics").text
        assert 'from_model="up-cheap",to_model="up-dear"' in text
    finally:
        server.stop()


def test_controller_routes_among_three_priced_upstreams_and_counts_spend(
    router: MultiModelRouter, clean: list[FakeUpstream]
) -> None:
    with Controller(
        routers={"mf-multi": router},
        models=_models(clean, 0.003),
        budgets=[0.0022],
    ) as client:
        # strong / weak default to the dearest / cheapest priced model
        assert client.core.config.strong.model == "up-dear"
        assert client.core.config.weak.model == "up-cheap"
        assert ("mf-multi", 0.0022) in client.core.budget_knobs
        chat = client.chat.completions.create(
            model="router-mf-multi@0.0022", messages=_user(CHAT)
        )
        math = client.chat.completions.create(
            model="router-mf-multi@0.0022", messages=_user(MATH)
        )
        best = client.chat.completions.create(
            model="router-mf-multi-0", messages=_user(MATH)
        )
        direct = client.chat.completions.create(model="up-mid", messages=_user(CHAT))
        assert [r.model for r in (chat, math, best, direct)] == [
            "up-cheap",
            "up-mid",
            "up-dear",
            "up-mid",
        ]
        assert chat.choices[0].message.content == f"echo: {CHAT}"
        assert [len(f.requests) for f in clean] == [1, 2, 1]
        assert client.model_counts == {"up-cheap": 1, "up-mid": 2, "up-dear": 1}
        # per_query + the fake's usage (3 prompt tokens at 1 USD / Mtok)
        assert client.model_spend == pytest.approx(
            {"up-cheap": 0.001003, "up-mid": 0.006006, "up-dear": 0.010003}
        )
        assert client.last_decision is not None
        assert client.last_decision.model == "up-mid"
        with pytest.raises(ValueError, match="finite number"):
            client.chat.completions.create(
                model="router-mf-multi@-3", messages=_user(CHAT)
            )


def test_controller_falls_back_to_the_next_best_model(
    router: MultiModelRouter, clean: list[FakeUpstream]
) -> None:
    clean[0].behaviour["up-cheap"] = "500"
    with Controller(
        routers={"mf-multi": router}, models=_models(clean, 0.003)
    ) as client:
        reply = client.chat.completions.create(
            model="router-mf-multi-50", messages=_user(CHAT)
        )
        assert reply.model == "up-dear"
        assert client.model_counts == {"up-cheap": 1, "up-mid": 0, "up-dear": 1}
        assert client.model_spend["up-cheap"] == 0.0
        assert client.model_spend["up-dear"] == pytest.approx(0.010003)


def test_async_controller_routes_among_priced_models(
    router: MultiModelRouter, clean: list[FakeUpstream]
) -> None:
    async def run() -> tuple[list[str], dict[str, int], dict[str, float]]:
        async with AsyncController(
            routers={"mf-multi": router},
            models=_models(clean, 0.003),
            budgets=[0.0022],
        ) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="router-mf-multi@0.0022",
                        messages=_user(CHAT if i % 2 else MATH),
                    )
                    for i in range(6)
                )
            )
            # the six concurrent requests were scored together (micro-batched)
            batcher = client.core.multi_batcher("mf-multi")
            assert batcher.n_prompts == 6 and batcher.n_batches <= 2
            return [r.model for r in replies], client.model_counts, client.model_spend

    models, counts, spend = asyncio.run(run())
    assert models == ["up-mid", "up-cheap"] * 3
    assert counts == {"up-cheap": 3, "up-mid": 3, "up-dear": 0}
    assert spend["up-mid"] == pytest.approx(3 * 0.003003)


def test_controller_prices_the_requests_max_tokens(
    router: MultiModelRouter, clean: list[FakeUpstream]
) -> None:
    # dear's cost is 1,000 expected output tokens; a request capped at 5 makes it
    # about as cheap as `cheap`, so the in-process client must pass max_tokens on.
    models = _models(clean, 0.003)
    models[2]["price"] = {
        "per_query": 0.001,
        "output_per_mtok": 9.0,
        "expected_output_tokens": 1000,
    }
    with Controller(routers={"mf-multi": router}, models=models) as client:
        plain = client.chat.completions.create(
            model="router-mf-multi@0.0022", messages=_user(MATH)
        )
        capped = client.chat.completions.create(
            model="router-mf-multi@0.0022", messages=_user(MATH), max_tokens=5
        )
        assert (plain.model, capped.model) == ("up-mid", "up-dear")

    async def run() -> str:
        async with AsyncController(routers={"mf-multi": router}, models=models) as a:
            reply = await a.chat.completions.create(
                model="router-mf-multi@0.0022", messages=_user(MATH), max_tokens=5
            )
            return str(reply.model)

    assert asyncio.run(run()) == "up-dear"


def test_controller_recalibrates_budgets_even_with_given_calibrations(
    clean: list[FakeUpstream], tmp_path: Path
) -> None:
    from prefroute.calibrate import calibrate_router

    router = MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=100
    ).fit_multi(three_model_records())
    given = {"mf-multi": calibrate_router(router, [CHAT, MATH] * 5, name="mf-multi")}
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"{MATH} {i}" for i in range(30)) + "\n")
    with Controller(
        routers={"mf-multi": router},
        models=_models(clean, 0.003),
        calibrations=given,
        calibration_prompts=str(prompts),
    ) as client:
        assert client.core.calibrations["mf-multi"] is given["mf-multi"]
    assert router.n_calibration_prompts == 30
