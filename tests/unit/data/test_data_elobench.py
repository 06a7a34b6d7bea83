"""EloBench loader: the raw join (fixture files), the joined CSV, and real figures."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _label_sources import (
    ARRANGED,
    ELO_SOURCE,
    write_elobench_joined,
    write_elobench_raw,
)
from prefroute.data.elobench import join_elobench_raw, load_elobench, read_elobench_rows
from prefroute.errors import DataError


def test_raw_join_gives_each_verdict_its_arranged_question(tmp_path: Path) -> None:
    folder = write_elobench_raw(tmp_path)
    rows = join_elobench_raw(folder, source="s")
    # the judge skipped one of arranged rows 2-4 (same two models): the join gives
    # each verdict the first free matching row, so row 4 is the one left out
    assert [r.arrangement_row for r in rows] == [0, 1, 2, 3, 5]
    assert [r.question for r in rows] == [ARRANGED[k][0] for k in (0, 1, 2, 3, 5)]
    assert rows[3].winner == "tie(all bad)"


def test_raw_join_marks_neighbours_of_a_skipped_row_ambiguous(tmp_path: Path) -> None:
    rows = join_elobench_raw(write_elobench_raw(tmp_path))
    # arranged row 4 was left out: the rows either side of it are uncertain
    assert [r.is_ambiguous for r in rows] == [False, False, False, True, True]


def test_raw_join_rejects_a_verdict_without_an_arranged_row(tmp_path: Path) -> None:
    folder = write_elobench_raw(tmp_path)
    with (folder / "battled_pairs.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow([5, "gemini", "llama-7b", "model_a"])
    with pytest.raises(DataError, match=r"battled_pairs\.csv:7 \(row 6\).*gemini"):
        join_elobench_raw(folder)


def test_load_maps_verdicts_and_skips_unjudged_and_ambiguous(tmp_path: Path) -> None:
    write_elobench_raw(tmp_path)
    battles = load_elobench(tmp_path)
    # the last verdict is "invalid"; the last two are ambiguous
    assert [b.winner for b in battles] == ["a", "tie", "b"]
    assert battles[0].source == f"elobench/{ELO_SOURCE}"
    kept = load_elobench(tmp_path, keep_ambiguous=True)
    assert [b.winner for b in kept] == ["a", "tie", "b", "tie_bothbad"]


def test_joined_csv_is_preferred_to_the_raw_files(tmp_path: Path) -> None:
    write_elobench_raw(tmp_path)
    write_elobench_joined(
        tmp_path, [["set_x", "3", "Only this", "m1", "m2", "model_b", "0"]]
    )
    (battle,) = load_elobench(tmp_path)
    assert (battle.prompt, battle.winner, battle.source) == (
        "Only this",
        "b",
        "elobench/set_x",
    )


def test_unknown_verdict_names_the_row(tmp_path: Path) -> None:
    write_elobench_joined(tmp_path, [["set_x", "41", "q", "m1", "m2", "draw", "0"]])
    with pytest.raises(DataError, match=r"set_x \(arrangement row 41\).*'draw'"):
        load_elobench(tmp_path)


def test_malformed_joined_row_names_file_and_row(tmp_path: Path) -> None:
    path = write_elobench_joined(
        tmp_path, [["set_x", "one", "q", "m1", "m2", "model_a", "0"]]
    )
    with pytest.raises(DataError, match=rf"{path.name}:2 \(row 1\)"):
        read_elobench_rows(path)


def test_canonical_names(tmp_path: Path) -> None:
    write_elobench_joined(
        tmp_path,
        [["s", "0", "q", "meta-llama/Llama-2-70b-chat-hf", "m2", "model_a", "0"]],
    )
    (battle,) = load_elobench(tmp_path, canonical=True)
    assert battle.model_a == "llama-2-70b-chat-hf"


def test_missing_folder_says_how_to_download(tmp_path: Path) -> None:
    (tmp_path / "elobench").mkdir()
    with pytest.raises(DataError, match="prefroute data download elobench"):
        load_elobench(tmp_path)


@pytest.mark.data
def test_real_figures_and_raw_join_match_the_reference_join(data_dir: Path) -> None:
    rows = read_elobench_rows(data_dir)
    assert (len(rows), len({r.question for r in rows})) == (45502, 10599)
    raw = read_elobench_rows(data_dir / "elobench" / "raw")
    joined = {(r.source, r.arrangement_row): r for r in rows}
    # the reference join dropped 18 evaluation items and is otherwise the raw join
    assert len(raw) == len(rows) + 18
    assert sum((r.source, r.arrangement_row) in joined for r in raw) == len(rows)
    assert all(joined.get((r.source, r.arrangement_row), r) == r for r in raw)
    battles = load_elobench(data_dir)
    assert len(battles) == 45502 - 237 - 168 - 6  # unjudged, invalid, ambiguous
    turbo = [b for b in battles if "gpt-4-turbo" in (b.model_a, b.model_b)]
    assert len(turbo) == 7588 - 31 - 9
