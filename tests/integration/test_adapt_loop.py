"""The whole loop on a real server (uvicorn on 127.0.0.1, fake upstream): requests
logged with prompts and exploration, feedback over HTTP, `prefroute adapt` on the
log, the adapted folder served after `POST /admin/reload`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fake_upstream import FakeUpstream, RunningServer
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))

from prefroute.cli import build_app
from prefroute.embed.hashing import HashingEmbedder
from prefroute.gateway.core import RoutingCore
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.mf import MFRouter
from prefroute.routers.registry import load_router
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig
from prefroute.types import Battle

HARD = [f"prove theorem {i} about primes and groups" for i in range(40)]
EASY = [f"say hello to friend {i} today" for i in range(40)]


def _start_router(folder: Path) -> None:
    battles = [Battle(p, "strong-model", "weak-model", "a") for p in HARD]
    battles += [Battle(p, "strong-model", "weak-model", "tie") for p in EASY]
    MFRouter(
        embedder=HashingEmbedder(dim=64),
        dim=4,
        n_epochs=60,
        strong_model="strong-model",
        weak_model="weak-model",
    ).fit(battles).save(folder)


def test_feedback_adapt_and_reload_on_a_real_server(
    upstream: FakeUpstream,
    start_server: Callable[[Any], RunningServer],
    tmp_path: Path,
) -> None:
    start, served, log = tmp_path / "start", tmp_path / "served", tmp_path / "log.db"
    _start_router(start)
    _start_router(served)
    config = ServeConfig.model_validate(
        {
            "strong": {"model": "strong-model", "base_url": upstream.base_url},
            "weak": {"model": "weak-model", "base_url": upstream.base_url},
            "routers": {"mine": str(served)},
            "fallback": False,
            "log": str(log),
            "log_prompts": True,
            "explore": 0.3,
            "explore_seed": 1,
            "admin_api_keys": ["admin"],
        }
    )
    server = start_server(create_app(config, core=RoutingCore(config)))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for prompt in HARD + EASY:
            reply = http.post(
                "/v1/chat/completions",
                json={
                    "model": "router-mine-0.5",
                    "messages": [{"role": "user", "content": prompt}],
                },
            )
            assert reply.status_code == 200, reply.text
            model = reply.headers["x-prefroute-routed-to"]
            good = model == "strong-model" or prompt in EASY
            feedback = http.post(
                "/v1/feedback",
                json={
                    "request_id": reply.headers["x-prefroute-request-id"],
                    "score": 1.0 if good else 0.0,
                },
            )
            assert feedback.status_code == 200, feedback.text
        report = tmp_path / "check.json"
        result = CliRunner().invoke(
            build_app(),
            [
                "adapt", "--router", str(start), "--log", str(log), "--out",
                str(served), "--force", "--bootstrap", "100", "--json", str(report),
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        check = json.loads(report.read_text())
        assert check["n_labels"] == len(HARD + EASY) and check["written"]
        assert isinstance(load_router(served), AdaptedRouter)
        reload = http.post("/admin/reload", headers={"Authorization": "Bearer admin"})
        assert reload.status_code == 200, reload.text
        assert http.get("/health").json()["router_version"] == 2
        reply = http.post(
            "/v1/chat/completions",
            json={
                "model": "router-mine-0.5",
                "messages": [{"role": "user", "content": HARD[0]}],
            },
        )
        assert reply.status_code == 200
        assert 0.0 <= float(reply.headers["x-prefroute-score"]) <= 1.0
