"""Off-policy estimators against a synthetic log whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from prefroute.errors import ConfigError, DataError
from prefroute.evals.bootstrap import bootstrap_metrics, percentile_interval
from prefroute.evals.metrics import exact_metrics, sort_scores
from prefroute.evals.ope import (
    BanditLog,
    effective_sample_size,
    importance_weights,
    policy_values,
    pseudo_outcomes,
    support_report,
    threshold_choices,
    value_interval,
)

STRONG, WEAK = 0, 1


def _truth(x: np.ndarray) -> np.ndarray:
    """P(correct) of strong and weak per prompt, shape (n, 2): the gain grows with x."""
    return np.stack([0.55 + 0.4 * x, 0.75 - 0.3 * x], axis=1)


def _log(
    seed: int, *, n: int = 2000, explore: float = 0.3
) -> tuple[BanditLog, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    q = _truth(x)
    logging_score = x + rng.normal(0, 0.3, n)
    policy = np.where(logging_score >= 0.6, STRONG, WEAK)
    flip = rng.random(n) < explore
    other = rng.integers(0, 2, n)
    action = np.where(flip, other, policy)
    propensity = np.where(action == policy, 1 - explore + explore / 2, explore / 2)
    reward = (rng.random(n) < q[np.arange(n), action]).astype(float)
    log = BanditLog(("strong", "weak"), action.astype(np.int64), reward, propensity)
    return log, x


@pytest.mark.parametrize("method", ["ipw", "dr"])
def test_interval_covers_true_value_of_another_policy(method: str) -> None:
    covered = 0
    for seed in range(20):
        log, x = _log(seed)
        target = threshold_choices(x, [0.3], STRONG, WEAK)
        truth = _truth(x)[np.arange(log.n), target[0]].mean()
        wrong_model = np.full((log.n, 2), 0.5)  # DR must not need a right model
        pseudo = pseudo_outcomes(log, wrong_model, method=method)  # type: ignore[arg-type]
        ((_, lo, hi),) = value_interval(pseudo, target, n_resamples=300, seed=seed)
        covered += lo <= truth <= hi
    assert covered >= 17


def test_apgr_interval_from_pseudo_gains_covers_true_apgr() -> None:
    covered = 0
    for seed in range(12):
        log, x = _log(seed, n=3000, explore=0.5)
        q = _truth(x)
        scores = x + np.random.default_rng(100 + seed).normal(0, 0.2, log.n)
        true_gain = q[:, STRONG] - q[:, WEAK]
        truth = exact_metrics(sort_scores(scores), true_gain, np.ones((1, log.n)))[
            "APGR"
        ][0]
        pseudo = pseudo_outcomes(log, np.full((log.n, 2), 0.6), method="dr")
        boot = bootstrap_metrics(
            {"r": scores},
            pseudo[:, STRONG],
            pseudo[:, WEAK],
            n_resamples=300,
            seed=seed,
        )
        lo, hi = percentile_interval(boot.routers["r"]["APGR"])
        covered += lo <= truth <= hi
    assert covered >= 10


def test_dr_with_true_outcome_model_is_less_variable_than_ipw() -> None:
    log, x = _log(0)
    target = threshold_choices(x, [0.3], STRONG, WEAK)
    spread = {}
    for method in ("ipw", "dr"):
        pseudo = pseudo_outcomes(log, _truth(x), method=method)  # type: ignore[arg-type]
        ((_, lo, hi),) = value_interval(pseudo, target, n_resamples=300)
        spread[method] = hi - lo
    assert spread["dr"] < 0.7 * spread["ipw"]


def test_logging_policy_value_is_the_mean_reward_without_exploration() -> None:
    log, _ = _log(1, explore=0.0)
    pseudo = pseudo_outcomes(log, method="ipw")
    assert policy_values(pseudo, log.actions)[0] == pytest.approx(log.rewards.mean())


def test_no_exploration_warns_for_another_policy_but_not_the_logging_one() -> None:
    log, x = _log(2, explore=0.0)
    other = support_report(log, threshold_choices(x, [0.2], STRONG, WEAK)[0])
    assert not other.has_exploration and other.n_unsupported > 0
    assert any("no exploration" in w for w in other.warnings)
    same = support_report(log, log.actions)
    assert same.is_supported and same.ess == pytest.approx(log.n)


def test_few_labels_and_small_ess_warn() -> None:
    log, x = _log(3, n=40, explore=0.1)
    report = support_report(log, threshold_choices(x, [0.0], STRONG, WEAK)[0])
    text = " ".join(report.warnings)
    assert "only 40 labelled requests" in text
    assert "effective sample size" in text


def test_effective_sample_size_of_equal_weights_is_their_count() -> None:
    assert effective_sample_size(np.array([[2.0, 2.0, 0.0, 2.0]]))[0] == 3.0
    assert effective_sample_size(np.zeros((1, 3)))[0] == 0.0


def test_importance_weights_are_inverse_propensity_where_choices_match() -> None:
    log = BanditLog(
        ("a", "b"),
        np.array([0, 1, 0]),
        np.array([1.0, 0.0, 1.0]),
        np.array([0.5, 0.25, 1.0]),
    )
    np.testing.assert_allclose(importance_weights(log, [0, 1, 1])[0], [2.0, 4.0, 0.0])


def test_bad_logs_and_arguments_are_refused() -> None:
    with pytest.raises(DataError, match="propensities"):
        BanditLog(("a",), np.array([0]), np.array([1.0]), np.array([0.0]))
    with pytest.raises(DataError, match="index"):
        BanditLog(("a",), np.array([1]), np.array([1.0]), np.array([1.0]))
    log = BanditLog(("a", "b"), np.array([0]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(ConfigError, match="outcome model"):
        pseudo_outcomes(log, method="dr")
    with pytest.raises(ConfigError, match="method"):
        pseudo_outcomes(log, method="snips")  # type: ignore[arg-type]
