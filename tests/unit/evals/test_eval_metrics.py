"""Metrics on small hand-computed cases (exact curve, paper's 10-bin method, oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from prefroute.errors import DataError
from prefroute.evals import metrics as M

# Four prompts; strong solves 0, 1, 3; weak solves 1 only.
# gain = strong - weak = [1, 0, 0, 1]; q_strong = 0.75, q_weak = 0.25.
STRONG = np.array([1.0, 1.0, 0.0, 1.0])
WEAK = np.array([0.0, 1.0, 0.0, 0.0])
GOOD = np.array([0.9, 0.1, 0.4, 0.7])  # routes the two gain-1 prompts first


def _apgr(
    scores: np.ndarray, strong: np.ndarray = STRONG, weak: np.ndarray = WEAK
) -> float:
    return M.apgr(M.exact_curve(scores, strong, weak), strong.mean(), weak.mean())


def test_exact_curve_points_of_a_good_router() -> None:
    # Order 0, 3, 2, 1: cumulative gain 0, 1, 2, 2, 2 over n = 4.
    curve = M.exact_curve(GOOD, STRONG, WEAK)
    np.testing.assert_allclose(curve.strong_share, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve.quality, [0.25, 0.5, 0.75, 0.75, 0.75])
    np.testing.assert_allclose(curve.thresholds[1:], [0.9, 0.7, 0.4, 0.1])


def test_apgr_of_a_good_router() -> None:
    # PGR 0, .5, 1, 1, 1 at steps of .25: .25 * (.25 + .75 + 1 + 1) = 0.75.
    assert _apgr(GOOD) == pytest.approx(0.75)


def test_apgr_of_the_inverted_router() -> None:
    # Order 1, 2, 3, 0: PGR 0, 0, 0, .5, 1: .25 * (0 + 0 + .25 + .75) = 0.25.
    assert _apgr(-GOOD) == pytest.approx(0.25)


def test_cpt_interpolates_inside_the_crossing_segment() -> None:
    curve = M.exact_curve(GOOD, STRONG, WEAK)
    # PGR 0 -> .5 over shares 0 -> .25: .2 is reached at .25 * .2 / .5 = 0.1.
    assert M.cpt(curve, 0.75, 0.25, 0.2) == pytest.approx(0.1)
    assert M.cpt(curve, 0.75, 0.25, 0.5) == pytest.approx(0.25)
    # PGR .5 -> 1 over .25 -> .5: .8 at .25 + .25 * .3 / .5 = 0.4.
    assert M.cpt(curve, 0.75, 0.25, 0.8) == pytest.approx(0.4)


def test_cpt_is_nan_when_never_reached() -> None:
    curve = M.exact_curve(GOOD, STRONG, WEAK)
    assert np.isnan(M.cpt(curve, 0.75, 0.25, 1.01))


def test_tied_scores_are_routed_as_one_group() -> None:
    # gain [0, 1, 0, 1]; prompts 1 and 2 tie. Groups {0}, {1, 2}, {3}:
    # shares 0, .25, .75, 1 with PGR 0, 0, .5, 1 (linear across the tie).
    # APGR = .25 * 0 + .5 * .25 + .25 * .75 = 0.3125 (splitting the tie in index
    # order would give .375 instead).
    strong = np.array([0.0, 1.0, 0.0, 1.0])
    weak = np.zeros(4)
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    curve = M.exact_curve(scores, strong, weak)
    np.testing.assert_allclose(curve.strong_share, [0, 0.25, 0.75, 1])
    assert _apgr(scores, strong, weak) == pytest.approx(0.3125)
    # CPT(20%) on the tie segment: .25 + .5 * .2 / .5 = 0.45.
    assert M.cpt(curve, 0.5, 0.0, 0.2) == pytest.approx(0.45)


def test_constant_scores_give_the_straight_line() -> None:
    # One tie group: the curve goes straight from weak to strong, APGR 0.5.
    assert _apgr(np.full(4, 0.3)) == pytest.approx(0.5)


def test_binned_curve_uses_quantile_edges_like_the_paper() -> None:
    # 11 prompts scored 0..10: the 11 quantile edges are 0..10. Edge i routes
    # scores >= i strong (11 - i prompts); the last edge routes scores > 10 (none),
    # so the curve has shares 0, 2/11, ..., 11/11 and skips 1/11.
    scores = np.arange(11.0)
    strong = np.zeros(11)
    strong[10] = 1.0  # only the top-scored prompt gains
    weak = np.zeros(11)
    curve = M.binned_curve(scores, strong, weak)
    # (Edges 3, 6, 7 come out 1 ulp high, 10 * linspace(0, 1, 11)[3] being
    # 3.0000000000000004, as in pandas' qcut; so only the ends are checked exactly.)
    assert curve.strong_share.size == 11
    np.testing.assert_allclose(curve.strong_share[:3], [0, 2 / 11, 3 / 11])
    np.testing.assert_allclose(curve.strong_share[-2:], [10 / 11, 1])
    np.testing.assert_allclose(curve.thresholds[[0, 1, -1]], [10, 9, 0])
    # PGR jumps 0 -> 1 over the first segment (width 2/11): APGR = 1 - 1/11.
    assert M.apgr(curve, strong.mean(), 0.0) == pytest.approx(10 / 11)
    # The exact curve reaches PGR 1 at share 1/11: APGR = 1 - 1/22.
    assert _apgr(scores, strong, weak) == pytest.approx(21 / 22)
    # Paper's CPT: np.interp(.5, PGR, share) = midpoint of the first segment.
    assert M.cpt_interp(curve, strong.mean(), 0.0, 0.5) == pytest.approx(1 / 11)


def test_optimal_curve_routes_only_positive_gains() -> None:
    # gain [1, -1, 0, 1]; q_strong - q_weak = 1/4. The oracle routes the two gain-1
    # prompts (shares .25, .5) and then stays flat: PGR 0, 1, 2, 2 at 0, .25, .5, 1.
    # APGR = .25 * .5 + .25 * 1.5 + .5 * 2 = 1.5.
    strong = np.array([1.0, 0.0, 0.0, 1.0])
    weak = np.array([0.0, 1.0, 0.0, 0.0])
    curve = M.optimal_curve(strong, weak)
    np.testing.assert_allclose(curve.strong_share, [0, 0.25, 0.5, 1])
    assert M.apgr(curve, 0.5, 0.25) == pytest.approx(1.5)
    # A router scoring by the gain ties prompts 0 and 3, then goes on to route the
    # losing prompt: PGR 0, 2, 2, 1 at 0, .5, .75, 1 -> APGR 1.375 < 1.5.
    assert _apgr(strong - weak, strong, weak) == pytest.approx(1.375)


def test_perfect_router_when_strong_never_loses() -> None:
    # gain [1, 0, 0, 0]: routing prompt 0 first recovers the whole gap at .25.
    # APGR = 1 - .25 / 2 = 0.875, the same as the oracle.
    strong = np.array([1.0, 1.0, 0.0, 0.0])
    weak = np.array([0.0, 1.0, 0.0, 0.0])
    scores = np.array([0.8, 0.1, 0.2, 0.3])
    assert _apgr(scores, strong, weak) == pytest.approx(0.875)
    optimal = M.optimal_curve(strong, weak)
    assert M.apgr(optimal, 0.5, 0.25) == pytest.approx(0.875)


def test_equal_strong_and_weak_quality_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="equal"):
        _apgr(GOOD, np.ones(4), np.ones(4))


def test_non_finite_scores_are_rejected() -> None:
    with pytest.raises(DataError, match="finite"):
        M.exact_curve(np.array([0.1, np.nan, 0.2, 0.3]), STRONG, WEAK)


def test_quality_at_interpolates_the_curve() -> None:
    curve = M.exact_curve(GOOD, STRONG, WEAK)
    np.testing.assert_allclose(M.quality_at(curve, [0.125, 0.5]), [0.375, 0.75])


def test_batched_kernels_match_the_curves_on_explicit_resamples() -> None:
    rng = np.random.default_rng(7)
    for trial in range(30):
        n = int(rng.integers(5, 30))
        scores = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.random(n)
        strong = rng.integers(0, 2, n).astype(float)
        weak = rng.integers(0, 2, n).astype(float)
        idx = rng.integers(0, n, (4, n))
        counts = np.zeros((4, n))
        np.add.at(counts, (np.arange(4)[:, None], idx), 1)
        ss = M.sort_scores(scores)
        exact = M.exact_metrics(ss, strong - weak, counts)
        binned = M.binned_metrics(ss, strong - weak, counts)
        for r in range(4):
            s, st, wk = scores[idx[r]], strong[idx[r]], weak[idx[r]]
            if st.mean() == wk.mean():
                assert np.isnan(exact["APGR"][r])
                continue
            e_curve = M.exact_curve(s, st, wk)
            b_curve = M.binned_curve(s, st, wk)
            assert exact["APGR"][r] == pytest.approx(
                M.apgr(e_curve, st.mean(), wk.mean())
            )
            assert exact["CPT50"][r] == pytest.approx(
                M.cpt(e_curve, st.mean(), wk.mean(), 0.5), nan_ok=True
            )
            assert binned["APGR_10bin"][r] == pytest.approx(
                M.apgr(b_curve, st.mean(), wk.mean())
            )
