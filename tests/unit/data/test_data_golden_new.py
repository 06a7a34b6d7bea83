"""gemini-benchmark and ZeroEval-CRUX golden labels: fixture files and real figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _label_sources import HUMANEVAL, SVAMP, write_crux, write_gemini_benchmark
from prefroute.data.golden import crux_valid_models, load_crux, load_gemini_benchmark
from prefroute.errors import DataError

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


# --- gemini-benchmark ---------------------------------------------------------------


def test_gemini_rows_line_up_by_qid_across_models(tmp_path: Path) -> None:
    write_gemini_benchmark(tmp_path)
    records = load_gemini_benchmark(tmp_path, tasks={"svamp"})
    by_question = {r.prompt: r for r in records}
    assert len(records) == len(SVAMP)
    for _, question, gpt4, mixtral in SVAMP:
        rec = by_question[question]  # the bare question, no few-shot preamble
        assert dict(rec.scores) == {
            GPT4: gpt4,
            "mixtral-8x7b-instruct-v0.1": mixtral,
        }
        assert (rec.task, rec.source) == ("svamp", "gemini-benchmark/svamp")


def test_gemini_code_task_names_gpt4_turbo_as_the_1106_model(tmp_path: Path) -> None:
    write_gemini_benchmark(tmp_path)
    records = load_gemini_benchmark(tmp_path, tasks={"HumanEval"}, canonical=True)
    assert [r.prompt for r in records] == [row[0] for row in HUMANEVAL]
    assert [dict(r.scores) for r in records] == [
        {GPT4: row[1], MIXTRAL: row[2]} for row in HUMANEVAL
    ]


def test_gemini_accepts_the_outputs_folder(tmp_path: Path) -> None:
    outputs = write_gemini_benchmark(tmp_path)
    assert len(load_gemini_benchmark(outputs)) == len(SVAMP) + len(HUMANEVAL)


def test_gemini_question_mismatch_names_the_line(tmp_path: Path) -> None:
    outputs = write_gemini_benchmark(tmp_path)
    path = outputs / "svamp" / "mixtral" / "output.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["question"] = "Something else entirely?"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"mixtral/output\.jsonl:1: id '4'"):
        load_gemini_benchmark(tmp_path)


def test_gemini_row_without_a_result_is_rejected(tmp_path: Path) -> None:
    outputs = write_gemini_benchmark(tmp_path)
    path = outputs / "HumanEval" / "mixtral" / "output.jsonl"
    path.write_text(json.dumps({"prompt": "def f(): pass"}) + "\n")
    with pytest.raises(DataError, match=r"expected 'is_correct' \(math\) or 'scores'"):
        load_gemini_benchmark(tmp_path)


def test_gemini_missing_folder_says_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prefroute data download gemini-benchmark"):
        load_gemini_benchmark(tmp_path)


# --- CRUXEval ----------------------------------------------------------------------


def test_crux_keeps_models_within_a_point_of_the_published(tmp_path: Path) -> None:
    write_crux(tmp_path)
    # claude-3-haiku is 52.75 points off; the hyperbolic run has no published figure
    assert crux_valid_models(tmp_path) == ["gpt-4-0314", "Mixtral-8x7B-Instruct-v0.1"]
    records = load_crux(tmp_path)
    assert [dict(r.scores) for r in records] == [
        {"gpt-4-0314": 1.0, "Mixtral-8x7B-Instruct-v0.1": 1.0},
        {"gpt-4-0314": 1.0, "Mixtral-8x7B-Instruct-v0.1": 0.0},
        {"gpt-4-0314": 0.0, "Mixtral-8x7B-Instruct-v0.1": 0.0},
    ]
    assert records[1].prompt.endswith("return x + 1\n")
    assert (records[0].task, records[0].source) == ("crux", "zeroeval-crux")


def test_crux_without_the_filter_keeps_every_model(tmp_path: Path) -> None:
    write_crux(tmp_path)
    assert len(load_crux(tmp_path, max_gap=None)[0].scores) == 4
    (rec, *_) = load_crux(tmp_path, max_gap=60.0, canonical=True)
    assert set(rec.scores) == {"gpt-4-0314", MIXTRAL, "claude-3-haiku-20240307"}


def test_crux_unknown_problem_id_names_the_row(tmp_path: Path) -> None:
    folder = write_crux(tmp_path)
    with (folder / "crux_correctness_51models.csv").open("a") as handle:
        handle.write("crux-test-#99,gpt-4-0314,openai/gpt-4-0314,1,x\n")
    with pytest.raises(DataError, match=r":14 \(row 13\): id 'crux-test-#99'"):
        load_crux(tmp_path)


def test_crux_missing_table_says_where_it_comes_from(tmp_path: Path) -> None:
    (tmp_path / "zeroeval-crux" / "raw").mkdir(parents=True)
    with pytest.raises(DataError, match="reference data folder"):
        load_crux(tmp_path)


# --- real figures (the data README) --------------------------------------------------


@pytest.mark.data
def test_gemini_real_accuracies(data_dir: Path) -> None:
    records = load_gemini_benchmark(data_dir, canonical=True)
    expected = {
        "svamp": (1000, 0.926, 0.750),
        "mawpsmultiarith": (600, 0.987, 0.922),
        "HumanEval": (164, 0.787, 0.445),
        "ODEX": (439, 0.446, 0.358),
    }
    for task, (n, gpt4, mixtral) in expected.items():
        recs = [r for r in records if r.task == task]
        assert len(recs) == n
        assert round(float(np.mean([r.scores[GPT4] for r in recs])), 3) == gpt4
        assert round(float(np.mean([r.scores[MIXTRAL] for r in recs])), 3) == mixtral


@pytest.mark.data
def test_crux_real_pair_counts(data_dir: Path) -> None:
    records = load_crux(data_dir, canonical=True)
    assert len(records) == 800
    assert {len(r.scores) for r in records} == {26}
    cells = [(r.scores["gpt-4-0314"], r.scores[MIXTRAL]) for r in records]
    counts = [cells.count(c) for c in ((1, 1), (1, 0), (0, 1), (0, 0))]
    assert counts == [340, 256, 18, 186]
