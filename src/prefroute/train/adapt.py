"""Adapt a router to your own traffic from the feedback in its request log.

`adapt_router` turns a starting router and a log (`read_log`) into an adapted router
(`prefroute.routers.adapted`: pair logs; `prefroute.routers.adapted_multi`: N-model
logs), and says whether it is better, judged on a held-out part of the log:

1. The labelled requests are split by prompt (a fixed hash of the text, so one
   prompt is never on both sides): `holdout` of them are held out.
2. The heads are fitted on the rest (their penalty by cross-validation inside it).
3. Before (the starting router) and after are estimated on the held-out requests
   off-policy (`prefroute.evals.offpolicy`, doubly robust, with an outcome model
   cross-fitted on the held-out requests alone): APGR for a pair, quality at the
   logged traffic's mean cost for N models, with paired bootstrap intervals.
4. The returned router is refitted on every label (the held-out check decided
   whether it is worth using).

Judge labels (feedback source "judge", from ``prefroute label --from-log``) compared
both models' answers: each gives both models of the pair a label (the answering
model its score, the other the rest), weighted by `judge_weight`. They train pair
routers and are not used in the held-out check (which needs the users' feedback).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import ConfigError, DataError
from prefroute.evals.offpolicy import (
    MultiEstimates,
    PairEstimates,
    cross_fit_outcomes,
    estimate_multi,
    estimate_pair,
)
from prefroute.evals.ope import BanditLog
from prefroute.routers._heads import PenaltyChoice
from prefroute.routers._pair_heads import (
    BLEND_GRID,
    OFF,
    GainChoice,
    PairChoice,
)
from prefroute.routers.base import Router
from prefroute.train.logdata import LoggedTraffic
from prefroute.types import FloatArray

__all__ = [
    "MIN_HOLDOUT",
    "AdaptResult",
    "adapt_router",
    "bandit_log",
    "cost_table",
    "holdout_mask",
    "knob_choices",
    "pair_view",
]

logger = logging.getLogger(__name__)

#: Held-out labelled requests needed to judge before/after.
MIN_HOLDOUT = 10
# Knobs swept for the N-model curves.
_N_KNOBS = 41


@dataclass
class AdaptResult:
    """What `adapt_router` did.

    Attributes:
        router: The adapted router, fitted on every label.
        mode: "pair" or "multi".
        models: The pair (strong, weak) or the candidate models.
        n_labels: Labelled requests used (user feedback).
        n_judge: Judge labels used.
        n_train: Labels the held-out check's router was fitted on.
        n_holdout: Held-out labelled requests.
        choice: What the correction learned on all labels (the gain correction's
            slopes, or the heads' penalties and guard).
        pair: Before/after estimates on the held-out requests (pair mode).
        multi: The same for N models.
        is_not_worse: After >= before on the held-out requests (point estimate);
            None when too few were held out to tell.
        warnings: Messages for the user (the estimates carry their own).
    """

    router: Router
    mode: Literal["pair", "multi"]
    models: tuple[str, ...]
    n_labels: int
    n_judge: int
    n_train: int
    n_holdout: int
    choice: GainChoice | PairChoice | PenaltyChoice | None
    pair: PairEstimates | None = None
    multi: MultiEstimates | None = None
    is_not_worse: bool | None = None
    warnings: list[str] = field(default_factory=list)

    def describe_heads(self) -> str:
        """One line on what the heads learned."""
        c = self.choice
        if isinstance(c, GainChoice):
            evidence = (
                f"guard gain {c.guard_gain:.4f}, se {c.guard_se:.4f}"
                if np.isfinite(c.guard_gain)
                else ""
            )
            if c.keeps_ranking:
                why = (
                    f"the guard kept it ({evidence}; needs {c.guard_z:g} se)"
                    if evidence
                    else f"{c.n_requests} requests (the gain correction needs 20, "
                    "10 per model)"
                )
                return f"starting ranking kept, calibration learned; {why}"
            slopes = ", ".join(f"{v:+.4f}" for v in c.slopes)
            return (
                f"gain correction on {c.n_requests} requests, ridge penalty "
                f"{c.penalty:g} ({evidence}); slopes (starting logit, components, "
                f"length) {slopes}"
            )
        if isinstance(c, PairChoice):
            if c.keeps_ranking:
                why = (
                    f"; the guard kept it (gain {c.guard_gain:.4f}, "
                    f"se {c.guard_se:.4f})"
                    if c.cv_penalties != (OFF, OFF)
                    else ""
                )
                return f"starting ranking kept, calibration learned{why}"
            part = f", blended at weight {c.blend:g}" if c.blend < 1.0 else ""
            return (
                f"new ranking: penalties shared {c.penalties[0]:g}, strong-vs-weak "
                f"{c.penalties[1]:g}{part} (guard gain {c.guard_gain:.4f}, "
                f"se {c.guard_se:.4f})"
            )
        if isinstance(c, PenaltyChoice):
            if c.penalty >= OFF:
                return "per-model levels learned, starting ranking of prompts kept"
            return f"per-model heads, slope penalty {c.penalty:g}"
        return "no heads"

    def choice_dict(self) -> dict[str, object]:
        """JSON-ready form of `choice`."""
        c = self.choice
        if isinstance(c, GainChoice):
            return {
                "correction": "gain",
                "gain_penalty": c.penalty,
                "requests": c.n_requests,
                "slopes": list(c.slopes),
                "guard_gain": c.guard_gain if np.isfinite(c.guard_gain) else None,
                "guard_se": c.guard_se if np.isfinite(c.guard_se) else None,
                "guard_z": c.guard_z,
                "keeps_ranking": c.keeps_ranking,
            }
        if isinstance(c, PairChoice):
            return {
                "correction": "heads",
                "penalties": list(c.penalties),
                "cv_penalties": list(c.cv_penalties),
                "guard_gain": c.guard_gain if np.isfinite(c.guard_gain) else None,
                "guard_se": c.guard_se if np.isfinite(c.guard_se) else None,
                "blend": c.blend,
                "keeps_ranking": c.keeps_ranking,
            }
        if isinstance(c, PenaltyChoice):
            return {"slope_penalty": c.penalty}
        return {}


def holdout_mask(prompts: Sequence[str], share: float, *, seed: int = 0) -> np.ndarray:
    """Which prompts are held out: a fixed hash of (seed, text) below `share`.

    Args:
        prompts: Prompt texts.
        share: Share to hold out, in [0, 1).
        seed: Salt of the hash.

    Returns:
        Boolean array, one per prompt.
    """
    if not 0.0 <= share < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {share!r}")
    salt = str(seed).encode()
    out = np.empty(len(prompts), dtype=bool)
    for i, p in enumerate(prompts):
        h = hashlib.blake2b(p.encode("utf-8", "surrogatepass"), digest_size=8, key=salt)
        out[i] = int.from_bytes(h.digest(), "little") / 2.0**64 < share
    return out


def pair_view(base: Router, strong: str, weak: str) -> tuple[Router, list[str]]:
    """The starting router scoring the log's pair, where it can be told so.

    Args:
        base: A router (an adapted router is replaced by its starting router).
        strong: The log's strong model.
        weak: The log's weak model.

    Returns:
        (router, warnings about a pair it cannot be told).
    """
    from prefroute.routers.adapted import AdaptedRouter
    from prefroute.routers.multi import MultiModelRouter

    warnings: list[str] = []
    while isinstance(base, AdaptedRouter) and base.base is not None:
        base = base.base
    with_pair = getattr(base, "with_pair", None)
    if callable(with_pair):
        return with_pair(strong, weak), warnings
    if isinstance(base, MultiModelRouter):
        if strong in base.models and weak in base.models:
            other = copy.copy(base)
            other.pair_ = (strong, weak)
            return other, warnings
        warnings.append(
            f"{base.name} does not know {strong!r} and {weak!r}; its default pair "
            f"{base.default_pair} scores the requests"
        )
        return base, warnings
    named = (getattr(base, "strong_model", None), getattr(base, "weak_model", None))
    if None not in named and named != (strong, weak):
        warnings.append(
            f"the starting router scores {named[0]!r} vs {named[1]!r}; the log's pair "
            f"is {strong!r} vs {weak!r} (its score is used as is)"
        )
    return base, warnings


@dataclass
class _Rows:
    """Labels for `fit_feedback`."""

    prompts: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    propensities: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)


def _label_rows(traffic: LoggedTraffic, judge_weight: float) -> _Rows:
    """User feedback (with its propensities), then judge labels (NaN propensity)."""
    out = _Rows()
    for i, prompt in enumerate(traffic.prompts):
        if np.isfinite(traffic.rewards[i]):
            out.prompts.append(prompt)
            out.models.append(traffic.routed[i])
            out.rewards.append(float(traffic.rewards[i]))
            out.weights.append(1.0)
            out.propensities.append(float(traffic.propensity[i]))
        if judge_weight > 0 and np.isfinite(traffic.judge[i]):
            others = [m for m in traffic.candidates[i] if m != traffic.routed[i]]
            if len(others) != 1:
                continue
            score = float(traffic.judge[i])
            out.prompts += [prompt, prompt]
            out.models += [traffic.routed[i], others[0]]
            out.rewards += [score, 1.0 - score]
            out.weights += [judge_weight, judge_weight]
            out.propensities += [float("nan"), float("nan")]
    return out


def bandit_log(
    traffic: LoggedTraffic, models: Sequence[str]
) -> tuple[BanditLog, np.ndarray]:
    """The user-feedback requests as a bandit log over `models`.

    Args:
        traffic: Logged requests.
        models: Models the actions index.

    Returns:
        (the log, mask of the requests it holds).
    """
    index = {m: j for j, m in enumerate(models)}
    keep = np.array(
        [
            np.isfinite(traffic.rewards[i]) and traffic.routed[i] in index
            for i in range(len(traffic))
        ],
        dtype=bool,
    )
    idx = np.flatnonzero(keep)
    log = BanditLog(
        tuple(models),
        np.array([index[traffic.routed[i]] for i in idx], dtype=np.int64),
        traffic.rewards[idx],
        traffic.propensity[idx],
        traffic.costs[idx],
    )
    return log, keep


def adapt_router(
    base: Router,
    traffic: LoggedTraffic,
    *,
    holdout: float = 0.3,
    seed: int = 0,
    n_resamples: int = 1000,
    n_components: int | None = None,
    judge_weight: float = 1.0,
    embedder: Embedder | str | None = None,
    guard_z: float | None = None,
    blends: Sequence[float] | None = None,
    length_feature: bool = True,
    correction: str = "gain",
) -> AdaptResult:
    """Adapt `base` to the log's traffic and judge it on held-out requests.

    Args:
        base: The starting router (an N-model router for N-model logs).
        traffic: Labelled requests (`prefroute.train.logdata.read_log`).
        holdout: Share of labelled prompts held out for the before/after check.
        seed: Seed of the held-out split, folds and bootstrap.
        n_resamples: Bootstrap resamples of the check.
        n_components: Principal components of the embeddings the heads see
            (default: 32 for a pair, 8 for N models, whose heads are mostly levels).
        judge_weight: Weight of each judge label (0 ignores them).
        embedder: Pair logs: embedder of the heads (default: the starting
            router's, else the package default). N-model heads use the router's.
        guard_z: Pair logs: standard errors by which the guard's lower bound must
            beat the starting ranking (default: 1 for the gain correction,
            `GUARD_Z` (2) for the heads).
        blends: Pair logs: weights of the candidate correction the guard tries
            (default `BLEND_GRID`).
        length_feature: Pair logs: the heads also see the prompt's log length.
        correction: Pair logs: "gain" (a ridge regression of the strong model's
            gain on top of the starting ranking) or "heads" (logistic heads per
            model; `blends` applies to it).

    Returns:
        The result.

    Raises:
        DataError: No labelled request.
        ConfigError: An N-model log with a pair router.
    """
    if len(traffic) == 0:
        raise DataError(
            "the log has no labelled request (send feedback for logged requests, "
            "with prompts logged, before adapting)"
        )
    pair = traffic.pair()
    if pair is not None:
        return _adapt_pair(
            base,
            traffic,
            pair,
            holdout=holdout,
            seed=seed,
            n_resamples=n_resamples,
            n_components=32 if n_components is None else n_components,
            judge_weight=judge_weight,
            embedder=embedder,
            guard_z=guard_z,
            blends=BLEND_GRID if blends is None else tuple(blends),
            length_feature=length_feature,
            correction=correction,
        )
    return _adapt_multi(
        base,
        traffic,
        holdout=holdout,
        seed=seed,
        n_resamples=n_resamples,
        n_components=8 if n_components is None else n_components,
    )


def _adapt_pair(
    base: Router,
    traffic: LoggedTraffic,
    pair: tuple[str, str],
    *,
    holdout: float,
    seed: int,
    n_resamples: int,
    n_components: int,
    judge_weight: float,
    embedder: Embedder | str | None,
    guard_z: float | None,
    blends: tuple[float, ...],
    length_feature: bool,
    correction: str,
) -> AdaptResult:
    from prefroute.routers.adapted import AdaptedRouter

    strong, weak = pair
    start, warnings = pair_view(base, strong, weak)

    def make() -> AdaptedRouter:
        return AdaptedRouter(
            base=start,
            embedder=embedder,
            strong_model=strong,
            weak_model=weak,
            n_components=n_components,
            seed=seed,
            guard_z=guard_z,
            blends=blends,
            length_feature=length_feature,
            correction=correction,
        )

    every = list(dict.fromkeys([*traffic.prompts, *traffic.unlabeled]))
    held = holdout_mask(traffic.prompts, holdout, seed=seed)
    train = traffic.subset(~held)
    test = traffic.subset(held)
    log, keep = bandit_log(test, pair)
    result = AdaptResult(
        router=start,
        mode="pair",
        models=pair,
        n_labels=int(np.isfinite(traffic.rewards).sum()),
        n_judge=int(np.isfinite(traffic.judge).sum()) if judge_weight > 0 else 0,
        n_train=0,
        n_holdout=log.n,
        choice=None,
        warnings=warnings,
    )
    rows = _label_rows(train, judge_weight)
    if log.n >= MIN_HOLDOUT and len(rows):
        checked = make().fit_feedback(
            rows.prompts,
            rows.models,
            rows.rewards,
            weights=rows.weights,
            propensities=rows.propensities,
            unlabeled=every,
        )
        result.n_train = len(rows)
        prompts = [p for p, k in zip(test.prompts, keep, strict=True) if k]
        before = start.score(prompts)
        after = checked.score(prompts)
        data = checked.head_data(prompts, [pair[a] for a in log.actions], log.rewards)
        outcome = cross_fit_outcomes(data, seed=seed)[data.rows]
        policy = np.array(
            [0 if test.policy[i] == strong else 1 for i in np.flatnonzero(keep)]
        )
        est = estimate_pair(
            log,
            {"before": before, "after": after},
            outcome=outcome,
            policy=policy,
            reference="before",
            n_resamples=n_resamples,
            seed=seed,
        )
        result.pair = est
        result.is_not_worse = est.diffs["after"].value >= 0
    else:
        result.warnings.append(
            f"only {log.n} labelled requests held out (fewer than {MIN_HOLDOUT}): "
            "cannot tell whether the adapted router is better"
        )
    every_row = _label_rows(traffic, judge_weight)
    final = make().fit_feedback(
        every_row.prompts,
        every_row.models,
        every_row.rewards,
        weights=every_row.weights,
        propensities=every_row.propensities,
        unlabeled=every,
    )
    result.router = final
    result.choice = final.choice
    return result


def _adapt_multi(
    base: Router,
    traffic: LoggedTraffic,
    *,
    holdout: float,
    seed: int,
    n_resamples: int,
    n_components: int,
) -> AdaptResult:
    from prefroute.routers.adapted_multi import AdaptedMultiModelRouter
    from prefroute.routers.multi import MultiModelRouter

    if not isinstance(base, MultiModelRouter):
        raise ConfigError(
            f"the log's requests chose among {len(traffic.models)} models "
            f"({', '.join(traffic.models)}); adapting to it needs an N-model router "
            f"(mf-multi or a folder of one), got {base.name!r}"
        )
    candidates = [m for m in traffic.models if m in base.models]
    missing = [m for m in traffic.models if m not in base.models]
    warnings: list[str] = []
    if missing:
        warnings.append(
            f"feedback on models the router does not know is left out: {missing}"
        )
    if not candidates:
        raise DataError(f"the router knows none of the log's models {traffic.models}")
    known = np.array([m in candidates for m in traffic.routed], dtype=bool)
    traffic = traffic.subset(known)

    def make() -> AdaptedMultiModelRouter:
        return AdaptedMultiModelRouter.from_base(base, n_components=n_components)

    every = list(dict.fromkeys([*traffic.prompts, *traffic.unlabeled]))
    held = holdout_mask(traffic.prompts, holdout, seed=seed)
    train, test = traffic.subset(~held), traffic.subset(held)
    log, keep = bandit_log(test, candidates)
    result = AdaptResult(
        router=base,
        mode="multi",
        models=tuple(candidates),
        n_labels=int(np.isfinite(traffic.rewards).sum()),
        n_judge=0,
        n_train=0,
        n_holdout=log.n,
        choice=None,
        warnings=warnings,
    )
    rows = _label_rows(train, 0.0)
    if log.n >= MIN_HOLDOUT and len(rows):
        checked = make().fit_feedback(
            rows.prompts, rows.models, rows.rewards, unlabeled=every
        )
        result.n_train = len(rows)
        prompts = [p for p, k in zip(test.prompts, keep, strict=True) if k]
        data = checked.head_data(
            prompts, [candidates[a] for a in log.actions], log.rewards
        )
        j = [checked.models.index(m) for m in candidates]
        outcome = cross_fit_outcomes(data, seed=seed)[data.rows][:, j]
        cost = cost_table(base, traffic, prompts, candidates)
        choices = {
            name: knob_choices(router, prompts, candidates, cost)
            for name, router in (("before", base), ("after", checked))
        }
        est = estimate_multi(
            log,
            choices,
            outcome=outcome,
            cost_outcome=cost,
            reference="before",
            n_resamples=n_resamples,
            seed=seed,
        )
        result.multi = est
        diff = est.diffs["after"].value
        result.is_not_worse = bool(np.isfinite(diff) and diff >= 0)
    else:
        result.warnings.append(
            f"only {log.n} labelled requests held out (fewer than {MIN_HOLDOUT}): "
            "cannot tell whether the adapted router is better"
        )
    every_row = _label_rows(traffic, 0.0)
    final = make().fit_feedback(
        every_row.prompts, every_row.models, every_row.rewards, unlabeled=every
    )
    result.router = final
    result.choice = final.penalty_
    return result


def cost_table(
    router: Router,
    traffic: LoggedTraffic,
    prompts: Sequence[str],
    models: Sequence[str],
) -> FloatArray:
    """Expected cost of each model on each prompt: the model's mean logged cost,
    else the router's learned cost.

    Args:
        router: An N-model router.
        traffic: Logged requests (their costs).
        prompts: Prompts to price.
        models: Models to price.

    Returns:
        Shape (len(prompts), len(models)).

    Raises:
        DataError: A model with neither.
    """
    from prefroute.routers.multi import MultiModelRouter

    assert isinstance(router, MultiModelRouter)
    out = np.empty((len(prompts), len(models)))
    routed = np.array(traffic.routed)
    for j, model in enumerate(models):
        logged = traffic.costs[(routed == model) & np.isfinite(traffic.costs)]
        if logged.size:
            out[:, j] = float(logged.mean())
            continue
        try:
            out[:, j] = router.predict_costs(prompts, [model])[:, 0]
        except ConfigError as exc:
            raise DataError(
                f"no cost is known for {model!r}: the log has none and the router "
                "has no learned cost for it"
            ) from exc
    return out


def knob_choices(
    router: Router, prompts: Sequence[str], models: Sequence[str], cost: FloatArray
) -> np.ndarray:
    """Model index per prompt at each knob of a lambda grid.

    Args:
        router: An N-model router.
        prompts: Prompts.
        models: Candidate models.
        cost: Their costs, (n, len(models)).

    Returns:
        Shape (knobs, n).
    """
    from prefroute.evals.multi import default_knobs
    from prefroute.routers.multi import MultiModelRouter
    from prefroute.routers.policy import choose

    assert isinstance(router, MultiModelRouter)
    quality = router.score_models(prompts, list(models))
    knobs = default_knobs(cost, "utility", n=_N_KNOBS)
    return np.stack([choose(quality, cost, k, "utility") for k in knobs])
