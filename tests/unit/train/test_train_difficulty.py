"""`prefroute train default|default-chat`: the shipped difficulty routers trained from
a recipe, on a small real subset (RouteProfile's golden labels + AlpacaEval)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.data.golden import load_routeprofile
from prefroute.embed.hashing import HashingEmbedder
from prefroute.errors import ConfigError
from prefroute.routers import load_router
from prefroute.train.difficulty import train_from_recipe
from prefroute.train.pipeline import MemoEmbedder
from prefroute.train.recipe import parse_recipe

PROBES = ["Prove that sqrt(2) is irrational.", "Say hi", "Write a haiku about rain."]


def _recipe(**extra: Any) -> dict[str, Any]:
    return {
        "seed": 0,
        "embedder": "hashing:64",
        "sources": [{"kind": "routeprofile"}, {"kind": "alpaca_eval"}],
        "decontamination": {"benchmarks": ["mt-bench"]},
        **extra,
    }


def _train(data_dir: Path, tmp_path: Path, heads: str, **extra: Any) -> Any:
    recipe = parse_recipe(_recipe(**extra), base_dir=tmp_path)
    emb = MemoEmbedder(HashingEmbedder(dim=64))
    return train_from_recipe(recipe, data_dir, emb, heads=heads)


def test_cli_trains_default_chat_and_it_loads_and_scores(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe()))
    args = ["train", "default-chat", "--recipe", str(tmp_path / "r.yaml")]
    args += ["--out", str(tmp_path / "out"), "--data-dir", str(data_dir)]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "routeprofile: " in result.output and "alpaca: " in result.output
    assert "floor-reasoning" in result.output
    router = load_router(tmp_path / "out")
    assert router.heads_[0] == "fail_pct" and "reasoning" in router.heads_
    scores = router.score(PROBES)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_training_is_deterministic_and_heads_follow_the_recipe(
    data_dir: Path, tmp_path: Path
) -> None:
    a = _train(data_dir, tmp_path, "floor")
    b = _train(data_dir, tmp_path, "floor")
    assert a.router.heads_ == ["fail_pct"]
    np.testing.assert_array_equal(a.router.score(PROBES), b.router.score(PROBES))
    assert a.by_family["routeprofile"] > 100 and a.by_family["alpaca"] > 700


def test_decontamination_drops_a_planted_evaluation_prompt(
    data_dir: Path, tmp_path: Path
) -> None:
    # a one-line training prompt, planted in an evaluation file of the recipe
    planted = next(
        r.prompt for r in load_routeprofile(data_dir) if "\n" not in r.prompt
    )
    (tmp_path / "eval.txt").write_text(planted + "\n")
    base = _train(data_dir, tmp_path, "floor")
    planted_run = _train(
        data_dir,
        tmp_path,
        "floor",
        decontamination={"benchmarks": ["mt-bench"], "files": ["eval.txt"]},
    )
    assert planted_run.n_decontaminated >= base.n_decontaminated + 1
    assert planted_run.n_prompts <= base.n_prompts - 1


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"sources": [{"kind": "jsonl", "path": "b.jsonl"}]}, "golden labels"),
        ({"sources": [{"kind": "routeprofile", "weight": 0.5}]}, "whole"),
        ({"sources": [{"kind": "alpaca_eval"}]}, "at least one golden"),
    ],
)
def test_recipes_these_routers_cannot_use_are_refused(
    data_dir: Path, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        _train(data_dir, tmp_path, "floor", **change)


def test_unknown_head_recipe_is_refused(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown head recipe"):
        _train(data_dir, tmp_path, "no-such-recipe")


def _own_labels(tmp_path: Path) -> Path:
    """A user's golden labels in RouterDC's format: {question, scores} per prompt."""
    rows = [
        {
            "question": f"Task {i}: what is {i} times {i + 3}, step by step?",
            "scores": {"big-model": 1.0, "mid-model": float(i % 3 != 0), "tiny": 0.0},
        }
        for i in range(80)
    ]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(rows))
    return path


def test_own_golden_labels_train_as_their_own_family(
    data_dir: Path, tmp_path: Path
) -> None:
    _own_labels(tmp_path)
    sources = [
        {"kind": "routerdc", "name": "mine", "path": str(tmp_path / "mine.json")},
        {"kind": "alpaca_eval"},
    ]
    result = _train(data_dir, tmp_path, "floor", sources=sources)
    assert result.by_family == {"mine": 80, "alpaca": result.by_family["alpaca"]}
    assert result.router.heads_ == ["fail_pct"]


def test_pair_head_learns_the_recipes_own_pair(data_dir: Path, tmp_path: Path) -> None:
    _own_labels(tmp_path)
    sources = [
        {"kind": "routerdc", "name": "mine", "path": str(tmp_path / "mine.json")},
        {"kind": "routeprofile"},
    ]
    pair = {"strong": "big-model", "weak": "mid-model"}
    result = _train(data_dir, tmp_path, "floor-pair", sources=sources, pair=pair)
    assert result.router.heads_ == ["fail_pct", "pair_gap"]
    only = _train(data_dir, tmp_path, "pair", sources=sources, pair=pair)
    assert only.router.heads_ == ["pair_gap"]
    # the pair head ranks the prompts where mid-model fails (i % 3 == 0) first
    prompts = [f"Task {i}: what is {i} times {i + 3}, step by step?" for i in range(80)]
    scores = only.router.score(prompts)
    fails = np.array([i % 3 == 0 for i in range(80)])
    assert scores[fails].mean() > scores[~fails].mean()
    with pytest.raises(ConfigError, match="give the recipe a 'pair"):
        _train(data_dir, tmp_path, "floor-pair", sources=sources)
    with pytest.raises(ConfigError, match="no golden source grades both"):
        _train(
            data_dir,
            tmp_path,
            "floor-pair",
            sources=sources,
            pair={"strong": "big-model", "weak": "absent-model"},
        )


def test_cli_retraining_writes_the_same_bytes(data_dir: Path, tmp_path: Path) -> None:
    # Same recipe and vectors, two runs (seconds apart): every file is identical,
    # arrays.npz included (its zip members carry no write time).
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(_recipe()))
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        args = ["train", "default", "--recipe", str(tmp_path / "r.yaml")]
        args += ["--out", str(out), "--data-dir", str(data_dir)]
        result = CliRunner().invoke(build_app(), args)
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in outs[0].iterdir())
    assert "arrays.npz" in names
    assert names == sorted(p.name for p in outs[1].iterdir())
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
