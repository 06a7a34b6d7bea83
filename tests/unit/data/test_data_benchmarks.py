"""Benchmark loaders on the real RouteLLM eval files and on malformed copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prefroute.data.benchmarks import (
    DEFAULT_PAIR,
    available_models,
    benchmark_dir,
    load_benchmark,
    load_eval_prompts,
)
from prefroute.errors import DataError
from prefroute.types import BenchmarkSet, ModelPair

STRONG, WEAK = DEFAULT_PAIR.strong, DEFAULT_PAIR.weak


@pytest.fixture(scope="session")
def mmlu(data_dir: Path) -> BenchmarkSet:
    return load_benchmark("mmlu", data_dir)


def test_mmlu_known_figures(mmlu: BenchmarkSet) -> None:
    assert len(mmlu) == 14037
    assert round(float(mmlu.strong_quality.mean()), 4) == 0.8059
    assert round(float(mmlu.weak_quality.mean()), 4) == 0.6809
    assert mmlu.pair == DEFAULT_PAIR


def test_mmlu_drops_contaminated_prompts(mmlu: BenchmarkSet, data_dir: Path) -> None:
    path = data_dir / "routellm-evals" / "mmlu" / "contaminated_prompts.jsonl"
    bad = {json.loads(line)["eval_prompt"] for line in path.read_text().splitlines()}
    assert not bad & set(mmlu.prompts)


def test_mmlu_ids_name_subject_and_row(mmlu: BenchmarkSet) -> None:
    assert len(mmlu.ids) == len(mmlu.prompts)
    assert mmlu.ids[0] == "abstract_algebra:0"
    assert {i.split(":")[0] for i in mmlu.ids} >= {"anatomy", "world_religions"}


def test_mmlu_qualities_are_binary(mmlu: BenchmarkSet) -> None:
    assert set(np.unique(mmlu.strong_quality)) <= {0.0, 1.0}
    assert mmlu.strong_quality.shape == (len(mmlu),)


def test_mt_bench_known_figures(data_dir: Path) -> None:
    bench = load_benchmark("mt-bench", data_dir)
    assert len(bench) == 72
    assert round(float(bench.strong_quality.mean()), 3) == 9.212
    assert round(float(bench.weak_quality.mean()), 3) == 8.281


def test_mt_bench_ids_carry_category(data_dir: Path) -> None:
    bench = load_benchmark("mt_bench", data_dir)
    qid, category = bench.ids[0].split(":")
    assert int(qid) > 80
    assert category == "writing"
    cats = {i.split(":")[1] for i in bench.ids}
    assert {"math", "coding", "reasoning", "roleplay"} <= cats


def test_mt_bench_routes_on_first_turn(data_dir: Path) -> None:
    bench = load_benchmark("mt-bench", data_dir)
    path = data_dir / "routellm-evals" / "mt_bench" / "question.jsonl"
    first = {json.loads(line)["turns"][0] for line in path.read_text().splitlines()}
    assert set(bench.prompts) <= first


def test_gsm8k_sample_decontaminated(data_dir: Path) -> None:
    bench = load_benchmark("gsm8k", data_dir)
    folder = data_dir / "routellm-evals" / "gsm8k"
    if (folder / "gsm8k_responses.csv").exists():
        assert len(bench) == 1307
    else:
        assert len(bench) == 21  # 25 sample rows, 4 contaminated
    assert not any(p.startswith("Janet") for p in bench.prompts)


def test_benchmark_accepts_routellm_evals_folder(data_dir: Path) -> None:
    bench = load_benchmark("mt-bench", data_dir / "routellm-evals")
    assert len(bench) == 72


def test_benchmark_accepts_benchmark_folder(data_dir: Path) -> None:
    bench = load_benchmark("gsm8k", data_dir / "routellm-evals" / "gsm8k")
    assert len(bench) > 0


def test_swapped_pair_swaps_qualities(data_dir: Path) -> None:
    bench = load_benchmark("gsm8k", data_dir, pair=ModelPair(strong=WEAK, weak=STRONG))
    ref = load_benchmark("gsm8k", data_dir)
    np.testing.assert_array_equal(bench.strong_quality, ref.weak_quality)


def test_unknown_model_lists_available(data_dir: Path) -> None:
    with pytest.raises(DataError, match="available models") as info:
        load_benchmark("mt-bench", data_dir, pair=ModelPair("gpt-5", WEAK))
    assert STRONG in str(info.value)


def test_unknown_benchmark_rejected(data_dir: Path) -> None:
    with pytest.raises(DataError, match="unknown benchmark"):
        load_benchmark("hellaswag", data_dir)


def test_available_models_lists_pair(data_dir: Path) -> None:
    for name in ("mmlu", "mt-bench", "gsm8k"):
        assert set(available_models(name, data_dir)) == {STRONG, WEAK}


def test_eval_prompts_cover_all_benchmarks(data_dir: Path) -> None:
    prompts = set(load_eval_prompts(data_dir))
    assert len(prompts) >= 14042 + 25
    assert (
        "Rewrite your previous response. Start every sentence with the letter A."
        in (prompts)
    )
    assert any(p.startswith("Janet") for p in prompts)


def test_missing_benchmark_says_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prefroute data download routellm-evals"):
        load_benchmark("mmlu", tmp_path)


def test_missing_gsm8k_file_says_how_to_download(tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "contaminated_prompts.jsonl").write_text("")
    with pytest.raises(DataError, match="prefroute data download"):
        load_benchmark("gsm8k", tmp_path)


# --- malformed copies ------------------------------------------------------------


def _gsm8k_dir(tmp_path: Path, csv_text: str) -> Path:
    folder = tmp_path / "routellm-evals" / "gsm8k"
    folder.mkdir(parents=True)
    (folder / "contaminated_prompts.jsonl").write_text(
        json.dumps({"eval_prompt": "dropped"}) + "\n"
    )
    (folder / "gsm8k_responses.csv").write_text(csv_text)
    return tmp_path


def test_full_gsm8k_file_preferred_over_sample(tmp_path: Path) -> None:
    root = _gsm8k_dir(
        tmp_path, f"prompt,{STRONG},{WEAK}\nq1,True,False\ndropped,True,True\n"
    )
    (root / "routellm-evals" / "gsm8k" / "gsm8k_responses_sample.csv").write_text(
        f"prompt,{STRONG},{WEAK}\nother,False,False\n"
    )
    bench = load_benchmark("gsm8k", root)
    assert list(bench.prompts) == ["q1"]
    assert bench.strong_quality.tolist() == [1.0]
    assert bench.weak_quality.tolist() == [0.0]


def test_bad_boolean_names_file_and_row(tmp_path: Path) -> None:
    root = _gsm8k_dir(
        tmp_path, f"prompt,{STRONG},{WEAK}\nq1,True,False\nq2,maybe,True\n"
    )
    with pytest.raises(DataError, match=r"gsm8k_responses\.csv:3 \(row 2\).*'maybe'"):
        load_benchmark("gsm8k", root)


def test_short_row_names_file_and_row(tmp_path: Path) -> None:
    root = _gsm8k_dir(tmp_path, f"prompt,{STRONG},{WEAK}\nq1,True\n")
    with pytest.raises(DataError, match=r"gsm8k_responses\.csv:2.*expected 3 fields"):
        load_benchmark("gsm8k", root)


def test_missing_prompt_column(tmp_path: Path) -> None:
    root = _gsm8k_dir(tmp_path, f"question,{STRONG},{WEAK}\nq1,True,False\n")
    with pytest.raises(DataError, match="missing column 'prompt'"):
        load_benchmark("gsm8k", root)


def test_bad_contamination_json(tmp_path: Path) -> None:
    root = _gsm8k_dir(tmp_path, f"prompt,{STRONG},{WEAK}\nq1,True,False\n")
    path = root / "routellm-evals" / "gsm8k" / "contaminated_prompts.jsonl"
    path.write_text('{"eval_prompt": "x"}\n{not json\n')
    with pytest.raises(DataError, match=r"contaminated_prompts\.jsonl:2: invalid JSON"):
        load_benchmark("gsm8k", root)


def _mt_copy(tmp_path: Path, data_dir: Path) -> Path:
    src = data_dir / "routellm-evals" / "mt_bench"
    dst = tmp_path / "mt_bench"
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def test_mt_bench_failed_judgement_ignored(tmp_path: Path, data_dir: Path) -> None:
    dst = _mt_copy(tmp_path, data_dir)
    ref = load_benchmark("mt-bench", dst)
    with (dst / "judgements.jsonl").open("a") as handle:
        row = {"question_id": int(ref.ids[0].split(":")[0]), "model": STRONG}
        handle.write(json.dumps({**row, "turn": 1, "score": -1}) + "\n")
    again = load_benchmark("mt-bench", dst)
    np.testing.assert_array_equal(again.strong_quality, ref.strong_quality)


def test_mt_bench_string_score_rejected(tmp_path: Path, data_dir: Path) -> None:
    dst = _mt_copy(tmp_path, data_dir)
    with (dst / "judgements.jsonl").open("a") as handle:
        handle.write(
            json.dumps({"question_id": 81, "model": STRONG, "score": "9"}) + "\n"
        )
    with pytest.raises(DataError, match=r"judgements\.jsonl:321: field 'score'"):
        load_benchmark("mt-bench", dst)


def test_mt_bench_missing_judgement_named(tmp_path: Path, data_dir: Path) -> None:
    dst = _mt_copy(tmp_path, data_dir)
    lines = (dst / "judgements.jsonl").read_text().splitlines()
    kept = [
        line
        for line in lines
        if not (
            json.loads(line)["question_id"] == 82 and json.loads(line)["model"] == WEAK
        )
    ]
    (dst / "judgements.jsonl").write_text("\n".join(kept) + "\n")
    with pytest.raises(DataError, match="question_id 82"):
        load_benchmark("mt-bench", dst)


def test_mt_bench_bad_turns_named(tmp_path: Path, data_dir: Path) -> None:
    dst = _mt_copy(tmp_path, data_dir)
    with (dst / "question.jsonl").open("a") as handle:
        handle.write(
            json.dumps({"question_id": 999, "category": "x", "turns": "hi"}) + "\n"
        )
    with pytest.raises(DataError, match=r"question\.jsonl:81: field 'turns'"):
        load_benchmark("mt-bench", dst)


def test_benchmark_dir_resolves_root(data_dir: Path) -> None:
    assert benchmark_dir("mmlu", data_dir) == data_dir / "routellm-evals" / "mmlu"
