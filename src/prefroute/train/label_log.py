"""Judge labels for logged traffic (`prefroute label --from-log`).

A sample of the log's prompts (requests answered by the strong or the weak model,
prompt logged, no judge label yet) is answered again by both models and compared by
the judge through `prefroute.train.label.label_battles` (battles file, resumable).
Each verdict then goes back into the log as feedback from the source "judge" on every
sampled request with that prompt: the judge's credit of the model that answered the
request against the other one. `prefroute adapt` reads these as a second source of
labels (both models rated at once), apart from the users' feedback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefroute.errors import DataError
from prefroute.train.logdata import JUDGE_SOURCE

__all__ = ["LogSample", "sample_log_prompts", "write_judge_feedback"]


@dataclass(frozen=True)
class LogSample:
    """Prompts drawn from a log for judging.

    Attributes:
        prompts: Distinct prompts, in draw order.
        requests: Prompt -> (request id, model that answered) of every eligible
            request with that prompt.
        n_eligible: Distinct prompts that could have been drawn.
    """

    prompts: list[str]
    requests: dict[str, list[tuple[str, str]]]
    n_eligible: int


def sample_log_prompts(
    target: str | Path,
    *,
    strong: str,
    weak: str,
    n: int,
    seed: int = 0,
    since: float | None = None,
    source: str = JUDGE_SOURCE,
) -> LogSample:
    """Draw up to `n` distinct logged prompts to judge.

    Eligible: requests answered by `strong` or `weak` (no fallback, no error) with
    the prompt logged and no feedback from `source` yet.

    Args:
        target: The log (SQLite file or postgresql:// URL).
        strong: Strong model name (as logged).
        weak: Weak model name.
        n: Prompts to draw.
        seed: Seed of the draw.
        since: Only requests from this unix time on.
        source: Feedback source of judge labels.

    Returns:
        The sample.

    Raises:
        DataError: No log file.
    """
    from prefroute.gateway.store import open_store

    text = str(target)
    if "://" not in text and not Path(text).expanduser().is_file():
        raise DataError(f"no request log at {text!r}")
    store = open_store(target)
    try:
        feedback = store.feedback_for(None)
        requests: dict[str, list[tuple[str, str]]] = {}
        for r in store.iter_requests(since=since):
            if (
                r.prompt is None
                or r.status >= 400
                or r.is_fallback
                or r.routed_model not in (strong, weak)
                or any(f.source == source for f in feedback.get(r.request_id, ()))
            ):
                continue
            requests.setdefault(r.prompt, []).append((r.request_id, r.routed_model))
    finally:
        store.close()
    prompts = list(requests)
    rng = np.random.default_rng(seed)
    k = min(n, len(prompts))
    drawn = [prompts[int(i)] for i in rng.choice(len(prompts), size=k, replace=False)]
    return LogSample(drawn, {p: requests[p] for p in drawn}, len(prompts))


def write_judge_feedback(
    target: str | Path,
    battles_path: Path,
    requests: Mapping[str, Sequence[tuple[str, str]]],
    *,
    strong: str,
    weak: str,
    source: str = JUDGE_SOURCE,
) -> int:
    """Write the verdicts of a battles file back into the log as feedback.

    Args:
        target: The log.
        battles_path: Battles JSONL written by `label_battles`.
        requests: Prompt -> (request id, model that answered) to rate.
        strong: Strong model name (`model_a` of the battles).
        weak: Weak model name.
        source: Feedback source.

    Returns:
        Feedback records written.
    """
    from prefroute.gateway.store import FeedbackRecord, open_store

    credit: dict[str, float] = {}
    if battles_path.is_file():
        for line in battles_path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a partial last line of an interrupted run
            if (
                isinstance(obj, dict)
                and obj.get("model_a") == strong
                and obj.get("model_b") == weak
                and isinstance(obj.get("p_a"), int | float)
                and obj.get("prompt") in requests
            ):
                credit[obj["prompt"]] = float(obj["p_a"])
    store = open_store(target)
    written = 0
    now = time.time()
    try:
        for prompt, p_strong in credit.items():
            for request_id, model in requests[prompt]:
                score = p_strong if model == strong else 1.0 - p_strong
                written += store.put_feedback(
                    FeedbackRecord(request_id, score, source, now)
                )
    finally:
        store.close()
    return written
