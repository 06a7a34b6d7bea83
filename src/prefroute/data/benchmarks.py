"""Evaluation benchmarks with both models' results precomputed (RouteLLM's evals).

Files (RouteLLM repo, ``routellm/evals``; here under ``<data_dir>/routellm-evals``):

- MMLU: ``mmlu/responses/mmlu_<subject>.csv`` (``prompt`` + one boolean column per
  model); eval prompts in ``mmlu/contaminated_prompts.jsonl`` are dropped.
- MT Bench: ``mt_bench/question.jsonl`` + ``mt_bench/judgements.jsonl``. Routing
  uses the first turn; a question's quality for a model is the mean of its judge
  scores over both turns (what RouteLLM's harness averages). Questions whose first
  or second turn is listed in ``contaminated_prompts.jsonl`` are dropped, as in
  RouteLLM. Score ``-1`` is FastChat's "judge output unparsable" marker and is
  excluded (FastChat's ``show_result`` drops it; the shipped file has none).
- GSM8K: ``gsm8k/gsm8k_responses.csv`` (1,319 rows) when present, else the 25-row
  ``gsm8k_responses_sample.csv``; same columns as MMLU plus ``<model>_response``.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from prefroute.data._io import (
    as_float,
    as_str,
    find_file,
    parse_bool,
    parse_float,
    read_csv,
    read_jsonl,
    read_records,
    root_dir,
)
from prefroute.errors import DataError
from prefroute.types import BenchmarkSet, ModelPair

__all__ = [
    "BENCHMARKS",
    "DEFAULT_PAIR",
    "available_models",
    "benchmark_dir",
    "load_benchmark",
    "load_benchmark_file",
    "load_contaminated_prompts",
    "load_eval_prompts",
]

BENCHMARKS: tuple[str, ...] = ("mmlu", "mt-bench", "gsm8k")
#: The paper's pair (RouteLLM sec. 5): the column names used in its eval files.
DEFAULT_PAIR = ModelPair(
    strong="gpt-4-1106-preview", weak="mistralai/Mixtral-8x7B-Instruct-v0.1"
)

_SOURCE = "routellm-evals"
_SUBDIR = {"mmlu": "mmlu", "mt-bench": "mt_bench", "gsm8k": "gsm8k"}
_ALIASES = {
    "mmlu": "mmlu",
    "mt-bench": "mt-bench",
    "mt_bench": "mt-bench",
    "mtbench": "mt-bench",
    "gsm8k": "gsm8k",
    "gsm-8k": "gsm8k",
}
_MARKERS = {
    "mmlu": "responses",
    "mt-bench": "question.jsonl",
    "gsm8k": "contaminated_prompts.jsonl",
}
_FAILED_JUDGEMENT = -1.0


def _canonical_benchmark(name: str) -> str:
    key = name.strip().lower()
    if key not in _ALIASES:
        raise DataError(
            f"unknown benchmark {name!r}; expected one of {list(BENCHMARKS)}"
        )
    return _ALIASES[key]


def benchmark_dir(name: str, data_dir: Path | str | None = None) -> Path:
    """Folder holding one benchmark's files.

    ``data_dir`` may be the data root (holding ``routellm-evals/``), the
    ``routellm-evals`` folder itself, or the benchmark's own folder.

    Args:
        name: "mmlu", "mt-bench" or "gsm8k".
        data_dir: Data folder, or None for the configured default.

    Returns:
        The benchmark folder.

    Raises:
        DataError: Unknown benchmark or folder not found (says how to fetch it).
    """
    bench = _canonical_benchmark(name)
    base = root_dir(data_dir)
    sub = _SUBDIR[bench]
    marker = _MARKERS[bench]
    for cand in (base / _SOURCE / sub, base / sub, base):
        if (cand / marker).exists():
            return cand
    raise DataError(
        f"benchmark {bench!r} not found under {str(base)!r} (expected "
        f"{str(base / _SOURCE / sub / marker)!r}); fetch it with "
        f"`prefroute data download {_SOURCE} --data-dir {base}`"
    )


def load_contaminated_prompts(folder: Path) -> set[str]:
    """Eval prompts flagged as near-duplicates of training prompts.

    Args:
        folder: A benchmark folder holding ``contaminated_prompts.jsonl``.

    Returns:
        The set of ``eval_prompt`` values.

    Raises:
        DataError: Missing file or malformed line.
    """
    path = folder / "contaminated_prompts.jsonl"
    return {as_str(obj, "eval_prompt", f"{path}:{n}") for n, obj in read_jsonl(path)}


def _model_columns(header: Sequence[str]) -> list[str]:
    return [c for c in header if c and c != "prompt" and not c.endswith("_response")]


def _check_pair(pair: ModelPair, models: Sequence[str], where: str) -> None:
    for role, model in (("strong", pair.strong), ("weak", pair.weak)):
        if model not in models:
            raise DataError(
                f"{where}: no results for {role} model {model!r}; available models: "
                f"{sorted(models)}"
            )


def _mmlu_files(folder: Path) -> list[Path]:
    files = sorted((folder / "responses").glob("mmlu_*.csv"))
    if not files:
        raise DataError(
            f"{folder / 'responses'}: no mmlu_<subject>.csv files; fetch them with "
            f"`prefroute data download {_SOURCE}`"
        )
    return files


def _load_correctness_csvs(
    name: str,
    files: Sequence[tuple[Path, str]],
    contaminated: set[str],
    pair: ModelPair,
) -> BenchmarkSet:
    prompts: list[str] = []
    ids: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    for path, tag in files:
        table = read_csv(path, required=("prompt",))
        _check_pair(pair, _model_columns(table.header), str(path))
        ip, js, jw = (
            table.column("prompt"),
            table.column(pair.strong),
            table.column(pair.weak),
        )
        for i, row in enumerate(table.rows):
            prompt = row[ip]
            if prompt in contaminated:
                continue
            where = table.where(i)
            strong.append(parse_bool(row[js], where, pair.strong))
            weak.append(parse_bool(row[jw], where, pair.weak))
            prompts.append(prompt)
            ids.append(f"{tag}:{i}")
    return BenchmarkSet(
        name=name,
        prompts=prompts,
        strong_quality=np.asarray(strong, dtype=np.float64),
        weak_quality=np.asarray(weak, dtype=np.float64),
        pair=pair,
        ids=ids,
    )


def _load_mmlu(folder: Path, pair: ModelPair) -> BenchmarkSet:
    files = [(p, p.stem.removeprefix("mmlu_")) for p in _mmlu_files(folder)]
    return _load_correctness_csvs(
        "mmlu", files, load_contaminated_prompts(folder), pair
    )


def _gsm8k_file(folder: Path) -> Path:
    return find_file(
        folder,
        ("gsm8k_responses.csv", "gsm8k_responses_sample.csv"),
        source=_SOURCE,
        what="GSM8K responses",
    )


def _load_gsm8k(folder: Path, pair: ModelPair) -> BenchmarkSet:
    path = _gsm8k_file(folder)
    return _load_correctness_csvs(
        "gsm8k", [(path, "gsm8k")], load_contaminated_prompts(folder), pair
    )


def _read_questions(folder: Path) -> list[tuple[int, str, list[str]]]:
    path = folder / "question.jsonl"
    out: list[tuple[int, str, list[str]]] = []
    for n, obj in read_jsonl(path):
        where = f"{path}:{n}"
        qid = obj.get("question_id")
        if isinstance(qid, bool) or not isinstance(qid, int):
            raise DataError(
                f"{where}: field 'question_id': expected an int, got {qid!r}"
            )
        category = obj.get("category", "")
        if not isinstance(category, str):
            raise DataError(
                f"{where}: field 'category': expected a string, got {category!r}"
            )
        turns = obj.get("turns")
        if (
            not isinstance(turns, list)
            or not turns
            or not all(isinstance(t, str) for t in turns)
        ):
            raise DataError(
                f"{where}: field 'turns': expected a non-empty list of strings, got "
                f"{turns!r:.80}"
            )
        out.append((qid, category, turns))
    return out


def _read_judgements(folder: Path) -> dict[tuple[int, str], list[float]]:
    path = folder / "judgements.jsonl"
    scores: dict[tuple[int, str], list[float]] = defaultdict(list)
    for n, obj in read_jsonl(path):
        where = f"{path}:{n}"
        qid = obj.get("question_id")
        if isinstance(qid, bool) or not isinstance(qid, int):
            raise DataError(
                f"{where}: field 'question_id': expected an int, got {qid!r}"
            )
        model = as_str(obj, "model", where)
        if "score" not in obj:
            raise DataError(f"{where}: missing field 'score'")
        score = as_float(obj["score"], where, "field 'score'")
        if score == _FAILED_JUDGEMENT:
            continue
        scores[(qid, model)].append(score)
    return scores


def _load_mt_bench(folder: Path, pair: ModelPair) -> BenchmarkSet:
    contaminated = load_contaminated_prompts(folder)
    questions = _read_questions(folder)
    judgements = _read_judgements(folder)
    models = sorted({m for _, m in judgements})
    _check_pair(pair, models, str(folder / "judgements.jsonl"))
    prompts: list[str] = []
    ids: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    for qid, category, turns in questions:
        if any(t in contaminated for t in turns[:2]):
            continue
        qualities = []
        for model in (pair.strong, pair.weak):
            got = judgements.get((qid, model))
            if not got:
                raise DataError(
                    f"{folder / 'judgements.jsonl'}: no usable judgement of model "
                    f"{model!r} for question_id {qid}"
                )
            qualities.append(sum(got) / len(got))
        prompts.append(turns[0])
        ids.append(f"{qid}:{category}")
        strong.append(qualities[0])
        weak.append(qualities[1])
    return BenchmarkSet(
        name="mt-bench",
        prompts=prompts,
        strong_quality=np.asarray(strong, dtype=np.float64),
        weak_quality=np.asarray(weak, dtype=np.float64),
        pair=pair,
        ids=ids,
    )


def load_benchmark(
    name: str, data_dir: Path | str | None = None, *, pair: ModelPair | None = None
) -> BenchmarkSet:
    """Load a decontaminated evaluation benchmark for a strong/weak pair.

    Args:
        name: "mmlu", "mt-bench" or "gsm8k".
        data_dir: Data root, the ``routellm-evals`` folder, or the benchmark folder;
            None for the configured default.
        pair: Model columns to use; default `DEFAULT_PAIR` (the paper's pair).

    Returns:
        The benchmark. Qualities are 0/1 correctness (MMLU, GSM8K) or mean GPT-4
        judge score 1-10 over both turns (MT Bench). ``ids`` are
        ``"<subject>:<row>"`` (MMLU), ``"gsm8k:<row>"``, or
        ``"<question_id>:<category>"`` (MT Bench).

    Raises:
        DataError: Unknown benchmark or model, missing or malformed files.
    """
    bench = _canonical_benchmark(name)
    folder = benchmark_dir(bench, data_dir)
    chosen = pair or DEFAULT_PAIR
    if bench == "mmlu":
        return _load_mmlu(folder, chosen)
    if bench == "mt-bench":
        return _load_mt_bench(folder, chosen)
    return _load_gsm8k(folder, chosen)


#: Suffixes `load_benchmark_file` reads.
BENCHMARK_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".json", ".jsonl")


def load_benchmark_file(
    path: Path | str, *, pair: ModelPair | None = None
) -> BenchmarkSet:
    """Load a user's own evaluation set: prompts with per-model quality.

    Formats (the same as the training data's, so one log can serve both):

    - ``.csv``: a ``prompt`` column and one column per model (True/False, 1/0 or
      any number; ``<model>_response`` columns are ignored): RouteLLM's format;
    - ``.json`` (a list) or ``.jsonl`` (one per line) of objects with ``prompt``
      (or ``question``) and ``scores``, ``{model: number}``: RouterDC's format.

    Args:
        path: The file.
        pair: The strong and weak model. None works only for a file with exactly
            two models: the one with the higher mean quality is taken as strong.

    Returns:
        The benchmark, named after the file's stem, with the prompts that have a
        quality for both models (in file order).

    Raises:
        DataError: Unreadable or malformed file, unknown model, fewer than two
            usable prompts, or no pair given for a file with more than two models.
    """
    path = Path(path).expanduser()
    if path.suffix not in BENCHMARK_FILE_SUFFIXES:
        raise DataError(
            f"{str(path)!r}: an evaluation file must end in "
            f"{', '.join(BENCHMARK_FILE_SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"evaluation file {str(path)!r} does not exist")
    rows = (
        _csv_quality_rows(path) if path.suffix == ".csv" else _json_quality_rows(path)
    )
    models = sorted({m for _, _, scores in rows for m in scores})
    if pair is None:
        if len(models) != 2:
            raise DataError(
                f"{path}: name the strong and weak model (--strong/--weak); the file "
                f"grades {len(models)} models: {models}"
            )
        means = {
            m: float(np.mean([q[m] for _, _, q in rows if m in q])) for m in models
        }
        hi, lo = sorted(models, key=lambda m: -means[m])
        pair = ModelPair(strong=hi, weak=lo)
    _check_pair(pair, models, str(path))
    kept = [(pid, p, q) for pid, p, q in rows if pair.strong in q and pair.weak in q]
    if len(kept) < 2:
        raise DataError(
            f"{path}: fewer than two prompts grade both {pair.strong!r} and "
            f"{pair.weak!r}"
        )
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem)
    return BenchmarkSet(
        name=name or "file",
        prompts=[p for _, p, _ in kept],
        strong_quality=np.asarray([q[pair.strong] for _, _, q in kept]),
        weak_quality=np.asarray([q[pair.weak] for _, _, q in kept]),
        pair=pair,
        ids=[pid for pid, _, _ in kept],
    )


def _csv_quality_rows(path: Path) -> list[tuple[str, str, dict[str, float]]]:
    table = read_csv(path, required=("prompt",))
    models = _model_columns(table.header)
    ip = table.column("prompt")
    cols = {m: table.column(m) for m in models}
    out = []
    for i, row in enumerate(table.rows):
        where = table.where(i)
        scores: dict[str, float] = {}
        for m, j in cols.items():
            cell = row[j].strip()
            if not cell:
                continue  # no result for this model on this prompt
            try:
                scores[m] = parse_bool(cell, where, m)
            except DataError:
                scores[m] = parse_float(cell, where, m)
        out.append((f"row:{i}", row[ip], scores))
    return out


def _json_quality_rows(path: Path) -> list[tuple[str, str, dict[str, float]]]:
    out = []
    for n, where, obj in read_records(path):
        key = "prompt" if "prompt" in obj else "question"
        prompt = as_str(obj, key, where)
        scores_obj = obj.get("scores")
        if not isinstance(scores_obj, dict):
            raise DataError(f"{where}: expected 'scores': {{model: number}}")
        scores = {
            str(m): as_float(v, where, f"score of {m!r}")
            for m, v in scores_obj.items()
            if v is not None
        }
        out.append((f"row:{n}", prompt, scores))
    return out


def available_models(name: str, data_dir: Path | str | None = None) -> list[str]:
    """Models with results in a benchmark (usable in ``pair=``).

    Args:
        name: "mmlu", "mt-bench" or "gsm8k".
        data_dir: As in `load_benchmark`.

    Returns:
        Sorted model names (for MMLU, those present in every subject file).

    Raises:
        DataError: Unknown benchmark or missing/malformed files.
    """
    bench = _canonical_benchmark(name)
    folder = benchmark_dir(bench, data_dir)
    if bench == "mt-bench":
        return sorted({m for _, m in _read_judgements(folder)})
    if bench == "gsm8k":
        return sorted(_model_columns(read_csv(_gsm8k_file(folder)).header))
    common: set[str] | None = None
    for path in _mmlu_files(folder):
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        cols = set(_model_columns(header))
        common = cols if common is None else common & cols
    return sorted(common or ())


def load_eval_prompts(data_dir: Path | str | None = None) -> list[str]:
    """Every evaluation prompt of MMLU, MT Bench (all turns) and GSM8K.

    Meant for decontaminating training sets: includes the prompts the benchmarks
    themselves drop as contaminated. Benchmarks absent from ``data_dir`` are
    skipped, but at least one must be present.

    Args:
        data_dir: As in `load_benchmark`.

    Returns:
        Unique prompts, in file order.

    Raises:
        DataError: No benchmark found, or a malformed file.
    """
    seen: dict[str, None] = {}
    found = 0
    for bench in BENCHMARKS:
        try:
            folder = benchmark_dir(bench, data_dir)
        except DataError:
            continue
        found += 1
        if bench == "mt-bench":
            for _, _, turns in _read_questions(folder):
                seen.update(dict.fromkeys(turns))
            continue
        files = _mmlu_files(folder) if bench == "mmlu" else [_gsm8k_file(folder)]
        for path in files:
            table = read_csv(path, required=("prompt",))
            ip = table.column("prompt")
            seen.update(dict.fromkeys(row[ip] for row in table.rows))
    if not found:
        raise DataError(
            f"no evaluation benchmark found under {str(root_dir(data_dir))!r}; fetch "
            f"them with `prefroute data download {_SOURCE}`"
        )
    return list(seen)
