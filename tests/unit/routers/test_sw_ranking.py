"""SW ranking: similarity weighting, top-k, prior, save/load, latency smoke."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers import sw_ranking
from prefroute.routers.sw_ranking import SWRankingRouter
from prefroute.types import Battle


def _router(**kw: object) -> SWRankingRouter:
    return SWRankingRouter(embedder=HashingEmbedder(dim=64), n_tiers=3, **kw)  # type: ignore[arg-type]


def test_hard_prompts_score_higher(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    scores = _router(top_k=3).fit(tiny_battles).score(prompts)
    assert scores[:6].mean() > scores[6:].mean() + 0.2


def test_prior_pulls_towards_base_rate(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    loose = _router(prior=0.0, top_k=2).fit(tiny_battles)
    tight = _router(prior=1e6, top_k=2).fit(tiny_battles)
    assert np.ptp(tight.score(prompts)) < 1e-3 < np.ptp(loose.score(prompts))
    assert tight.base_rate_ is not None
    np.testing.assert_allclose(tight.score(prompts), tight.base_rate_, atol=1e-3)


def test_all_battles_vote_without_top_k(tiny_battles: list[Battle]) -> None:
    router = _router(top_k=None).fit(tiny_battles)
    s = router.score(["completely unrelated words here"])
    assert 0.0 < s[0] < 1.0


def test_max_prompts_caps_stored_prompts(tiny_battles: list[Battle]) -> None:
    router = _router(max_prompts=5).fit(tiny_battles)
    assert router.embeddings_ is not None
    assert router.embeddings_.shape == (5, 64)
    assert router.embeddings_.dtype == np.int8


def test_gamma_must_exceed_one(tiny_battles: list[Battle]) -> None:
    with pytest.raises(ConfigError, match="gamma must be > 1"):
        _router(gamma=1.0).fit(tiny_battles)


def test_round_trip_identical(
    tiny_battles: list[Battle], prompts: list[str], tmp_path: Path
) -> None:
    router = _router(top_k=4).fit(tiny_battles)
    router.save(tmp_path / "sw")
    loaded = SWRankingRouter.load(tmp_path / "sw")
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))
    assert loaded.top_k == 4


def test_single_prompt_latency_smoke(tiny_battles: list[Battle]) -> None:
    router = _router().fit(tiny_battles)
    router.score(["warm up"])
    t0 = time.perf_counter()
    for _ in range(20):
        router.score(["What is the capital of Peru?"])
    assert (time.perf_counter() - t0) / 20 < 0.5  # lax: CI machines vary


def test_shipped_checkpoint_loads_without_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefroute.routers import load_router

    monkeypatch.setenv("PREFROUTE_DATA_DIR", str(tmp_path / "absent"))
    router = load_router("sw_ranking")
    assert isinstance(router, SWRankingRouter)
    scores = router.score(["What is 2 + 2?", "Prove Fermat's little theorem."])
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize("top_k", [None, 3])
def test_scoring_in_chunks_gives_the_same_scores(
    tiny_battles: list[Battle],
    prompts: list[str],
    top_k: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = _router(top_k=top_k).fit(tiny_battles)
    # 37 prompts: 4-prompt chunks and one left over; every prompt is similar to some
    # training prompt (with none, the weights are float32 rounding noise, chunked
    # or not)
    many = (prompts * 4)[: len(prompts) * 3 + 1]
    monkeypatch.setattr(sw_ranking, "_SCORE_CHUNK", 10**6)
    whole = router.score(many)
    monkeypatch.setattr(sw_ranking, "_SCORE_CHUNK", 4)
    chunked = router.score(many)
    np.testing.assert_array_equal(chunked, whole)


def test_similarities_are_computed_a_chunk_at_a_time(
    tiny_battles: list[Battle], prompts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    router = _router().fit(tiny_battles)
    monkeypatch.setattr(sw_ranking, "_SCORE_CHUNK", 4)
    rows: list[int] = []
    block = router._score_block

    def spy(q: np.ndarray) -> np.ndarray:
        rows.append(len(q))
        return block(q)

    monkeypatch.setattr(router, "_score_block", spy)
    n = len(prompts) * 3 + 2
    assert router.score((prompts * 4)[:n]).shape == (n,)
    assert max(rows) <= 4 and sum(rows) == n
