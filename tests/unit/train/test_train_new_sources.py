"""The newer label sources in training: recipe kinds, battles, the difficulty table
and `prefroute train default-chat`, on small files made here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _label_sources import (
    HUMANEVAL,
    SVAMP,
    write_crux,
    write_elobench_raw,
    write_gemini_benchmark,
)
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError, DataError
from prefroute.train import difficulty as D
from prefroute.train.pipeline import MemoEmbedder, build_battles
from prefroute.train.recipe import parse_recipe
from prefroute.train.sources import SOURCE_KINDS, load_source_battles

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.fixture()
def label_root(tmp_path: Path) -> Path:
    """A data root holding the three new sources (tiny)."""
    root = tmp_path / "data"
    write_elobench_raw(root)
    write_gemini_benchmark(root)
    write_crux(root)
    return root


def test_recipes_accept_the_new_kinds() -> None:
    assert {"elobench", "gemini_benchmark", "crux"} <= set(SOURCE_KINDS)
    recipe = parse_recipe(
        {"sources": [{"kind": k} for k in ("elobench", "gemini_benchmark", "crux")]}
    )
    assert [s.kind for s in recipe.sources] == ["elobench", "gemini_benchmark", "crux"]


def test_gemini_benchmark_battles_hold_the_papers_pair(label_root: Path) -> None:
    battles = load_source_battles("gemini_benchmark", label_root, name="gb")
    pair = [b for b in battles if {b.model_a, b.model_b} == {GPT4, MIXTRAL}]
    assert len(pair) == len(SVAMP) + len(HUMANEVAL)
    assert {b.source for b in battles} == {"gb"}
    # SVAMP qid 9: GPT-4 right, Mixtral wrong
    (b,) = [b for b in pair if b.prompt.startswith("A box holds 12 eggs")]
    assert b.credit_a == (1.0 if b.model_a == GPT4 else 0.0)


def test_crux_battles_use_only_validated_models(label_root: Path) -> None:
    battles = load_source_battles("crux", label_root, weight=0.5)
    assert {(b.model_a, b.model_b) for b in battles} == {("gpt-4-0314", MIXTRAL)}
    assert [b.winner for b in battles] == ["tie", "a", "tie_bothbad"]
    assert {b.weight for b in battles} == {0.5}


def test_elobench_battles_are_weighted_and_named(label_root: Path) -> None:
    battles = load_source_battles("elobench", label_root, weight=0.2, name="eb")
    assert [b.winner for b in battles] == ["a", "tie", "b"]
    assert {b.source for b in battles} == {"eb"}
    assert {b.weight for b in battles} == {0.2}


def test_build_battles_decontaminates_the_new_sources(
    label_root: Path, tmp_path: Path
) -> None:
    planted = SVAMP[0][1]
    (tmp_path / "eval.txt").write_text(planted + "\n")
    recipe = parse_recipe(
        {
            "embedder": "hashing:64",
            "sources": [{"kind": "gemini_benchmark"}, {"kind": "elobench"}],
            "decontamination": {"benchmarks": [], "files": ["eval.txt"]},
        },
        base_dir=tmp_path,
    )
    data = build_battles(recipe, label_root, MemoEmbedder(HashingEmbedder(dim=64)))
    assert data.decontamination is not None
    assert data.decontamination.n_dropped_prompts == 1
    assert planted not in {b.prompt for b in data.battles}
    assert set(data.by_source) == {"gemini_benchmark", "elobench"}


def test_default_table_leaves_the_new_sources_out(label_root: Path) -> None:
    with pytest.raises(DataError, match="routerbench"):
        D.build_table(label_root)  # the original families only, none here
    table = D.build_table(label_root, families=["gemini_benchmark"])
    assert set(table.family) == {"gemini_benchmark"}


def test_table_labels_task_type_and_pair(label_root: Path) -> None:
    table = D.build_table(label_root, families=["gemini_benchmark", "crux", "elobench"])
    t = table.arrays()
    family = np.asarray(table.family)
    # math word problems, code and CRUXEval are the reasoning side; EloBench chat
    assert set(t["reasoning"][family != "elobench"]) == {1.0}
    assert set(t["reasoning"][family == "elobench"]) == {0.0}
    assert {D.task_group(s) for s in table.source} == {"math_word", "code", "elobench"}
    # the paper's pair labels gemini-benchmark rows: P(GPT-4 right, Mixtral wrong)
    gb = family == "gemini_benchmark"
    assert np.nansum(t["pair"][gb]) == 2.0  # SVAMP qid 9 and HumanEval is_prime
    assert np.isnan(t["pair"][~gb]).all()
    # EloBench questions: gpt-4-turbo's credit as a percentile where it battled
    eb = np.flatnonzero(family == "elobench")
    assert np.isfinite(t["chat"][eb]).sum() == 2
    assert np.isnan(t["fail_pct"][eb]).all()


def _recipe(**extra: Any) -> dict[str, Any]:
    return {
        "embedder": "hashing:64",
        "sources": [
            {"kind": "gemini_benchmark"},
            {"kind": "crux"},
            {"kind": "elobench"},
        ],
        "decontamination": {"enabled": False},
        **extra,
    }


def test_default_chat_trains_from_the_new_sources(label_root: Path) -> None:
    recipe = parse_recipe(_recipe())
    emb = MemoEmbedder(HashingEmbedder(dim=64))
    result = D.train_from_recipe(recipe, label_root, emb, heads="floor-reasoning")
    assert result.by_family == {"gemini_benchmark": 5, "crux": 3, "elobench": 3}
    assert result.router.heads_ == ["fail_pct", "reasoning"]
    scores = result.router.score(["Say hi", SVAMP[1][1]])
    assert np.all((scores >= 0) & (scores <= 1))


def test_elobench_alone_is_not_enough_for_the_difficulty_routers(
    label_root: Path,
) -> None:
    recipe = parse_recipe(_recipe(sources=[{"kind": "elobench"}]))
    with pytest.raises(ConfigError, match="at least one golden"):
        D.train_from_recipe(recipe, label_root, MemoEmbedder(HashingEmbedder(dim=64)))
