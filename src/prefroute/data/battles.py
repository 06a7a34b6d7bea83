"""Pairwise battles (preference data) -> `Battle` records.

Formats:

- Chatbot Arena human-preference 55k (``lmsys/lmsys-arena-human-preference-55k``):
  CSV or parquet with ``id, model_a, model_b, prompt, response_a, response_b,
  winner_model_a, winner_model_b, winner_tie``; ``prompt`` is a JSON list of user
  turns. `load_arena_55k`.
- Chatbot Arena conversations 33k (``lmsys/chatbot_arena_conversations``; the
  100k/140k releases share the fields used here): JSON list, JSONL or parquet with
  ``model_a, model_b, winner, conversation_a`` where ``winner`` is ``model_a``,
  ``model_b``, ``tie`` or ``tie (bothbad)`` and ``conversation_a`` a list of
  ``{role, content}``. `load_arena_33k`.
- AlpacaEval annotations (``results/<model>/<annotator>/annotations.json``, or the
  compact ``preferences_compact_all_present.jsonl`` + ``instructions_805.json``).
  ``preference`` is in [1, 2] (2 = ``output_2`` preferred, 1.5 = tie); 0 is
  AlpacaEval's draw code. Model A is ``generator_1`` (the baseline), so the soft
  label is ``p_a = 2 - preference``. `load_alpaca_eval`.
- prefroute's own JSONL: one ``{"prompt", "model_a", "model_b", "winner",
  "source"?, "weight"?, "p_a"?}`` per line. `load_battles_jsonl`,
  `write_battles_jsonl`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from prefroute._unicode import json_line
from prefroute.data._io import (
    as_dict,
    as_float,
    as_str,
    read_csv,
    read_json,
    read_jsonl,
    read_parquet,
    root_dir,
)
from prefroute.data.models import canonical_model_name
from prefroute.errors import DataError
from prefroute.types import WINNERS, Battle, GoldenRecord, ModelPair, Winner

__all__ = [
    "Turn",
    "battles_from_golden",
    "load_alpaca_eval",
    "load_arena_33k",
    "load_arena_55k",
    "load_battles",
    "load_battles_jsonl",
    "load_routeprofile_pairs",
    "write_battles_jsonl",
]

Turn = Literal["first", "last"]

_ARENA_33K_WINNERS: dict[str, Winner] = {
    "model_a": "a",
    "model_b": "b",
    "tie": "tie",
    "tie (bothbad)": "tie_bothbad",
}
_55K_COLUMNS = ("model_a", "model_b", "prompt", "winner_model_a", "winner_model_b")
_ALPACA_DIR = "alpaca-eval"
_ALPACA_COMPACT = "preferences_compact_all_present.jsonl"
_ALPACA_INSTRUCTIONS = "instructions_805.json"
# Generator names that are no model: "example" is AlpacaEval's NullModel entry
# (results/NullModel), a constant answer that games the judge (805 battles, ranked
# first by Bradley-Terry).
_ALPACA_PLACEHOLDERS = frozenset({"example"})


def _expand(path: Path, suffixes: tuple[str, ...], source: str) -> list[Path]:
    """A file as is; a folder as its files with one of ``suffixes`` (sorted)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in suffixes)
        if not files:
            raise DataError(
                f"no {'/'.join(suffixes)} files in {str(path)!r} ({source} battles)"
            )
        return files
    if not path.exists():
        raise DataError(f"{str(path)!r} does not exist ({source} battles)")
    return [path]


def _check_turn(turn: str) -> None:
    if turn not in ("first", "last"):
        raise DataError(f"turn must be 'first' or 'last', got {turn!r}")


def _pick(turns: Sequence[str], turn: str) -> str:
    return turns[0] if turn == "first" else turns[-1]


# --- Chatbot Arena 55k ------------------------------------------------------------


def _flag(value: Any, where: str, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip() in ("0", "1", "0.0", "1.0"):
        return float(value) == 1.0
    raise DataError(f"{where}: column {column!r}: expected 0 or 1, got {value!r}")


def _json_turns(value: Any, where: str, column: str) -> list[str]:
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{where}: column {column!r}: expected a JSON list of turns ({exc.msg})"
            ) from exc
    if not isinstance(parsed, list) or not parsed:
        raise DataError(
            f"{where}: column {column!r}: expected a non-empty list of turns, got "
            f"{value!r:.80}"
        )
    # The 55k release has `null` turns where the conversation was cut; skip them.
    turns = [t for t in parsed if isinstance(t, str)]
    if not turns:
        raise DataError(f"{where}: column {column!r}: no text turn in {value!r:.80}")
    return turns


def _rows_55k(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if path.suffix == ".parquet":
        for i, row in enumerate(read_parquet(path)):
            yield f"{path} (row {i + 1})", row
        return
    table = read_csv(path, required=_55K_COLUMNS)
    for i, cells in enumerate(table.rows):
        yield table.where(i), dict(zip(table.header, cells, strict=True))


def load_arena_55k(
    path: Path | str, *, turn: Turn = "first", source: str = "arena_55k"
) -> list[Battle]:
    """Load the Chatbot Arena human-preference 55k battles.

    Args:
        path: ``train.csv``, a ``.parquet`` file (needs the ``parquet`` extra), or
            a folder of them.
        turn: Which user turn is the battle's prompt: "first" (the routing
            convention of the paper) or "last".
        source: Value for `Battle.source`.

    Returns:
        One battle per row; ``winner`` from the ``winner_*`` one-hot columns
        (``winner_tie`` -> "tie").

    Raises:
        DataError: Missing columns, a malformed prompt or a winner that is not
            exactly one of the three flags (message names file and row).
        MissingDependencyError: Parquet input without pyarrow.
    """
    _check_turn(turn)
    out: list[Battle] = []
    for file in _expand(Path(path), (".csv", ".parquet"), "Arena 55k"):
        out.extend(_load_55k_file(file, turn, source))
    return out


def _load_55k_file(path: Path, turn: str, source: str) -> list[Battle]:
    out: list[Battle] = []
    for where, row in _rows_55k(path):
        for col in _55K_COLUMNS:
            if col not in row:
                raise DataError(f"{where}: missing column {col!r}")
        flags = {
            "a": _flag(row["winner_model_a"], where, "winner_model_a"),
            "b": _flag(row["winner_model_b"], where, "winner_model_b"),
            "tie": _flag(row.get("winner_tie", 0), where, "winner_tie"),
        }
        chosen = [k for k, v in flags.items() if v]
        if len(chosen) != 1:
            raise DataError(
                f"{where}: expected exactly one of winner_model_a/winner_model_b/"
                f"winner_tie to be 1, got {flags}"
            )
        winner: Winner = "a" if chosen[0] == "a" else "b" if chosen[0] == "b" else "tie"
        out.append(
            Battle(
                prompt=_pick(_json_turns(row["prompt"], where, "prompt"), turn),
                model_a=_model(row["model_a"], where, "model_a"),
                model_b=_model(row["model_b"], where, "model_b"),
                winner=winner,
                source=source,
            )
        )
    return out


def _model(value: Any, where: str, column: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: {column!r}: expected a model name, got {value!r}")
    return value


# --- Chatbot Arena conversations 33k -----------------------------------------------


def _json_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Records of a JSON list, a JSONL file (any suffix) or a parquet file."""
    if path.suffix == ".parquet":
        for i, row in enumerate(read_parquet(path)):
            yield f"{path} (row {i + 1})", row
        return
    if not path.is_file():
        raise DataError(f"file {str(path)!r} does not exist")
    with path.open(encoding="utf-8") as handle:
        head = handle.read(64).lstrip()
    if head.startswith("["):
        data = read_json(path)
        for i, obj in enumerate(data):
            where = f"{path} (record {i})"
            yield where, as_dict(obj, where)
        return
    for lineno, obj in read_jsonl(path):
        yield f"{path}:{lineno}", obj


def _user_turns(conversation: Any, where: str, column: str) -> list[str]:
    if isinstance(conversation, str):
        try:
            conversation = json.loads(conversation)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: {column!r}: not JSON ({exc.msg})") from exc
    if not isinstance(conversation, list):
        raise DataError(
            f"{where}: {column!r}: expected a list of {{role, content}} messages, got "
            f"{type(conversation).__name__}"
        )
    turns: list[str] = []
    for k, message in enumerate(conversation):
        if not isinstance(message, dict) or "role" not in message:
            raise DataError(
                f"{where}: {column}[{k}]: expected a {{role, content}} object, got "
                f"{message!r:.80}"
            )
        if message["role"] == "user":
            content = message.get("content")
            if not isinstance(content, str):
                raise DataError(
                    f"{where}: {column}[{k}].content: expected a string, got "
                    f"{type(content).__name__}"
                )
            turns.append(content)
    if not turns:
        raise DataError(f"{where}: {column!r}: no user turn")
    return turns


def load_arena_33k(
    path: Path | str,
    *,
    turn: Turn = "first",
    language: str | None = None,
    source: str = "arena_33k",
) -> list[Battle]:
    """Load Chatbot Arena conversation battles (33k schema; also 100k/140k).

    Args:
        path: A JSON list, JSONL or parquet file (parquet needs the ``parquet``
            extra), or a folder of them.
        turn: "first" or "last" user turn as the prompt.
        language: Keep only rows whose ``language`` equals this (e.g. "English").
        source: Value for `Battle.source`.

    Returns:
        One battle per kept row.

    Raises:
        DataError: Missing fields, an unknown winner value or a malformed
            conversation (message names file and line/record).
        MissingDependencyError: Parquet input without pyarrow.
    """
    _check_turn(turn)
    out: list[Battle] = []
    files = _expand(Path(path), (".json", ".jsonl", ".parquet"), "Arena 33k")
    for where, obj in (rec for f in files for rec in _json_records(f)):
        if language is not None and obj.get("language") != language:
            continue
        raw_winner = as_str(obj, "winner", where)
        if raw_winner not in _ARENA_33K_WINNERS:
            raise DataError(
                f"{where}: field 'winner': expected one of "
                f"{list(_ARENA_33K_WINNERS)}, got {raw_winner!r}"
            )
        if "conversation_a" not in obj:
            raise DataError(f"{where}: missing field 'conversation_a'")
        turns = _user_turns(obj["conversation_a"], where, "conversation_a")
        out.append(
            Battle(
                prompt=_pick(turns, turn),
                model_a=_model(as_str(obj, "model_a", where), where, "model_a"),
                model_b=_model(as_str(obj, "model_b", where), where, "model_b"),
                winner=_ARENA_33K_WINNERS[raw_winner],
                source=source,
            )
        )
    return out


# --- AlpacaEval -------------------------------------------------------------------


def _preference_label(value: Any, where: str) -> tuple[Winner, float] | None:
    """Map an AlpacaEval preference to (winner, p_a); None for a missing one."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise DataError(
                f"{where}: field 'preference': expected a number in [1, 2] (or 0 for "
                f"a draw), got {value!r}"
            ) from None
    pref = as_float(value, where, "field 'preference'")
    if pref != pref:  # NaN: the judge gave no answer
        return None
    if pref == 0.0:  # AlpacaEval's draw code
        return "tie", 0.5
    if not 1.0 <= pref <= 2.0:
        raise DataError(
            f"{where}: field 'preference': expected a number in [1, 2] (or 0 for a "
            f"draw), got {value!r}"
        )
    p_a = 2.0 - pref
    winner: Winner = "a" if p_a > 0.5 else "b" if p_a < 0.5 else "tie"
    return winner, p_a


def _alpaca_base(data_dir: Path | str | None) -> Path:
    base = root_dir(data_dir) if data_dir is None else Path(data_dir).expanduser()
    if base.is_file():
        return base
    if (base / _ALPACA_DIR).is_dir():
        return base / _ALPACA_DIR
    if base.is_dir():
        return base
    raise DataError(
        f"AlpacaEval data {str(base)!r} does not exist; fetch it with "
        "`prefroute data download alpaca-eval`"
    )


def _alpaca_battle(
    obj: dict[str, Any],
    prompt: str,
    where: str,
    canonical: bool,
) -> Battle | None:
    model_a = as_str(obj, "generator_1", where)
    model_b = as_str(obj, "generator_2", where)
    if model_a in _ALPACA_PLACEHOLDERS or model_b in _ALPACA_PLACEHOLDERS:
        return None
    label = _preference_label(obj.get("preference"), where)
    if label is None:
        return None
    annotator = obj.get("annotator", "")
    if canonical:
        model_a, model_b = canonical_model_name(model_a), canonical_model_name(model_b)
    return Battle(
        prompt=prompt,
        model_a=model_a,
        model_b=model_b,
        winner=label[0],
        source=f"alpaca_eval/{annotator}" if annotator else "alpaca_eval",
        p_a=label[1],
    )


def _keep(
    obj: dict[str, Any],
    annotators: Collection[str] | None,
    models: Collection[str] | None,
) -> bool:
    if annotators is not None and obj.get("annotator") not in annotators:
        return False
    if models is None:
        return True
    names = {obj.get("generator_1"), obj.get("generator_2")}
    names |= {canonical_model_name(n) for n in names if isinstance(n, str)}
    return bool(names & set(models))


def _alpaca_compact(
    path: Path,
    annotators: Collection[str] | None,
    models: Collection[str] | None,
    canonical: bool,
) -> list[Battle]:
    instr_path = path.parent / _ALPACA_INSTRUCTIONS
    raw = read_json(instr_path)
    if not isinstance(raw, list):
        raise DataError(f"{instr_path}: expected a JSON list of {{idx, instruction}}")
    instructions: dict[int, str] = {}
    for i, item in enumerate(raw):
        where = f"{instr_path} (record {i})"
        obj = as_dict(item, where)
        idx = obj.get("idx", i)
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise DataError(f"{where}: field 'idx': expected an int, got {idx!r}")
        instructions[idx] = as_str(obj, "instruction", where)
    out: list[Battle] = []
    for lineno, obj in read_jsonl(path):
        if not _keep(obj, annotators, models):
            continue
        where = f"{path}:{lineno}"
        idx = obj.get("instruction_idx")
        if isinstance(idx, bool) or not isinstance(idx, int) or idx not in instructions:
            raise DataError(
                f"{where}: field 'instruction_idx': expected an index into "
                f"{instr_path.name} (0..{len(instructions) - 1}), got {idx!r}"
            )
        battle = _alpaca_battle(obj, instructions[idx], where, canonical)
        if battle is not None:
            out.append(battle)
    return out


def _alpaca_annotation_file(
    path: Path,
    annotators: Collection[str] | None,
    models: Collection[str] | None,
    canonical: bool,
) -> list[Battle]:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of annotations")
    out: list[Battle] = []
    for i, item in enumerate(data):
        where = f"{path} (record {i})"
        obj = as_dict(item, where)
        if not _keep(obj, annotators, models):
            continue
        battle = _alpaca_battle(
            obj, as_str(obj, "instruction", where), where, canonical
        )
        if battle is not None:
            out.append(battle)
    return out


def load_alpaca_eval(
    data_dir: Path | str | None = None,
    *,
    annotators: Collection[str] | None = None,
    models: Collection[str] | None = None,
    prefer: Literal["auto", "compact", "annotations"] = "auto",
    canonical: bool = False,
) -> list[Battle]:
    """Load AlpacaEval LLM-judge preferences as battles (A = ``generator_1``).

    Args:
        data_dir: The data root (holding ``alpaca-eval/``), the ``alpaca-eval``
            folder, the compact JSONL, or one ``annotations.json``; None for the
            configured data directory.
        annotators: Keep only these judges (e.g. ``{"alpaca_eval_gpt4"}``).
        models: Keep only battles in which at least one model is named here
            (source or canonical spelling).
        prefer: For a folder, "compact" reads the compact JSONL (all 135 files),
            "annotations" every ``results/*/*/annotations.json``, "auto" the
            compact file when present.
        canonical: Rename models with `canonical_model_name`.

    Returns:
        Battles with ``p_a = 2 - preference`` (soft label), ``winner`` its rounding
        (1.5 -> "tie"), ``source = "alpaca_eval/<annotator>"``. Rows without a
        preference (judge failures) are skipped, and so are rows of a placeholder
        generator that is no model (``example``, AlpacaEval's NullModel).

    Raises:
        DataError: Missing files, bad JSON, a missing field or a preference outside
            [1, 2] (message names file and line/record).
    """
    base = _alpaca_base(data_dir)
    if prefer not in ("auto", "compact", "annotations"):
        raise DataError(f"prefer must be auto/compact/annotations, got {prefer!r}")
    if base.is_file():
        if base.suffix == ".jsonl":
            return _alpaca_compact(base, annotators, models, canonical)
        return _alpaca_annotation_file(base, annotators, models, canonical)
    compact = base / _ALPACA_COMPACT
    if prefer == "compact" or (prefer == "auto" and compact.is_file()):
        if not compact.is_file():
            raise DataError(
                f"{str(compact)!r} does not exist; fetch it with "
                "`prefroute data download alpaca-eval`"
            )
        return _alpaca_compact(compact, annotators, models, canonical)
    files = sorted(base.glob("results/*/*/annotations.json"))
    if not files:
        raise DataError(
            f"no results/<model>/<annotator>/annotations.json under {str(base)!r}; "
            "fetch them with `prefroute data download alpaca-eval`"
        )
    out: list[Battle] = []
    for path in files:
        out.extend(_alpaca_annotation_file(path, annotators, models, canonical))
    return out


# --- RouteProfile pairwise data ------------------------------------------------------

_ROUTEPROFILE_VARIANTS = ("standard", "newllm")


def load_routeprofile_pairs(
    data_dir: Path | str | None = None,
    *,
    variant: Literal["all", "standard", "newllm"] = "all",
) -> list[Battle]:
    """Load ulab RouteProfile ``pairwise_training_data_*.json`` as battles.

    Each pair says which of two models answered a query better. To avoid a
    position bias, even-indexed pairs put the better model in A (winner "a") and
    odd-indexed ones in B (winner "b").

    Args:
        data_dir: The data root (holding ``ulab-routeprofile/``), that folder, or
            one pairwise JSON file; None for the configured data directory.
        variant: "standard", "newllm" or "all" (ignored when a file is given).

    Returns:
        Battles with ``source = "routeprofile/<variant>"``.

    Raises:
        DataError: Unknown variant, missing file or malformed record.
    """
    if variant not in ("all", *_ROUTEPROFILE_VARIANTS):
        raise DataError(f"variant must be all/standard/newllm, got {variant!r}")
    base = root_dir(data_dir) if data_dir is None else Path(data_dir).expanduser()
    if base.is_file():
        files = [base]
    else:
        if (base / "ulab-routeprofile").is_dir():
            base = base / "ulab-routeprofile"
        names = _ROUTEPROFILE_VARIANTS if variant == "all" else (variant,)
        files = [
            base / "route_data" / f"pairwise_training_data_{n}.json" for n in names
        ]
        for f in files:
            if not f.is_file():
                raise DataError(
                    f"{str(f)!r} does not exist; fetch it with "
                    "`prefroute data download routeprofile`"
                )
    out: list[Battle] = []
    for path in files:
        data = read_json(path)
        pairs = data.get("pairwise_data") if isinstance(data, dict) else None
        if not isinstance(pairs, list):
            raise DataError(f"{path}: expected an object with a 'pairwise_data' list")
        tag = path.stem.removeprefix("pairwise_training_data_")
        for i, item in enumerate(pairs):
            where = f"{path} (pairwise_data[{i}])"
            obj = as_dict(item, where)
            query = as_str(obj, "query", where)
            better = _model(as_str(obj, "better_model", where), where, "better_model")
            worse = _model(as_str(obj, "worse_model", where), where, "worse_model")
            if i % 2 == 0:
                out.append(
                    Battle(query, better, worse, "a", source=f"routeprofile/{tag}")
                )
            else:
                out.append(
                    Battle(query, worse, better, "b", source=f"routeprofile/{tag}")
                )
    return out


# --- golden labels -> battles ------------------------------------------------------


def _find_model(scores: Mapping[str, float], model: str) -> float | None:
    if model in scores:
        return scores[model]
    wanted = canonical_model_name(model)
    for name, value in scores.items():
        if canonical_model_name(name) == wanted:
            return value
    return None


def battles_from_golden(
    records: Iterable[GoldenRecord], pair: ModelPair, *, source: str | None = None
) -> list[Battle]:
    """Turn golden labels into strong-vs-weak battles (RouteLLM's golden-label data).

    Model A is ``pair.strong``, B ``pair.weak`` (names matched directly or via
    `canonical_model_name`). With 0/1 scores: only strong correct -> "a", only weak
    correct -> "b", both correct -> "tie", both wrong -> "tie_bothbad". The soft
    label is ``p_a = (1 + s_strong - s_weak) / 2``, so graded scores in [0, 1] keep
    their margin; the hard winner follows its sign (equal scores: "tie" when
    >= 0.5, else "tie_bothbad").

    Args:
        records: Golden records (any source).
        pair: The strong and weak model.
        source: `Battle.source`; default the record's own source.

    Returns:
        One battle per record scoring both models; others are skipped.
    """
    out: list[Battle] = []
    for rec in records:
        strong = _find_model(rec.scores, pair.strong)
        weak = _find_model(rec.scores, pair.weak)
        if strong is None or weak is None:
            continue
        winner: Winner
        if strong > weak:
            winner = "a"
        elif strong < weak:
            winner = "b"
        else:
            winner = "tie" if strong >= 0.5 else "tie_bothbad"
        out.append(
            Battle(
                prompt=rec.prompt,
                model_a=pair.strong,
                model_b=pair.weak,
                winner=winner,
                source=rec.source if source is None else source,
                p_a=(1.0 + strong - weak) / 2.0,
            )
        )
    return out


# --- prefroute JSONL ---------------------------------------------------------------


def _battle_from_obj(obj: dict[str, Any], where: str) -> Battle:
    winner = as_str(obj, "winner", where)
    if winner not in WINNERS:
        raise DataError(
            f"{where}: field 'winner': expected one of {list(WINNERS)}, got {winner!r}"
        )
    weight = obj.get("weight", 1.0)
    weight = as_float(weight, where, "field 'weight'")
    if weight < 0:
        raise DataError(f"{where}: field 'weight': expected >= 0, got {weight!r}")
    p_a = obj.get("p_a")
    if p_a is not None:
        p_a = as_float(p_a, where, "field 'p_a'")
        if not 0.0 <= p_a <= 1.0:
            raise DataError(f"{where}: field 'p_a': expected [0, 1], got {p_a!r}")
    source = obj.get("source", "")
    if not isinstance(source, str):
        raise DataError(f"{where}: field 'source': expected a string, got {source!r}")
    return Battle(
        prompt=as_str(obj, "prompt", where),
        model_a=as_str(obj, "model_a", where),
        model_b=as_str(obj, "model_b", where),
        winner=winner,
        source=source,
        weight=weight,
        p_a=p_a,
    )


def load_battles_jsonl(path: Path | str, *, canonical: bool = False) -> list[Battle]:
    """Load battles written by `write_battles_jsonl` (or by hand in that schema).

    Args:
        path: A JSONL file, one battle object per line.
        canonical: Map model names to `canonical_model_name`, so the file's models
            join the same models of other sources (golden labels, AlpacaEval); a
            battle whose two names become one model is dropped.

    Returns:
        The battles.

    Raises:
        DataError: Bad JSON, a missing field, a wrong type or an unknown winner
            (message names file and line).
    """
    path = Path(path)
    battles = [_battle_from_obj(obj, f"{path}:{n}") for n, obj in read_jsonl(path)]
    if canonical:
        renamed = (
            dataclasses.replace(
                b,
                model_a=canonical_model_name(b.model_a),
                model_b=canonical_model_name(b.model_b),
            )
            for b in battles
        )
        # Two aliases of one model fighting each other say nothing: dropped.
        battles = [b for b in renamed if b.model_a != b.model_b]
    return battles


def write_battles_jsonl(path: Path | str, battles: Iterable[Battle]) -> int:
    """Write battles as JSONL (``p_a`` only when set). Parent folders are created.

    Args:
        path: Output file (overwritten).
        battles: Battles to write.

    Returns:
        Number of battles written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as handle:
        for b in battles:
            obj: dict[str, Any] = {
                "prompt": b.prompt,
                "model_a": b.model_a,
                "model_b": b.model_b,
                "winner": b.winner,
                "source": b.source,
                "weight": b.weight,
            }
            if b.p_a is not None:
                obj["p_a"] = b.p_a
            handle.write(json_line(obj) + "\n")
            n += 1
    return n


def load_battles(path: Path | str, *, turn: Turn = "first") -> list[Battle]:
    """Load battles from a file, detecting its format from its fields.

    Recognises prefroute JSONL, Arena 55k (CSV/parquet), Arena 33k
    (JSON/JSONL/parquet) and AlpacaEval (compact JSONL or ``annotations.json``).

    Args:
        path: The file.
        turn: Prompt turn for the Arena formats.

    Returns:
        The battles.

    Raises:
        DataError: Unknown format or malformed content.
    """
    path = Path(path)
    if path.suffix == ".csv":
        return load_arena_55k(path, turn=turn)
    first: dict[str, Any] | None = None
    for _, obj in _json_records(path):
        first = obj
        break
    if first is None:
        return []
    keys = set(first)
    if "winner_model_a" in keys:
        return load_arena_55k(path, turn=turn)
    if "conversation_a" in keys:
        return load_arena_33k(path, turn=turn)
    if "generator_1" in keys:
        return load_alpaca_eval(path)
    if {"prompt", "model_a", "model_b", "winner"} <= keys:
        return load_battles_jsonl(path)
    raise DataError(f"{path}: unrecognised battle format (fields {sorted(keys)})")
