"""`prefroute label --from-log` against fake OpenAI-compatible servers on 127.0.0.1:
prompts drawn from a log, verdicts written back as judge feedback, used by adapt."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))

from _adapt_synth import STRONG, WEAK, write_log
from _fake_judge_llm import FakeLLM, label_responder
from prefroute.cli import build_app
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.gateway.store import open_store
from prefroute.train.logdata import read_log

PROMPTS = [f"question {i} {tag}" for i in range(6) for tag in ("", "[close]")]


@pytest.fixture()
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(label_responder) as server:
        yield server


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.output.split())


def _log(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "requests.db"
    models = [STRONG if i % 3 else WEAK for i in range(len(PROMPTS))]
    ids = write_log(path, PROMPTS, models, [1.0] * len(PROMPTS), None)
    return path, ids


def _label(fake: FakeLLM, log: Path, *extra: str) -> tuple[int, str]:
    return _run(
        "label", "--from-log", str(log), "--strong", STRONG, "--weak", WEAK,
        "--judge", "judge-m", "--base-url", fake.base_url, *extra,
    )  # fmt: skip


def test_verdicts_go_back_into_the_log_as_judge_feedback(
    fake: FakeLLM, tmp_path: Path
) -> None:
    log, _ = _log(tmp_path)
    code, text = _label(fake, log, "--sample", "8")
    assert code == 0, text
    assert f"drew 8 of {len(PROMPTS)} logged prompts" in text
    lines = log.with_suffix(".judge.jsonl").read_text().splitlines()
    battles = [json.loads(line) for line in lines]
    assert len(battles) == 8 and {b["model_a"] for b in battles} == {STRONG}
    store = open_store(log)
    try:
        feedback = store.feedback_for(None)
        routed = {r.request_id: r for r in store.iter_requests()}
    finally:
        store.close()
    assert len(feedback) == 8
    for rid, records in feedback.items():
        (f,) = records
        assert f.source == "judge"
        credit = 0.75 if "[close]" in str(routed[rid].prompt) else 1.0
        expected = credit if routed[rid].routed_model == STRONG else 1.0 - credit
        assert f.score == expected

    # a second run draws only the prompts without a judge label
    code, text = _label(fake, log, "--sample", "8")
    assert code == 0, text
    assert "drew 4 of 4 logged prompts" in text
    traffic = read_log(log)
    assert len(traffic) == len(PROMPTS)
    assert all(0 <= j <= 1 for j in traffic.judge)
    assert all(r != r for r in traffic.rewards)  # no user feedback: NaN


def test_judge_labels_train_the_adapted_router(fake: FakeLLM, tmp_path: Path) -> None:
    from prefroute.routers.random import RandomRouter
    from prefroute.train.adapt import adapt_router

    log, _ = _log(tmp_path)
    assert _label(fake, log, "--sample", "20")[0] == 0
    result = adapt_router(
        RandomRouter(seed=1),
        read_log(log),
        n_resamples=50,
        embedder=HashingEmbedder(dim=32),
    )
    assert result.mode == "pair" and result.n_judge == len(PROMPTS)
    assert result.n_labels == 0  # no user feedback: the check cannot run
    assert result.is_not_worse is None


def test_from_log_needs_one_source_of_prompts(fake: FakeLLM, tmp_path: Path) -> None:
    log, _ = _log(tmp_path)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "x"}\n')
    with pytest.raises(ConfigError, match="one of them"):
        _label(fake, log, "--prompts", str(prompts), "-o", str(tmp_path / "b.jsonl"))
    with pytest.raises(ConfigError, match="--sample applies only"):
        _run(
            "label", "--prompts", str(prompts), "-o", str(tmp_path / "b.jsonl"),
            "--sample", "3", "--strong", STRONG, "--weak", WEAK, "--judge", "judge-m",
            "--base-url", fake.base_url,
        )  # fmt: skip
