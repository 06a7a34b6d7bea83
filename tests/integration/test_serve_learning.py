"""The server's learning loop (uvicorn on 127.0.0.1, fake upstream): request ids,
the request log, feedback, exploration, admin reload and their metrics."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_upstream import FakeUpstream, KeywordRouter, RunningServer

from prefroute.gateway.core import RoutingCore
from prefroute.gateway.store import RequestRecord, open_store
from prefroute.routers.random import RandomRouter
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig

HARD = "Prove that there are infinitely many primes."
EASY = "Say hello to Anna."
CHAT = "/v1/chat/completions"
ID_HEADER = "x-prefroute-request-id"


def _config(upstream: FakeUpstream, **overrides: Any) -> ServeConfig:
    base: dict[str, Any] = {
        "strong": {"model": "strong-model", "base_url": upstream.base_url},
        "weak": {"model": "weak-model", "base_url": upstream.base_url},
        "routers": ["keyword"],
        "fallback": True,
    }
    return ServeConfig.model_validate({**base, **overrides})


@pytest.fixture()
def serve(
    start_server: Callable[[Any], RunningServer],
) -> Iterator[Callable[[ServeConfig], RunningServer]]:
    """Start a server for a config (KeywordRouter as 'keyword' when configured)."""

    def start(config: ServeConfig) -> RunningServer:
        routers = {"keyword": KeywordRouter()} if "keyword" in config.routers else None
        core = RoutingCore(config, routers=routers)
        return start_server(create_app(config, core=core))

    yield start


def _chat(
    client: httpx.Client, text: str, model: str = "router-keyword-0.5", **fields: Any
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    return client.post(CHAT, json=body)


def _records(path: Path) -> list[RequestRecord]:
    store = open_store(path)
    try:
        return list(store.iter_requests())
    finally:
        store.close()


def _wait_records(path: Path, n: int) -> list[RequestRecord]:
    deadline = time.monotonic() + 20
    while True:
        records = _records(path)
        if len(records) >= n or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def _metric(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    )


def test_every_chat_response_carries_its_request_id(
    upstream: FakeUpstream, serve: Callable[[ServeConfig], RunningServer]
) -> None:
    server = serve(_config(upstream, api_keys=["k"]))
    auth = {"authorization": "Bearer k"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        ok = client.post(
            CHAT,
            json={
                "model": "router-keyword-0.5",
                "messages": [{"role": "user", "content": EASY}],
            },
            headers={**auth, "x-request-id": "client-7"},
        )
        bad = client.post(CHAT, json={"model": "router-keyword-9"}, headers=auth)
        denied = client.post(CHAT, json={"model": "router-keyword-0.5"})
        with client.stream(
            "POST",
            CHAT,
            json={
                "model": "router-keyword-0.5",
                "messages": [{"role": "user", "content": EASY}],
                "stream": True,
            },
            headers=auth,
        ) as streamed:
            streamed.read()
    assert [r.status_code for r in (ok, bad, denied, streamed)] == [200, 400, 401, 200]
    ids = [r.headers[ID_HEADER] for r in (ok, bad, denied, streamed)]
    assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)
    assert ok.headers["x-request-id"] == "client-7"
    assert "x-request-id" not in bad.headers


def test_log_holds_one_record_per_routed_request(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.db"
    upstream.behaviour["strong-model"] = "500"  # the hard prompt falls back to weak
    server = serve(_config(upstream, log=str(log), log_prompts=True))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        easy = _chat(client, EASY)
        hard = _chat(client, HARD)
        bad = _chat(client, EASY, model="router-nope-0.5")
    assert [r.status_code for r in (easy, hard, bad)] == [200, 200, 404]
    records = {r.request_id: r for r in _wait_records(log, 2)}
    assert set(records) == {easy.headers[ID_HEADER], hard.headers[ID_HEADER]}
    first = records[easy.headers[ID_HEADER]]
    assert (first.routed_model, first.policy_model, first.is_fallback) == (
        "weak-model",
        "weak-model",
        False,
    )
    assert (first.score, first.threshold, first.prompt) == (0.1, 0.5, EASY)
    second = records[hard.headers[ID_HEADER]]
    assert second.routed_model == hard.headers["x-prefroute-routed-to"] == "weak-model"
    assert (second.policy_model, second.is_fallback, second.status) == (
        "strong-model",
        True,
        200,
    )
    assert second.completion_tokens is not None


def test_upstream_errors_and_streams_are_logged_with_their_outcome(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.db"
    upstream.behaviour["weak-model"] = "400"
    server = serve(_config(upstream, log=str(log), fallback=False))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        rejected = _chat(client, EASY)
        with client.stream(
            "POST",
            CHAT,
            json={
                "model": "router-keyword-0.5",
                "messages": [{"role": "user", "content": HARD}],
                "stream": True,
            },
        ) as streamed:
            body = streamed.read()
    assert rejected.status_code == 400 and b"[DONE]" in body
    records = {r.request_id: r for r in _wait_records(log, 2)}
    failed = records[rejected.headers[ID_HEADER]]
    assert (failed.status, failed.routed_model) == (400, "weak-model")
    assert failed.error == rejected.json()["error"]["message"]
    stream = records[streamed.headers[ID_HEADER]]
    assert (stream.status, stream.routed_model, stream.error) == (
        200,
        "strong-model",
        None,
    )


def test_feedback_is_stored_once_per_source(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.db"
    server = serve(_config(upstream, log=str(log)))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        request_id = _chat(client, EASY).headers[ID_HEADER]
        answers = [
            client.post("/v1/feedback", json=body)
            for body in (
                {"request_id": request_id, "score": True},
                {"request_id": request_id, "score": 0.2, "source": "judge"},
                {"request_id": request_id, "score": 0.7, "source": "judge"},
            )
        ]
        metrics = client.get("/metrics").text
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == {"status": "ok", "request_id": request_id}
    store = open_store(log)
    try:
        stored = store.feedback_for([request_id])[request_id]
    finally:
        store.close()
    assert [(f.source, f.score) for f in stored] == [("", 1.0), ("judge", 0.7)]
    assert _metric(metrics, 'prefroute_feedback_total{result="ok"}') == 3
    assert _metric(metrics, "prefroute_log_written_total") >= 1


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"request_id": "f" * 32, "score": 1}, 404, "unknown_request_id", "request_id"),
        ({"request_id": "f" * 32, "score": 1.5}, 400, "invalid_feedback", "score"),
        ({"request_id": "f" * 32}, 400, "invalid_feedback", "score"),
        ({"request_id": 12, "score": 1}, 400, "invalid_feedback", "request_id"),
        ({"request_id": "f" * 32, "score": 1, "source": ["x"]}, 400, None, "source"),
        ([1, 2], 400, "invalid_json", None),
    ],
)
def test_bad_feedback_gets_an_error_envelope(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
    body: Any,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    server = serve(_config(upstream, log=str(tmp_path / "requests.db")))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = client.post("/v1/feedback", content=json.dumps(body))
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code


def test_feedback_needs_the_api_key_and_the_log(
    upstream: FakeUpstream, serve: Callable[[ServeConfig], RunningServer]
) -> None:
    server = serve(_config(upstream, api_keys=["k"]))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        body = {"request_id": "a" * 32, "score": 1}
        denied = client.post("/v1/feedback", json=body)
        off = client.post(
            "/v1/feedback", json=body, headers={"authorization": "Bearer k"}
        )
        metrics = client.get("/metrics").text
        health = client.get("/health").json()
    assert denied.status_code == 401
    assert off.status_code == 404
    assert off.json()["error"]["code"] == "request_log_disabled"
    assert "--log" in off.json()["error"]["message"]
    assert _metric(metrics, 'prefroute_feedback_total{result="log_disabled"}') == 1
    assert health["request_log"] is False


def test_exploration_is_flagged_logged_and_counted(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.db"
    server = serve(_config(upstream, log=str(log), explore=0.4, explore_seed=5))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        replies = [_chat(client, f"{EASY} #{i}") for i in range(60)]
        direct = _chat(client, EASY, model="weak-model")
        metrics = client.get("/metrics").text
    explored = [r for r in replies if r.headers.get("x-prefroute-exploration") == "1"]
    assert 10 <= len(explored) <= 40
    assert {r.headers["x-prefroute-routed-to"] for r in explored} == {"strong-model"}
    assert "x-prefroute-exploration" not in direct.headers
    records = {r.request_id: r for r in _wait_records(log, 61)}
    for reply in replies:
        record = records[reply.headers[ID_HEADER]]
        is_explored = reply.headers.get("x-prefroute-exploration") == "1"
        assert record.is_exploration is is_explored
        assert record.policy_model == "weak-model"
        assert record.propensity == pytest.approx(0.4 if is_explored else 0.6)
    assert _metric(metrics, "prefroute_explored_total{") == len(explored)


def test_full_log_queue_drops_records_and_never_delays_requests(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.db"
    server = serve(_config(upstream, log=str(log), log_queue_size=2))
    # another process holds the database's write lock: the writer stalls
    blocker = sqlite3.connect(log, timeout=0)
    with contextlib.closing(blocker):
        blocker.execute("BEGIN EXCLUSIVE")
        with httpx.Client(base_url=server.url, timeout=10) as client:
            times = []
            for i in range(30):
                started = time.perf_counter()
                assert _chat(client, f"{EASY} {i}").status_code == 200
                times.append(time.perf_counter() - started)
            metrics = client.get("/metrics").text
        blocker.execute("ROLLBACK")
    assert max(times) < 2.0  # the writer waits up to 10 s for the lock
    assert _metric(metrics, "prefroute_log_dropped_total") >= 25


def test_admin_reload_needs_admin_keys(
    upstream: FakeUpstream, serve: Callable[[ServeConfig], RunningServer]
) -> None:
    server = serve(_config(upstream, api_keys=["user-key"]))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        off = client.post("/admin/reload", headers={"authorization": "Bearer user-key"})
    assert off.status_code == 403
    assert off.json()["error"]["code"] == "admin_disabled"


def test_admin_reload_swaps_routers_and_reports_the_version(
    upstream: FakeUpstream,
    serve: Callable[[ServeConfig], RunningServer],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "router"
    RandomRouter(seed=1).save(folder)
    config = _config(upstream, routers={"r": str(folder)}, admin_api_keys=["admin-key"])
    server = serve(config)
    admin = {"authorization": "Bearer admin-key"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        before = _chat(client, EASY, model="router-r-0.5").headers["x-prefroute-score"]
        RandomRouter(seed=2).save(folder)
        wrong = client.post("/admin/reload", headers={"authorization": "Bearer no"})
        done = client.post("/admin/reload", headers=admin)
        after = _chat(client, EASY, model="router-r-0.5").headers["x-prefroute-score"]
        (folder / "config.json").write_text("{broken", encoding="utf-8")
        failed = client.post("/admin/reload", headers=admin)
        still = _chat(client, EASY, model="router-r-0.5")
        health = client.get("/health").json()
        metrics = client.get("/metrics").text
    assert wrong.status_code == 401
    assert done.status_code == 200
    assert done.json()["version"] == 2 and done.json()["routers"] == {"r": str(folder)}
    expected = RandomRouter(seed=2).score([EASY])[0]
    assert before != after == f"{expected:.6f}"
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "reload_failed"
    assert still.status_code == 200 and still.headers["x-prefroute-score"] == after
    assert health["router_version"] == 2
    assert _metric(metrics, 'prefroute_reloads_total{result="error"}') == 1
    assert _metric(metrics, "prefroute_router_version") == 2
