"""`prefroute eval` and `prefroute score` end to end on the real benchmark data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from _fake_judge_llm import FakeLLM, chat_response
from prefroute.cli import build_app
from prefroute.data.benchmarks import load_benchmark
from prefroute.errors import DataError
from prefroute.routers.random import RandomRouter

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFROUTE_CACHE_DIR", str(tmp_path / "cache"))


def _ok(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(build_app(), list(args), input=stdin)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_eval_mt_bench_writes_json_and_png(data_dir: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "mt.json", tmp_path / "mt.png"
    stdout = _ok(
        "eval",
        "--benchmark",
        "mt-bench",
        "--routers",
        "random",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--plot",
        str(png),
        "--bootstrap",
        "200",
    )
    assert "APGR" in stdout and "random" in stdout
    # 7 of 72 questions go better on the weak model: the oracle beats the strong
    # model, and the caption says why its figures may exceed 1
    text = " ".join(stdout.split())
    assert "optimal: the oracle" in text and "its PGR peaks at 1.112" in text
    report = json.loads(out.read_text())
    assert report["optimal"]["PGR_max"] == pytest.approx(1.1119, abs=1e-4)
    assert report["benchmark"] == "mt-bench"
    assert report["n_prompts"] == 72
    assert report["strong_quality"] == pytest.approx(9.212, abs=1e-3)
    assert report["weak_quality"] == pytest.approx(8.281, abs=1e-3)
    assert report["strong_model"] == "gpt-4-1106-preview"
    entry = report["routers"]["random"]
    for key in (
        "APGR",
        "APGR_ci",
        "APGR_10bin",
        "CPT20",
        "CPT50",
        "CPT80",
        "CPT50_10bin",
        "curve",
        "curve_10bin",
    ):
        assert key in entry, key
    lo, hi = entry["APGR_ci"]
    assert lo <= entry["APGR"] <= hi
    # 72 questions: a random router's APGR is uncertain by several hundredths.
    assert hi - lo > 0.1
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_random_apgr_on_mmlu_is_one_half(data_dir: Path, tmp_path: Path) -> None:
    # One random draw on 14,037 prompts has APGR sd ~0.008 (seed 0: 0.485, inside
    # its interval); the mean over ten seeds is within 0.01 of 0.5.
    out = tmp_path / "mmlu.json"
    seeds = ",".join(f"random:seed={s}" for s in range(10))
    _ok(
        "eval",
        "-b",
        "mmlu",
        "-r",
        seeds,
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--bootstrap",
        "0",
    )
    report = json.loads(out.read_text())
    assert report["n_prompts"] == 14037
    assert report["strong_quality"] == pytest.approx(0.8059, abs=1e-4)
    apgrs = [r["APGR"] for r in report["routers"].values()]
    assert 0.49 <= float(np.mean(apgrs)) <= 0.51
    assert all(0.46 <= a <= 0.54 for a in apgrs)
    apgr_10 = [r["APGR_10bin"] for r in report["routers"].values()]
    assert 0.49 <= float(np.mean(apgr_10)) <= 0.51


def test_random_router_interval_on_mmlu_covers_one_half(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mmlu.json"
    _ok(
        "eval",
        "-b",
        "mmlu",
        "-r",
        "random",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--bootstrap",
        "300",
    )
    entry = json.loads(out.read_text())["routers"]["random"]
    lo, hi = entry["APGR_ci"]
    assert lo < 0.5 < hi
    assert hi - lo < 0.05


def test_eval_of_precomputed_scores_matches_the_router(
    data_dir: Path, tmp_path: Path
) -> None:
    bench = load_benchmark("mt-bench", data_dir)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in bench.prompts))
    scored = tmp_path / "scores" / "rand.jsonl"
    _ok("score", "--router", "random", str(prompts), "-o", str(scored))
    out = tmp_path / "mt.json"
    _ok(
        "eval",
        "-b",
        "mt-bench",
        "-r",
        "random",
        "--random-seeds",
        "1",
        "--scores-dir",
        str(scored.parent),
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--bootstrap",
        "100",
        "--compare",
        "rand,random",
    )
    report = json.loads(out.read_text())
    assert report["routers"]["rand"]["APGR"] == report["routers"]["random"]["APGR"]
    diff = report["compare"]["rand vs random"]["APGR"]
    assert diff["diff"] == 0.0 and diff["diff_ci"] == [0.0, 0.0]


def test_score_reads_prompt_and_messages(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"prompt": "What is 2+2?", "id": 1})
        + "\n"
        + json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Prove Fermat."},
                ]
            }
        )
        + "\n"
    )
    dest = tmp_path / "out.jsonl"
    _ok("score", "-r", "random", str(source), "-o", str(dest), "--batch-size", "1")
    rows = [json.loads(line) for line in dest.read_text().splitlines()]
    assert rows[0]["id"] == 1 and "messages" in rows[1]
    expected = RandomRouter().score(["What is 2+2?", "Prove Fermat."])
    np.testing.assert_allclose([r["score"] for r in rows], expected)


def test_score_reads_stdin_and_writes_stdout() -> None:
    stdout = _ok("score", "-r", "random", "-", stdin='{"prompt": "hello"}\n')
    row = json.loads(stdout.strip())
    assert row["prompt"] == "hello"
    assert row["score"] == pytest.approx(float(RandomRouter().score(["hello"])[0]))


def test_score_bad_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "ok"}\n{"body": "no prompt"}\n')
    result = CliRunner().invoke(build_app(), ["score", "-r", "random", str(source)])
    assert isinstance(result.exception, DataError)
    assert "in.jsonl:2" in str(result.exception)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real entry point (its error handling, not CliRunner's)."""
    return subprocess.run(
        [sys.executable, "-c", "from prefroute.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_score_bad_json_exits_2_with_one_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "ok"}\n{broken\n')
    done = _cli("score", "-r", "random", str(source), "-o", str(tmp_path / "o.jsonl"))
    assert done.returncode == 2
    assert "in.jsonl:2: invalid JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_eval_without_a_benchmark_or_log_says_which_to_give() -> None:
    done = _cli("eval")
    assert done.returncode == 2, done.stderr
    assert "--benchmark" in done.stderr and "--log" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["eval", "-b", "mt-bench", "--bootstrap", "abc"],
            "Invalid value for '--bootstrap'",
        ),
        (["eval", "-b", "mt-bench", "--bootstrap", "-1"], "greater than or equal to 0"),
    ],
)
def test_usage_errors_print_usage_and_exit_2(args: list[str], message: str) -> None:
    # (they were tracebacks: newer typer releases raise their vendored click's errors)
    done = _cli(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Usage: " in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["train", "default", "--recipe", "{bin}.yaml", "--out", "{tmp}/x"],
        ["serve", "--config", "{bin}.yaml", "--dry-run"],
        [
            "calibrate",
            "-r",
            "random",
            "--strong-share",
            "0.3",
            "--prompts",
            "{bin}.yaml",
        ],
        ["score", "-r", "random", "{bin}.jsonl", "-o", "{tmp}/o.jsonl"],
        ["eval", "-b", "{bin}.jsonl", "-r", "random", "--strong", "a", "--weak", "b"],
    ],
)
def test_files_that_are_not_utf8_give_one_error_line(
    tmp_path: Path, args: list[str]
) -> None:
    for suffix in (".yaml", ".jsonl"):
        (tmp_path / f"bin{suffix}").write_bytes(b"\xff\xfe\x00binary")
    argv = [a.format(bin=tmp_path / "bin", tmp=tmp_path) for a in args]
    done = _cli(*argv)
    assert done.returncode == 2, done.stderr
    assert "error: " in done.stderr and "utf-8" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_score_failure_leaves_no_output_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "ok"}\n{"body": "no prompt"}\n')
    dest = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        build_app(),
        ["score", "-r", "random", str(source), "-o", str(dest), "--batch-size", "1"],
    )
    assert isinstance(result.exception, DataError)
    assert list(tmp_path.iterdir()) == [source]


def _garbage_judge(body: dict[str, Any]) -> dict[str, Any]:
    return chat_response("I cannot rate this")


def test_score_warns_when_judgements_are_invalid(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    with FakeLLM(_garbage_judge) as fake:
        spec = f"llm_judge:base_url={fake.base_url};model=m;backoff=0.01"
        done = _cli("score", str(source), "-r", spec)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["score"] for line in done.stdout.splitlines()] == [1, 1]
    assert "llm_judge: 2 of 2 judgements invalid (routed strong)" in done.stderr


def test_score_prints_no_warning_for_valid_judgements(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "a"}\n')
    with FakeLLM(lambda body: chat_response("4")) as fake:
        spec = f"llm_judge:base_url={fake.base_url};model=m"
        done = _cli("score", str(source), "-r", spec)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr


def test_eval_warns_when_judgements_are_invalid(tmp_path: Path) -> None:
    bench = tmp_path / "mine.csv"
    bench.write_text("prompt,big,small\nq1,1,0\nq2,1,1\nq3,0,0\n")
    with FakeLLM(_garbage_judge) as fake:
        done = _cli(
            "eval",
            "-b",
            str(bench),
            "--strong",
            "big",
            "--weak",
            "small",
            "--bootstrap",
            "0",
            "-r",
            f"llm_judge:base_url={fake.base_url};model=m",
        )
    assert done.returncode == 0, done.stderr
    assert "llm_judge: 3 of 3 judgements invalid (routed strong)" in done.stderr


def test_eval_n_model_benchmark_passes_seed_split_and_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prefroute.cli.cmd_multi as cmd_multi

    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        cmd_multi,
        "run_eval_multi",
        lambda benchmark, **kwargs: calls.append((benchmark, kwargs)),
    )
    out = tmp_path / "rb.json"
    _ok(
        "eval",
        "-b",
        "routerbench",
        "--seed",
        "9",
        "--split",
        "task",
        "--policy",
        "tolerance",
        "--json",
        str(out),
    )
    [(benchmark, kwargs)] = calls
    assert benchmark == "routerbench" and kwargs["json_out"] == out
    assert (kwargs["seed"], kwargs["split"], kwargs["policy"]) == (
        9,
        "task",
        "tolerance",
    )


def test_eval_n_model_benchmark_rejects_two_model_options() -> None:
    done = _cli(
        "eval",
        "-b",
        "routerbench",
        "-r",
        "no-such-router",
        "--strong",
        "x",
        "--weak",
        "y",
        "--bootstrap",
        "5",
        "--seed",
        "9",
    )
    assert done.returncode == 2, done.stderr
    assert "does not take --routers, --strong, --weak, --bootstrap" in done.stderr
    assert "--seed" in done.stderr and "Traceback" not in done.stderr


def test_eval_two_model_benchmark_rejects_n_model_options() -> None:
    done = _cli("eval", "-b", "mt-bench", "-r", "random", "--split", "task")
    assert done.returncode == 2, done.stderr
    assert "--split applies only to the N-model benchmarks" in done.stderr
    assert "Traceback" not in done.stderr
