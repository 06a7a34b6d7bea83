"""Reading labelled traffic from a request log, and a log as a training source."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))

from _adapt_synth import STRONG, WEAK, write_log
from prefroute.errors import ConfigError, DataError
from prefroute.gateway.store import FeedbackRecord, open_store
from prefroute.train.logdata import log_battles, log_golden, read_log
from prefroute.train.pipeline import build_battles
from prefroute.train.recipe import parse_recipe
from prefroute.train.sources import load_source_battles


def _feedback(path: Path, request_id: str, score: float, source: str) -> None:
    store = open_store(path)
    try:
        assert store.put_feedback(FeedbackRecord(request_id, score, source, 2e9))
    finally:
        store.close()


def _rewrite(path: Path, request_id: str, **changes: object) -> None:
    store = open_store(path)
    try:
        (record,) = [r for r in store.iter_requests() if r.request_id == request_id]
        store.write_requests([dataclasses.replace(record, **changes)])
    finally:
        store.close()


def test_user_and_judge_feedback_are_kept_apart(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    ids = write_log(log, ["a", "b", "c"], [STRONG, WEAK, STRONG], [0.9, 0.1, 1.0], None)
    _feedback(log, ids[0], 1.0, "user")
    _feedback(log, ids[0], 0.0, "app")
    _feedback(log, ids[0], 0.75, "judge")
    _feedback(log, ids[1], 0.25, "judge")
    traffic = read_log(log)
    assert traffic.request_ids == ids[:2]
    assert traffic.rewards[0] == 0.5 and np.isnan(traffic.rewards[1])
    np.testing.assert_array_equal(traffic.judge, [0.75, 0.25])
    np.testing.assert_array_equal(traffic.propensity, [0.9, 0.1])
    assert traffic.unlabeled == ["c"]
    assert traffic.pair() == (STRONG, WEAK)


def test_fallback_failed_and_promptless_requests_are_left_out(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    ids = write_log(log, ["a", "b", "c", "d"], [STRONG] * 4, [1.0] * 4, [1, 1, 1, 1])
    _rewrite(log, ids[0], is_fallback=True)
    _rewrite(log, ids[1], status=502)
    _rewrite(log, ids[2], prompt=None)
    traffic = read_log(log)
    assert traffic.prompts == ["d"] and traffic.n_skipped == 3


def test_limit_keeps_the_most_recent_and_since_the_newer(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    write_log(log, ["a", "b", "c", "d"], [WEAK] * 4, [1.0] * 4, [0, 1, 0, 1])
    assert read_log(log, limit=2).prompts == ["c", "d"]
    assert read_log(log, since=1_700_000_002.0).prompts == ["c", "d"]
    with pytest.raises(ConfigError):
        read_log(log, limit=0)
    with pytest.raises(DataError, match="no request log"):
        read_log(tmp_path / "missing.db")


def test_prompts_answered_by_two_models_become_battles(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    ids = write_log(
        log,
        ["same", "same", "alone", "judged"],
        [STRONG, WEAK, STRONG, WEAK],
        [0.8, 0.2, 1.0, 1.0],
        [1.0, 0.0, 1.0, 0.5],
    )
    _feedback(log, ids[3], 0.25, "judge")  # weak answered; strong judged better
    traffic = read_log(log)
    golden = {r.prompt: dict(r.scores) for r in log_golden(traffic)}
    assert golden["same"] == {STRONG: 1.0, WEAK: 0.0}
    assert golden["alone"] == {STRONG: 1.0}
    assert golden["judged"] == {WEAK: 0.375, STRONG: 0.75}
    battles = {b.prompt: b for b in log_battles(traffic, weight=2.0)}
    assert set(battles) == {"same", "judged"}
    assert battles["same"].weight == 2.0
    assert {battles["same"].model_a, battles["same"].model_b} == {STRONG, WEAK}


def test_a_recipe_source_of_kind_log_trains_on_the_log(tmp_path: Path) -> None:
    log = tmp_path / "requests.db"
    prompts = [f"prompt number {i}" for i in range(6)]
    write_log(
        log,
        prompts + prompts,
        [STRONG] * 6 + [WEAK] * 6,
        [0.5] * 12,
        [1.0] * 6 + [0.0] * 6,
    )
    battles = load_source_battles("log", str(log), name="mine")
    assert len(battles) == 6 and {b.source for b in battles} == {"mine"}
    recipe = parse_recipe(
        {
            "sources": [{"kind": "log", "path": "requests.db"}],
            "decontamination": {"enabled": False},
        },
        base_dir=tmp_path,
    )
    data = build_battles(recipe, tmp_path, None)
    assert len(data.battles) == 6
    with pytest.raises(ConfigError, match="needs a 'path'"):
        build_battles(
            parse_recipe(
                {"sources": [{"kind": "log"}], "decontamination": {"enabled": False}}
            ),
            tmp_path,
            None,
        )
