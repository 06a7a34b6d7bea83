"""Integration fixtures: a fake upstream HTTP server and a real uvicorn server."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_upstream import FakeUpstream, RunningServer


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
