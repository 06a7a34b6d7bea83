"""Threshold calibration: share semantics, tie rule, prompt files, JSON round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prefroute.calibrate import (
    Calibration,
    calibrate_router,
    calibrate_threshold,
    default_prompts,
    load_calibrations,
    load_prompts,
    save_calibrations,
    strong_share_at,
)
from prefroute.cli import build_app
from prefroute.errors import ConfigError, DataError
from prefroute.routers.registry import load_router


@pytest.mark.parametrize("share", [0.05, 0.1, 0.3, 0.5, 0.77, 0.9, 1.0])
def test_threshold_sends_target_share_strong(share: float) -> None:
    scores = np.random.default_rng(0).random(1000)
    threshold = calibrate_threshold(scores, share)
    assert np.mean(scores >= threshold) == pytest.approx(share, abs=1e-3)


def test_share_zero_sends_nothing_strong() -> None:
    scores = np.array([0.1, 0.5, 0.9])
    threshold = calibrate_threshold(scores, 0.0)
    assert strong_share_at(scores, threshold) == 0.0
    assert threshold <= 1.0


def test_ties_at_threshold_all_go_strong() -> None:
    scores = np.array([0.2, 0.5, 0.5, 0.5, 0.9])
    threshold = calibrate_threshold(scores, 0.4)  # k = 2 -> second largest = 0.5
    assert threshold == 0.5
    assert strong_share_at(scores, threshold) == pytest.approx(0.8)


def test_small_positive_share_sends_at_least_one_strong() -> None:
    scores = np.array([0.1, 0.2, 0.3])
    assert calibrate_threshold(scores, 0.01) == 0.3


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_share_out_of_range_raises(share: float) -> None:
    with pytest.raises(ConfigError, match=r"strong_share must be in \[0, 1\]"):
        calibrate_threshold([0.5], share)


def test_no_scores_raises() -> None:
    with pytest.raises(ConfigError, match="0 scores"):
        calibrate_threshold([], 0.5)


def test_load_prompts_reads_json_jsonl_and_text(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(["x", {"instruction": "y"}]))
    (tmp_path / "b.jsonl").write_text('{"prompt": "x"}\n\n"y"\n')
    (tmp_path / "c.txt").write_text("x\n\ny\n")
    for name in ("a.json", "b.jsonl", "c.txt"):
        assert load_prompts(tmp_path / name) == ["x", "y"]


def test_load_prompts_rejects_objects_without_text(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"body": "x"}]))
    with pytest.raises(DataError, match="item 0"):
        load_prompts(path)


def test_load_prompts_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_prompts(tmp_path / "nope.txt")


def test_calibration_json_round_trip(tmp_path: Path, prompts: list[str]) -> None:
    calibration = calibrate_router(
        load_router("random"), prompts, name="random", source="fixture"
    )
    save_calibrations(tmp_path / "cal.json", [calibration])
    loaded = load_calibrations(tmp_path / "cal.json")["random"]
    assert loaded == calibration
    assert loaded.threshold_for(0.25) == calibrate_threshold(calibration.scores, 0.25)


def test_calibration_without_scores_uses_grid() -> None:
    calibration = Calibration("mf", 10, "x", thresholds={0.3: 0.42})
    assert calibration.threshold_for(0.3) == 0.42
    with pytest.raises(ConfigError, match="saved shares"):
        calibration.threshold_for(0.35)


def test_load_calibrations_rejects_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"calibrations": [{"router": "x"}]}))
    with pytest.raises(DataError, match="format_version"):
        load_calibrations(path)


@pytest.mark.data
def test_default_prompts_are_the_805_alpaca_instructions(data_dir: Path) -> None:
    texts = default_prompts(data_dir)
    assert len(texts) == 805
    assert all(isinstance(t, str) and t for t in texts)


@pytest.mark.data
def test_cli_calibrate_prints_threshold_on_default_prompts(data_dir: Path) -> None:
    result = CliRunner().invoke(
        build_app(),
        [
            "calibrate",
            "--router",
            "random",
            "--strong-share",
            "0.3",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["n_prompts"] == 805
    assert payload["realised_strong_share"] == pytest.approx(0.3, abs=0.002)
    assert payload["model"].startswith("router-random-")


def test_cli_calibrate_writes_file_for_prompt_file(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(f"prompt {i}" for i in range(50)))
    out = tmp_path / "cal.json"
    result = CliRunner().invoke(
        build_app(),
        [
            "calibrate",
            "-r",
            "random",
            "-s",
            "0.2",
            "--prompts",
            str(prompts),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "20.0% of 50 prompts" in result.stdout
    assert load_calibrations(out)["random"].n_prompts == 50
