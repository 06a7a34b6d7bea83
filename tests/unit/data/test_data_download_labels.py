"""Download registry entries and `prefroute data check` figures of the newer label
sources (EloBench, gemini-benchmark, ZeroEval-CRUX)."""

from __future__ import annotations

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
    assert "5 rows, 5 questions, 3 judged" in result.output
    assert "svamp 3 GPT-4 0.667 / Mixtral 0.333" in result.output
    assert "3 problems, 2 validated models" in result.output
    assert "ok (differs)" in result.output  # not the reference figures


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
    assert "45,502 rows, 10,599 questions" in out
    assert "svamp 1,000 GPT-4 0.926 / Mixtral 0.750" in out
    assert "mawpsmultiarith 600 GPT-4 0.987 / Mixtral 0.922" in out
    assert "HumanEval 164 GPT-4 0.787 / Mixtral 0.445" in out
    assert "both right 340, only GPT-4 256, only Mixtral 18, both wrong 186" in out
    assert "0 mismatch" in out
