"""What routers would have scored on logged traffic (`prefroute eval --log`).

Pair logs: APGR, CPT and the quality and cost at one strong share of every router,
from the users' feedback and the logged propensities (`estimate_pair`). N-model logs:
each router's estimated cost-quality curve, compared at the logged mean cost
(`estimate_multi`). The doubly robust estimator's outcome model is built on the first
router listed (its scores as offsets, heads cross-fitted on the log); with
``method="ipw"`` no outcome model is used.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from prefroute.errors import ConfigError, DataError
from prefroute.evals.offpolicy import (
    MultiEstimates,
    PairEstimates,
    cross_fit_outcomes,
    estimate_multi,
    estimate_pair,
)
from prefroute.evals.ope import Method
from prefroute.routers.base import Router
from prefroute.train.adapt import bandit_log, cost_table, knob_choices, pair_view
from prefroute.train.logdata import LoggedTraffic
from prefroute.types import FloatArray

__all__ = ["MIN_ESTIMATE_LABELS", "estimate_log"]

#: Fewer requests with user feedback than this: nothing is estimated.
MIN_ESTIMATE_LABELS = 10
# The outcome model's heads: slopes chosen inside each cross-fitting fold.
_OFF = 1e8


def estimate_log(
    routers: Mapping[str, Router],
    traffic: LoggedTraffic,
    *,
    method: Method = "dr",
    share: float | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> PairEstimates | MultiEstimates:
    """Estimate each router's routing quality (and cost) on the logged traffic.

    Args:
        routers: Name -> router; the first is the reference of the comparisons
            and carries the outcome model.
        traffic: Labelled requests (`read_log`).
        method: "dr" or "ipw".
        share: Pair logs: strong share at which quality and cost are reported
            (default: the logged share).
        n_resamples: Bootstrap resamples.
        seed: Bootstrap and fold seed.

    Returns:
        Pair or N-model estimates.

    Raises:
        DataError: Fewer than `MIN_ESTIMATE_LABELS` requests with user feedback.
        ConfigError: No router, a bad method, or an N-model log with a pair router.
    """
    if not routers:
        raise ConfigError("give at least one router to estimate")
    if method not in ("dr", "ipw"):
        raise ConfigError(f"method must be 'dr' or 'ipw', got {method!r}")
    n_user = int(np.isfinite(traffic.rewards).sum())
    if n_user < MIN_ESTIMATE_LABELS:
        raise DataError(
            f"the log has {n_user} requests with feedback (prompts logged, not "
            f"failed); at least {MIN_ESTIMATE_LABELS} are needed to estimate anything"
        )
    pair = traffic.pair()
    if pair is not None:
        return _estimate_pair(routers, traffic, pair, method, share, n_resamples, seed)
    return _estimate_multi(routers, traffic, method, n_resamples, seed)


def _estimate_pair(
    routers: Mapping[str, Router],
    traffic: LoggedTraffic,
    pair: tuple[str, str],
    method: Method,
    share: float | None,
    n_resamples: int,
    seed: int,
) -> PairEstimates:
    from prefroute.routers.adapted import AdaptedRouter

    strong, weak = pair
    log, keep = bandit_log(traffic, pair)
    prompts = [p for p, k in zip(traffic.prompts, keep, strict=True) if k]
    if log.n < MIN_ESTIMATE_LABELS:
        raise DataError(
            f"only {log.n} requests with feedback were answered by {strong!r} or "
            f"{weak!r}; at least {MIN_ESTIMATE_LABELS} are needed"
        )
    views: dict[str, Router] = {}
    warnings: list[str] = []
    for name, router in routers.items():
        views[name], notes = pair_view(router, strong, weak)
        warnings += [f"{name}: {n}" for n in notes]
    scores = {name: r.score(prompts) for name, r in views.items()}
    outcome = None
    if method == "dr":
        first = next(iter(views.values()))
        models = [pair[a] for a in log.actions]
        heads = AdaptedRouter(
            base=first,
            strong_model=strong,
            weak_model=weak,
            penalties=(_OFF, _OFF),
            correction="heads",
        ).fit_feedback(prompts, models, log.rewards, unlabeled=traffic.unlabeled)
        data = heads.head_data(prompts, models, log.rewards)
        outcome = cross_fit_outcomes(data, seed=seed)[data.rows]
    policy = np.array(
        [0 if traffic.policy[i] == strong else 1 for i in np.flatnonzero(keep)]
    )
    est = estimate_pair(
        log,
        scores,
        outcome=outcome,
        method=method,
        policy=policy,
        reference=next(iter(routers)) if len(routers) > 1 else None,
        share=share,
        cost_outcome=_pair_costs(traffic, pair, log.n),
        n_resamples=n_resamples,
        seed=seed,
    )
    est.warnings.extend(warnings)
    return est


def _pair_costs(
    traffic: LoggedTraffic, pair: tuple[str, str], n: int
) -> FloatArray | None:
    """Each model's mean logged cost per request, or None when one has none."""
    routed = np.array(traffic.routed)
    means = []
    for model in pair:
        costs = traffic.costs[(routed == model) & np.isfinite(traffic.costs)]
        if costs.size == 0:
            return None
        means.append(float(costs.mean()))
    return np.tile(np.array(means), (n, 1))


def _estimate_multi(
    routers: Mapping[str, Router],
    traffic: LoggedTraffic,
    method: Method,
    n_resamples: int,
    seed: int,
) -> MultiEstimates:
    from prefroute.routers.adapted_multi import AdaptedMultiModelRouter
    from prefroute.routers.multi import MultiModelRouter

    wrong = [n for n, r in routers.items() if not isinstance(r, MultiModelRouter)]
    if wrong:
        raise ConfigError(
            f"the log's requests chose among {len(traffic.models)} models; "
            f"{', '.join(wrong)} cannot choose among them (give N-model routers)"
        )
    multis = {n: r for n, r in routers.items() if isinstance(r, MultiModelRouter)}
    candidates = [
        m for m in traffic.models if all(m in r.models for r in multis.values())
    ]
    if len(candidates) < 2:
        raise DataError(
            f"the routers share fewer than two of the log's models {traffic.models}"
        )
    log, keep = bandit_log(traffic, candidates)
    if log.n < MIN_ESTIMATE_LABELS:
        raise DataError(
            f"only {log.n} requests with feedback were answered by models every "
            f"router knows; at least {MIN_ESTIMATE_LABELS} are needed"
        )
    prompts = [p for p, k in zip(traffic.prompts, keep, strict=True) if k]
    first = next(iter(multis.values()))
    cost = cost_table(first, traffic, prompts, candidates)
    choices = {
        name: knob_choices(r, prompts, candidates, cost) for name, r in multis.items()
    }
    outcome = None
    if method == "dr":
        models = [candidates[a] for a in log.actions]
        heads = AdaptedMultiModelRouter.from_base(first, slope_penalty=_OFF)
        heads.fit_feedback(prompts, models, log.rewards, unlabeled=traffic.unlabeled)
        data = heads.head_data(prompts, models, log.rewards)
        cols = [heads.models.index(m) for m in candidates]
        outcome = cross_fit_outcomes(data, seed=seed)[data.rows][:, cols]
    return estimate_multi(
        log,
        choices,
        outcome=outcome,
        cost_outcome=cost,
        method=method,
        reference=next(iter(multis)) if len(multis) > 1 else None,
        n_resamples=n_resamples,
        seed=seed,
    )
