"""The eval plot: a PNG, or a clear error naming the `plots` extra."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from prefroute.errors import MissingDependencyError
from prefroute.evals.harness import evaluate_router_scores
from prefroute.evals.plots import plot_report
from prefroute.types import BenchmarkSet, ModelPair


def _report() -> object:
    rng = np.random.default_rng(0)
    strong = (rng.random(60) < 0.8).astype(float)
    weak = (rng.random(60) < 0.5).astype(float)
    bench = BenchmarkSet(
        "syn", [str(i) for i in range(60)], strong, weak, ModelPair("s", "w")
    )
    return evaluate_router_scores(
        bench, {"a": rng.random(60), "b": strong - weak}, n_bootstrap=0
    )


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = plot_report(_report(), tmp_path / "sub" / "plot.png")  # type: ignore[arg-type]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_names_the_plots_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _report()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"prefroute\[plots\]"):
        plot_report(report, tmp_path / "plot.png")  # type: ignore[arg-type]
    assert not (tmp_path / "plot.png").exists()
