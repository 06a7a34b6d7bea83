"""Classifier router: strong/tie/weak head on a frozen embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError, DataError
from prefroute.routers.classifier import ClassifierRouter
from prefroute.types import Battle


def _router(**kw: object) -> ClassifierRouter:
    return ClassifierRouter(embedder=HashingEmbedder(dim=64), n_tiers=3, lr=0.05, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("hidden", [0, 16])
def test_hard_prompts_score_higher(
    tiny_battles: list[Battle], prompts: list[str], hidden: int
) -> None:
    scores = _router(hidden=hidden).fit(tiny_battles).score(prompts)
    assert scores[:6].mean() > scores[6:].mean() + 0.2


def test_probabilities_sum_to_one(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    p = _router().fit(tiny_battles).predict_proba(prompts)
    assert p.shape == (len(prompts), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_same_tier_battles_only_is_an_error() -> None:
    battles = [Battle("p", "x", "y", "tie")] * 3
    with pytest.raises(DataError, match="no battles between"):
        _router().fit(battles)


def test_bad_tier_mode(tiny_battles: list[Battle]) -> None:
    with pytest.raises(ConfigError, match="tier_mode"):
        _router(tier_mode="both").fit(tiny_battles)


@pytest.mark.parametrize("hidden", [0, 8])
def test_round_trip_identical(
    tiny_battles: list[Battle], prompts: list[str], tmp_path: Path, hidden: int
) -> None:
    router = _router(hidden=hidden).fit(tiny_battles)
    router.save(tmp_path / "c")
    loaded = ClassifierRouter.load(tmp_path / "c")
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))


def test_shipped_checkpoint_loads_without_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefroute.routers import load_router

    monkeypatch.setenv("PREFROUTE_DATA_DIR", str(tmp_path / "absent"))
    router = load_router("classifier")
    assert isinstance(router, ClassifierRouter)
    scores = router.score(["What is 2 + 2?", "Prove Fermat's little theorem."])
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))
