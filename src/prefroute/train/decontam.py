"""Decontamination: no evaluation prompt (or a near copy of one) reaches training.

A training prompt is dropped when its text equals an evaluation prompt after
whitespace/case normalisation, or when the cosine similarity of its embedding to any
evaluation prompt's embedding is above the threshold (0.95 by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prefroute.embed.base import Embedder
from prefroute.errors import DataError
from prefroute.types import Battle

__all__ = [
    "DecontaminationReport",
    "contaminated_prompts",
    "decontaminate",
    "load_eval_prompt_file",
    "normalise_text",
]

_CHUNK = 2048


def normalise_text(text: str) -> str:
    """Lower-case and collapse whitespace (the exact-match key)."""
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class DecontaminationReport:
    """What decontamination removed.

    Attributes:
        n_eval_prompts: Evaluation prompts checked against.
        n_train_prompts: Unique training prompts before.
        n_dropped_prompts: Unique training prompts dropped.
        n_dropped_battles: Battles dropped.
        dropped_by_source: Source -> battles dropped.
        threshold: Cosine threshold used.
    """

    n_eval_prompts: int
    n_train_prompts: int
    n_dropped_prompts: int
    n_dropped_battles: int
    dropped_by_source: dict[str, int] = field(default_factory=dict)
    threshold: float = 0.95


def load_eval_prompt_file(path: Path | str) -> list[str]:
    """Read evaluation prompts from a user file.

    Args:
        path: ``.jsonl``/``.json`` (records with "prompt", "question", "query",
            "instruction" or "turns") or plain text (one prompt per line).

    Returns:
        The prompts.

    Raises:
        DataError: Unreadable file or a JSON record without a prompt field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read evaluation prompts {str(path)!r}: {exc}") from exc
    if path.suffix.lower() not in (".jsonl", ".json"):
        return [line for line in text.splitlines() if line.strip()]
    try:
        if path.suffix.lower() == ".json":
            records = json.loads(text)
            records = records if isinstance(records, list) else [records]
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON: {exc}") from exc
    out: list[str] = []
    for n, rec in enumerate(records, 1):
        if isinstance(rec, str):
            out.append(rec)
            continue
        if not isinstance(rec, dict):
            raise DataError(f"{path} record {n}: expected an object or string")
        for key in ("prompt", "question", "query", "instruction"):
            if isinstance(rec.get(key), str):
                out.append(rec[key])
                break
        else:
            turns = rec.get("turns")
            if isinstance(turns, list) and turns:
                out.extend(str(t) for t in turns)
            else:
                raise DataError(
                    f"{path} record {n}: expected a 'prompt', 'question', 'query', "
                    f"'instruction' or 'turns' field, got keys {sorted(rec)}"
                )
    return out


def contaminated_prompts(
    train_prompts: Sequence[str],
    eval_prompts: Sequence[str],
    embedder: Embedder,
    *,
    threshold: float = 0.95,
    progress: Callable[[int], None] | None = None,
) -> set[str]:
    """Training prompts too close to an evaluation prompt.

    Args:
        train_prompts: Unique training prompts.
        eval_prompts: Evaluation prompts.
        embedder: Embeds both sides (unit rows, so dot product = cosine).
        threshold: Drop when max cosine > threshold.
        progress: Called with the number of training prompts just checked.

    Returns:
        The contaminated training prompts.
    """
    if not train_prompts or not eval_prompts:
        return set()
    eval_keys = {normalise_text(p) for p in eval_prompts}
    bad = {p for p in train_prompts if normalise_text(p) in eval_keys}
    ev = np.asarray(embedder.embed(list(eval_prompts)), dtype=np.float32)
    for start in range(0, len(train_prompts), _CHUNK):
        chunk = list(train_prompts[start : start + _CHUNK])
        tr = np.asarray(embedder.embed(chunk), dtype=np.float32)
        best = np.full(len(chunk), -np.inf, dtype=np.float32)
        for e0 in range(0, len(ev), 8192):
            np.maximum(best, (tr @ ev[e0 : e0 + 8192].T).max(axis=1), out=best)
        bad.update(p for p, s in zip(chunk, best, strict=True) if s > threshold)
        if progress is not None:
            progress(len(chunk))
    return bad


def decontaminate(
    battles: Sequence[Battle],
    eval_prompts: Sequence[str],
    embedder: Embedder,
    *,
    threshold: float = 0.95,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Battle], DecontaminationReport]:
    """Drop every battle whose prompt is (nearly) an evaluation prompt.

    Args:
        battles: Training battles.
        eval_prompts: Evaluation prompts.
        embedder: Embedder used for the similarity test.
        threshold: Cosine similarity above which a prompt is dropped.
        progress: Progress callback (training prompts checked).

    Returns:
        (kept battles, report).
    """
    unique = list(dict.fromkeys(b.prompt for b in battles))
    bad = contaminated_prompts(
        unique, eval_prompts, embedder, threshold=threshold, progress=progress
    )
    kept: list[Battle] = []
    by_source: dict[str, int] = {}
    for b in battles:
        if b.prompt in bad:
            by_source[b.source] = by_source.get(b.source, 0) + 1
        else:
            kept.append(b)
    report = DecontaminationReport(
        n_eval_prompts=len(eval_prompts),
        n_train_prompts=len(unique),
        n_dropped_prompts=len(bad),
        n_dropped_battles=len(battles) - len(kept),
        dropped_by_source=by_source,
        threshold=threshold,
    )
    return kept, report
