"""Scoring prompts with a router: batches with a progress callback, JSONL streams
of records (`prompt` or OpenAI `messages`), precomputed score files, and an on-disk
cache of a saved router's scores on a benchmark."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from prefroute._unicode import json_line
from prefroute.data._io import iter_jsonl_lines
from prefroute.data.prompts import iter_prompt_records, prompt_from_record
from prefroute.errors import DataError
from prefroute.types import BenchmarkSet, FloatArray

__all__ = [
    "prompt_from_record",
    "read_scores_jsonl",
    "router_folder",
    "score_in_batches",
    "score_jsonl_stream",
    "scores_cache_path",
    "scores_for_benchmark",
    "scoring_warning",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]


def scoring_warning(router: object) -> str | None:
    """The warning line a router gives about its last scoring, if it has one.

    Routers may define `scoring_report() -> str | None` to say that some scores are
    not what they seem (llm_judge: invalid judgements and cache misses, routed
    strong); the commands that score print it to stderr.

    Args:
        router: A loaded router.

    Returns:
        "warning: <report>", or None when the router reports nothing.
    """
    report = getattr(router, "scoring_report", None)
    line = report() if callable(report) else None
    return f"warning: {line}" if isinstance(line, str) and line else None


def score_in_batches(
    router: Any,
    prompts: Sequence[str],
    *,
    batch_size: int = 256,
    on_batch: ProgressCallback | None = None,
) -> FloatArray:
    """Score prompts in batches.

    Args:
        router: Anything with `score(prompts) -> (n,)` (a Router).
        prompts: Prompts to score.
        batch_size: Prompts per call to `score`.
        on_batch: Called with the number of prompts done in each batch.

    Returns:
        Scores, shape (len(prompts),).

    Raises:
        DataError: The router returned the wrong number of scores.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    out = np.empty(len(prompts), dtype=np.float64)
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        scores = np.asarray(router.score(batch), dtype=np.float64)
        if scores.shape != (len(batch),):
            raise DataError(
                f"router returned scores of shape {scores.shape}, "
                f"expected ({len(batch)},)"
            )
        out[start : start + len(batch)] = scores
        if on_batch is not None:
            on_batch(len(batch))
    return out


def score_jsonl_stream(
    router: Any,
    source: IO[str],
    sink: IO[str],
    *,
    name: str = "input",
    batch_size: int = 256,
    on_batch: ProgressCallback | None = None,
    suffix: str = ".jsonl",
) -> int:
    """Score every record of a prompt stream, writing each record plus `"score"`
    as a JSONL line.

    Holds one batch in memory at a time.

    Args:
        router: Anything with `score(prompts)`.
        source: Input prompt file, open (`prefroute.data.prompts`: JSONL records
            with `prompt` or `messages` by default).
        sink: Output stream.
        name: Input name for error messages.
        batch_size: Records per batch.
        on_batch: Called with the number of records done in each batch.
        suffix: Format of `source`, as a file suffix (".jsonl", ".json", ".csv",
            ".txt"); a bare string or text line is written as ``{"prompt": ...}``.

    Returns:
        Number of records written.

    Raises:
        DataError: A bad line (the message names it).
    """
    done = 0
    batch: list[dict[str, Any]] = []
    prompts: list[str] = []

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        scores = score_in_batches(router, prompts, batch_size=len(prompts))
        for record, score in zip(batch, scores, strict=True):
            sink.write(json_line({**record, "score": float(score)}))
            sink.write("\n")
        sink.flush()
        done += len(batch)
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()
        prompts.clear()

    for record in iter_prompt_records(source, name=name, suffix=suffix):
        prompts.append(record.prompt)
        batch.append(record.fields)
        if len(batch) >= batch_size:
            flush()
    flush()
    return done


def read_scores_jsonl(path: Path | str) -> dict[str, float]:
    """Read a score file written by `prefroute score`: prompt -> score.

    Args:
        path: JSONL with `prompt` (or `messages`) and a numeric `score` per line.

    Returns:
        Prompt -> score (a repeated prompt keeps its last score).

    Raises:
        DataError: Missing file or a bad line.
    """
    path = Path(path)
    out: dict[str, float] = {}
    try:
        with path.open(encoding="utf-8") as stream:
            for line_no, record in iter_jsonl_lines(stream, str(path)):
                where = f"{path}:{line_no}"
                prompt = prompt_from_record(record, where)
                score = record.get("score")
                if isinstance(score, bool) or not isinstance(score, int | float):
                    raise DataError(
                        f"{where}: expected a numeric 'score', got {score!r}"
                    )
                out[prompt] = float(score)
    except FileNotFoundError as exc:
        raise DataError(f"score file {str(path)!r} does not exist") from exc
    return out


def scores_for_benchmark(
    table: Mapping[str, float], bench: BenchmarkSet, source: str
) -> FloatArray:
    """Pick each benchmark prompt's score from a prompt -> score table.

    Args:
        table: Prompt -> score.
        bench: The benchmark.
        source: Where the table came from, for errors.

    Returns:
        Scores in benchmark order, shape (n,).

    Raises:
        DataError: Some benchmark prompts have no score.
    """
    missing = [p for p in bench.prompts if p not in table]
    if missing:
        raise DataError(
            f"{source} lacks scores for {len(missing)} of {len(bench)} {bench.name} "
            f"prompts (first: {missing[0][:80]!r}); score the benchmark's prompts "
            "with `prefroute score`"
        )
    return np.array([table[p] for p in bench.prompts], dtype=np.float64)


def router_folder(name_or_path: str) -> Path | None:
    """The folder a router spec loads from (a saved folder or shipped checkpoint).

    Args:
        name_or_path: What `load_router` is given.

    Returns:
        The folder, or None for a registered router built without a folder.
    """
    from prefroute.routers.registry import router_folder as _resolve

    return _resolve(name_or_path)


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _prompts_digest(prompts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for prompt in prompts:
        digest.update(prompt.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def scores_cache_path(
    cache_root: Path, folder: Path, bench: BenchmarkSet, embedder_key: str = ""
) -> Path:
    """Where a saved router's scores on a benchmark are cached.

    The key hashes the router folder's content, the benchmark's prompts and the
    embedder's cache key, so a retrained router, a changed benchmark or a changed
    embedder computation (e.g. a new int8 graph) never reads stale scores.

    Args:
        cache_root: The cache directory (`prefroute.config.cache_dir()`).
        folder: The router folder.
        bench: The benchmark.
        embedder_key: The `cache_key` of the embedder the router scores with ("" for
            none).

    Returns:
        Path of a `.npy` file under `cache_root/scores/`.
    """
    parts = (
        _folder_digest(folder),
        bench.name,
        _prompts_digest(bench.prompts),
        embedder_key,
    )
    key = hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]
    return cache_root / "scores" / f"{bench.name}-{key}.npy"
