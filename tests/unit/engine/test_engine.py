"""Engines: the local engine's batches, EngineEmbedder's chunks, option errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from prefroute.embed import get_embedder
from prefroute.engine import LocalEngine, get_engine
from prefroute.engine.embed import EngineEmbedder
from prefroute.engine.jobs import score_prompts_on
from prefroute.errors import ConfigError
from prefroute.evals.scoring import score_in_batches
from prefroute.routers.random import RandomRouter
from prefroute.types import FloatArray


class RecordingEngine(LocalEngine):
    """The local engine, keeping the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed_batches(
        self, embedder_spec: str, batches: Sequence[Sequence[str]]
    ) -> list[FloatArray]:
        self.batches += [list(b) for b in batches]
        return super().embed_batches(embedder_spec, batches)


def test_local_engine_scores_as_score_in_batches(prompts: list[str]) -> None:
    many = [f"{p} {i}" for i in range(40) for p in prompts]
    expected = score_in_batches(RandomRouter(seed=4), many, batch_size=32)
    got = score_prompts_on(LocalEngine(), "random:seed=4", many, batch_size=32)
    assert np.array_equal(got, expected)


def test_no_prompts_score_to_an_empty_array() -> None:
    assert score_prompts_on(LocalEngine(), "random", []).shape == (0,)


def test_engine_embedder_reassembles_chunks_in_input_order() -> None:
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(50)]
    engine = RecordingEngine()
    embedder = EngineEmbedder("hashing:64", engine, chunk_size=16)
    got = embedder.embed(texts)
    assert [len(b) for b in engine.batches] == [16, 16, 16, 2]
    assert np.array_equal(got, get_embedder("hashing:64").embed(texts))
    assert embedder.spec == get_embedder("hashing:64").spec


def test_unknown_engine_and_ray_options_without_ray_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        get_engine("spark")
    with pytest.raises(ConfigError, match="need --engine ray"):
        get_engine("local", n_actors=2)
