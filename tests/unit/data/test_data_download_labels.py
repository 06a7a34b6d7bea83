"""Download registry entries and `prefroute data check` figures of the newer label
sources (EloBench, gemini-benchmark, ZeroEval-CRUX)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _label_sources import write_crux, write_elobench_raw, write_gemini_benchmark
from prefroute.cli import build_app
from prefroute.data.download import DERIVED_SHA256, SOURCES, file_status

NEW = {"elobench": 6, "gemini-benchmark": 16, "zeroeval-crux": 11}


def test_registry_lists_every_upstream_file_with_a_checksum() -> None:
    for name, n_files in NEW.items():
        files = SOURCES[name].files
        assert len(files) == n_files
        assert all(f.sha256 is not None and len(f.sha256) == 64 for f in files)
        assert all(f.path.startswith(name + "/") for f in files)
    urls = [f.url for f in SOURCES["elobench"].files]
    assert all("/v-xchen-v/EloBench/" in u and "/results/" in u for u in urls)


def test_derived_files_are_listed_apart_from_upstream_ones() -> None:
    upstream = {f.path for s in SOURCES.values() for f in s.files}
    derived = {p for p in DERIVED_SHA256 if p.split("/")[0] in NEW}
    assert derived == {
        "elobench/elobench_gpt4judge_battles.csv",
        "zeroeval-crux/derived/crux_correctness_51models.csv",
        "zeroeval-crux/derived/crux_questions.jsonl",
        "zeroeval-crux/derived/crux_validation.csv",
    }
    assert not derived & upstream


def test_cli_check_loads_small_copies(tmp_path: Path) -> None:
    write_elobench_raw(tmp_path)
    write_gemini_benchmark(tmp_path)
    write_crux(tmp_path)
    result = CliRunner().invoke(
        build_app(),
        ["data", "check", "--data-dir", str(tmp_path)],
        env={"COLUMNS": "400"},  # one line per dataset
    )
    assert result.exit_code == 0, result.output
    assert "5 rows, 5 questions, 4 models, 3 judged, 2 ambiguous" in result.output
    assert "vs gpt-35-turbo 2: won 1, tie 0, lost 0, unjudged 1" in result.output
    assert "svamp 3 GPT-4 0.667 / Mixtral 0.333" in result.output
    assert "3 problems, 4 models scored, 2 validated" in result.output
    # not the reference figures: each row says so and names them
    assert result.output.count("ok (differs)") == 3
    assert "(reference: 800 problems / 51 models" in result.output


def test_cli_check_counts_gsm8k_train_and_rejects_a_bad_row(tmp_path: Path) -> None:
    folder = tmp_path / "gsm8k-train"
    folder.mkdir()
    rows = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(3)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["data", "check", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(build_app(), args, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "3 questions (reference: 7,473)" in result.output
    (folder / "train.jsonl").write_text('{"question": "q"}\n')
    result = CliRunner().invoke(build_app(), args, env={"COLUMNS": "400"})
    assert result.exit_code == 1
    assert "answer" in result.output


@pytest.mark.data
def test_registry_checksums_match_the_reference_copies(data_dir: Path) -> None:
    for name in NEW:
        states = {file_status(data_dir, f, verify=True) for f in SOURCES[name].files}
        assert states == {"ok"}, name


@pytest.mark.data
def test_cli_check_prints_the_reference_figures(data_dir: Path) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["data", "check", "--data-dir", str(data_dir), "--sha"],
        env={"COLUMNS": "400"},  # one line per dataset
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "45,502 rows, 10,599 questions, 23 models" in out
    assert "6 ambiguous; gpt-4-turbo in 7,588 battles" in out
    assert "vs gpt-35-turbo 886: won 681, tie 176, lost 24, unjudged 5" in out
    assert "raw join 45,520 (16,112 + 13,515 + 15,893), 18 removed" in out
    assert "ODEX 439 (372 questions)" in out
    assert "800 problems, 51 models scored, 26 validated" in out
    assert "108,665 rows of 135 annotation files; 107,796 battles" in out
    assert "arc_challenge_train 1,039, mbpp_train 299, winograde_train 887" in out
    assert "(train 5,400, test 355)" in out
    assert "455 golden records (8 models), 7,570 pairs" in out
    assert "7,473 questions" in out
    assert "(differs)" not in out and "reference:" not in out
    assert "svamp 1,000 GPT-4 0.926 / Mixtral 0.750" in out
    assert "mawpsmultiarith 600 GPT-4 0.987 / Mixtral 0.922" in out
    assert "HumanEval 164 GPT-4 0.787 / Mixtral 0.445" in out
    assert "both right 340, only GPT-4 256, only Mixtral 18, both wrong 186" in out
    assert "0 mismatch" in out
