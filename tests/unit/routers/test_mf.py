"""MF router: per-model scores, pair selection, unseen models, save/load."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ArtifactError, ConfigError
from prefroute.routers.mf import MFRouter
from prefroute.train.ratings import fit_ratings
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


def test_unseen_pair_member_maps_to_top_rating(
    tiny_battles: list[Battle], caplog: pytest.LogCaptureFixture
) -> None:
    router = _fit(tiny_battles)
    top = fit_ratings(tiny_battles).models[0]
    with caplog.at_level(logging.WARNING):
        strong, weak = router.with_pair("totally-unknown-llm", "weak-model").pair()
    assert f"strongest seen model {top!r} (by Bradley-Terry rating)" in caplog.text
    assert (strong, weak) == (top, "weak-model")


def test_fit_stores_bradley_terry_rating_order(tiny_battles: list[Battle]) -> None:
    router = _fit(tiny_battles)
    assert router.model_rating_ is not None
    ranked = [router.models[i] for i in np.argsort(-router.model_rating_)]
    assert ranked == fit_ratings(tiny_battles).models


def test_fallback_follows_rating_not_bias(
    tiny_battles: list[Battle], caplog: pytest.LogCaptureFixture
) -> None:
    router = _fit(tiny_battles)
    assert router.model_bias_ is not None
    # ratings that disagree with the learned bias: the ratings decide
    router.model_rating_ = -router.model_bias_
    top = router.models[int(np.argmin(router.model_bias_))]
    bottom = router.models[int(np.argmax(router.model_bias_))]
    with caplog.at_level(logging.WARNING):
        pair = router.with_pair("unknown-strong-llm", "unknown-weak-llm").pair()
    assert pair == (top, bottom)
    assert f"weakest seen model {bottom!r}" in caplog.text


def test_unseen_model_of_seen_family_maps_in_score_models(
    tiny_battles: list[Battle], prompts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    battles = [
        Battle(
            b.prompt,
            b.model_a.replace("strong-model", "gpt-4-1106-preview"),
            b.model_b,
            b.winner,
            source=b.source,
        )
        for b in tiny_battles
    ]
    router = _fit(battles, model_aliases=None)
    with caplog.at_level(logging.WARNING):
        s = router.score_models(prompts, ["gpt-4-0613"])
    assert "'gpt-4-1106-preview' of the same family" in caplog.text
    np.testing.assert_array_equal(
        s, router.score_models(prompts, ["gpt-4-1106-preview"])
    )


def test_round_trip_keeps_rating(tiny_battles: list[Battle], tmp_path: Path) -> None:
    router = _fit(tiny_battles)
    router.save(tmp_path / "mf")
    loaded = MFRouter.load(tmp_path / "mf")
    assert loaded.model_rating_ is not None and router.model_rating_ is not None
    np.testing.assert_array_equal(loaded.model_rating_, router.model_rating_)


def test_load_rejects_rating_of_wrong_shape(
    tiny_battles: list[Battle], tmp_path: Path
) -> None:
    router = _fit(tiny_battles)
    router.model_rating_ = np.zeros(len(router.models) + 1, dtype=np.float32)
    router.save(tmp_path / "mf")
    with pytest.raises(ArtifactError, match="model_rating"):
        MFRouter.load(tmp_path / "mf")


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


# -- the shipped checkpoint (saved ratings: strongest/weakest by Bradley-Terry) --

MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.fixture(scope="module")
def shipped() -> MFRouter:
    from prefroute.routers import load_router

    router = load_router("mf")
    assert isinstance(router, MFRouter)
    return router


def test_shipped_maps_other_gpt4_and_mixtral_spelling(
    shipped: MFRouter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        pair = shipped.with_pair("gpt-4-0613", "mixtral-8x7b-instruct").pair()
    assert pair == ("gpt-4-1106-preview", MIXTRAL)
    assert "'gpt-4-0613' not seen in training; using 'gpt-4-1106-preview'" in (
        caplog.text
    )
    assert "mixtral-8x22b" not in caplog.text and "strongest" not in caplog.text


def test_shipped_never_maps_8x7b_to_8x22b(shipped: MFRouter) -> None:
    assert "mixtral-8x22b-instruct-v0.1" in shipped.models
    pair = shipped.with_pair("gpt-4-1106-preview", "Mixtral-8x7B-v0.1").pair()
    assert pair == ("gpt-4-1106-preview", MIXTRAL)


def test_shipped_score_models_maps_unseen_gpt4(
    shipped: MFRouter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        s = shipped.score_models(["hi"], ["gpt-4-0613"])
    assert "same family" in caplog.text
    np.testing.assert_array_equal(
        s, shipped.score_models(["hi"], ["gpt-4-1106-preview"])
    )


def test_shipped_score_models_hopeless_name_fails(shipped: MFRouter) -> None:
    with pytest.raises(ConfigError, match="'totally-unknown-llm' was not seen"):
        shipped.score_models(["hi"], ["totally-unknown-llm"])


def test_shipped_unknown_pair_member_falls_back_by_rating(
    shipped: MFRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # The shipped checkpoint stores Bradley-Terry ratings: an unknown strong model
    # is taken to be the top-rated one (gpt-4-1106-preview), not the top bias.
    assert shipped.model_rating_ is not None
    with caplog.at_level(logging.WARNING):
        strong, weak = shipped.with_pair("totally-unknown-llm", "other-unknown").pair()
    assert strong == "gpt-4-1106-preview"
    assert strong == shipped.models[int(np.argmax(shipped.model_rating_))]
    assert weak == shipped.models[int(np.argmin(shipped.model_rating_))]
    assert f"strongest seen model {strong!r} (by Bradley-Terry rating)" in caplog.text


def test_checkpoint_without_ratings_falls_back_by_bias(
    shipped: MFRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # Checkpoints saved before ratings were stored have only the learned bias.
    old = copy.copy(shipped)
    old.model_rating_ = None
    assert old.model_bias_ is not None
    with caplog.at_level(logging.WARNING):
        strong, _ = old.with_pair("totally-unknown-llm", MIXTRAL).pair()
    assert strong == old.models[int(np.argmax(old.model_bias_))]
    assert f"strongest seen model {strong!r} (by learned bias)" in caplog.text


def test_pair_resolving_to_one_model_is_an_error(shipped: MFRouter) -> None:
    # Two spellings of gpt-4-1106-preview: every score would be 0.5.
    with pytest.raises(ConfigError, match="both resolve to the seen model"):
        shipped.with_pair("gpt-4-1106-preview", "gpt4_1106_preview")


def test_unseen_pair_is_resolved_once_not_per_score(
    shipped: MFRouter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        router = shipped.with_pair("gpt-4-0613", MIXTRAL)
    assert "gpt-4-0613" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            router.score(["What is 2+2?"])
    assert "gpt-4-0613" not in caplog.text  # warned once, at with_pair
    # a changed pair is resolved again
    router.strong_model = "gpt-4-0314"
    with caplog.at_level(logging.WARNING):
        assert router.pair()[0] == "gpt-4-1106-preview"
    assert "gpt-4-0314" in caplog.text
