"""The server facing difficult clients: slow or silent connections, overload, bad
auth headers and non-standard JSON, secrets in query strings, SIGTERM under load.

Real servers on 127.0.0.1 (uvicorn as `prefroute serve` runs it, or the CLI itself
in a subprocess) in front of the fake upstream."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fake_upstream import FakeUpstream, RunningServer

from prefroute.gateway.core import RoutingCore
from prefroute.routers.registry import load_router
from prefroute.serve.app import create_app
from prefroute.serve.config import ServeConfig

CHAT = "/v1/chat/completions"


def _config(upstream: FakeUpstream, **overrides: Any) -> ServeConfig:
    base: dict[str, Any] = {
        "strong": {"model": "strong-model", "base_url": upstream.base_url},
        "weak": {"model": "weak-model", "base_url": upstream.base_url},
        "routers": ["random"],
        "fallback": False,
    }
    base.update(overrides)
    return ServeConfig.model_validate(base)


def _start(start_server: Any, config: ServeConfig) -> RunningServer:
    core = RoutingCore(config, routers={"random": load_router("random")})
    server: RunningServer = start_server(create_app(config, core=core))
    return server


def _body(content: str = "hi", **fields: Any) -> dict[str, Any]:
    return {
        "model": "router-random-0",
        "messages": [{"role": "user", "content": content}],
        **fields,
    }


def _envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def _recv_all(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes (or `timeout` passes)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except TimeoutError:
        return out + b"<still open>"
    return out


# -- authentication ------------------------------------------------------------------


def test_non_ascii_authorization_header_gets_401(
    upstream: FakeUpstream, start_server: Any
) -> None:
    # (compare_digest raised TypeError on non-ASCII text: a 500)
    server = _start(start_server, _config(upstream, api_keys=["k1", "clé"]))
    url = f"{server.url}{CHAT}"
    for header in ("Bearer ключ".encode(), b"Bearer \xff\xfe", "Bearer k1é".encode()):
        response = httpx.post(url, json=_body(), headers={"authorization": header})
        assert _envelope(response, 401)["code"] == "invalid_api_key"
    models = httpx.get(
        f"{server.url}/v1/models", headers={"authorization": "Bearer ключ".encode()}
    )
    _envelope(models, 401)
    keyed = httpx.post(
        url, json=_body(), headers={"authorization": "Bearer clé".encode()}
    )
    assert keyed.status_code == 200, keyed.text


# -- protocol details ----------------------------------------------------------------


def test_wrong_method_gets_405_with_allow(
    upstream: FakeUpstream, start_server: Any
) -> None:
    server = _start(start_server, _config(upstream))
    response = httpx.get(f"{server.url}{CHAT}")
    assert _envelope(response, 405)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    response = httpx.post(f"{server.url}/health")
    _envelope(response, 405)
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_standard_json_numbers_get_400(
    upstream: FakeUpstream, start_server: Any, number: str
) -> None:
    server = _start(start_server, _config(upstream))
    raw = json.dumps(_body())[:-1] + f', "temperature": {number}}}'
    response = httpx.post(
        f"{server.url}{CHAT}",
        content=raw.encode(),
        headers={"content-type": "application/json"},
    )
    error = _envelope(response, 400)
    assert error["code"] == "invalid_json"
    assert "JSON" in error["message"]
    assert upstream.requests == []  # nothing non-standard went upstream


# -- slow and silent clients ---------------------------------------------------------


@pytest.fixture()
def timed_server(upstream: FakeUpstream, start_server: Any) -> RunningServer:
    return _start(start_server, _config(upstream, header_timeout=0.5, body_timeout=0.5))


def test_connection_that_never_finishes_its_headers_gets_408(
    timed_server: RunningServer,
) -> None:
    with socket.create_connection(("127.0.0.1", timed_server.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        reply = _recv_all(sock, 5.0)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert reply.endswith(b"}")  # an envelope, then the server closed
    assert time.monotonic() - started < 3.0


def test_silent_connection_is_closed(timed_server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", timed_server.port)) as sock:
        reply = _recv_all(sock, 5.0)
    assert reply == b""


def test_body_that_never_arrives_gets_408(timed_server: RunningServer) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", timed_server.port)) as sock:
        sock.sendall(head + b'{"model": ')
        started = time.monotonic()
        reply = _recv_all(sock, 5.0)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert time.monotonic() - started < 3.0
    deadline = time.monotonic() + 3
    line = f'prefroute_requests_total{{path="{CHAT}",status="408"}} 1'
    while line not in httpx.get(f"{timed_server.url}/metrics").text:
        assert time.monotonic() < deadline, "the 408 was not counted"
        time.sleep(0.05)


def test_kept_alive_connection_still_serves_requests(
    timed_server: RunningServer,
) -> None:
    with httpx.Client(base_url=timed_server.url) as client:
        for _ in range(3):
            assert client.post(CHAT, json=_body()).status_code == 200
            time.sleep(0.6)  # longer than the head timeout, between requests


# -- overload ------------------------------------------------------------------------


def test_requests_beyond_max_in_flight_are_shed_with_retry_after(
    upstream: FakeUpstream, start_server: Any
) -> None:
    upstream.behaviour["strong-model"] = "slow"
    upstream.slow_seconds = 2.0
    server = _start(start_server, _config(upstream, max_in_flight=2))
    url = f"{server.url}{CHAT}"
    results: list[int] = []

    def slow_call() -> None:
        results.append(httpx.post(url, json=_body(), timeout=10).status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(upstream.requests) < 2:  # both admitted and waiting upstream
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    shed = httpx.post(url, json=_body(), timeout=10)
    assert time.monotonic() - started < 1.0
    error = _envelope(shed, 503)
    assert error["code"] == "server_overloaded"
    assert int(shed.headers["retry-after"]) >= 1
    started = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    assert time.monotonic() - started < 1.0
    for thread in threads:
        thread.join(10)
    assert results == [200, 200]
    assert httpx.post(url, json=_body(), timeout=10).status_code == 200


# -- the CLI: access log and shutdown --------------------------------------------------


class _Cli:
    """`prefroute serve --config FILE` in a subprocess, its output collected."""

    def __init__(self, config: dict[str, Any], tmp_path: Path, *flags: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        path = tmp_path / "serve.yaml"
        path.write_text(yaml.safe_dump({**config, "port": self.port}), "utf-8")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-c", "from prefroute.cli import main; main()"),
                *("serve", "--config", str(path), *flags),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PREFROUTE_SERVER_API_KEYS": ""},
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                break
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.stop()) from None
                time.sleep(0.1)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out.decode("utf-8", errors="replace")


@pytest.fixture()
def cli(tmp_path: Path) -> Iterator[Any]:
    started: list[_Cli] = []

    def start(config: dict[str, Any], *flags: str) -> _Cli:
        started.append(_Cli(config, tmp_path, *flags))
        return started[-1]

    yield start
    for proc in started:
        proc.stop()


def _plain_config(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "strong": {"model": "strong-model", "base_url": upstream.base_url},
        "weak": {"model": "weak-model", "base_url": upstream.base_url},
        "routers": ["random"],
        "fallback": False,
    }


def test_query_string_secrets_stay_out_of_the_access_log(
    upstream: FakeUpstream, cli: Any
) -> None:
    server = cli(_plain_config(upstream), "--access-log")
    httpx.get(f"{server.url}/health?api_key=sk-secret-one")
    httpx.post(f"{server.url}{CHAT}?key=sk-secret-two", json=_body())
    log = server.stop()
    assert "/health?<redacted>" in log
    assert f"{CHAT}?<redacted>" in log
    assert "sk-secret" not in log


def test_sigterm_ends_streams_in_flight_within_the_shutdown_timeout(
    upstream: FakeUpstream, cli: Any
) -> None:
    upstream.behaviour["strong-model"] = "trickle"  # a stream that does not end
    upstream.trickle_seconds = 0.2
    server = cli(_plain_config(upstream), "--shutdown-timeout", "1")
    events: list[bytes] = []
    with httpx.stream(
        "POST", f"{server.url}{CHAT}", json=_body(stream=True), timeout=30
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        events.append(next(lines).encode())
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        events += [line.encode() for line in lines if line]
        ended = time.monotonic() - started
    assert ended < 4.0
    last = json.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "server_shutting_down"
    assert server.proc.wait(timeout=10) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 6.0


def test_dry_run_prints_no_base_url_secret(upstream: FakeUpstream) -> None:
    url = upstream.base_url.replace("http://", "http://bob:hunter2@")
    done = subprocess.run(
        [
            *(sys.executable, "-c", "from prefroute.cli import main; main()"),
            *("serve", "--strong-model", "s", "--weak-model", "w", "--dry-run"),
            *("--strong-base-url", f"{url}?api-version=2024&key=sk-in-query"),
            *("--weak-base-url", upstream.base_url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = done.stdout + done.stderr
    assert "api-version=..." in printed
    for secret in ("hunter2", "bob", "sk-in-query"):
        assert secret not in printed
