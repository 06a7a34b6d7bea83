"""N-model evaluation and training on a user's own golden-label file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.data.golden import load_golden_file
from prefroute.errors import DataError
from prefroute.routers import load_router

COSTS = {"big": 0.01, "mid": 0.002, "small": 0.0005}


def _logs(tmp_path: Path, n: int = 150) -> Path:
    """Hard prompts (long) need the big model; easy ones do not."""
    rnd = random.Random(0)
    path = tmp_path / "logs.jsonl"
    with path.open("w") as fh:
        for i in range(n):
            hard = i % 3 == 0
            prompt = f"item {i}: " + (
                "derive and prove the closed form " * (4 if hard else 1)
            )
            scores = {
                "big": float(rnd.random() < (0.95 if hard else 0.97)),
                "mid": float(rnd.random() < (0.4 if hard else 0.95)),
                "small": float(rnd.random() < (0.1 if hard else 0.9)),
            }
            task = "hard" if hard else "easy"
            fh.write(
                json.dumps(
                    {"prompt": prompt, "scores": scores, "costs": COSTS, "task": task}
                )
                + "\n"
            )
    return path


def test_file_records_carry_scores_costs_and_task(tmp_path: Path) -> None:
    records = load_golden_file(_logs(tmp_path, 6))
    assert len(records) == 6 and records[0].costs == COSTS
    assert records[0].task == "hard" and records[1].task == "easy"
    assert set(records[0].scores) == set(COSTS)
    assert records[0].source == "file/logs"


def test_json_list_with_question_key_and_no_costs(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"question": "q", "scores": {"a": 1, "b": 0}}]))
    (record,) = load_golden_file(path)
    assert record.prompt == "q" and record.costs is None and record.task == "mine"


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"prompt": "q", "scores": {"a": 2}}, r"expected \[0, 1\]"),
        ({"prompt": "q", "scores": {"a": 1}, "costs": {"a": -1}}, "expected >= 0"),
        ({"prompt": "q", "scores": {"a": 1}, "costs": [1]}, "field .costs."),
        ({"prompt": "q"}, "missing field 'scores'"),
    ],
)
def test_bad_records_name_the_line(
    tmp_path: Path, row: dict[str, object], match: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=match):
        load_golden_file(path)


def test_eval_multi_on_a_file_beats_the_random_mix(tmp_path: Path) -> None:
    path = _logs(tmp_path)
    out = tmp_path / "r.json"
    args = ["eval-multi", "-b", str(path), "--folds", "3", "--embedder", "hashing:64"]
    result = CliRunner().invoke(
        build_app(), [*args, "--epochs", "150", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["benchmark"] == "logs" and report["n_prompts"] == 150
    methods = report["methods"]
    assert methods["router"]["aiq"] > methods["random-mix"]["aiq"]
    # strict JSON: a cost that is never reached is null, not Infinity
    assert "Infinity" not in out.read_text() and "NaN" not in out.read_text()


def test_train_multi_on_a_file_needs_no_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFROUTE_DATA_DIR", str(tmp_path / "absent"))
    path = _logs(tmp_path)
    args = ["train-multi", "--golden", str(path), "--out", str(tmp_path / "mm")]
    args += ["--embedder", "hashing:64", "--epochs", "100"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    router = load_router(tmp_path / "mm")
    assert router.score_models(["item 1: hello"], ["big", "mid", "small"]).shape == (
        1,
        3,
    )


def test_eval_multi_prices_a_file_without_costs(tmp_path: Path) -> None:
    # The same logs without costs, priced by a --prices file: the costs come from
    # it (USD), and a file with its own costs ignores --prices with a warning.
    with_costs = _logs(tmp_path, 60)
    bare = tmp_path / "bare.jsonl"
    bare.write_text(
        "".join(
            json.dumps({k: v for k, v in json.loads(line).items() if k != "costs"})
            + "\n"
            for line in with_costs.read_text().splitlines()
        )
    )
    prices = tmp_path / "prices.yaml"
    prices.write_text("big: 0.01\nmid: 0.002\nsmall: {per_query: 0.0005}\n")
    common = ["--prices", str(prices), "--folds", "2", "--embedder", "hashing:64"]
    common += ["--epochs", "50"]
    out = tmp_path / "bare.json"
    result = CliRunner().invoke(
        build_app(), ["eval-multi", "-b", str(bare), *common, "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["cost_source"] == "prices" and report["cost_unit"] == "USD"
    assert report["single"]["big"]["cost"] == pytest.approx(0.01)
    assert report["settings"]["prices"] == str(prices)
    out2 = tmp_path / "own.json"
    result = CliRunner().invoke(
        build_app(), ["eval-multi", "-b", str(with_costs), *common, "--json", str(out2)]
    )
    assert result.exit_code == 0, result.output
    assert "--prices is not used" in result.output
    own = json.loads(out2.read_text())
    assert own["cost_source"] == "measured" and own["settings"]["prices"] is None
