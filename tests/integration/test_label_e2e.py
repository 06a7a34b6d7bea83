"""`prefroute label` end to end against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _fake_judge_llm import LABEL_USAGE, FakeLLM, label_responder
from prefroute.cli import build_app
from prefroute.data.battles import load_battles_jsonl

PROMPTS = [f"task {i} {kind}" for i in range(5) for kind in ("", "[close]", "[tie]")]


@pytest.fixture()
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(label_responder) as server:
        yield server


@pytest.fixture()
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    return path


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "label.yaml"
    path.write_text(
        "strong: {model: strong-m, price_in: 10, price_out: 30}\n"
        "weak: {model: weak-m}\n"
        "judge: {model: judge-m}\n"
        "backoff: 0.01\n"
        "concurrency: 3\n"
    )
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    # rich wraps long lines at the terminal width: compare whitespace-normalised text
    return result.exit_code, " ".join(result.output.split())


def test_label_resumes_after_interruption_without_duplicates(
    fake: FakeLLM, prompts_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "battles.jsonl"
    common = [
        "label",
        "--prompts",
        str(prompts_file),
        "--output",
        str(out),
        "--config",
        str(_config_file(tmp_path)),
        "--base-url",
        fake.base_url,
        "--judge-price",
        "2,8",
    ]
    code, text = _run(*common, "--max-requests", "8")
    assert code == 0, text
    assert "run the same command again to resume" in text
    n_first = len(out.read_text().splitlines())
    assert 0 < n_first < len(PROMPTS)

    code, text = _run(*common)
    assert code == 0, text
    assert f"{n_first} already there" in text
    battles = load_battles_jsonl(out)
    assert sorted(b.prompt for b in battles) == sorted(PROMPTS)
    for b in battles:
        expected = (
            0.75 if "[close]" in b.prompt else 0.5 if "[tie]" in b.prompt else 1.0
        )
        assert b.p_a == expected and b.model_a == "strong-m" and b.source == "label"
    assert len({b.prompt for b in battles}) == len(battles)


def test_label_prints_token_and_cost_totals(
    fake: FakeLLM, prompts_file: Path, tmp_path: Path
) -> None:
    code, text = _run(
        "label",
        "--prompts",
        str(prompts_file),
        "-o",
        str(tmp_path / "b.jsonl"),
        "--strong",
        "strong-m",
        "--weak",
        "weak-m",
        "--judge",
        "judge-m",
        "--base-url",
        fake.base_url,
        "--strong-price",
        "10,30",
        "--judge-price",
        "2,8",
    )
    assert code == 0, text
    n = len(PROMPTS)
    tokens_in = n * sum(u[0] for u in LABEL_USAGE.values())
    tokens_out = n * sum(u[1] for u in LABEL_USAGE.values())
    cost = n * (100 * 10 + 50 * 30 + 300 * 2 + 80 * 8) / 1e6
    assert f"tokens in {tokens_in:,} out {tokens_out:,} | ${cost:.4f}" in text
    assert f"wrote {n} battles" in text


def test_label_dry_run_counts_without_requests(
    fake: FakeLLM, prompts_file: Path, tmp_path: Path
) -> None:
    code, text = _run(
        "label",
        "--prompts",
        str(prompts_file),
        "-o",
        str(tmp_path / "b.jsonl"),
        "--config",
        str(_config_file(tmp_path)),
        "--base-url",
        fake.base_url,
        "--dry-run",
    )
    assert code == 0, text
    assert f"{len(PROMPTS)} to label with about {3 * len(PROMPTS)} requests" in text
    assert fake.n_requests == 0


def test_label_cli_reports_unset_key_as_one_line_error(
    fake: FakeLLM, prompts_file: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LABEL_E2E_UNSET_KEY"}
    cli = Path(sys.executable).parent / "prefroute"
    done = subprocess.run(
        [
            str(cli),
            "label",
            "--prompts",
            str(prompts_file),
            "-o",
            str(tmp_path / "b.jsonl"),
            "--config",
            str(_config_file(tmp_path)),
            "--base-url",
            fake.base_url,
            "--judge-api-key-env",
            "LABEL_E2E_UNSET_KEY",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        "error: the judge endpoint's api_key_env='LABEL_E2E_UNSET_KEY'" in done.stderr
    )
    assert fake.n_requests == 0


def test_label_ctrl_c_exits_130_with_summary_and_rerun_resumes(
    tmp_path: Path,
) -> None:
    prompts = [f"slow task {i}" for i in range(40)]
    prompts_path = tmp_path / "prompts.jsonl"
    prompts_path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    out = tmp_path / "battles.jsonl"
    # SIGINT's default handler is restored: a child of a shell's background job
    # would otherwise inherit "ignore SIGINT"
    entry = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from prefroute.cli import main; main()"
    )
    with FakeLLM(label_responder, delay=0.2) as slow:
        args = [
            "label",
            "--prompts",
            str(prompts_path),
            "-o",
            str(out),
            "--config",
            str(_config_file(tmp_path)),
            "--base-url",
            slow.base_url,
            "--concurrency",
            "2",
        ]
        proc = subprocess.Popen(
            [sys.executable, "-c", entry, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_file() and len(out.read_text().splitlines()) >= 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    text = " ".join(stderr.split())
    assert proc.returncode == 130, text
    assert "interrupted: rerun the same command to resume" in text
    n_saved = len(out.read_text().splitlines())
    assert 2 <= n_saved < len(prompts)
    # the summary counts exactly the battles on disk: none lost in flight
    assert f"wrote {n_saved} battles" in text

    with FakeLLM(label_responder) as fast:
        code, text = _run(*args[:-4], "--base-url", fast.base_url)
    assert code == 0, text
    assert f"{n_saved} already there" in text
    battles = load_battles_jsonl(out)
    assert sorted(b.prompt for b in battles) == sorted(prompts)


def test_label_exits_1_with_the_reason_when_nothing_is_labelled(
    fake: FakeLLM, tmp_path: Path
) -> None:
    prompts = tmp_path / "garbage.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"q{i} [garbage]"}) + "\n" for i in range(3))
    )
    out = tmp_path / "b.jsonl"
    code, text = _run(
        "label",
        "--prompts",
        str(prompts),
        "-o",
        str(out),
        "--config",
        str(_config_file(tmp_path)),
        "--base-url",
        fake.base_url,
    )
    assert code == 1, text
    assert "nothing labelled" in text and "no verdict in the expected form" in text
    assert "[[A>B]]" in text and "b.skipped.jsonl" in text
    assert not out.exists()  # no empty battles file left behind
    lines = (tmp_path / "b.skipped.jsonl").read_text().splitlines()
    skipped = [json.loads(line) for line in lines]
    assert len(skipped) == 3 and all("judge_output" in s for s in skipped)


def test_label_help_documents_the_judge_verdict_format() -> None:
    result = CliRunner().invoke(
        build_app(), ["label", "--help"], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for verdict in ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"):
        assert verdict in text
    assert "exits with status 1" in text


def test_label_reads_a_plain_text_prompt_file(fake: FakeLLM, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("first task\n\nsecond task [close]\n")
    out = tmp_path / "b.jsonl"
    code, text = _run(
        "label",
        "--prompts",
        str(prompts),
        "-o",
        str(out),
        "--config",
        str(_config_file(tmp_path)),
        "--base-url",
        fake.base_url,
    )
    assert code == 0, text
    battles = load_battles_jsonl(out)
    assert sorted(b.prompt for b in battles) == ["first task", "second task [close]"]
