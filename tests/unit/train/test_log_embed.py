"""`embed_log_prompts`: one embedding call per embedder, routers unchanged otherwise."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from prefroute.engine import LocalEngine
from prefroute.routers.base import Router, embedder_spec
from prefroute.routers.mf import MFRouter
from prefroute.routers.random import RandomRouter
from prefroute.train.log_embed import embed_log_prompts
from prefroute.types import Battle, FloatArray


class RecordingEngine(LocalEngine):
    """The local engine, keeping each `embed_batches` call's texts."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_batches(
        self, embedder_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        self.calls.append([t for b in batches for t in b])
        return super().embed_batches(embedder_spec, batches)


def _mf(prompts: list[str], seed: int) -> MFRouter:
    battles = [
        Battle(p, "strong", "weak", "a" if i % 2 else "tie")
        for i, p in enumerate(prompts)
    ]
    return MFRouter(
        embedder="hashing:64",
        dim=4,
        n_epochs=20,
        strong_model="strong",
        weak_model="weak",
        seed=seed,
    ).fit(battles)


@pytest.fixture()
def routers(prompts: list[str]) -> dict[str, Router]:
    return {"a": _mf(prompts, 0), "b": _mf(prompts, 1), "r": RandomRouter(seed=2)}


def test_routers_sharing_an_embedder_embed_the_log_once_on_the_engine(
    routers: dict[str, Router], prompts: list[str]
) -> None:
    log = [f"{p} #{i % 7}" for i, p in enumerate(prompts * 3)]
    engine = RecordingEngine()
    ready = embed_log_prompts(routers, log, engine=engine)
    assert list(ready) == ["a", "b", "r"]
    assert len(engine.calls) == 1  # both mf routers: one job
    assert sorted(engine.calls[0]) == sorted(set(log))
    assert ready["r"] is routers["r"]  # no embedder of its own
    for name in ("a", "b"):
        assert ready[name] is not routers[name]
        assert embedder_spec(ready[name]) == "hashing:64"
        assert np.array_equal(ready[name].score(log), routers[name].score(log))
    assert len(engine.calls) == 1  # scoring the log read the vectors in memory


def test_local_embedding_keeps_scores_and_the_saved_router(
    routers: dict[str, Router], prompts: list[str], tmp_path: Path
) -> None:
    ready = embed_log_prompts({"a": routers["a"]}, prompts)["a"]
    assert np.array_equal(ready.score(prompts), routers["a"].score(prompts))
    ready.save(tmp_path / "ready")
    routers["a"].save(tmp_path / "plain")
    config, plain = (
        json.loads((tmp_path / name / "config.json").read_text())
        for name in ("ready", "plain")
    )
    # an embedder object is saved as {"__embedder__": spec}, which loads as the spec
    assert config["hyperparameters"].pop("embedder") == {"__embedder__": "hashing:64"}
    assert plain["hyperparameters"].pop("embedder") == "hashing:64"
    assert config == plain
    assert (tmp_path / "ready" / "arrays.npz").read_bytes() == (
        tmp_path / "plain" / "arrays.npz"
    ).read_bytes()
