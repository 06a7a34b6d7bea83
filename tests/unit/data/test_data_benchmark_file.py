"""`load_benchmark_file` and `prefroute eval -b FILE`: a user's own labeled prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.data.benchmarks import load_benchmark_file
from prefroute.errors import DataError
from prefroute.types import ModelPair

ROWS = [
    {"prompt": "easy one", "scores": {"big": 1, "small": 1, "mid": 1}},
    {"prompt": "hard one", "scores": {"big": 1, "small": 0, "mid": 0.5}},
    {"question": "harder", "scores": {"big": 0, "small": 0}},  # no "mid"
    {"prompt": "medium", "scores": {"big": 1, "small": 0.25, "mid": None}},
]
PAIR = ModelPair(strong="big", weak="small")


def _write(tmp_path: Path, suffix: str, rows: list[dict[str, object]] = ROWS) -> Path:
    path = tmp_path / f"mine{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_formats_give_prompts_and_both_qualities(
    tmp_path: Path, suffix: str
) -> None:
    bench = load_benchmark_file(_write(tmp_path, suffix), pair=PAIR)
    assert bench.name == "mine" and bench.pair == PAIR
    assert list(bench.prompts) == ["easy one", "hard one", "harder", "medium"]
    np.testing.assert_array_equal(bench.strong_quality, [1, 1, 0, 1])
    np.testing.assert_array_equal(bench.weak_quality, [1, 0, 0, 0.25])


def test_prompts_without_both_models_are_left_out(tmp_path: Path) -> None:
    bench = load_benchmark_file(
        _write(tmp_path, ".jsonl"), pair=ModelPair("big", "mid")
    )
    assert list(bench.prompts) == ["easy one", "hard one"]  # "mid" missing / null


def test_csv_with_two_models_takes_the_better_one_as_strong(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "prompt,small,big,big_response\n"
        "a,False,True,x\nb,True,True,y\nc,0,1,z\nd,,1,w\n"
    )
    bench = load_benchmark_file(path)
    assert bench.pair == ModelPair(strong="big", weak="small")
    assert list(bench.prompts) == ["a", "b", "c"]  # "d" has no "small" result
    np.testing.assert_array_equal(bench.weak_quality, [0, 1, 0])


@pytest.mark.parametrize(
    ("rows", "pair", "match"),
    [
        (ROWS, None, "name the strong and weak model"),
        (ROWS, ModelPair("big", "absent"), "no results for weak model 'absent'"),
        ([{"prompt": "x", "scores": {"big": "yes", "small": 0}}], PAIR, "number"),
        ([{"prompt": "x", "scores": [1, 0]}], PAIR, "'scores'"),
        ([{"text": "x", "scores": {"big": 1}}], PAIR, "missing field 'question'"),
        (
            [{"prompt": "only", "scores": {"big": 1, "small": 0}}],
            PAIR,
            "fewer than two",
        ),
    ],
)
def test_bad_files_name_the_problem(
    tmp_path: Path, rows: list[dict[str, object]], pair: ModelPair | None, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        load_benchmark_file(_write(tmp_path, ".jsonl", rows), pair=pair)


def test_unknown_suffix_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="must end in"):
        load_benchmark_file(tmp_path / "mine.txt", pair=PAIR)
    with pytest.raises(DataError, match="does not exist"):
        load_benchmark_file(tmp_path / "absent.jsonl", pair=PAIR)


def test_cli_eval_on_a_file(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": f"question {i} " + "long " * (i % 7),
            "scores": {"big": 1, "small": i % 2},
        }
        for i in range(40)
    ]
    path = _write(tmp_path, ".jsonl", rows)
    args = ["eval", "-b", str(path), "--routers", "random", "--strong", "big"]
    result = CliRunner().invoke(
        build_app(),
        [
            *args,
            "--weak",
            "small",
            "--bootstrap",
            "0",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["benchmark"] == "mine" and report["n_prompts"] == 40
    assert report["strong_model"] == "big" and report["weak_model"] == "small"
    assert 0.2 < report["routers"]["random"]["APGR"] < 0.8
