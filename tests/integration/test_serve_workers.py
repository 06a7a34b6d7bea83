"""`prefroute serve --workers N`: a real multi-process server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def samples(text: str, name: str) -> dict[str, float]:
    """Series of one metric in a Prometheus text: labels -> value."""
    out = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{.*\}})? (\S+)$", line)
        if match:
            out[match.group(1) or ""] = float(match.group(2))
    return out


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}) while {what}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out: {what}")


class CLIServer:
    """`prefroute serve ...` as a subprocess; stderr collected in a file."""

    def __init__(self, args: list[str], tmp_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = tmp_path / f"serve-{self.port}.log"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefroute.cli",
                "serve",
                "--port",
                str(self.port),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env},
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        wait_for(
            lambda: httpx.get(self.url + "/health", timeout=2).status_code == 200,
            timeout,
            "starting",
            self.proc,
        )

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=5).text

    def log(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def stop(self, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        self._stderr.close()
        return self.proc.returncode


@pytest.fixture()
def serve_cli(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> Iterator[Callable[..., CLIServer]]:
    servers: list[CLIServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> CLIServer:
        upstream = fake_upstream.base_url
        server = CLIServer(
            [
                *("--strong-model", "strong-model", "--strong-base-url", upstream),
                *("--weak-model", "weak-model", "--weak-base-url", upstream),
                *args,
            ],
            tmp_path,
            {"PREFROUTE_ADMIN_API_KEYS": "admin-key", **(env or {})},
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def chat(client: httpx.Client, url: str, i: int) -> httpx.Response:
    return client.post(
        url + "/v1/chat/completions",
        json={
            "model": "router-random@0.5",
            "messages": [{"role": "user", "content": f"question {i}"}],
        },
    )


def test_workers_share_port_metrics_calibration_and_reloads(
    serve_cli: Callable[..., CLIServer], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"calibration prompt {i}" for i in range(50)))
    server = serve_cli(
        "--workers", "2", "--routers", "random", "--calibration-prompts", str(prompts)
    )
    server.wait_ready()
    n_requests = 80
    # a new connection per request: the kernel spreads connections over workers
    with httpx.Client(
        timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        statuses = [chat(client, server.url, i).status_code for i in range(n_requests)]
    assert statuses == [200] * n_requests

    def chats_counted() -> float:
        requests = samples(server.metrics(), "prefroute_requests_total")
        return requests.get('{path="/v1/chat/completions",status="200"}', 0.0)

    wait_for(lambda: chats_counted() == n_requests, 10, "summing", server.proc)
    text = server.metrics()
    assert sum(samples(text, "prefroute_routed_total").values()) == n_requests
    per_worker = samples(text, "prefroute_worker_requests_total")
    assert len(per_worker) == 2
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert samples(text, "prefroute_workers") == {"": 2.0}
    # calibrated once, by the supervisor, not by each worker
    assert server.log().count("calibrating router random on 50 prompts") == 1

    # a killed worker is replaced; the totals keep its requests
    victim = int(re.search(r'pid="(\d+)"', next(iter(per_worker))).group(1))  # type: ignore[union-attr]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        pids = samples(server.metrics(), "prefroute_worker_requests_total")
        return len(pids) == 2 and f'{{pid="{victim}"}}' not in pids

    wait_for(replaced, 60, "restarting a worker", server.proc)
    assert chats_counted() == n_requests

    # a reload on whichever worker gets it reaches both
    response = httpx.post(
        server.url + "/admin/reload",
        headers={"authorization": "Bearer admin-key"},
        timeout=30,
    )
    assert response.status_code == 200
    wait_for(
        lambda: samples(server.metrics(), "prefroute_router_version") == {"": 2.0},
        30,
        "reloading every worker",
        server.proc,
    )
    assert server.stop() == 0
