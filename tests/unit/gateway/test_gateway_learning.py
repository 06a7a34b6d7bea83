"""The gateway's learning loop: request log records, feedback, exploration, reload."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _multi_records import MATH, three_model_records
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ArtifactError
from prefroute.gateway.config import RoutingConfig
from prefroute.gateway.core import RoutingCore
from prefroute.gateway.errors import InvalidRequestError
from prefroute.gateway.request_log import RequestLogOffError
from prefroute.gateway.store import RequestRecord, prompt_hash
from prefroute.routers.base import Router
from prefroute.routers.multi import MultiModelRouter
from prefroute.routers.random import RandomRouter


class GatedRouter(Router):
    """Scores 0.9, but only once `gate` is set (a slow model mid-batch)."""

    name = "gated"
    needs_fit = False

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()

    def score(self, prompts: Sequence[str]) -> Any:
        self.entered.set()
        assert self.gate.wait(30)
        return np.full(len(prompts), 0.9)


def _config(tmp_path: Path | None = None, **overrides: Any) -> RoutingConfig:
    fields: dict[str, Any] = {
        "strong": {"model": "big", "base_url": "http://127.0.0.1:1/v1"},
        "weak": {"model": "small", "base_url": "http://127.0.0.1:1/v1"},
        "routers": ["random"],
    }
    if tmp_path is not None:
        fields["log"] = str(tmp_path / "log.db")
    return RoutingConfig.model_validate({**fields, **overrides})


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.fixture()
def cores() -> Iterator[list[RoutingCore]]:
    """Cores whose request logs are closed at the end."""
    made: list[RoutingCore] = []
    yield made
    for core in made:
        core.close_log()


def _records(core: RoutingCore) -> list[RequestRecord]:
    assert core.request_log is not None
    assert core.request_log.flush(timeout=30)
    return list(core.request_log.store.iter_requests())


def test_finished_request_is_logged_with_its_decision(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    core = RoutingCore(_config(tmp_path))
    cores.append(core)
    trace = core.start_request()
    decision = core.decide("router-random-0.5", _user("hello there"), trace=trace)
    trace.model, trace.usage = (
        decision.model,
        {
            "prompt_tokens": 3,
            "completion_tokens": 7,
        },
    )
    core.finish_request(trace, 200)
    (record,) = _records(core)
    assert record.request_id == trace.request_id
    assert (record.router, record.threshold, record.score) == (
        "random",
        0.5,
        decision.score,
    )
    assert record.candidates == ["big", "small"]
    assert record.routed_model == record.policy_model == decision.model
    assert (record.is_exploration, record.propensity) == (False, 1.0)
    assert (record.prompt_tokens, record.completion_tokens) == (3, 7)
    assert record.prompt_hash == prompt_hash("hello there")
    assert record.prompt is None
    assert record.status == 200 and record.latency_ms >= 0


def test_log_prompts_keeps_the_routed_text(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    core = RoutingCore(_config(tmp_path, log_prompts=True))
    cores.append(core)
    trace = core.start_request()
    messages = [*_user("first"), {"role": "assistant", "content": "x"}, *_user("last")]
    core.decide("router-random-0.5", messages, trace=trace)
    core.finish_request(trace, 502, "upstream down")
    (record,) = _records(core)
    assert (record.prompt, record.status, record.error) == (
        "last",
        502,
        "upstream down",
    )


def test_request_rejected_before_routing_is_not_logged(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    core = RoutingCore(_config(tmp_path))
    cores.append(core)
    trace = core.start_request()
    with pytest.raises(InvalidRequestError):
        core.decide("router-random-7", _user("x"), trace=trace)
    core.finish_request(trace, 400, "bad threshold")
    assert _records(core) == []


def test_a_trace_is_logged_once(tmp_path: Path, cores: list[RoutingCore]) -> None:
    core = RoutingCore(_config(tmp_path))
    cores.append(core)
    trace = core.start_request()
    core.decide("small", _user("direct call"), trace=trace)
    core.finish_request(trace, 200)
    core.finish_request(trace, 500, "again")
    (record,) = _records(core)
    assert (record.router, record.candidates, record.status) == (None, ["small"], 200)


def test_feedback_rates_a_logged_request_and_refuses_unknown_ids(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    core = RoutingCore(_config(tmp_path))
    cores.append(core)
    trace = core.start_request()
    core.decide("router-random-0.5", _user("rate me"), trace=trace)
    core.finish_request(trace, 200)
    # still queued or already written: either way it is found
    assert core.feedback(trace.request_id, True, "user") == "ok"
    assert core.feedback(trace.request_id, 0.25, "user") == "ok"
    assert core.feedback("0" * 32, 1.0) == "unknown_request"
    assert core.request_log is not None
    stored = core.request_log.store.feedback_for([trace.request_id])
    assert [(f.source, f.score) for f in stored[trace.request_id]] == [("user", 0.25)]
    assert core.request_log.feedback_counts() == {"ok": 2, "unknown_request": 1}


@pytest.mark.parametrize(
    ("request_id", "score", "source", "param"),
    [
        ("abc", 1.5, None, "score"),
        ("abc", "yes", None, "score"),
        ("abc", None, None, "score"),
        (None, 1.0, None, "request_id"),
        ("", 1.0, None, "request_id"),
        ("abc", 1.0, 7, "source"),
    ],
)
def test_malformed_feedback_names_the_field(
    tmp_path: Path,
    cores: list[RoutingCore],
    request_id: Any,
    score: Any,
    source: Any,
    param: str,
) -> None:
    core = RoutingCore(_config(tmp_path))
    cores.append(core)
    with pytest.raises(InvalidRequestError) as info:
        core.feedback(request_id, score, source)
    assert info.value.param == param


def test_feedback_without_a_log_says_the_log_is_off() -> None:
    core = RoutingCore(_config())
    with pytest.raises(RequestLogOffError, match="--log"):
        core.feedback("abc", 1.0)


def test_pair_exploration_sends_the_share_to_the_other_model(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    core = RoutingCore(_config(tmp_path, explore=0.25, explore_seed=3))
    cores.append(core)
    decisions = []
    for i in range(800):
        trace = core.start_request()
        decisions.append(core.decide("router-random-0.5", _user(f"p{i}"), trace=trace))
        core.finish_request(trace, 200)
    explored = [d for d in decisions if d.explored_from is not None]
    assert 0.19 < len(explored) / len(decisions) < 0.31
    for d in explored:
        assert d.model != d.explored_from
        assert d.tier == ("strong" if d.model == "big" else "weak")
        assert d.propensity == 0.25
        # the policy's pick is the fallback
        assert [e.model for e in core.endpoints_for(d)] == [d.model, d.explored_from]
    assert {d.propensity for d in decisions if d.explored_from is None} == {0.75}
    records = _records(core)
    assert sum(r.is_exploration for r in records) == len(explored)
    for r in records:
        assert (r.policy_model != r.routed_model) == r.is_exploration
    assert sum(core.n_explored.values()) == len(explored)


def test_exploration_leaves_direct_calls_alone() -> None:
    core = RoutingCore(_config(explore=0.9, explore_seed=0))
    decisions = [core.decide("big", _user(f"p{i}")) for i in range(50)]
    assert {(d.model, d.explored_from, d.propensity) for d in decisions} == {
        ("big", None, 1.0)
    }


def test_n_model_exploration_is_uniform_over_the_other_models(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    router = MultiModelRouter(
        embedder=HashingEmbedder(dim=64), dim=4, n_epochs=100
    ).fit_multi(three_model_records())
    models = [
        {"model": m, "base_url": "http://127.0.0.1:1/v1", "price": {"per_query": p}}
        for m, p in (("cheap", 0.001), ("mid", 0.003), ("dear", 0.01))
    ]
    config = RoutingConfig.model_validate(
        {
            "routers": ["mf-multi"],
            "models": models,
            "explore": 0.3,
            "explore_seed": 1,
            "log": str(tmp_path / "log.db"),
        }
    )
    core = RoutingCore(config, routers={"mf-multi": router})
    cores.append(core)
    decisions = []
    for _ in range(600):
        trace = core.start_request()
        decisions.append(core.decide("router-mf-multi-0", _user(MATH), trace=trace))
        core.finish_request(trace, 200)
    policy = {d.explored_from or d.model for d in decisions}
    assert len(policy) == 1  # the same prompt: the same policy pick
    (pick,) = policy
    explored = [d for d in decisions if d.explored_from is not None]
    others = {d.model for d in explored}
    assert others == {"cheap", "mid", "dear"} - {pick}
    for d in explored:
        assert d.propensity == pytest.approx(0.15)
        assert d.candidates[0] == d.model and set(d.candidates) == {
            "cheap",
            "mid",
            "dear",
        }
    record = _records(core)[0]
    assert record.candidates == ["cheap", "mid", "dear"]
    assert record.scores is not None and set(record.scores) == {"cheap", "mid", "dear"}
    assert record.knob == 0.0 and record.threshold is None


def _random_folder(path: Path, seed: int) -> Path:
    RandomRouter(seed=seed).save(path)
    return path


def test_reload_swaps_in_routers_loaded_again_from_their_folders(
    tmp_path: Path,
) -> None:
    folder = _random_folder(tmp_path / "r", seed=1)
    core = RoutingCore(_config(routers={"r": str(folder)}))
    prompt = _user("the same prompt")
    before = core.decide("router-r-0.5", prompt).score
    _random_folder(folder, seed=2)
    report = core.reload()
    after = core.decide("router-r-0.5", prompt).score
    assert before != after
    assert after == RandomRouter(seed=2).score(["the same prompt"])[0]
    assert (report.version, core.router_version) == (2, 2)
    assert report.routers == {"r": str(folder)}
    assert core.n_reloads == {"ok": 1, "error": 0}


def test_failed_reload_keeps_the_old_routers_serving(tmp_path: Path) -> None:
    folder = _random_folder(tmp_path / "r", seed=1)
    core = RoutingCore(_config(routers={"r": str(folder)}))
    before = core.decide("router-r-0.5", _user("x")).score
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError):
        core.reload()
    assert core.decide("router-r-0.5", _user("x")).score == before
    assert core.router_version == 1
    assert core.n_reloads == {"ok": 0, "error": 1}


def test_request_being_scored_during_a_reload_finishes_on_the_old_router(
    tmp_path: Path,
) -> None:
    folder = _random_folder(tmp_path / "r", seed=1)
    gated = GatedRouter()
    core = RoutingCore(_config(routers={"r": str(folder)}), routers={"r": gated})

    async def run() -> tuple[float | None, float | None]:
        in_flight = asyncio.create_task(core.adecide("router-r-0.5", _user("slow")))
        while not gated.entered.is_set():
            await asyncio.sleep(0.01)
        await asyncio.to_thread(core.reload)  # swaps while the old one scores
        gated.gate.set()
        old = await in_flight
        new = await core.adecide("router-r-0.5", _user("slow"))
        await core.aclose()
        return old.score, new.score

    old_score, new_score = asyncio.run(run())
    assert old_score == pytest.approx(0.9)
    assert new_score == RandomRouter(seed=1).score(["slow"])[0]


def test_retention_settings_reach_the_log_writer(
    tmp_path: Path, cores: list[RoutingCore]
) -> None:
    core = RoutingCore(
        _config(tmp_path, log_max_rows=2, log_max_age_days=1.5, log_queue_size=7)
    )
    cores.append(core)
    assert core.request_log is not None
    writer = core.request_log.writer
    assert (writer.max_rows, writer.max_age_s) == (2, 1.5 * 86400)
    assert writer.max_queue == 7
