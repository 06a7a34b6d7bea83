"""The registry and load_router resolve names, folders and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefroute.errors import ArtifactError, ConfigError, UnknownRouterError
from prefroute.routers import get_router, load_router
from prefroute.routers.random import RandomRouter


def test_unknown_router_name_raises_with_known_names() -> None:
    with pytest.raises(UnknownRouterError, match="random"):
        load_router("no-such-router")


def test_get_router_unknown_raises_lookup_error() -> None:
    with pytest.raises(LookupError):
        get_router("nope")


def test_load_router_random_needs_no_checkpoint() -> None:
    router = load_router("random")
    assert isinstance(router, RandomRouter)


def test_load_router_from_folder(tmp_path: Path) -> None:
    RandomRouter(seed=7).save(tmp_path / "r")
    loaded = load_router(tmp_path / "r")
    assert isinstance(loaded, RandomRouter)
    assert loaded.seed == 7


def test_load_rejects_wrong_format_version(tmp_path: Path) -> None:
    RandomRouter().save(tmp_path / "r")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    config["format_version"] = 99
    (tmp_path / "r" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="format_version"):
        load_router(tmp_path / "r")


def test_load_rejects_corrupt_config(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="cannot parse"):
        RandomRouter.load(tmp_path / "r")


def test_route_rejects_threshold_outside_unit_interval() -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        RandomRouter().route(["a"], 1.5)


def test_random_scores_are_roughly_uniform() -> None:
    scores = RandomRouter(seed=1).score([f"prompt {i}" for i in range(4000)])
    assert abs(float(np.mean(scores)) - 0.5) < 0.03
    assert abs(float(np.mean(scores < 0.25)) - 0.25) < 0.03


def test_random_different_seeds_differ() -> None:
    prompts = [f"p{i}" for i in range(50)]
    a = RandomRouter(seed=1).score(prompts)
    b = RandomRouter(seed=2).score(prompts)
    assert not np.array_equal(a, b)
