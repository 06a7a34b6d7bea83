"""DifficultyRouter: ridge heads, rank averaging, isotonic calibration, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ArtifactError, ConfigError, DataError, NotFittedError
from prefroute.routers import load_router
from prefroute.routers.difficulty import DifficultyRouter, isotonic_fit, log_length
from prefroute.types import Battle


def _router(**kwargs: object) -> DifficultyRouter:
    return DifficultyRouter(embedder=HashingEmbedder(dim=64), **kwargs)  # type: ignore[arg-type]


def test_isotonic_fit_is_non_decreasing_and_pools_violators() -> None:
    x, y = isotonic_fit([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 0.0, 1.0])
    assert np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(x, [0.0, 1.5, 3.0])


def test_isotonic_fit_rejects_mismatched_shapes() -> None:
    with pytest.raises(DataError, match="equal non-empty"):
        isotonic_fit([0.0, 1.0], [0.0])


def test_log_length_grows_with_prompt_length() -> None:
    values = log_length(["a", "a" * 100])
    assert values[1] > values[0] > 0


def test_fit_ranks_hard_prompts_above_easy(
    tiny_battles: list[Battle], prompts: list[str]
) -> None:
    scores = _router(alpha=0.1).fit(tiny_battles).score(prompts)
    hard, easy = scores[:6], scores[6:]
    assert hard.mean() > easy.mean()


def test_fit_targets_learns_a_planted_direction() -> None:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    prompts = [" ".join(rng.choice(words, size=6)) for _ in range(300)]
    target = np.array([p.count("omega") / 6 for p in prompts])
    router = _router(alpha=0.1).fit_targets(prompts, {"omega": target})
    scores = router.score(prompts)
    assert np.corrcoef(scores, target)[0, 1] > 0.8


def test_calibration_maps_to_target_scale() -> None:
    prompts = [f"question number {i} " + "x " * (i % 20) for i in range(200)]
    target = np.array([(i % 20) / 19 for i in range(200)])
    router = _router(alpha=0.1).fit_targets(prompts, {"t": target}, calibration=target)
    scores = router.score(prompts)
    assert abs(scores.mean() - target.mean()) < 0.05
    assert scores.min() >= 0.0 and scores.max() <= 1.0


def test_nan_targets_are_skipped_per_head() -> None:
    prompts = [f"prompt {i} " + "y " * i for i in range(40)]
    a = np.linspace(0, 1, 40)
    b = a.copy()
    b[:20] = np.nan
    router = _router().fit_targets(prompts, {"a": a, "b": b})
    assert router.heads_ == ["a", "b"]
    assert np.all(np.isfinite(router.score(prompts)))


def test_head_scores_names_every_head_and_length() -> None:
    prompts = [f"prompt {i} " + "y " * i for i in range(40)]
    router = _router().fit_targets(prompts, {"a": np.linspace(0, 1, 40)})
    heads = router.head_scores(prompts[:3])
    assert set(heads) == {"a", "length"}
    assert all(v.shape == (3,) for v in heads.values())


def test_precomputed_embeddings_match_embedder() -> None:
    prompts = [f"prompt {i} " + "z " * i for i in range(30)]
    emb = HashingEmbedder(dim=64)
    router = _router().fit_targets(prompts, {"a": np.linspace(0, 1, 30)})
    np.testing.assert_allclose(
        router.score(prompts, embeddings=emb.embed(prompts)), router.score(prompts)
    )


def test_embedder_spec_string_is_resolved_lazily(tmp_path: Path) -> None:
    router = DifficultyRouter(embedder="hashing:64")
    assert router.embedder == "hashing:64"
    prompts = [f"prompt {i} " + "z " * i for i in range(30)]
    router.fit_targets(prompts, {"a": np.linspace(0, 1, 30)})
    assert router.embedder.spec == "hashing:64"  # type: ignore[union-attr]


def test_save_load_round_trip_via_load_router(tmp_path: Path) -> None:
    prompts = [f"prompt {i} " + "z " * i for i in range(30)]
    router = _router(length_weight=0.5).fit_targets(
        prompts, {"a": np.linspace(0, 1, 30), "b": np.linspace(1, 0, 30)}
    )
    router.save(tmp_path / "d")
    loaded = load_router(tmp_path / "d")
    assert isinstance(loaded, DifficultyRouter)
    assert loaded.length_weight == 0.5
    np.testing.assert_allclose(loaded.score(prompts), router.score(prompts), atol=1e-6)


def test_load_missing_heads_file_raises(tmp_path: Path) -> None:
    prompts = [f"prompt {i}" for i in range(10)]
    router = _router().fit_targets(prompts, {"a": np.linspace(0, 1, 10)})
    router.save(tmp_path / "d")
    (tmp_path / "d" / "heads.json").unlink()
    with pytest.raises(ArtifactError, match="incomplete"):
        DifficultyRouter.load(tmp_path / "d")


def test_score_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        _router().score(["hello"])


def test_bad_alpha_raises() -> None:
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        _router(alpha=0.0)


def test_bad_head_alpha_raises() -> None:
    with pytest.raises(ConfigError, match="head_alphas must be > 0"):
        _router(head_alphas={"a": 0.0})


def test_head_alphas_override_the_shared_penalty_per_head(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    prompts = [" ".join(rng.choice(words, size=6)) for _ in range(200)]
    target = np.array([p.count("omega") / 6 for p in prompts])
    targets = {"a": target, "b": target}
    plain = _router(alpha=0.1).fit_targets(prompts, targets)
    mixed = _router(alpha=0.1, head_alphas={"b": 1e6}).fit_targets(prompts, targets)
    assert mixed.coef_ is not None and plain.coef_ is not None
    np.testing.assert_allclose(mixed.coef_[0], plain.coef_[0])
    # a huge penalty shrinks head b's embedding weights towards zero
    assert np.abs(mixed.coef_[1]).sum() < 0.01 * np.abs(plain.coef_[1]).sum()
    mixed.save(tmp_path / "d")
    loaded = load_router(tmp_path / "d")
    assert isinstance(loaded, DifficultyRouter)
    assert loaded.head_alphas == {"b": 1e6}
    np.testing.assert_allclose(loaded.score(prompts), mixed.score(prompts), atol=1e-9)


def test_raw_heads_enter_the_average_as_clipped_predictions(tmp_path: Path) -> None:
    prompts = [f"prompt {i} " + "z " * i for i in range(60)]
    kind = np.array([1.0 if i % 2 else 0.0 for i in range(60)])
    targets = {"a": np.linspace(0, 1, 60), "kind": kind}
    pct = _router(alpha=0.1).fit_targets(prompts, targets)
    raw = _router(alpha=0.1, raw_heads=["kind"]).fit_targets(prompts, targets)
    pct_cols, raw_cols = pct.head_scores(prompts), raw.head_scores(prompts)
    np.testing.assert_allclose(raw_cols["a"], pct_cols["a"])
    assert raw.coef_ is not None and raw.intercept_ is not None
    features = raw._features(prompts, None)
    expected = np.clip(features @ raw.coef_[1] + raw.intercept_[1], 0.0, 1.0)
    np.testing.assert_allclose(raw_cols["kind"], expected)
    assert not np.allclose(raw_cols["kind"], pct_cols["kind"])
    raw.save(tmp_path / "d")
    loaded = load_router(tmp_path / "d")
    assert isinstance(loaded, DifficultyRouter)
    assert loaded.raw_heads == ["kind"]
    np.testing.assert_allclose(loaded.score(prompts), raw.score(prompts), atol=1e-9)


def test_fit_without_ranked_models_raises() -> None:
    battles = [Battle("p", "m1", "m2", "tie"), Battle("q", "m2", "m1", "tie")]
    with pytest.raises(DataError, match="different win rates"):
        _router().fit(battles)


def test_mismatched_target_shape_raises() -> None:
    with pytest.raises(DataError, match="shape"):
        _router().fit_targets(["a", "b", "c"], {"t": np.zeros(2)})


def test_shipped_default_checkpoint_loads_and_scores() -> None:
    pytest.importorskip("onnxruntime")
    router = load_router("default")
    assert isinstance(router, DifficultyRouter)
    scores = router.score(
        [
            "Say hello to my friend Anna.",
            "Let f(x) = x^3 - 6x^2 + 11x - 6. Find all real x with f(f(x)) = 0 and "
            "prove that your list is complete.",
        ]
    )
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_shipped_default_beats_random_on_an_mmlu_sample(data_dir: Path) -> None:
    from prefroute.data.benchmarks import load_benchmark
    from prefroute.evals.metrics import apgr, exact_curve

    bench = load_benchmark("mmlu", data_dir)
    idx = np.random.default_rng(0).choice(len(bench), size=800, replace=False)
    prompts = [bench.prompts[i] for i in idx]
    strong = np.asarray(bench.strong_quality)[idx]
    weak = np.asarray(bench.weak_quality)[idx]
    scores = load_router("default").score(prompts)
    value = apgr(exact_curve(scores, strong, weak), strong.mean(), weak.mean())
    assert value > 0.53
