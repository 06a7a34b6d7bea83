"""Labelled traffic from a request log, as plain data for adaptation, off-policy
evaluation, judge labelling and training recipes.

The log (`prefroute.gateway.store`: a SQLite file or a PostgreSQL URL) holds one
record per request and any number of feedback scores per request, one per source.
Feedback from the source "judge" (written by ``prefroute label --from-log``) compared
both models' fresh answers and rates the model that answered against the other one;
every other source rates the answer the user got. They are kept apart:

- `rewards`: mean of the non-judge feedback of a request (NaN when none);
- `judge`: the judge's score of the answering model against the other (NaN when none).

Requests answered by a fallback model, failed requests (status >= 400) and requests
logged without their prompt are left out (counted in `n_skipped`): they were not the
router's choice, have no answer to rate, or cannot be scored again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prefroute.errors import ConfigError, DataError
from prefroute.types import Battle, FloatArray, GoldenRecord

__all__ = [
    "JUDGE_SOURCE",
    "LoggedTraffic",
    "log_battles",
    "log_golden",
    "read_log",
]

#: Feedback source of judge labels (`prefroute label --from-log`).
JUDGE_SOURCE = "judge"


@dataclass(frozen=True)
class LoggedTraffic:
    """Logged requests with their feedback, one entry per request, oldest first.

    Attributes:
        request_ids: Request ids.
        prompts: Routed prompt texts.
        routed: Model that answered.
        policy: Model the logging policy picked (before exploration).
        candidates: Models the policy chose among, per request.
        propensity: P(the logging policy sends the request where it went).
        rewards: Mean non-judge feedback per request, NaN when none.
        judge: Judge score of the answering model against the other, NaN when none.
        costs: Cost of the request (USD), NaN when unknown.
        ts: Request start (unix seconds).
        logged_scores: Pair routers' logged score (P(strong needed)), NaN if none.
        unlabeled: Prompts of the log's requests without any feedback.
        n_skipped: Requests left out (fallback, failed, no prompt).
    """

    request_ids: list[str]
    prompts: list[str]
    routed: list[str]
    policy: list[str]
    candidates: list[tuple[str, ...]]
    propensity: FloatArray
    rewards: FloatArray
    judge: FloatArray
    costs: FloatArray
    ts: FloatArray
    logged_scores: FloatArray
    unlabeled: list[str] = field(default_factory=list)
    n_skipped: int = 0

    def __len__(self) -> int:
        """Number of requests with feedback."""
        return len(self.request_ids)

    @property
    def models(self) -> list[str]:
        """Every candidate model, in order of first appearance."""
        seen: dict[str, None] = {}
        for c in self.candidates:
            seen.update(dict.fromkeys(c))
        for m in self.routed:
            seen.setdefault(m, None)
        return list(seen)

    def pair(self) -> tuple[str, str] | None:
        """The (strong, weak) pair when every request chose among the same two
        models (as logged by a pair router: ``[strong, weak]``), else None."""
        counts = Counter(self.candidates)
        if len(counts) != 1:
            return None
        (only,) = counts
        return (only[0], only[1]) if len(only) == 2 else None

    def subset(self, mask: np.ndarray) -> LoggedTraffic:
        """The requests where `mask` is True (same unlabeled prompts)."""
        idx = [int(i) for i in np.flatnonzero(mask)]
        return LoggedTraffic(
            request_ids=[self.request_ids[i] for i in idx],
            prompts=[self.prompts[i] for i in idx],
            routed=[self.routed[i] for i in idx],
            policy=[self.policy[i] for i in idx],
            candidates=[self.candidates[i] for i in idx],
            propensity=self.propensity[idx],
            rewards=self.rewards[idx],
            judge=self.judge[idx],
            costs=self.costs[idx],
            ts=self.ts[idx],
            logged_scores=self.logged_scores[idx],
            unlabeled=list(self.unlabeled),
            n_skipped=self.n_skipped,
        )

    def latest(self, n: int) -> LoggedTraffic:
        """The `n` most recent requests."""
        mask = np.zeros(len(self), dtype=bool)
        mask[max(0, len(self) - n) :] = True
        return self.subset(mask)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def read_log(
    target: str | Path,
    *,
    since: float | None = None,
    limit: int | None = None,
    judge_source: str = JUDGE_SOURCE,
) -> LoggedTraffic:
    """Read the labelled requests of a log.

    Args:
        target: The log: a SQLite file or a ``postgresql://`` URL.
        since: Only requests from this unix time on.
        limit: Only the `limit` most recent labelled requests.
        judge_source: Feedback source that holds judge labels.

    Returns:
        The traffic (possibly empty).

    Raises:
        DataError: The log file does not exist.
        ConfigError: `limit` below 1.
    """
    # The store is the storage leaf of the gateway; importing it here keeps the
    # training code usable without the serving stack.
    from prefroute.gateway.store import open_store

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit!r}")
    text = str(target)
    if "://" not in text and not Path(text).expanduser().is_file():
        raise DataError(f"no request log at {text!r}")
    store = open_store(target)
    try:
        feedback = store.feedback_for(None)
        records = list(store.iter_requests(since=since))
    finally:
        store.close()
    ids: list[str] = []
    prompts: list[str] = []
    routed: list[str] = []
    policy: list[str] = []
    candidates: list[tuple[str, ...]] = []
    numbers: list[tuple[float, float, float, float, float, float]] = []
    unlabeled: list[str] = []
    skipped = 0
    for r in records:
        usable = r.prompt is not None and r.status < 400 and not r.is_fallback
        rated = feedback.get(r.request_id, [])
        if not rated:
            if usable and r.prompt is not None:
                unlabeled.append(r.prompt)
            continue
        if not usable or r.prompt is None:
            skipped += 1
            continue
        users = [f.score for f in rated if f.source != judge_source]
        judges = [f.score for f in rated if f.source == judge_source]
        ids.append(r.request_id)
        prompts.append(r.prompt)
        routed.append(r.routed_model)
        policy.append(r.policy_model)
        candidates.append(tuple(r.candidates) or (r.routed_model,))
        numbers.append(
            (
                r.propensity,
                float(np.mean(users)) if users else float("nan"),
                float(np.mean(judges)) if judges else float("nan"),
                _nan(r.cost_usd),
                r.ts,
                _nan(r.score),
            )
        )
    arr = np.array(numbers, dtype=np.float64).reshape(-1, 6)
    traffic = LoggedTraffic(
        request_ids=ids,
        prompts=prompts,
        routed=routed,
        policy=policy,
        candidates=candidates,
        propensity=arr[:, 0],
        rewards=arr[:, 1],
        judge=arr[:, 2],
        costs=arr[:, 3],
        ts=arr[:, 4],
        logged_scores=arr[:, 5],
        unlabeled=list(dict.fromkeys(unlabeled)),
        n_skipped=skipped,
    )
    return traffic.latest(limit) if limit is not None else traffic


def log_golden(traffic: LoggedTraffic, *, source: str = "log") -> list[GoldenRecord]:
    """Per-prompt golden records: each model's mean feedback on the prompt.

    A prompt answered by several models (exploration, repeated prompts) becomes a
    record with several models; judge labels add both models of the pair (the
    answering model's score and the other's complement).

    Args:
        traffic: From `read_log`.
        source: The records' source and task.

    Returns:
        One record per distinct prompt with at least one score.
    """
    sums: dict[str, dict[str, list[float]]] = {}
    for i, prompt in enumerate(traffic.prompts):
        per = sums.setdefault(prompt, {})
        if np.isfinite(traffic.rewards[i]):
            per.setdefault(traffic.routed[i], []).append(float(traffic.rewards[i]))
        if np.isfinite(traffic.judge[i]):
            others = [m for m in traffic.candidates[i] if m != traffic.routed[i]]
            per.setdefault(traffic.routed[i], []).append(float(traffic.judge[i]))
            if len(others) == 1:
                per.setdefault(others[0], []).append(1.0 - float(traffic.judge[i]))
    return [
        GoldenRecord(
            prompt,
            {m: float(np.mean(v)) for m, v in per.items()},
            source=source,
            task=source,
        )
        for prompt, per in sums.items()
        if per
    ]


def log_battles(
    traffic: LoggedTraffic, *, weight: float = 1.0, source: str = "log"
) -> list[Battle]:
    """Battles from a log: judge labels (both answers compared) as they are, and
    every pair of models that answered the same prompt (golden-label rule of
    `prefroute.train.sources.golden_to_battles` on `log_golden`'s records).

    Args:
        traffic: From `read_log`.
        weight: Weight of every battle.
        source: Battle source.

    Returns:
        The battles (a prompt answered by one model only gives none).
    """
    from prefroute.train.sources import golden_to_battles

    records = log_golden(traffic, source=source)
    if not records:
        return []
    return golden_to_battles(records, weight=weight, source=source)
