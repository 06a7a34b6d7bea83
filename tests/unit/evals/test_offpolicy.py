"""Off-policy routing metrics on synthetic logs whose truth is known."""

from __future__ import annotations

import numpy as np

from prefroute.evals.metrics import exact_metrics, sort_scores
from prefroute.evals.offpolicy import cross_fit_outcomes, estimate_multi, estimate_pair
from prefroute.evals.ope import BanditLog
from prefroute.routers._heads import HeadData


def _pair_log(
    seed: int, n: int = 3000, explore: float = 0.4
) -> tuple[BanditLog, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    q = np.stack([0.5 + 0.45 * x, 0.8 - 0.3 * x], axis=1)
    policy = np.where(x + rng.normal(0, 0.3, n) > 0.5, 0, 1)
    flip = rng.random(n) < explore
    action = np.where(flip, 1 - policy, policy)
    propensity = np.where(flip, explore, 1 - explore)
    reward = (rng.random(n) < q[np.arange(n), action]).astype(float)
    costs = np.where(action == 0, 0.01, 0.001)
    log = BanditLog(("s", "w"), action.astype(np.int64), reward, propensity, costs)
    return log, x, q


def test_pair_apgr_interval_covers_the_truth_and_compares_routers() -> None:
    covered = 0
    for seed in range(8):
        log, x, q = _pair_log(seed)
        truth = exact_metrics(sort_scores(x), q[:, 0] - q[:, 1], np.ones((1, log.n)))
        est = estimate_pair(
            log,
            {"good": x, "backwards": -x},
            outcome=np.full((log.n, 2), 0.6),
            reference="good",
            cost_outcome=np.tile([0.01, 0.001], (log.n, 1)),
            n_resamples=200,
            seed=seed,
        )
        apgr = est.routers["good"]["APGR"]
        covered += apgr.low <= truth["APGR"][0] <= apgr.high
        assert est.diffs["backwards"].high < 0
        _, cost = est.at_share["good"]
        assert abs(cost.value - (0.01 * est.share + 0.001 * (1 - est.share))) < 1e-9
    assert covered >= 6


def test_pair_estimates_warn_when_the_models_cannot_be_told_apart() -> None:
    rng = np.random.default_rng(0)
    n = 200
    action = rng.integers(0, 2, n)
    log = BanditLog(
        ("s", "w"), action, (rng.random(n) < 0.5).astype(float), np.full(n, 0.5)
    )
    est = estimate_pair(log, {"r": rng.random(n)}, method="ipw", n_resamples=100)
    assert any("cannot be told apart" in w for w in est.warnings)


def test_multi_estimates_the_single_models_and_the_matched_cost() -> None:
    rng = np.random.default_rng(1)
    n, m = 4000, 3
    q_true = np.array([0.9, 0.6, 0.4])
    cost = np.array([1.0, 0.3, 0.1])
    action = rng.integers(0, m, n)
    reward = (rng.random(n) < q_true[action]).astype(float)
    log = BanditLog(("a", "b", "c"), action, reward, np.full(n, 1 / 3), cost[action])
    choices = {
        "cheap": np.full((1, n), 2),
        "mixed": np.stack([np.full(n, 2), np.full(n, 0)]),
    }
    est = estimate_multi(
        log, choices, cost_outcome=np.tile(cost, (n, 1)), method="ipw", match_cost=0.5,
        reference="mixed", n_resamples=200,
    )  # fmt: skip
    for j, name in enumerate("abc"):
        c, qual = est.singles[name]
        assert qual.low <= q_true[j] <= qual.high
        assert abs(c.value - cost[j]) < 0.1
    # the mixed router randomises between c and a on the hull: q at cost 0.5
    expected = 0.4 + (0.5 - 0.1) / (1.0 - 0.1) * (0.9 - 0.4)
    mixed = est.quality_at_cost["mixed"]
    assert mixed.low <= expected <= mixed.high
    assert (
        not np.isfinite(est.quality_at_cost["cheap"].value)
        or est.quality_at_cost["cheap"].value <= mixed.value
    )


def test_cross_fitted_outcomes_are_probabilities_of_every_model() -> None:
    rng = np.random.default_rng(2)
    n, m = 60, 2
    data = HeadData(
        projected=rng.normal(size=(n, 3)),
        z=rng.normal(size=(n, m)),
        offsets=np.zeros((n, m)),
        rows=np.arange(n),
        cols=rng.integers(0, m, n),
        targets=(rng.random(n) < 0.7).astype(float),
        weights=np.ones(n),
    )
    out = cross_fit_outcomes(data)
    assert out.shape == (n, m)
    assert np.all((out > 0) & (out < 1))
