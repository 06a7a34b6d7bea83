"""Batch jobs on any engine: `prefroute score` and `prefroute eval --engine`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np

from prefroute.engine import BatchEngine
from prefroute.types import FloatArray

__all__ = ["score_jsonl_on", "score_prompts_on"]


def score_prompts_on(
    engine: BatchEngine,
    router_spec: str,
    prompts: Sequence[str],
    *,
    batch_size: int = 256,
) -> FloatArray:
    """Scores of `prompts` by a router, in batches of `batch_size`, on `engine`.

    The batches are those of `prefroute.evals.scoring.score_in_batches`, so any
    engine gives the local scores.

    Args:
        engine: Where the batches run.
        router_spec: Router name, shipped checkpoint or folder (``NAME:k=v``).
        prompts: The prompts.
        batch_size: Prompts per `score` call.

    Returns:
        Scores, shape (len(prompts),).
    """
    batches = [
        list(prompts[s : s + batch_size]) for s in range(0, len(prompts), batch_size)
    ]
    if not batches:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(engine.score_batches(router_spec, batches))


def score_jsonl_on(
    engine: BatchEngine,
    router_spec: str,
    source: IO[str],
    sink: IO[str],
    *,
    name: str = "input",
    batch_size: int = 256,
    on_batch: Callable[[int], Any] | None = None,
) -> int:
    """`prefroute score` on an engine: every record plus its `"score"`, in order.

    Reads the whole input first (every line is checked before any work is
    sent), then writes the records with the same bytes as the local command.

    Args:
        engine: Where the batches run.
        router_spec: Router name, shipped checkpoint or folder (``NAME:k=v``).
        source: Input JSONL (objects with `prompt` or `messages`).
        sink: Output stream.
        name: Input name for error messages.
        batch_size: Records per batch.
        on_batch: Called with the number of records written per batch.

    Returns:
        Number of records written.

    Raises:
        DataError: A bad line (the message names it).
    """
    from prefroute._unicode import json_line
    from prefroute.data._io import iter_jsonl_lines
    from prefroute.evals.scoring import prompt_from_record

    records: list[Any] = []
    prompts: list[str] = []
    for line_no, record in iter_jsonl_lines(source, name):
        prompts.append(prompt_from_record(record, f"{name}:{line_no}"))
        records.append(record)
    batches = [prompts[s : s + batch_size] for s in range(0, len(prompts), batch_size)]
    scores = engine.score_batches(router_spec, batches) if batches else []
    done = 0
    for batch_scores in scores:
        for score in batch_scores:
            sink.write(json_line({**records[done], "score": float(score)}))
            sink.write("\n")
            done += 1
        sink.flush()
        if on_batch is not None:
            on_batch(len(batch_scores))
    return done
