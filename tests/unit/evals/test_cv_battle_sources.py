"""The paired bootstrap of `benchmarks/cv_battle_sources.py`, on small arrays."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from cv_battle_sources import paired_delta


def _quality(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    strong = (rng.random(n) < 0.8).astype(np.float64)
    weak = (rng.random(n) < 0.5).astype(np.float64)
    return strong, weak


def test_a_router_against_itself_differs_by_nothing() -> None:
    strong, weak = _quality(300, 0)
    scores = np.random.default_rng(1).random(300)
    assert paired_delta(scores, scores, strong, weak, 50) == (0.0, 0.0, 0.0)


def test_the_oracle_beats_random_with_an_interval_above_zero() -> None:
    strong, weak = _quality(400, 2)
    noise = np.random.default_rng(3).random(400)
    oracle = strong - weak + 1e-3 * noise
    delta, lo, hi = paired_delta(oracle, noise, strong, weak, 200)
    assert 0.0 < lo <= delta <= hi
    # antisymmetric point estimate, mirrored interval (same draws)
    back, blo, bhi = paired_delta(noise, oracle, strong, weak, 200)
    assert back == -delta
    assert np.allclose((blo, bhi), (-hi, -lo), rtol=0, atol=1e-12)
