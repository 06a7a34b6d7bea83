"""EloBench GPT-4-judged battles on real user questions -> `Battle` records.

EloBench (github v-xchen-v/EloBench, a fork of microsoft/EloBench) had GPT-4 judge
pairs of 23 chat models on questions from Google NQ, Quora, Alpaca, ShareGPT and
LMSYS-Chat-1M. Each result set ``results/<set>/`` holds two files:

- ``battle_arrangement.csv``: ``<index>, question, model_a, model_b``, the planned
  battles;
- ``battled_pairs.csv``: ``<index>, model_a, model_b, winner``, the judged ones, in
  the same order but without the question. ``winner`` is ``model_a``, ``model_b``,
  ``tie``, ``tie(all bad)``, ``invalid`` or empty (the judge failed).

The judged rows are a prefix of the arrangement, except that a set may skip a few
arranged rows. `join_elobench_raw` lines the two files up by their model sequence
(each judged row takes the next arranged row with the same two models, in that
order) and marks the judged rows on either side of a skipped arranged row as
ambiguous: a skipped row sits in a run of arranged rows with the same two models,
so which of them the judge skipped, and so which question a neighbouring verdict
belongs to, is not known.

The reference data folder also holds that join, ``elobench_gpt4judge_battles.csv``
(``source, arrangement_row, question, model_a, model_b, winner,
ambiguous_alignment``), with the 18 rows whose question is an MT Bench, MMLU-test
or GSM8K-test item removed. `load_elobench` reads the join when present and joins
the raw files otherwise (training decontaminates them either way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prefroute.data._io import CsvTable, read_csv, root_dir
from prefroute.data.models import canonical_model_name
from prefroute.errors import DataError
from prefroute.types import Battle, Winner

__all__ = [
    "ELOBENCH_JOINED",
    "EloBenchRow",
    "join_elobench_raw",
    "load_elobench",
    "read_elobench_rows",
]

_DIR = "elobench"
#: File name of the joined battles in the reference data folder.
ELOBENCH_JOINED = "elobench_gpt4judge_battles.csv"
_ARRANGEMENT = "battle_arrangement.csv"
_BATTLED = "battled_pairs.csv"
_WINNERS: dict[str, Winner] = {
    "model_a": "a",
    "model_b": "b",
    "tie": "tie",
    "tie(all bad)": "tie_bothbad",
}
#: Judge outcomes that carry no verdict.
_NO_VERDICT = frozenset({"", "invalid"})
# Short names of the published result sets (as in the reference join's `source`).
_SET_TAGS = {
    "google_quora_alpaca_sharegpt_chat1m_clean_20772_fullset": "rwq_fullset",
    "google_quora_alpaca_10629_test": "gqa10629_test",
    "google_quora_alpaca_sharegpt_chat1m_21962_test1_smallset": "rwq_smallset",
}
_JOINED_COLUMNS = (
    "source",
    "arrangement_row",
    "question",
    "model_a",
    "model_b",
    "winner",
    "ambiguous_alignment",
)


@dataclass(frozen=True, slots=True)
class EloBenchRow:
    """One judged EloBench battle with its question.

    Attributes:
        source: Result set and commit, e.g. ``"rwq_fullset_838218b"``.
        arrangement_row: Row of the set's ``battle_arrangement.csv`` (0-based).
        question: The user question.
        model_a: First model.
        model_b: Second model.
        winner: The judge's verdict as written (``model_a``, ``model_b``, ``tie``,
            ``tie(all bad)``, ``invalid`` or empty).
        is_ambiguous: The alignment could also give this verdict to a neighbouring
            question.
    """

    source: str
    arrangement_row: int
    question: str
    model_a: str
    model_b: str
    winner: str
    is_ambiguous: bool = False


def _base(data_dir: Path | str | None) -> Path:
    base = root_dir(data_dir) if data_dir is None else Path(data_dir).expanduser()
    if base.is_file():
        return base
    if (base / _DIR).is_dir():
        return base / _DIR
    if base.is_dir():
        return base
    raise DataError(
        f"EloBench data {str(base)!r} does not exist; fetch it with "
        "`prefroute data download elobench`"
    )


def _set_tag(set_dir: Path, commit: str) -> str:
    return f"{_SET_TAGS.get(set_dir.name, set_dir.name)}_{commit[:7]}"


def _raw_sets(base: Path) -> list[tuple[Path, str]]:
    """(result-set folder, commit) for every ``[raw/]<commit>/results/<set>/``."""
    found: list[tuple[Path, str]] = []
    pattern = f"*/results/*/{_ARRANGEMENT}"
    for arrangement in sorted([*base.glob("raw/" + pattern), *base.glob(pattern)]):
        set_dir = arrangement.parent
        found.append((set_dir, set_dir.parent.parent.name))
    return found


def _column_values(table: CsvTable, names: tuple[str, ...]) -> Iterator[list[str]]:
    idx = [table.column(n) for n in names]
    for row in table.rows:
        yield [row[i] for i in idx]


def join_elobench_raw(set_dir: Path | str, *, source: str = "") -> list[EloBenchRow]:
    """Join one result set's judged battles with their arranged questions.

    Args:
        set_dir: A folder holding ``battle_arrangement.csv`` and
            ``battled_pairs.csv``.
        source: `EloBenchRow.source` (default: the folder name).

    Returns:
        One row per judged battle, in file order.

    Raises:
        DataError: A missing file or column, or a judged battle whose two models
            match no later arranged row (names the row).
    """
    set_dir = Path(set_dir)
    arranged = read_csv(set_dir / _ARRANGEMENT, required=("question", "model_a"))
    battled = read_csv(set_dir / _BATTLED, required=("model_a", "model_b", "winner"))
    plan = list(_column_values(arranged, ("question", "model_a", "model_b")))
    judged = list(_column_values(battled, ("model_a", "model_b", "winner")))
    tag = source or set_dir.name
    matched: list[int] = []
    i = 0
    for j, (model_a, model_b, _) in enumerate(judged):
        while i < len(plan) and (plan[i][1], plan[i][2]) != (model_a, model_b):
            i += 1
        if i == len(plan):
            raise DataError(
                f"{battled.where(j)}: battle {model_a!r} vs {model_b!r} matches no "
                f"remaining row of {set_dir / _ARRANGEMENT}"
            )
        matched.append(i)
        i += 1
    # A skipped arranged row k (inside the judged range) leaves rows k-1 and k+1
    # uncertain: see the module docstring.
    skipped = set(range(matched[-1] + 1 if matched else 0)) - set(matched)
    unsure = {k - 1 for k in skipped} | {k + 1 for k in skipped}
    return [
        EloBenchRow(
            source=tag,
            arrangement_row=k,
            question=plan[k][0],
            model_a=model_a,
            model_b=model_b,
            winner=winner.strip(),
            is_ambiguous=k in unsure,
        )
        for k, (model_a, model_b, winner) in zip(matched, judged, strict=True)
    ]


def _read_joined(path: Path) -> list[EloBenchRow]:
    table = read_csv(path, required=_JOINED_COLUMNS)
    out: list[EloBenchRow] = []
    for i, cells in enumerate(_column_values(table, _JOINED_COLUMNS)):
        source, row, question, model_a, model_b, winner, unsure = cells
        if not row.strip().isdigit() or unsure.strip() not in ("0", "1"):
            raise DataError(
                f"{table.where(i)}: expected an integer 'arrangement_row' and 0/1 "
                f"'ambiguous_alignment', got {row!r} and {unsure!r}"
            )
        out.append(
            EloBenchRow(
                source=source,
                arrangement_row=int(row),
                question=question,
                model_a=model_a,
                model_b=model_b,
                winner=winner.strip(),
                is_ambiguous=unsure.strip() == "1",
            )
        )
    return out


def read_elobench_rows(data_dir: Path | str | None = None) -> list[EloBenchRow]:
    """Every judged EloBench row, verdict or not.

    Args:
        data_dir: The data root (holding ``elobench/``), the ``elobench`` folder,
            its ``raw`` folder, the joined CSV, or one result-set folder; None for
            the configured data directory.

    Returns:
        The joined CSV's rows when it is there, else the join of every
        ``raw/<commit>/results/<set>/`` folder (sets sorted by commit).

    Raises:
        DataError: No EloBench files, or malformed ones.
    """
    base = _base(data_dir)
    if base.is_file():
        return _read_joined(base)
    if (base / ELOBENCH_JOINED).is_file():
        return _read_joined(base / ELOBENCH_JOINED)
    if (base / _ARRANGEMENT).is_file():
        return join_elobench_raw(base)
    sets = _raw_sets(base)
    if not sets:
        raise DataError(
            f"no {ELOBENCH_JOINED} and no raw/<commit>/results/<set>/{_ARRANGEMENT} "
            f"under {str(base)!r}; fetch them with `prefroute data download elobench`"
        )
    out: list[EloBenchRow] = []
    for set_dir, commit in sets:
        out.extend(join_elobench_raw(set_dir, source=_set_tag(set_dir, commit)))
    return out


def load_elobench(
    data_dir: Path | str | None = None,
    *,
    canonical: bool = False,
    keep_ambiguous: bool = False,
) -> list[Battle]:
    """Load EloBench's GPT-4-judged battles (see the module docstring).

    Args:
        data_dir: As `read_elobench_rows` takes.
        canonical: Rename models with `canonical_model_name`.
        keep_ambiguous: Also keep the few battles whose question the raw files do
            not pin down.

    Returns:
        One battle per judged row with a verdict: ``model_a`` -> "a", ``model_b``
        -> "b", ``tie`` -> "tie", ``tie(all bad)`` -> "tie_bothbad"; ``source`` =
        ``"elobench/<set>"``. Rows the judge failed (``invalid`` or empty) are
        skipped.

    Raises:
        DataError: Missing files, malformed rows or an unknown verdict (names the
            row's set and arrangement row).
    """
    out: list[Battle] = []
    for row in read_elobench_rows(data_dir):
        if row.winner in _NO_VERDICT or (row.is_ambiguous and not keep_ambiguous):
            continue
        winner = _WINNERS.get(row.winner)
        if winner is None:
            raise DataError(
                f"EloBench {row.source} (arrangement row {row.arrangement_row}): "
                f"winner must be one of {[*_WINNERS, 'invalid', '']}, got "
                f"{row.winner!r}"
            )
        model_a, model_b = row.model_a, row.model_b
        if canonical:
            model_a, model_b = (
                canonical_model_name(model_a),
                canonical_model_name(model_b),
            )
        out.append(
            Battle(
                prompt=row.question,
                model_a=model_a,
                model_b=model_b,
                winner=winner,
                source=f"elobench/{row.source}",
            )
        )
    return out
