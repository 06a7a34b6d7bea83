"""A raw threshold read as a share: /v1/models lists each calibrated router's score
quantiles and the share of calibration prompts a few raw thresholds send strong, and
the server warns once about a raw threshold sending nearly all prompts strong."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fake_upstream import FakeUpstream, KeywordRouter, RunningServer

from prefroute.calibrate import calibrate_router
from prefroute.gateway.core import RoutingCore
from prefroute.routers.registry import load_router
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig

# KeywordRouter: 10 of these 100 prompts score 0.9, the other 90 score 0.1.
CALIBRATION = [f"prove lemma {i}" for i in range(10)] + [
    f"say hello to {i}" for i in range(90)
]


@pytest.fixture()
def server(
    upstream: FakeUpstream, start_server: Callable[[Any], RunningServer]
) -> RunningServer:
    config = ServeConfig.model_validate(
        {
            "strong": {"model": "strong-model", "base_url": upstream.base_url},
            "weak": {"model": "weak-model", "base_url": upstream.base_url},
            "routers": ["keyword", "random"],
        }
    )
    keyword = KeywordRouter()
    core = RoutingCore(
        config,
        routers={"keyword": keyword, "random": load_router("random")},
        calibrations={
            "keyword": calibrate_router(
                keyword, CALIBRATION, name="keyword", source="calibration.txt"
            )
        },
    )
    return start_server(create_app(config, core=core))


def _entry(server: RunningServer, model_id: str) -> dict[str, Any]:
    models = httpx.get(f"{server.url}/v1/models").json()["data"]
    entry: dict[str, Any] = next(m for m in models if m["id"] == model_id)
    return entry


def test_models_list_score_quantiles_and_shares_of_raw_thresholds(
    server: RunningServer,
) -> None:
    entry = _entry(server, "router-keyword")
    assert entry["calibration_source"] == "calibration.txt"
    assert entry["strong_share_at_threshold"]["0.1"] == 1.0  # every score >= 0.1
    assert entry["strong_share_at_threshold"]["0.5"] == 0.1
    assert entry["strong_share_at_threshold"]["0.9"] == 0.1
    assert entry["score_quantiles"]["0.5"] == 0.1
    assert entry["score_quantiles"]["0.95"] == 0.9
    uncalibrated = _entry(server, "router-random")
    assert uncalibrated["score_quantiles"] is None
    assert uncalibrated["strong_share_at_threshold"] is None


def _chat(server: RunningServer, model: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )


def test_raw_threshold_sending_nearly_all_strong_is_warned_once(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="prefroute"):
        for _ in range(3):
            assert _chat(server, "router-keyword-0.05").status_code == 200
        assert _chat(server, "router-keyword-0.5").status_code == 200  # 10 %: fine
    warned = [r.getMessage() for r in caplog.records if "raw threshold" in r.message]
    assert len(warned) == 1
    assert "router keyword: raw threshold 0.05 sends 100% of its 100" in warned[0]
    assert "'router-keyword@0.3' = threshold 0.1" in warned[0]
