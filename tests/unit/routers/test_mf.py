"""MF router: per-model scores, pair selection, unseen models, save/load."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers.mf import MFRouter
from prefroute.types import Battle


def _fit(battles: list[Battle], **kw: object) -> MFRouter:
    router = MFRouter(
        embedder=HashingEmbedder(dim=64),
        dim=8,
        n_epochs=200,
        lr=0.05,
        strong_model="strong-model",
        weak_model="weak-model",
        **kw,  # type: ignore[arg-type]
    )
    return router.fit(battles)


def test_hard_prompts_need_strong(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    scores = _fit(tiny_battles).score(prompts)
    assert scores[:6].mean() > scores[6:].mean() + 0.2


def test_score_models_shape_and_order(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    router = _fit(tiny_battles)
    s = router.score_models(prompts, ["mid-model", "weak-model"])
    assert s.shape == (len(prompts), 2)
    # mid-model beats weak-model on every hard prompt in the data
    assert np.all(s[:6, 0] > s[:6, 1])
    assert router.score_models(prompts).shape == (len(prompts), 3)


def test_score_is_sigmoid_of_score_difference(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    router = _fit(tiny_battles)
    s = router.score_models(prompts, ["strong-model", "weak-model"])
    np.testing.assert_allclose(
        router.score(prompts), 1 / (1 + np.exp(-(s[:, 0] - s[:, 1])))
    )


def test_with_pair_scores_another_pair(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    router = _fit(tiny_battles)
    other = router.with_pair("mid-model", "weak-model")
    assert other.pair() == ("mid-model", "weak-model")
    assert router.pair() == ("strong-model", "weak-model")
    assert not np.allclose(other.score(prompts), router.score(prompts))


def test_unseen_model_maps_by_alias_with_warning(
    tiny_battles: list[Battle], prompts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    router = _fit(tiny_battles, model_aliases={"gpt-9": "strong-model"})
    with caplog.at_level(logging.WARNING):
        aliased = router.with_pair("gpt-9", "weak-model")
    assert "not seen in training" in caplog.text
    np.testing.assert_array_equal(aliased.score(prompts), router.score(prompts))


def test_unseen_model_without_alias_fails_in_score_models(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    with pytest.raises(ConfigError, match="was not seen in training"):
        _fit(tiny_battles).score_models(prompts, ["totally-unknown-llm"])


def test_unseen_pair_member_maps_to_top_tier(
    tiny_battles: list[Battle], caplog: pytest.LogCaptureFixture
) -> None:
    router = _fit(tiny_battles)
    with caplog.at_level(logging.WARNING):
        strong, weak = router.with_pair("totally-unknown-llm", "weak-model").pair()
    assert "strongest seen model" in caplog.text
    assert weak == "weak-model"
    assert router.model_bias_ is not None
    assert strong == router.models[int(np.argmax(router.model_bias_))]


def test_round_trip_identical(
    tiny_battles: list[Battle], prompts: list[str], tmp_path: Path
) -> None:
    router = _fit(tiny_battles)
    router.save(tmp_path / "mf")
    loaded = MFRouter.load(tmp_path / "mf")
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))
    np.testing.assert_array_equal(
        loaded.score_models(prompts), router.score_models(prompts)
    )
    assert loaded.models == router.models


def test_shipped_checkpoint_loads_without_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefroute.routers import load_router

    monkeypatch.setenv("PREFROUTE_DATA_DIR", str(tmp_path / "absent"))
    router = load_router("mf")
    assert isinstance(router, MFRouter)
    scores = router.score(["What is 2 + 2?", "Prove Fermat's little theorem."])
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))
