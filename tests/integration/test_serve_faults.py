"""The server facing faulty upstreams: responses cut mid-body, rate limits, hangs,
trickles, garbage inside streams, secrets in base URLs, huge prompts.

Real servers on 127.0.0.1 in front of the fake upstream (a real HTTP server); the
fake counts the POSTs and generations of each request by its ``fake_request_id``."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from fake_upstream import FakeUpstream, KeywordRouter, RunningServer, closed_port

from prefroute.gateway.core import RoutingCore
from prefroute.routers.registry import load_router
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig

CHAT = "/v1/chat/completions"
CLIENTS = ["fast", "httpx"]


def _endpoint(upstream: FakeUpstream, model: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "base_url": upstream.base_url,
        "timeout": 1.0,
        "max_retries": 2,
        **fields,
    }


def _config(
    upstream: FakeUpstream, client: str = "fast", **overrides: Any
) -> ServeConfig:
    base: dict[str, Any] = {
        "strong": _endpoint(upstream, "strong-model", http_client=client),
        "weak": _endpoint(upstream, "weak-model", http_client=client),
        "routers": ["random"],
        "fallback": False,
    }
    base.update(overrides)
    return ServeConfig.model_validate(base)


def _start(
    start_server: Any, config: ServeConfig, routers: dict[str, Any] | None = None
) -> RunningServer:
    core = RoutingCore(config, routers=routers or {"random": load_router("random")})
    server: RunningServer = start_server(create_app(config, core=core))
    return server


def _body(rid: str, model: str = "router-random-0", **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": f"hello {rid}"}],
        "fake_request_id": rid,
        **fields,
    }


def _post(server: RunningServer, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(f"{server.url}{CHAT}", json=body, timeout=kw.pop("timeout", 20))


def _envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def _metric(server: RunningServer, prefix: str) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _events(response: httpx.Response) -> list[bytes]:
    data = b"".join(response.iter_bytes())
    return [e for e in data.split(b"\n\n") if e.strip()]


def _wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- 1. retries only when the upstream never got the request ---------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_response_cut_mid_body_is_not_sent_again(
    upstream: FakeUpstream, start_server: Any, client: str
) -> None:
    # (a cut answer was retried: 3 POSTs of one request, i.e. 3 generations)
    upstream.behaviour["strong-model"] = "cut"
    server = _start(start_server, _config(upstream, client))
    error = _envelope(_post(server, _body("cut-1")), 502)
    assert error["type"] == "upstream_error"
    assert upstream.received["cut-1"] == 1


def test_cut_response_falls_back_once_and_counts_it(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.script["strong-model"] = ["cut"]
    server = _start(start_server, _config(upstream, fallback=True))
    response = _post(server, _body("cut-2"))
    assert response.status_code == 200, response.text
    assert response.headers["x-prefroute-fallback"] == "true"
    assert [r["model"] for r in upstream.requests] == ["strong-model", "weak-model"]
    assert (
        _metric(
            server,
            'prefroute_fallbacks_total{from_model="strong-model",to_model="weak-model"}',
        )
        == 1
    )


@pytest.mark.parametrize("client", CLIENTS)
def test_429_with_retry_after_is_retried_on_the_same_model(
    upstream: FakeUpstream, start_server: Any, client: str
) -> None:
    upstream.script["strong-model"] = ["429", "503", "ok"]
    upstream.retry_after = "0"
    server = _start(start_server, _config(upstream, client))
    response = _post(server, _body("rl-1"))
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "strong-model"
    assert upstream.received["rl-1"] == 3
    assert upstream.generations["rl-1"] == 1


def test_retry_after_beyond_the_deadline_is_not_waited_for(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.script["strong-model"] = ["503"]
    upstream.retry_after = "120"
    server = _start(start_server, _config(upstream, request_timeout=3))
    started = time.monotonic()
    error = _envelope(_post(server, _body("rl-2")), 502)
    assert time.monotonic() - started < 2.0
    assert "strong-model" in error["message"]
    assert upstream.received["rl-2"] == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_fallback_after_a_timeout_closes_the_first_call(
    upstream: FakeUpstream, start_server: Any, client: str
) -> None:
    upstream.script["strong-model"] = ["hang"]
    upstream.hang_seconds = 20
    server = _start(start_server, _config(upstream, client, fallback=True))
    response = _post(server, _body("to-1"))
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "weak-model"
    assert _wait_for(lambda: upstream.n_cancelled == 1, 3.0)
    assert _wait_for(lambda: upstream.n_active == 0, 3.0)


# -- 2. one deadline per request; a client that leaves cancels its call ---------------


@pytest.mark.parametrize("client", CLIENTS)
def test_trickling_upstream_is_cut_at_the_request_deadline(
    upstream: FakeUpstream, start_server: Any, client: str
) -> None:
    # one byte every 0.1 s never trips the 1 s gap timeout; the answer would take ~60 s
    upstream.behaviour["strong-model"] = "trickle"
    upstream.trickle_seconds = 0.1
    server = _start(start_server, _config(upstream, client, request_timeout=1.5))
    started = time.monotonic()
    error = _envelope(_post(server, _body("slow-1")), 504)
    assert time.monotonic() - started < 4.0
    assert error["code"] == "deadline_exceeded"
    assert _wait_for(lambda: upstream.n_active == 0, 3.0)


def test_trickling_stream_ends_with_an_error_event_at_the_deadline(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.behaviour["strong-model"] = "trickle"
    upstream.trickle_seconds = 0.1
    server = _start(start_server, _config(upstream, request_timeout=1.5))
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body("slow-2", stream=True), timeout=20
    ) as response:
        assert response.status_code == 200
        events = _events(response)
    assert time.monotonic() - started < 4.0
    last = json.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "deadline_exceeded"
    assert _wait_for(lambda: upstream.n_active == 0, 3.0)


def test_client_leaving_cancels_the_upstream_call(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.behaviour["strong-model"] = "hang"
    upstream.hang_seconds = 20
    config = _config(upstream, strong=_endpoint(upstream, "strong-model", timeout=30.0))
    server = _start(start_server, config)
    with pytest.raises(httpx.ReadTimeout):
        _post(server, _body("gone-1"), timeout=0.5)
    assert _wait_for(lambda: upstream.n_cancelled == 1, 3.0)


def test_client_leaving_a_stream_cancels_the_upstream_call(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.behaviour["strong-model"] = "trickle"
    upstream.trickle_seconds = 0.1
    server = _start(start_server, _config(upstream))
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body("gone-2", stream=True), timeout=20
    ) as response:
        next(response.iter_bytes())
    assert _wait_for(lambda: upstream.n_cancelled == 1, 3.0)


# -- 3. secrets in base URLs ----------------------------------------------------------


def _with_userinfo(upstream: FakeUpstream, userinfo: str, suffix: str = "") -> str:
    return upstream.base_url.replace("http://", f"http://{userinfo}@") + suffix


@pytest.mark.parametrize("client", CLIENTS)
def test_userinfo_in_a_base_url_is_sent_as_basic_auth_not_in_host(
    upstream: FakeUpstream, start_server: Any, client: str
) -> None:
    url = _with_userinfo(upstream, "alice:s%40cret")
    config = _config(
        upstream,
        strong=_endpoint(upstream, "strong-model", base_url=url, http_client=client),
    )
    server = _start(start_server, config)
    assert _post(server, _body("ui-1")).status_code == 200
    expected = base64.b64encode(b"alice:s@cret").decode()
    assert upstream.auth_headers[-1] == f"Basic {expected}"
    assert upstream.hosts[-1] == upstream.base_url.split("/")[2]


def test_api_key_wins_over_userinfo(upstream: FakeUpstream, start_server: Any) -> None:
    url = _with_userinfo(upstream, "alice:secret")
    config = _config(
        upstream,
        strong=_endpoint(upstream, "strong-model", base_url=url, api_key="sk-k"),
    )
    server = _start(start_server, config)
    assert _post(server, _body("ui-2")).status_code == 200
    assert upstream.auth_headers[-1] == "Bearer sk-k"


@pytest.mark.parametrize("client", CLIENTS)
def test_base_url_query_string_is_kept(
    upstream: FakeUpstream, start_server: Any, client: str
) -> None:
    url = f"{upstream.base_url}?api-version=2024-06-01"
    config = _config(
        upstream,
        strong=_endpoint(upstream, "strong-model", base_url=url, http_client=client),
    )
    server = _start(start_server, config)
    assert _post(server, _body("q-1")).status_code == 200
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body("q-2", stream=True), timeout=20
    ) as response:
        assert response.status_code == 200
        _events(response)
    assert upstream.paths[-2:] == ["/v1/chat/completions?api-version=2024-06-01"] * 2


@pytest.mark.parametrize("client", CLIENTS)
def test_upstream_errors_name_the_model_not_the_host_or_secret(
    upstream: FakeUpstream,
    start_server: Any,
    client: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    down = f"http://bob:hunter2@127.0.0.1:{port}/v1"
    upstream.behaviour["weak-model"] = "hang"
    upstream.hang_seconds = 5
    hanging = _with_userinfo(upstream, "carol:swordfish")
    config = _config(
        upstream,
        strong=_endpoint(upstream, "strong-model", base_url=down, http_client=client),
        weak=_endpoint(
            upstream, "weak-model", base_url=hanging, http_client=client, timeout=0.5
        ),
    )
    server = _start(start_server, config)
    refused = _envelope(_post(server, _body("s-1")), 502)
    timed_out = _envelope(_post(server, _body("s-2", model="router-random-1")), 504)
    for error in (refused, timed_out):
        text = json.dumps(error)
        for secret in ("hunter2", "swordfish", "bob", "carol", "127.0.0.1", str(port)):
            assert secret not in text
    assert "strong-model" in refused["message"]
    assert "weak-model" in timed_out["message"]
    for secret in ("hunter2", "swordfish"):
        assert secret not in caplog.text


def test_fallback_log_has_no_secret(
    upstream: FakeUpstream, start_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    down = f"http://bob:hunter2@127.0.0.1:{closed_port()}/v1"
    config = _config(
        upstream,
        fallback=True,
        strong=_endpoint(upstream, "strong-model", base_url=down),
    )
    server = _start(start_server, config)
    assert _post(server, _body("s-3")).status_code == 200
    assert "falling back" in caplog.text
    assert "hunter2" not in caplog.text


# -- 5. stream relay ---------------------------------------------------------------


def test_garbage_inside_a_stream_ends_it_with_an_error_event(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.behaviour["strong-model"] = "garbage_stream"
    server = _start(start_server, _config(upstream))
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body("g-1", stream=True), timeout=20
    ) as response:
        assert response.status_code == 200
        events = _events(response)
    assert b"data: {this is not json" not in events  # not relayed as an event
    assert b"[DONE]" not in events[-1]
    last = json.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "upstream_error"
    assert "strong-model" in last["error"]["message"]
    prefix = 'prefroute_upstream_errors_total{kind="stream",model="strong-model"}'
    assert _wait_for(lambda: _metric(server, prefix) == 1, 3.0)


def test_non_sse_stream_ends_with_an_error_event(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.behaviour["strong-model"] = "garbage_stream"
    server = _start(start_server, _config(upstream))
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body("g-2", stream=True), timeout=20
    ) as response:
        for event in _events(response):
            assert event.startswith(b"data: ")
            payload = event.removeprefix(b"data: ")
            assert payload == b"[DONE]" or isinstance(json.loads(payload), dict)


def test_streaming_fallback_is_logged_and_counted(
    upstream: FakeUpstream, start_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    upstream.behaviour["strong-model"] = "500"
    server = _start(start_server, _config(upstream, fallback=True))
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body("f-1", stream=True), timeout=20
    ) as response:
        assert response.headers["x-prefroute-fallback"] == "true"
        events = _events(response)
    assert events[-1] == b"data: [DONE]"
    assert "falling back" in caplog.text
    assert "strong-model" in caplog.text
    assert (
        _metric(
            server,
            'prefroute_fallbacks_total{from_model="strong-model",to_model="weak-model"}',
        )
        == 1
    )


# -- 6. huge prompts --------------------------------------------------------------


class RecordingRouter(KeywordRouter):
    """`KeywordRouter` keeping the length of every prompt it scores."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def score(self, prompts: Sequence[str]) -> Any:
        self.seen.extend(prompts)
        out: np.ndarray[Any, Any] = super().score(prompts)
        return out


def test_huge_prompt_is_cut_before_scoring(
    upstream: FakeUpstream, start_server: Any
) -> None:
    router = RecordingRouter()
    config = _config(upstream, routers=["keyword"], max_body_bytes=2_000_000)
    server = _start(start_server, config, {"keyword": router})
    prompt = "Please prove this. " + "lorem ipsum " * 80_000 + "The end, debug it."
    body = {
        "model": "router-keyword-0.5",
        "messages": [{"role": "user", "content": prompt}],
    }
    response = _post(server, body)
    assert response.status_code == 200, response.text
    assert response.headers["x-prefroute-tier"] == "strong"
    (seen,) = router.seen
    assert len(str(seen)) < 100_000  # the text scored: its start and its end
    assert len(seen) == len(prompt)  # what length features see: the whole prompt
    assert seen.startswith("Please prove this.")
    assert seen.endswith("The end, debug it.")
    # the upstream still gets the whole prompt
    assert upstream.requests[-1]["messages"][0]["content"] == prompt


def test_score_cache_is_bounded_in_bytes(
    upstream: FakeUpstream, start_server: Any
) -> None:
    # (the cache kept up to 4096 whole prompts: here 20 x 300 kB)
    config = _config(upstream, routers=["keyword"], max_body_bytes=2_000_000)
    server = _start(start_server, config, {"keyword": KeywordRouter()})
    for i in range(20):
        body = {
            "model": "router-keyword-0.5",
            "messages": [{"role": "user", "content": f"{i} " + "x" * 300_000}],
        }
        assert _post(server, body).status_code == 200
    cached = _metric(server, 'prefroute_score_cache_bytes{router="keyword"}')
    assert 0 < cached <= 20 * 1_000  # a digest and a score per prompt


class SlowRouter(KeywordRouter):
    """Takes `seconds` per batch (a router behind a busy CPU)."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def score(self, prompts: Sequence[str]) -> Any:
        time.sleep(self.seconds)
        return super().score(prompts)


def test_scoring_backlog_beyond_its_bound_is_shed(
    upstream: FakeUpstream, start_server: Any
) -> None:
    config = _config(
        upstream,
        routers=["slow"],
        max_batch=1,
        max_queued_scores=2,
        score_cache_size=0,
    )
    server = _start(start_server, config, {"slow": SlowRouter(0.3)})
    statuses: list[int] = []
    retry_after: list[str] = []

    def call(i: int) -> None:
        body = {
            "model": "router-slow-0.5",
            "messages": [{"role": "user", "content": f"prompt {i}"}],
        }
        response = _post(server, body)
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "server_overloaded"
            retry_after.append(response.headers["retry-after"])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(set(statuses)) == [200, 503]
    assert statuses.count(200) >= 3
    assert len(retry_after) == statuses.count(503)
