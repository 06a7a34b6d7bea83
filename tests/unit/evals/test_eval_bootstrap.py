"""Bootstrap intervals and paired comparisons; the harness's report."""

from __future__ import annotations

import time

import numpy as np
import pytest

from prefroute.errors import ConfigError, DataError
from prefroute.evals.bootstrap import (
    bootstrap_metrics,
    iter_resample_counts,
    paired_difference,
    percentile_interval,
)
from prefroute.evals.harness import evaluate_router_scores, parse_router_spec
from prefroute.types import BenchmarkSet, ModelPair


def _bench(n: int, seed: int = 0) -> BenchmarkSet:
    rng = np.random.default_rng(seed)
    strong = (rng.random(n) < 0.8).astype(float)
    weak = (rng.random(n) < 0.65).astype(float)
    prompts = [f"prompt {i}" for i in range(n)]
    return BenchmarkSet("synthetic", prompts, strong, weak, ModelPair("s", "w"))


def _informative(bench: BenchmarkSet, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gain = bench.strong_quality - bench.weak_quality
    return gain + rng.normal(0, 1.0, len(bench))


def test_resample_counts_sum_to_n() -> None:
    chunks = list(
        iter_resample_counts(50, 250, np.random.default_rng(0), chunk_size=100)
    )
    assert [c.shape for c in chunks] == [(100, 50), (100, 50), (50, 50)]
    assert all(np.all(c.sum(axis=1) == 50) for c in chunks)


def test_interval_contains_the_point_estimate() -> None:
    bench = _bench(400)
    report = evaluate_router_scores(
        bench, {"good": _informative(bench)}, n_bootstrap=300, seed=0
    )
    result = report.routers["good"]
    for key in ("APGR", "APGR_10bin", "CPT50"):
        lo, hi = result.intervals[key]
        assert lo <= result.metrics[key] <= hi, key
    assert result.metrics["APGR"] > 0.5


def test_interval_narrows_with_more_prompts() -> None:
    def width(n: int) -> float:
        bench = _bench(n, seed=n)
        samples = bootstrap_metrics(
            {"r": _informative(bench)},
            bench.strong_quality,
            bench.weak_quality,
            n_resamples=300,
        )
        lo, hi = percentile_interval(samples.routers["r"]["APGR"])
        return hi - lo

    assert width(4000) < 0.6 * width(200)


def test_compare_with_itself_gives_zero_difference() -> None:
    bench = _bench(300)
    scores = _informative(bench)
    report = evaluate_router_scores(
        bench, {"a": scores, "b": scores.copy()}, n_bootstrap=200, compare=[("a", "b")]
    )
    entry = report.compare["a vs b"]["APGR"]
    assert entry["diff"] == 0.0
    assert entry["diff_ci"] == [0.0, 0.0]
    assert entry["share_a_le_b"] == 1.0


def test_compare_detects_a_better_router() -> None:
    bench = _bench(1000)
    report = evaluate_router_scores(
        bench,
        {"good": _informative(bench), "random": np.random.default_rng(5).random(1000)},
        n_bootstrap=300,
        compare=[("good", "random")],
    )
    entry = report.compare["good vs random"]["APGR"]
    assert entry["diff"] > 0.1
    assert entry["diff_ci"][0] > 0
    assert entry["share_a_le_b"] < 0.01


def test_same_seed_same_intervals() -> None:
    bench = _bench(200)
    scores = {"r": _informative(bench)}
    a = evaluate_router_scores(bench, scores, n_bootstrap=100, seed=3)
    b = evaluate_router_scores(bench, scores, n_bootstrap=100, seed=3)
    assert a.routers["r"].intervals == b.routers["r"].intervals


def test_optimal_interval_contains_its_point() -> None:
    bench = _bench(500)
    report = evaluate_router_scores(bench, {"r": _informative(bench)}, n_bootstrap=200)
    lo, hi = report.optimal_intervals["APGR"]
    assert lo <= report.optimal_metrics["APGR"] <= hi
    assert report.optimal_metrics["APGR"] >= report.routers["r"].metrics["APGR"]


def test_thousand_resamples_of_14k_prompts_take_seconds() -> None:
    bench = _bench(14_000)
    start = time.perf_counter()
    bootstrap_metrics(
        {"r": _informative(bench)},
        bench.strong_quality,
        bench.weak_quality,
        n_resamples=1000,
    )
    assert time.perf_counter() - start < 20.0


def test_degenerate_resamples_are_nan_and_ignored() -> None:
    # Two prompts, gain [1, 0]: a resample drawing prompt 1 twice has no gap.
    samples = bootstrap_metrics(
        {"r": np.array([0.9, 0.1])},
        np.array([1.0, 0.0]),
        np.array([0.0, 0.0]),
        n_resamples=200,
    )
    apgr = samples.routers["r"]["APGR"]
    assert np.isnan(apgr).any() and np.isfinite(apgr).any()
    lo, hi = percentile_interval(apgr)
    assert np.isfinite(lo) and np.isfinite(hi)


def test_report_json_has_the_promised_keys() -> None:
    bench = _bench(100)
    report = evaluate_router_scores(bench, {"r": _informative(bench)}, n_bootstrap=50)
    data = report.to_dict()
    assert {
        "benchmark",
        "n_prompts",
        "strong_model",
        "weak_model",
        "strong_quality",
        "weak_quality",
        "routers",
        "compare",
        "optimal",
    } <= set(data)
    entry = data["routers"]["r"]
    for key in (
        "APGR",
        "APGR_ci",
        "APGR_10bin",
        "CPT20",
        "CPT50",
        "CPT80",
        "CPT50_10bin",
        "curve",
        "curve_10bin",
    ):
        assert key in entry, key
    assert len(entry["curve"]["strong_share"]) == len(entry["curve"]["quality"]) == 101


def test_equal_model_quality_is_a_clear_error() -> None:
    bench = BenchmarkSet(
        "flat", ["a", "b"], np.ones(2), np.ones(2), ModelPair("s", "w")
    )
    with pytest.raises(DataError, match="equal"):
        evaluate_router_scores(bench, {"r": np.array([0.1, 0.2])}, n_bootstrap=0)


def test_compare_of_unknown_router_is_a_config_error() -> None:
    bench = _bench(20)
    with pytest.raises(ConfigError, match="nope"):
        evaluate_router_scores(
            bench, {"r": _informative(bench)}, n_bootstrap=0, compare=[("r", "nope")]
        )


def test_paired_difference_rejects_unequal_lengths() -> None:
    with pytest.raises(ConfigError):
        paired_difference(np.zeros(3), np.zeros(4), 0.0, 0.0)


def test_router_spec_arguments_are_parsed() -> None:
    assert parse_router_spec("random:seed=3") == ("random", {"seed": 3})
    assert parse_router_spec("random") == ("random", {})
    with pytest.raises(ConfigError):
        parse_router_spec("random:seed")


def test_optimal_stays_within_one_when_the_weak_model_never_wins() -> None:
    rng = np.random.default_rng(0)
    weak = (rng.random(80) < 0.5).astype(float)
    strong = np.maximum(weak, (rng.random(80) < 0.6).astype(float))  # never worse
    bench = BenchmarkSet(
        "s", [f"p{i}" for i in range(80)], strong, weak, ModelPair("s", "w")
    )
    report = evaluate_router_scores(bench, {"r": strong - weak}, n_bootstrap=300)
    assert report.optimal_metrics["PGR_max"] == pytest.approx(1.0)
    assert report.optimal_intervals["APGR"][1] <= 1.0
    assert report.optimal_intervals["PGR_max"] == pytest.approx((1.0, 1.0))


def test_optimal_exceeds_one_by_the_weak_models_wins() -> None:
    # gains +1 on 30 prompts, -1 on 10: the oracle recovers 30 of a net gap of 20
    strong = np.array([1.0] * 30 + [0.0] * 10 + [1.0] * 40)
    weak = np.array([0.0] * 30 + [1.0] * 10 + [1.0] * 40)
    bench = BenchmarkSet(
        "s", [f"p{i}" for i in range(80)], strong, weak, ModelPair("s", "w")
    )
    report = evaluate_router_scores(bench, {"r": strong - weak}, n_bootstrap=300)
    assert report.optimal_metrics["PGR_max"] == pytest.approx(1.5)
    lo, hi = report.optimal_intervals["PGR_max"]
    assert lo <= 1.5 <= hi and hi > 1.5
    # the oracle's APGR is computed per resample as its point is (a resample of all
    # prompts once would give the point): the interval brackets it
    lo, hi = report.optimal_intervals["APGR"]
    assert lo <= report.optimal_metrics["APGR"] <= hi
    assert report.to_dict()["optimal"]["PGR_max"] == pytest.approx(1.5)
