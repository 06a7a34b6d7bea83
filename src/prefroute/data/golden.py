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

Model names are kept as written in each source unless ``canonical=True``, which
maps them with `prefroute.data.models.canonical_model_name` (so RouterBench's
``mistralai/mixtral-8x7b-chat`` becomes ``mistralai/Mixtral-8x7B-Instruct-v0.1``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prefroute.data._io import (
    as_dict,
    as_float,
    as_str,
    literal,
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
    "canonical_model_name",
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
