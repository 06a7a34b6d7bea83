"""Golden labels: per-model answer quality on benchmark prompts -> `GoldenRecord`.

Sources (see the data README):

- RouterBench CSVs (``routerbench/*_train.csv``): 0/1 correctness column per
  model, ``<model>|total_cost`` in USD, ``eval_name`` as task.
- RouterDC JSON (``routerdc-7model/*.json``): list of ``{question, scores}``.
- ulab LLMRouter (``ulab-llmrouter/dcrouter_preprocessed/{train,test}.json``), task
  looked up in ``query_data/*.jsonl`` by exact query text.
- ulab RouteProfile (``ulab-routeprofile/route_data/routing_test_data.json``),
  ``model_performance`` given as a dict or as a Python-literal string
  (parsed with ``ast.literal_eval``).
- gemini-benchmark (``gemini-benchmark/outputs/<task>/<model>/output.jsonl``):
  per-question correctness of gpt-4-1106-preview, Mixtral-8x7B, gpt-3.5-turbo and
  gemini-pro on SVAMP, MultiArith (``is_correct``), HumanEval and ODEX
  (``scores.pass@1``).
- ZeroEval CRUXEval (``zeroeval-crux/derived/``): a 0/1 correctness table for 51
  models on 800 code-reasoning problems, scored from ZeroEval's outputs, and a
  validation of each model's derived accuracy against ZeroEval's published one.

Model names are kept as written in each source unless ``canonical=True``, which
maps them with `prefroute.data.models.canonical_model_name` (so RouterBench's
``mistralai/mixtral-8x7b-chat`` becomes ``mistralai/Mixtral-8x7B-Instruct-v0.1``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from prefroute.data._io import (
    as_dict,
    as_float,
    as_str,
    literal,
    parse_bool,
    parse_float,
    read_csv,
    read_json,
    read_jsonl,
    read_records,
    root_dir,
)
from prefroute.data.models import canonical_model_name, canonicalize_keys
from prefroute.errors import DataError
from prefroute.types import GoldenRecord

__all__ = [
    "GEMINI_BENCHMARK_MODELS",
    "canonical_model_name",
    "crux_valid_models",
    "load_crux",
    "load_gemini_benchmark",
    "load_golden_file",
    "load_llmrouter",
    "load_llmrouter_prices",
    "load_routeprofile",
    "load_routerbench",
    "load_routerdc",
]

_COST_SUFFIX = "|total_cost"
_RESPONSE_SUFFIX = "|model_response"
_NON_MODEL = frozenset(
    {"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to"}
)


def _files(path: Path, folder: str, pattern: str, source: str) -> list[Path]:
    """Resolve a file, a source folder, or a data root holding ``folder``."""
    if path.is_file():
        return [path]
    for cand in (path / folder, path):
        if cand.is_dir():
            found = sorted(cand.glob(pattern))
            if found:
                return found
    if not path.exists():
        raise DataError(
            f"{str(path)!r} does not exist; fetch the data with "
            f"`prefroute data download {source}`"
        )
    raise DataError(
        f"no {pattern} files found in {str(path)!r} or {str(path / folder)!r}; fetch "
        f"them with `prefroute data download {source} --data-dir {path}`"
    )


def _resolve(path_or_dir: Path | str | None) -> Path:
    if path_or_dir is None:
        return root_dir(None)
    return Path(path_or_dir).expanduser()


def _router_prompt(raw: str) -> str:
    # RouterBench stores each prompt as the repr of a list of strings (one per turn).
    if raw.startswith("[") and raw.endswith("]"):
        try:
            value = literal(raw, "", "")
        except DataError:
            return raw
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "\n".join(value)
    return raw


def _maybe_canonical(values: dict[str, float], canonical: bool) -> dict[str, float]:
    return canonicalize_keys(values) if canonical else values


def load_routerbench(
    path_or_dir: Path | str | None = None, *, canonical: bool = False
) -> list[GoldenRecord]:
    """Load RouterBench zero-shot CSVs.

    Args:
        path_or_dir: A CSV file, a folder of ``*.csv``, or the data root (holding
            ``routerbench/``); None for the configured data directory.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        One record per row: ``scores`` 0/1 per model (models with an empty cell are
        left out of that row), ``costs`` USD per model, ``task`` = ``eval_name``,
        ``source`` = ``"routerbench/<file stem>"``.

    Raises:
        DataError: Missing files/columns or a malformed cell (names file and row).
    """
    out: list[GoldenRecord] = []
    for path in _files(_resolve(path_or_dir), "routerbench", "*.csv", "routerbench"):
        table = read_csv(path, required=("prompt",))
        models = [c for c in table.header if c not in _NON_MODEL and "|" not in c]
        if not models:
            raise DataError(f"{path}: no model correctness columns in {table.header}")
        score_cols = [(m, table.column(m)) for m in models]
        cost_cols = [
            (m, table.column(m + _COST_SUFFIX))
            for m in models
            if table.has(m + _COST_SUFFIX)
        ]
        ip = table.column("prompt")
        it = table.column("eval_name") if table.has("eval_name") else None
        source = f"routerbench/{path.stem}"
        for i, row in enumerate(table.rows):
            where = table.where(i)
            scores: dict[str, float] = {}
            for model, j in score_cols:
                cell = row[j].strip()
                if cell:
                    value = parse_float(cell, where, model)
                    if not 0.0 <= value <= 1.0:
                        raise DataError(
                            f"{where}: column {model!r}: expected a score in [0, 1], "
                            f"got {cell!r}"
                        )
                    scores[model] = value
            costs: dict[str, float] = {}
            for model, j in cost_cols:
                cell = row[j].strip()
                if cell:
                    costs[model] = parse_float(cell, where, model + _COST_SUFFIX)
            out.append(
                GoldenRecord(
                    prompt=_router_prompt(row[ip]),
                    scores=_maybe_canonical(scores, canonical),
                    source=source,
                    task=row[it] if it is not None else path.stem,
                    costs=_maybe_canonical(costs, canonical) if costs else None,
                )
            )
    return out


def _scores(value: Any, where: str) -> dict[str, float]:
    return _per_model(value, where, "scores", "score", high=1.0)


def _costs(value: Any, where: str) -> dict[str, float]:
    return _per_model(value, where, "costs", "cost", high=None)


def _per_model(
    value: Any, where: str, field: str, one: str, *, high: float | None
) -> dict[str, float]:
    """A non-empty ``{model: number}`` object, each number in [0, high]."""
    if not isinstance(value, dict) or not value:
        raise DataError(
            f"{where}: field {field!r}: expected a non-empty object model -> number, "
            f"got {value!r:.80}"
        )
    out: dict[str, float] = {}
    for model, raw in value.items():
        num = as_float(raw, where, f"{one} of {model!r}")
        if num < 0.0 or (high is not None and num > high):
            expected = ">= 0" if high is None else f"[0, {high:g}]"
            raise DataError(
                f"{where}: {one} of {model!r}: expected {expected}, got {raw!r}"
            )
        out[str(model)] = num
    return out


def _question_records(
    path: Path, task_of: Mapping[str, str] | None, source: str, canonical: bool
) -> Iterable[GoldenRecord]:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of records, got {type(data).__name__}"
        )
    for i, raw in enumerate(data):
        where = f"{path} (record {i})"
        obj = as_dict(raw, where)
        question = as_str(obj, "question", where)
        if "scores" not in obj:
            raise DataError(f"{where}: missing field 'scores'")
        task = path.stem if task_of is None else task_of.get(question, "")
        yield GoldenRecord(
            prompt=question,
            scores=_maybe_canonical(_scores(obj["scores"], where), canonical),
            source=source,
            task=task,
        )


def load_routerdc(
    path_or_dir: Path | str | None = None, *, canonical: bool = False
) -> list[GoldenRecord]:
    """Load RouterDC ``{question, scores}`` JSON files.

    Args:
        path_or_dir: A JSON file, a folder of them, or the data root (holding
            ``routerdc-7model/``); None for the configured data directory.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        Records with ``task`` = file stem (e.g. ``"mbpp"``), ``source`` =
        ``"routerdc/<stem>"``.

    Raises:
        DataError: Missing files or malformed records (names file and record).
    """
    out: list[GoldenRecord] = []
    for path in _files(_resolve(path_or_dir), "routerdc-7model", "*.json", "routerdc"):
        out.extend(_question_records(path, None, f"routerdc/{path.stem}", canonical))
    return out


def _llmrouter_tasks(base: Path) -> dict[str, str]:
    tasks: dict[str, str] = {}
    folder = base / "query_data"
    if not folder.is_dir():
        return tasks
    for path in sorted(folder.glob("*.jsonl")):
        for n, obj in read_jsonl(path):
            where = f"{path}:{n}"
            tasks.setdefault(
                as_str(obj, "query", where), as_str(obj, "task_name", where)
            )
    return tasks


def load_llmrouter(
    data_dir: Path | str | None = None,
    *,
    split: str = "all",
    canonical: bool = False,
) -> list[GoldenRecord]:
    """Load ulab LLMRouter's ``dcrouter_preprocessed`` golden labels.

    Args:
        data_dir: The data root (holding ``ulab-llmrouter/``), the
            ``ulab-llmrouter`` folder, or one ``dcrouter_preprocessed`` JSON file;
            None for the configured data directory.
        split: "train", "test" or "all" (ignored when a file is given).
        canonical: Rename models with `canonical_model_name`.

    Returns:
        Records with ``task`` from ``query_data/*.jsonl`` (matched by exact query
        text; "" when unmatched), ``source`` = ``"llmrouter/<split>"``.

    Raises:
        DataError: Unknown split, missing files or malformed records.
    """
    if split not in ("train", "test", "all"):
        raise DataError(f"split must be 'train', 'test' or 'all', got {split!r}")
    path = _resolve(data_dir)
    if path.is_file():
        base = path.parent.parent
        files = [path]
    else:
        base = path / "ulab-llmrouter" if (path / "ulab-llmrouter").is_dir() else path
        names = ("train", "test") if split == "all" else (split,)
        files = [base / "dcrouter_preprocessed" / f"{n}.json" for n in names]
        for f in files:
            if not f.is_file():
                raise DataError(
                    f"{str(f)!r} does not exist; fetch it with "
                    f"`prefroute data download llmrouter --data-dir {path}`"
                )
    tasks = _llmrouter_tasks(base)
    out: list[GoldenRecord] = []
    for f in files:
        out.extend(_question_records(f, tasks, f"llmrouter/{f.stem}", canonical))
    return out


def load_llmrouter_prices(
    data_dir: Path | str | None = None, *, canonical: bool = False
) -> dict[str, dict[str, float]]:
    """LLMRouter's listed prices (``ulab-llmrouter/default_llm.json``).

    Args:
        data_dir: The data root, the ``ulab-llmrouter`` folder or the JSON file;
            None for the configured data directory.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        Model -> ``{"input_per_mtok": USD, "output_per_mtok": USD}`` (the keys of
        `prefroute.routers.policy.ModelPrice.from_mapping`).

    Raises:
        DataError: Missing file or a model without numeric prices.
    """
    path = _resolve(data_dir)
    if path.is_dir():
        base = path / "ulab-llmrouter" if (path / "ulab-llmrouter").is_dir() else path
        path = base / "default_llm.json"
    if not path.is_file():
        raise DataError(
            f"{str(path)!r} does not exist; fetch it with "
            "`prefroute data download llmrouter`"
        )
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object of models")
    out: dict[str, dict[str, float]] = {}
    for model, spec in raw.items():
        where = f"{path}: model {model!r}"
        if not isinstance(spec, dict):
            raise DataError(f"{where}: expected an object")
        prices: dict[str, float] = {}
        for key, name in (
            ("input_price", "input_per_mtok"),
            ("output_price", "output_per_mtok"),
        ):
            value = spec.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DataError(f"{where}: {key!r} must be a number, got {value!r}")
            prices[name] = float(value)
        out[canonical_model_name(model) if canonical else str(model)] = prices
    return out


def load_routeprofile(
    data_dir: Path | str | None = None, *, canonical: bool = False
) -> list[GoldenRecord]:
    """Load ulab RouteProfile's ``routing_test_data.json``.

    Args:
        data_dir: The data root (holding ``ulab-routeprofile/``), that folder, or
            the JSON file itself; None for the configured data directory.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        One record per query: ``scores`` = each model's ``task_performance``,
        ``task`` = ``task_name``, ``source`` = ``"routeprofile"``.

    Raises:
        DataError: Missing file or malformed record (names file and record).
    """
    path = _resolve(data_dir)
    if not path.is_file():
        base = (
            path / "ulab-routeprofile"
            if (path / "ulab-routeprofile").is_dir()
            else path
        )
        path = base / "route_data" / "routing_test_data.json"
        if not path.is_file():
            raise DataError(
                f"{str(path)!r} does not exist; fetch it with `prefroute data "
                f"download routeprofile --data-dir {_resolve(data_dir)}`"
            )
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of records, got {type(data).__name__}"
        )
    out: list[GoldenRecord] = []
    for i, raw in enumerate(data):
        where = f"{path} (record {i})"
        obj = as_dict(raw, where)
        query = as_str(obj, "query", where)
        task = obj.get("task_name", "")
        if "model_performance" not in obj:
            raise DataError(f"{where}: missing field 'model_performance'")
        perf = obj["model_performance"]
        if isinstance(perf, str):
            perf = literal(perf, where, "field 'model_performance'")
        if not isinstance(perf, dict) or not perf:
            raise DataError(
                f"{where}: field 'model_performance': expected a non-empty mapping "
                f"model -> result, got {type(perf).__name__}"
            )
        scores: dict[str, float] = {}
        for model, result in perf.items():
            if not isinstance(result, dict) or "task_performance" not in result:
                raise DataError(
                    f"{where}: model_performance[{model!r}]: expected a mapping with "
                    "'task_performance'"
                )
            value = as_float(
                result["task_performance"], where, f"task_performance of {model!r}"
            )
            if not 0.0 <= value <= 1.0:
                raise DataError(
                    f"{where}: task_performance of {model!r}: expected [0, 1], "
                    f"got {value!r}"
                )
            scores[str(model)] = value
        out.append(
            GoldenRecord(
                prompt=query,
                scores=_maybe_canonical(scores, canonical),
                source="routeprofile",
                task=task if isinstance(task, str) else str(task),
            )
        )
    return out


def load_golden_file(
    path: Path | str, *, canonical: bool = False
) -> list[GoldenRecord]:
    """Load a user's own golden labels: per-model quality (and cost) per prompt.

    A ``.json`` list or ``.jsonl`` lines of objects with ``prompt`` (or
    ``question``), ``scores`` ``{model: quality in [0, 1]}``, and optionally
    ``costs`` ``{model: USD for this prompt}`` and ``task``.

    Args:
        path: The file.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        Records with ``source`` = ``"file/<stem>"`` and ``task`` as given (else the
        file stem).

    Raises:
        DataError: Missing file, wrong suffix or malformed records (names the record).
    """
    path = Path(path).expanduser()
    if path.suffix not in (".json", ".jsonl"):
        raise DataError(f"{str(path)!r}: golden labels must be a .json or .jsonl file")
    if not path.is_file():
        raise DataError(f"golden-label file {str(path)!r} does not exist")
    out: list[GoldenRecord] = []
    for _, where, obj in read_records(path):
        prompt = as_str(obj, "prompt" if "prompt" in obj else "question", where)
        if "scores" not in obj:
            raise DataError(f"{where}: missing field 'scores'")
        costs = None
        if obj.get("costs") is not None:
            costs = _maybe_canonical(_costs(obj["costs"], where), canonical)
        task = obj.get("task")
        out.append(
            GoldenRecord(
                prompt=prompt,
                scores=_maybe_canonical(_scores(obj["scores"], where), canonical),
                source=f"file/{path.stem}",
                task=task if isinstance(task, str) and task else path.stem,
                costs=costs,
            )
        )
    return out


# --- gemini-benchmark ----------------------------------------------------------------

_GEMINI_DIR = "gemini-benchmark"
#: gemini-benchmark's model folders -> the model they hold (the repository's README:
#: its HumanEval / ODEX runs call gpt-4-1106-preview "gpt-4-turbo"; "mixtral" is
#: Mixtral-8x7B-Instruct-v0.1). Other folders keep their names.
GEMINI_BENCHMARK_MODELS: Mapping[str, str] = {
    "gpt-4-turbo": "gpt-4-1106-preview",
    "mixtral": "mixtral-8x7b-instruct-v0.1",
}


def _gemini_outputs(path: Path) -> Path:
    for cand in (path / _GEMINI_DIR / "outputs", path / "outputs", path):
        if cand.is_dir() and any(cand.glob("*/*/output.jsonl")):
            return cand
    raise DataError(
        f"no <task>/<model>/output.jsonl files under {str(path)!r}; fetch them with "
        "`prefroute data download gemini-benchmark`"
    )


def _gemini_row(obj: dict[str, object], where: str) -> tuple[str, str, float]:
    """(key that lines the row up across models, prompt, score) of one row."""
    if "is_correct" in obj:  # math word problems: one question per qid
        qid = obj.get("qid")
        if isinstance(qid, bool) or not isinstance(qid, int | str):
            raise DataError(f"{where}: field 'qid': expected an id, got {qid!r}")
        correct = obj["is_correct"]
        score = (
            parse_bool(correct, where, "is_correct")
            if isinstance(correct, str)
            else as_float(correct, where, "field 'is_correct'")
        )
        return str(qid), as_str(obj, "question", where), score
    if "scores" in obj:  # code: the prompt (signature + docstring) is the task
        scores = obj["scores"]
        if not isinstance(scores, dict) or "pass@1" not in scores:
            raise DataError(f"{where}: field 'scores': expected {{'pass@1': 0..1}}")
        prompt = as_str(obj, "prompt", where)
        return prompt, prompt, as_float(scores["pass@1"], where, "pass@1")
    raise DataError(
        f"{where}: expected 'is_correct' (math) or 'scores' (code); fields are "
        f"{sorted(obj)}"
    )


def load_gemini_benchmark(
    path_or_dir: Path | str | None = None,
    *,
    tasks: Collection[str] | None = None,
    canonical: bool = False,
) -> list[GoldenRecord]:
    """Load gemini-benchmark's per-question results as golden labels.

    Rows are lined up across a task's models by ``qid`` (math) or by prompt text
    (code; ODEX repeats a few prompts, which are lined up in order of occurrence).

    Args:
        path_or_dir: The data root (holding ``gemini-benchmark/``), that folder, or
            its ``outputs`` folder; None for the configured data directory.
        tasks: Keep only these task folders (e.g. ``{"svamp", "HumanEval"}``).
        canonical: Rename models with `canonical_model_name` (after
            `GEMINI_BENCHMARK_MODELS`).

    Returns:
        One record per question: ``scores`` 0/1 (``is_correct``) or pass@1 per
        model, ``task`` = the task folder (``svamp``, ``mawpsmultiarith``,
        ``HumanEval``, ``ODEX``), ``source`` = ``"gemini-benchmark/<task>"``. Math
        prompts are the bare question (the 8-shot chain-of-thought preamble the
        models saw is left out); code prompts are the function stub and docstring.

    Raises:
        DataError: Missing files, a malformed row, or two models giving one id
            different questions (names file and line).
    """
    outputs = _gemini_outputs(_resolve(path_or_dir))
    out: list[GoldenRecord] = []
    for task_dir in sorted(p for p in outputs.iterdir() if p.is_dir()):
        if tasks is not None and task_dir.name not in tasks:
            continue
        prompts: dict[str, str] = {}
        scores: dict[str, dict[str, float]] = defaultdict(dict)
        for file in sorted(task_dir.glob("*/output.jsonl")):
            model = GEMINI_BENCHMARK_MODELS.get(file.parent.name, file.parent.name)
            if canonical:
                model = canonical_model_name(model)
            seen: dict[str, int] = defaultdict(int)
            for lineno, obj in read_jsonl(file):
                where = f"{file}:{lineno}"
                key, prompt, score = _gemini_row(obj, where)
                seen[key] += 1
                key = f"{key}#{seen[key]}"
                if not 0.0 <= score <= 1.0:
                    raise DataError(f"{where}: score {score!r} outside [0, 1]")
                if prompts.setdefault(key, prompt) != prompt:
                    raise DataError(
                        f"{where}: id {key.rsplit('#', 1)[0]!r} holds a different "
                        "question than in the task's other model files"
                    )
                scores[key][model] = score
        for key, prompt in prompts.items():
            out.append(
                GoldenRecord(
                    prompt=prompt,
                    scores=scores[key],
                    source=f"gemini-benchmark/{task_dir.name}",
                    task=task_dir.name,
                )
            )
    return out


# --- ZeroEval CRUXEval ---------------------------------------------------------------

_CRUX_DIR = "zeroeval-crux"
_CRUX_TABLE = "crux_correctness_51models.csv"
_CRUX_VALIDATION = "crux_validation.csv"
_CRUX_QUESTIONS = "crux_questions.jsonl"


def _crux_derived(path: Path) -> Path:
    for cand in (path / _CRUX_DIR / "derived", path / "derived", path):
        if (cand / _CRUX_TABLE).is_file():
            return cand
    raise DataError(
        f"{_CRUX_TABLE} not found under {str(path)!r}: the CRUXEval correctness table "
        "is scored from ZeroEval's model outputs and ships with the reference data "
        "folder (zeroeval-crux/derived/); `prefroute data download zeroeval-crux` "
        "fetches the outputs it was scored from"
    )


def crux_valid_models(
    path_or_dir: Path | str | None = None, *, max_gap: float = 1.0
) -> list[str]:
    """Models whose derived CRUXEval accuracy is within `max_gap` points of the
    published one (``crux_validation.csv``; models without a published figure are
    left out).

    Args:
        path_or_dir: As `load_crux` takes.
        max_gap: Largest accepted difference, in accuracy points (0-100).

    Returns:
        Model names, in file order.

    Raises:
        DataError: Missing file or a malformed row.
    """
    path = _crux_derived(_resolve(path_or_dir)) / _CRUX_VALIDATION
    table = read_csv(path, required=("model", "diff"))
    im, idiff = table.column("model"), table.column("diff")
    keep: list[str] = []
    for i, row in enumerate(table.rows):
        cell = row[idiff].strip()
        if cell in ("", "None"):
            continue
        if abs(parse_float(cell, table.where(i), "diff")) <= max_gap:
            keep.append(row[im])
    return keep


def load_crux(
    path_or_dir: Path | str | None = None,
    *,
    max_gap: float | None = 1.0,
    canonical: bool = False,
) -> list[GoldenRecord]:
    """Load ZeroEval's CRUXEval correctness table as golden labels.

    Args:
        path_or_dir: The data root (holding ``zeroeval-crux/``), that folder, or
            its ``derived`` folder; None for the configured data directory.
        max_gap: Keep only models whose derived accuracy is within this many
            points of ZeroEval's published one (`crux_valid_models`; the default
            keeps 26 of 51, dropping the Claude family, o1-mini and others whose
            outputs the string match under-scores). None keeps every model.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        One record per problem (800): ``scores`` 0/1 per kept model, ``task`` =
        ``"crux"``, ``source`` = ``"zeroeval-crux"``; prompts from
        ``crux_questions.jsonl``.

    Raises:
        DataError: Missing files, a malformed cell or an id without a question.
    """
    derived = _crux_derived(_resolve(path_or_dir))
    keep = None if max_gap is None else set(crux_valid_models(derived, max_gap=max_gap))
    questions: dict[str, str] = {}
    qpath = derived / _CRUX_QUESTIONS
    for lineno, obj in read_jsonl(qpath):
        where = f"{qpath}:{lineno}"
        questions[as_str(obj, "id", where)] = as_str(obj, "question", where)
    table = read_csv(derived / _CRUX_TABLE, required=("id", "model", "correct"))
    iid, imodel, icorrect = (table.column(c) for c in ("id", "model", "correct"))
    scores: dict[str, dict[str, float]] = {q: {} for q in questions}
    for i, row in enumerate(table.rows):
        if keep is not None and row[imodel] not in keep:
            continue
        where = table.where(i)
        if row[iid] not in scores:
            raise DataError(f"{where}: id {row[iid]!r} is not in {_CRUX_QUESTIONS}")
        model = canonical_model_name(row[imodel]) if canonical else row[imodel]
        scores[row[iid]][model] = parse_bool(row[icorrect], where, "correct")
    return [
        GoldenRecord(prompt=questions[q], scores=s, source="zeroeval-crux", task="crux")
        for q, s in scores.items()
        if s
    ]
