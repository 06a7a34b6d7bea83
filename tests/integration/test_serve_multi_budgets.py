"""N-model budgets through the real server on 127.0.0.1 (fake upstreams): the
calibration-prompts option, whole-conversation pricing, max_tokens, and the bound on
budgets calibrated on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_upstream import FakeUpstream, RunningServer

from _multi_records import CHAT, MATH, three_model_records
from prefroute.gateway.core import RoutingCore
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.registry import load_router
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig

# About 23k tokens by the 4-characters-per-token estimate (92k characters).
SYSTEM = "You are a meticulous assistant. " * 2900


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("routers") / "mf-multi"
    MultiModelRouter(embedder="hashing:64", dim=4, n_epochs=100).fit_multi(
        three_model_records()
    ).save(folder)
    return folder


@pytest.fixture(scope="module")
def fakes() -> Iterator[list[FakeUpstream]]:
    started = [FakeUpstream().start() for _ in range(3)]
    yield started
    for fake in started:
        fake.stop()


def _models(fakes: list[FakeUpstream], prices: list[dict[str, float]]) -> list[Any]:
    return [
        {
            "model": f"up-{name}",
            "base_url": fake.base_url,
            "router_name": name,
            "timeout": 2,
            "max_retries": 0,
            "price": price,
        }
        for name, fake, price in zip(
            ("cheap", "mid", "dear"), fakes, prices, strict=True
        )
    ]


# Input tokens priced very differently: short prompts cost about per_query.
BY_INPUT = [
    {"per_query": 0.001, "input_per_mtok": 0.1},
    {"per_query": 0.003, "input_per_mtok": 10.0},
    {"per_query": 0.01, "input_per_mtok": 30.0},
]
# dear's cost is its 1,000 expected output tokens.
BY_OUTPUT = [
    {"per_query": 0.001},
    {"per_query": 0.003},
    {"per_query": 0.001, "output_per_mtok": 9.0, "expected_output_tokens": 1000},
]


def _config(
    fakes: list[FakeUpstream], prices: list[dict[str, float]], **extra: Any
) -> ServeConfig:
    return ServeConfig.model_validate(
        {"models": _models(fakes, prices), "routers": ["mf-multi"], **extra}
    )


def _ask(url: str, model: str, messages: list[Any], **extra: Any) -> httpx.Response:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": messages, **extra},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _models_by_id(url: str) -> dict[str, Any]:
    data = httpx.get(f"{url}/v1/models").json()["data"]
    return {entry["id"]: entry for entry in data}


def test_calibration_prompts_option_recalibrates_budgets(
    router_dir: Path, fakes: list[FakeUpstream], tmp_path: Path
) -> None:
    prompts = tmp_path / "traffic.txt"
    prompts.write_text(
        "\n".join(f"{SYSTEM[:4000]} {MATH} {i}" for i in range(25)) + "\n",
        encoding="utf-8",
    )
    routers = {"mf-multi": str(router_dir)}
    entries = []
    for extra in ({}, {"calibration_prompts": str(prompts)}):
        config = _config(fakes, BY_INPUT, routers=routers, budgets=[0.0022], **extra)
        server = RunningServer(create_app(config))
        try:
            entries.append(_models_by_id(server.url))
        finally:
            server.stop()
    plain, calibrated = entries
    assert plain["router-mf-multi"]["calibration_prompts"] == 40  # training prompts
    assert calibrated["router-mf-multi"]["calibration_prompts"] == 25
    # the budget is calibrated on the long prompts: another lambda
    assert calibrated["router-mf-multi@0.0022"]["lambda"] != pytest.approx(
        plain["router-mf-multi@0.0022"]["lambda"]
    )


def test_long_system_prompt_routes_to_a_cheaper_model(
    router_dir: Path, fakes: list[FakeUpstream]
) -> None:
    config = _config(fakes, BY_INPUT, routers={"mf-multi": str(router_dir)})
    server = RunningServer(create_app(config))
    try:
        model = "router-mf-multi@0.0022"
        short = _ask(server.url, model, _user(MATH))
        assert short.headers["x-prefroute-routed-to"] == "up-mid"
        messages = [{"role": "system", "content": SYSTEM}, *_user(MATH)]
        long = _ask(server.url, model, messages)
        # same routed text; mid would cost ~$0.23 for the whole conversation
        assert long.headers["x-prefroute-routed-to"] == "up-cheap"
        assert long.json()["model"] == "up-cheap"
    finally:
        server.stop()


def test_large_tool_definitions_are_priced_as_input(
    router_dir: Path, fakes: list[FakeUpstream]
) -> None:
    # Providers bill tool schemas as prompt tokens: ~23k tokens of them make mid
    # as dear as the long system prompt does.
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{i}",
                "description": "Looks something up in a large catalogue. " * 40,
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for i in range(50)
    ]
    config = _config(fakes, BY_INPUT, routers={"mf-multi": str(router_dir)})
    server = RunningServer(create_app(config))
    try:
        model = "router-mf-multi@0.0022"
        plain = _ask(server.url, model, _user(MATH))
        assert plain.headers["x-prefroute-routed-to"] == "up-mid"
        with_tools = _ask(server.url, model, _user(MATH), tools=tools)
        assert with_tools.headers["x-prefroute-routed-to"] == "up-cheap"
    finally:
        server.stop()


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_caps_the_output_priced(
    router_dir: Path, fakes: list[FakeUpstream], field: str
) -> None:
    config = _config(fakes, BY_OUTPUT, routers={"mf-multi": str(router_dir)})
    server = RunningServer(create_app(config))
    try:
        model = "router-mf-multi@0.0022"
        plain = _ask(server.url, model, _user(CHAT))
        assert plain.headers["x-prefroute-routed-to"] == "up-cheap"
        # 5 output tokens: dear costs about what cheap does and is predicted better
        capped = _ask(server.url, model, _user(CHAT), **{field: 5})
        assert capped.headers["x-prefroute-routed-to"] == "up-dear"
        roomy = _ask(server.url, model, _user(CHAT), **{field: 50_000})
        assert roomy.headers["x-prefroute-routed-to"] == "up-cheap"
    finally:
        server.stop()


def test_invented_budgets_are_capped_and_not_listed(
    router_dir: Path, fakes: list[FakeUpstream]
) -> None:
    config = _config(fakes, BY_INPUT, budgets=[0.0022])
    core = RoutingCore(config, routers={"mf-multi": load_router(router_dir)})
    server = RunningServer(create_app(config, core=core))
    try:
        with httpx.Client(timeout=10) as client:
            for i in range(200):
                response = client.post(
                    f"{server.url}/v1/chat/completions",
                    json={
                        "model": f"router-mf-multi@{0.001 + i * 1e-5:.5f}",
                        "messages": _user(CHAT),
                    },
                )
                assert response.status_code == 200
        assert len(core.on_demand_budgets) == 64
        assert ("mf-multi", 0.00299) in core.on_demand_budgets  # the latest kept
        assert ("mf-multi", 0.001) not in core.on_demand_budgets  # the oldest gone
        by_id = _models_by_id(server.url)
        assert set(by_id) == {
            "router-mf-multi",
            "router-mf-multi@0.0022",
            "up-cheap",
            "up-mid",
            "up-dear",
        }
        assert set(by_id["router-mf-multi"]["calibrated_budgets"]) == {"0.0022"}
    finally:
        server.stop()
