"""`prefroute serve` as a real process under load: the request log survives kill -9,
and router reloads (admin endpoint and SIGHUP) fail no request."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_upstream import FakeUpstream, closed_port

from prefroute.gateway.store import open_store
from prefroute.routers.random import RandomRouter

ADMIN_KEY = "admin-key-for-tests"
_LAUNCH = (
    "import sys; from prefroute.cli import main; sys.argv[0] = 'prefroute'; main()"
)


class _Server:
    """`prefroute serve ...` in a child process on a free localhost port."""

    def __init__(self, upstream: FakeUpstream, *args: str) -> None:
        self.port = closed_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PREFROUTE_SERVER_API_KEYS", "PREFROUTE_ADMIN_API_KEYS")
        }
        env["PYTHONPATH"] = os.pathsep.join(sys.path)
        env["PREFROUTE_ADMIN_API_KEYS"] = ADMIN_KEY
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-c", _LAUNCH, "serve"),
                *("--strong-model", "strong-model"),
                *("--strong-base-url", upstream.base_url),
                *("--weak-model", "weak-model", "--weak-base-url", upstream.base_url),
                *("--port", str(self.port), *args),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("prefroute serve did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture()
def servers() -> Iterator[list[_Server]]:
    """Servers started by the test; killed at the end."""
    started: list[_Server] = []
    yield started
    for server in started:
        server.stop()


class _Load:
    """Closed-loop clients sending chat requests until stopped (at most `limit`)."""

    def __init__(self, url: str, model: str, n_clients: int, limit: int) -> None:
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._count = iter(range(limit))
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, args=(url, model), daemon=True)
            for _ in range(n_clients)
        ]
        for thread in self._threads:
            thread.start()

    def _client(self, url: str, model: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in self._count:
                if self._stop.is_set():
                    return
                body: dict[str, Any] = {
                    "model": model,
                    "messages": [{"role": "user", "content": f"question {i}"}],
                    "fake_latency_ms": 20,
                }
                try:
                    status = client.post("/v1/chat/completions", json=body).status_code
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(repr(exc))
                    continue
                with self._lock:
                    self.statuses.append(status)

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.statuses) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def test_log_survives_kill_9_under_load(
    fake_upstream: FakeUpstream, servers: list[_Server], tmp_path: Path
) -> None:
    log = tmp_path / "requests.db"
    server = _Server(fake_upstream, "--routers", "random", "--log", str(log))
    servers.append(server)
    load = _Load(server.url, "router-random-0.5", n_clients=4, limit=5000)
    try:
        load.wait_for(150)
        server.proc.send_signal(signal.SIGKILL)  # mid-load, mid-batch
        server.proc.wait(30)
    finally:
        load.stop()
    assert len(load.statuses) >= 150
    with contextlib.closing(sqlite3.connect(log)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = open_store(log)
    try:
        records = list(store.iter_requests())
    finally:
        store.close()
    assert len(records) >= 50
    assert {r.status for r in records} == {200}
    assert {r.router for r in records} == {"random"}


def test_twenty_reloads_under_load_fail_no_request(
    fake_upstream: FakeUpstream, servers: list[_Server], tmp_path: Path
) -> None:
    folder = tmp_path / "router"
    RandomRouter(seed=0).save(folder)
    server = _Server(fake_upstream, "--routers", f"r={folder}")
    servers.append(server)
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    load = _Load(server.url, "router-r-0.5", n_clients=4, limit=20_000)
    versions = []
    try:
        load.wait_for(20)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for k in range(20):
                RandomRouter(seed=k + 1).save(folder)
                reply = client.post("/admin/reload", headers=admin)
                assert reply.status_code == 200, reply.text
                versions.append(reply.json()["version"])
                # traffic between every two reloads, however fast they are
                load.wait_for(len(load.statuses) + 3)
            n_before_sighup = len(load.statuses)
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while client.get("/health").json()["router_version"] != 22:
                assert time.monotonic() < deadline, "SIGHUP did not reload"
                time.sleep(0.05)
        load.wait_for(n_before_sighup + 20)
    finally:
        load.stop()
    assert versions == list(range(2, 22))
    assert load.failures == []
    assert len(load.statuses) >= 20 + 20 * 3 + 20
    assert set(load.statuses) == {200}
    assert server.proc.poll() is None
