"""Golden-label loaders on the real files and on malformed ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefroute.data.golden import (
    load_llmrouter,
    load_routeprofile,
    load_routerbench,
    load_routerdc,
)
from prefroute.data.models import canonical_model_name
from prefroute.errors import DataError

MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


def test_routerbench_counts_and_tasks(data_dir: Path) -> None:
    records = load_routerbench(data_dir)
    assert len(records) == 1039 + 299 + 887
    assert {r.task for r in records} == {"arc-challenge", "mbpp", "winogrande"}


def test_routerbench_scores_and_costs(data_dir: Path) -> None:
    rec = load_routerbench(data_dir / "routerbench" / "mbpp_train.csv")[0]
    assert rec.prompt.startswith("Write a function to remove all elements")
    assert not rec.prompt.startswith("[")
    assert rec.scores["gpt-4-1106-preview"] == 1.0
    assert rec.scores["mistralai/mixtral-8x7b-chat"] == 0.0
    assert rec.costs is not None
    assert rec.costs["gpt-4-1106-preview"] == pytest.approx(0.0064)
    assert len(rec.scores) == 11
    assert rec.source == "routerbench/mbpp_train"


def test_routerbench_empty_cell_leaves_model_out(data_dir: Path) -> None:
    records = load_routerbench(data_dir / "routerbench" / "arc_challenge_train.csv")
    missing = [r for r in records if "mistralai/mixtral-8x7b-chat" not in r.scores]
    assert len(missing) == 8


def test_routerbench_canonical_names_give_paper_pair(data_dir: Path) -> None:
    rec = load_routerbench(data_dir / "routerbench" / "mbpp_train.csv", canonical=True)[
        0
    ]
    assert MIXTRAL in rec.scores
    assert rec.costs is not None and MIXTRAL in rec.costs


def test_routerbench_bad_score_names_row(tmp_path: Path) -> None:
    path = tmp_path / "x_train.csv"
    path.write_text("prompt,eval_name,m1,m1|total_cost\np,t,1.0,0.1\nq,t,yes,0.1\n")
    with pytest.raises(DataError, match=r"x_train\.csv:3 \(row 2\): column 'm1'"):
        load_routerbench(path)


def test_routerbench_score_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "x_train.csv"
    path.write_text("prompt,eval_name,m1\np,t,2\n")
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load_routerbench(path)


def test_routerdc_counts(data_dir: Path) -> None:
    records = load_routerdc(data_dir)
    assert len(records) == 13068
    mbpp = [r for r in records if r.task == "mbpp"]
    assert len(mbpp) == 500
    assert len(mbpp[0].scores) == 7
    assert all(0.0 <= v <= 1.0 for r in mbpp for v in r.scores.values())


def test_routerdc_missing_scores_names_record(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps([{"question": "q", "scores": {"m": 1}}, {"question": "r"}])
    )
    with pytest.raises(
        DataError, match=r"t\.json \(record 1\): missing field 'scores'"
    ):
        load_routerdc(path)


def test_routerdc_bad_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[\n{"question": "q",\n "scores": }\n]')
    with pytest.raises(DataError, match=r"t\.json:3: invalid JSON"):
        load_routerdc(path)


def test_routerdc_non_numeric_score(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"question": "q", "scores": {"m": "high"}}]))
    with pytest.raises(DataError, match="score of 'm'"):
        load_routerdc(path)


def test_llmrouter_counts_and_tasks(data_dir: Path) -> None:
    records = load_llmrouter(data_dir)
    assert len(records) == 5400 + 355
    assert sum(1 for r in records if not r.task) == 0
    assert {"math", "mbpp", "gpqa", "human_eval"} <= {r.task for r in records}
    assert len(records[0].scores) == 9


def test_llmrouter_split(data_dir: Path) -> None:
    assert len(load_llmrouter(data_dir, split="test")) == 355
    with pytest.raises(DataError, match="split"):
        load_llmrouter(data_dir, split="dev")


def test_llmrouter_missing_file_says_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prefroute data download llmrouter"):
        load_llmrouter(tmp_path)


def test_routeprofile_counts(data_dir: Path) -> None:
    records = load_routeprofile(data_dir)
    assert len(records) == 455
    assert "mixtral-8x7b-instruct-v0.1" in records[0].scores
    assert len(records[0].scores) == 8
    assert {r.task for r in records} >= {"mbpp", "commongen", "mmlu"}


def test_routeprofile_parses_literal_string(tmp_path: Path) -> None:
    perf = "{'m1': {'task_performance': 1.0}, 'm2': {'task_performance': 0.25}}"
    path = tmp_path / "routing_test_data.json"
    path.write_text(
        json.dumps([{"task_name": "t", "query": "q", "model_performance": perf}])
    )
    (rec,) = load_routeprofile(path)
    assert dict(rec.scores) == {"m1": 1.0, "m2": 0.25}


def test_routeprofile_never_evaluates_code(tmp_path: Path) -> None:
    perf = "__import__('os').getcwd()"
    path = tmp_path / "routing_test_data.json"
    path.write_text(
        json.dumps([{"task_name": "t", "query": "q", "model_performance": perf}])
    )
    with pytest.raises(DataError, match=r"record 0.*not a valid Python literal"):
        load_routeprofile(path)


def test_routeprofile_missing_task_performance(tmp_path: Path) -> None:
    path = tmp_path / "routing_test_data.json"
    row = {"query": "q", "model_performance": {"m1": {"response": "x"}}}
    path.write_text(json.dumps([row]))
    with pytest.raises(DataError, match="task_performance"):
        load_routeprofile(path)


@pytest.mark.parametrize(
    "alias",
    [
        "mistralai/mixtral-8x7b-chat",
        "mixtral-8x7b-instruct-v0.1",
        "Mixtral-8x7B-Instruct-v0.1_concise",
        MIXTRAL,
    ],
)
def test_canonical_model_name_recognises_mixtral(alias: str) -> None:
    assert canonical_model_name(alias) == MIXTRAL


def test_canonical_model_name_gpt4_turbo() -> None:
    assert canonical_model_name("gpt4_1106_preview") == "gpt-4-1106-preview"


def test_canonical_model_name_unknown_unchanged() -> None:
    assert canonical_model_name("some/Model-X") == "some/Model-X"
