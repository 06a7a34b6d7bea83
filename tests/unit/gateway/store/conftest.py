"""Store fixtures, parametrized by backend so every store passes the same tests.

To add a backend, add an entry to `STORE_BACKENDS`: a name and a function that
returns a fresh, empty store target (a path or a URL) for one test, calling
`pytest.skip` when the backend is unavailable (no server, no driver).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefroute.gateway.store import LogStore, RequestRecord, open_store, prompt_hash


def _sqlite_target(tmp_path: Path) -> str:
    return str(tmp_path / "logs" / "requests.db")


STORE_BACKENDS: dict[str, Callable[[Path], str]] = {"sqlite": _sqlite_target}


@pytest.fixture(params=sorted(STORE_BACKENDS))
def store_backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend under test."""
    name: str = request.param
    return name


@pytest.fixture()
def store_target(store_backend: str, tmp_path: Path) -> str:
    """A fresh, empty store target for this test."""
    return STORE_BACKENDS[store_backend](tmp_path)


@pytest.fixture()
def store_factory(store_target: str) -> Iterator[Callable[[], LogStore]]:
    """Opens a store on this test's target; each call is a new connection set."""
    opened: list[LogStore] = []

    def make() -> LogStore:
        store = open_store(store_target)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture()
def store(store_factory: Callable[[], LogStore]) -> LogStore:
    """One open, empty store."""
    return store_factory()


def _record(i: int, **overrides: Any) -> RequestRecord:
    prompt = f"prompt number {i}"
    record = RequestRecord(
        request_id=f"req-{i:06d}",
        ts=1_700_000_000.0 + i,
        router="mf",
        threshold=0.25,
        strong_share=None,
        budget=None,
        knob=None,
        score=0.5,
        scores=None,
        candidates=["strong-model", "weak-model"],
        routed_model="weak-model",
        policy_model="weak-model",
        is_fallback=False,
        is_exploration=False,
        propensity=1.0,
        status=200,
        latency_ms=12.5,
        prompt_tokens=10,
        completion_tokens=20,
        cost_usd=0.0001,
        prompt_hash=prompt_hash(prompt),
        prompt=None,
    )
    return dataclasses.replace(record, **overrides)


@pytest.fixture()
def make_record() -> Callable[..., RequestRecord]:
    """`make_record(i, **overrides)`: a pair-router record with id `req-{i:06d}`."""
    return _record
