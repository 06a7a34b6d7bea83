"""Stochastic routers (score replicates) are reported as their expectation."""

from __future__ import annotations

import numpy as np
import pytest

from prefroute.errors import DataError
from prefroute.evals.harness import evaluate_router_scores
from prefroute.types import BenchmarkSet, ModelPair


def _bench(n: int = 400) -> BenchmarkSet:
    rng = np.random.default_rng(0)
    strong = (rng.random(n) < 0.8).astype(float)
    weak = (rng.random(n) < 0.6).astype(float)
    return BenchmarkSet(
        "toy", [f"p{i}" for i in range(n)], strong, weak, ModelPair("s", "w")
    )


def test_replicate_metrics_are_the_mean_of_single_runs() -> None:
    bench = _bench()
    rng = np.random.default_rng(1)
    reps = rng.random((3, len(bench)))
    together = evaluate_router_scores(bench, {"r": reps}, n_bootstrap=0)
    singles = [
        evaluate_router_scores(bench, {"r": reps[k]}, n_bootstrap=0).routers["r"]
        for k in range(3)
    ]
    expected = np.mean([s.metrics["APGR"] for s in singles])
    assert together.routers["r"].metrics["APGR"] == pytest.approx(expected)


def test_many_random_replicates_approach_half() -> None:
    bench = _bench(2000)
    reps = np.random.default_rng(2).random((20, len(bench)))
    report = evaluate_router_scores(bench, {"random": reps}, n_bootstrap=50)
    assert abs(report.routers["random"].metrics["APGR"] - 0.5) < 0.02
    lo, hi = report.routers["random"].intervals["APGR"]
    assert lo <= report.routers["random"].metrics["APGR"] <= hi


def test_replicates_of_wrong_length_raise() -> None:
    bench = _bench(10)
    with pytest.raises(DataError, match="expected"):
        evaluate_router_scores(bench, {"r": np.zeros((2, 9))}, n_bootstrap=0)
