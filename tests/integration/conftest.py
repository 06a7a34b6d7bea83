"""Integration fixtures: a fake upstream HTTP server and a real uvicorn server."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_upstream import FakeUpstream  # noqa: E402

from prefroute.routers.base import Router  # noqa: E402


class KeywordRouter(Router):
    """A tiny real router: prompts mentioning a hard keyword score 0.9, others 0.1."""

    name = "keyword"
    needs_fit = False

    def __init__(self, *, keywords: tuple[str, ...] = ("prove", "derive", "debug")) -> None:
        self.keywords = keywords

    def score(self, prompts: Sequence[str]) -> Any:
        return np.array(
            [0.9 if any(k in p.lower() for k in self.keywords) else 0.1 for p in prompts]
        )


class RunningServer:
    """A uvicorn server running `app` in a thread on a free localhost port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture()
def upstream(fake_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    """The session's fake upstream, reset before and after each test."""
    fake_upstream.reset()
    fake_upstream.slow_seconds = 2.0
    yield fake_upstream
    fake_upstream.reset()


@pytest.fixture()
def start_server() -> Iterator[Callable[[Any], RunningServer]]:
    """Factory: start uvicorn for an app; every server started is stopped at the end."""
    servers: list[RunningServer] = []

    def start(app: Any) -> RunningServer:
        server = RunningServer(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
