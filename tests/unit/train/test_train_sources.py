"""Golden labels and judge annotations become battles."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefroute.train.sources import golden_to_battles, load_source_battles
from prefroute.types import GoldenRecord


def test_golden_labels_become_wins_and_ties() -> None:
    rec = GoldenRecord("q", {"x": 1.0, "y": 0.0, "z": 1.0, "w": 0.0}, source="s")
    battles = {(b.model_a, b.model_b): b for b in golden_to_battles([rec])}
    assert len(battles) == 6
    assert battles[("x", "y")].winner == "a"
    assert battles[("y", "z")].winner == "b"
    assert battles[("x", "z")].winner == "tie"
    assert battles[("y", "w")].winner == "tie_bothbad"
    assert all(b.p_a is None for b in battles.values())


def test_fractional_golden_scores_keep_soft_label() -> None:
    (b,) = golden_to_battles([GoldenRecord("q", {"x": 0.9, "y": 0.3})], weight=2.0)
    assert b.winner == "a"
    assert b.credit_a == pytest.approx(0.8)
    assert b.weight == 2.0


@pytest.mark.data
def test_routerbench_battles_use_canonical_pair(data_dir: Path) -> None:
    battles = load_source_battles("routerbench", data_dir, weight=0.5, name="rb")
    models = {b.model_a for b in battles} | {b.model_b for b in battles}
    assert {"gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"} <= models
    assert {b.source for b in battles} == {"rb"}
    assert {b.weight for b in battles} == {0.5}


@pytest.mark.data
def test_routerdc_task_filter(data_dir: Path) -> None:
    battles = load_source_battles("routerdc", data_dir, include_tasks=["mbpp"])
    assert 490 <= len({b.prompt for b in battles}) <= 500  # mbpp.json: 500 rows
    assert {b.source for b in battles} == {"routerdc"}
