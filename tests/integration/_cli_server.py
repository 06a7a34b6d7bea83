"""`prefroute serve` as a real subprocess on 127.0.0.1, and Prometheus text helpers
(shared by the workers, replicas and outage tests)."""

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
            # -v: INFO lines (calibrations, reloads) in the log
            [
                *(sys.executable, "-m", "prefroute.cli", "-v", "serve"),
                *("--port", str(self.port), *args),
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

    def close_log(self) -> None:
        if not self._stderr.closed:
            self._stderr.close()

    def stop(self, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        self.close_log()
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
        server.close_log()
