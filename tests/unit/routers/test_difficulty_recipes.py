"""The `default` router's training helpers (prefroute.train.difficulty) and the
fast cross-validation of benchmarks/cv_quality.py, on small local arrays."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from prefroute.embed.hashing import HashingEmbedder
from prefroute.routers.difficulty import DifficultyRouter
from prefroute.types import GoldenRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import cv_quality as C

from prefroute.train import difficulty as D


def test_task_group_joins_the_same_task_across_families() -> None:
    assert D.task_group("routerdc/arc_challenge_train") == "arc"
    assert D.task_group("routerbench/arc_challenge_train") == "arc"
    assert D.task_group("llmrouter/gsm8k") == "gsm8k"
    assert D.task_group("routerdc/gsm8k-train") == "gsm8k"
    assert D.task_group("routerdc/MATH_prealgebra") == "math"
    assert D.task_group("routerdc/humaneval_test") == "code"
    assert D.task_group("routerdc/cmmlu_test") == "zh_exam"
    assert D.task_group("llmrouter/mmlu") == "mmlu"
    assert D.task_group("alpaca") == "alpaca"


def test_balanced_weights_give_each_class_equal_total_weight() -> None:
    target = np.array([1.0, 1.0, 1.0, 0.0, np.nan, 0.5, 0.5])
    w = D.balanced_weights(target)
    totals = [w[target == v].sum() for v in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(totals, [2.0, 2.0, 2.0])
    assert w[4] == 1.0


def _tiny_table() -> D.Table:
    table = D.Table()
    rng = np.random.default_rng(0)
    for i in range(60):
        fam, src = (
            ("routerdc", "routerdc/gsm8k-train")
            if i < 30
            else ("llmrouter", "llmrouter/mmlu")
        )
        scores = {m: float(rng.random() < 0.5 + 0.1 * k) for k, m in enumerate("abcd")}
        rec = GoldenRecord(
            prompt=f"{src} question {i} " + "w " * (i % 7), scores=scores
        )
        table.prompts.append(rec.prompt)
        table.texts.append(rec.prompt)
        table.family.append(fam)
        table.source.append(src)
        table.records.append(rec)
        fail = 1.0 - float(np.mean(list(scores.values())))
        table.targets["fail"].append(fail)
        table.targets["fail_pct"].append(fail)
        table.targets["pair"].append(scores["d"] * (1 - scores["a"]))
    for i in range(20):
        p = f"write a friendly note number {i}"
        table.prompts.append(p)
        table.texts.append(p)
        table.family.append("alpaca")
        table.source.append("alpaca")
        table.records.append(None)
        for key in ("fail", "fail_pct", "pair"):
            table.targets[key].append(np.nan)
    D._add_tier_targets(table)
    return table


def test_tier_targets_label_task_types_and_tiers() -> None:
    table = _tiny_table()
    t = table.arrays()
    assert np.all(t["reasoning"][:30] == 1.0)
    assert np.all(np.isnan(t["reasoning"][30:60]))
    assert np.all(t["reasoning"][60:] == 0.0)
    assert np.all(t["task3"][30:60] == 0.5)
    assert np.all(t["freeform"][:30] == 1.0)
    assert np.all(t["freeform"][30:] == 0.0)
    top = t["topgap"][:60]
    assert np.all((top >= 0) & (top <= 1))
    assert np.all(np.isnan(t["topgap"][60:]))


@pytest.mark.parametrize(
    "recipe", ["floor", "floor-reasoning", "floor-reasoning-raw", "floor-freeform"]
)
def test_every_recipe_fits_and_scores_in_range(recipe: str) -> None:
    table = _tiny_table()
    emb = HashingEmbedder(dim=32)
    vectors = emb.embed(table.texts)
    router = D.fit_difficulty(table, vectors, embedder=emb, recipe=recipe)
    assert isinstance(router, DifficultyRouter)
    assert set(router.heads_ or []) == set(D.recipe_heads(recipe))
    assert (router.raw_heads or []) == list(D.RECIPES[recipe].get("raw_heads", ()))
    scores = router.score(table.texts[:5])
    assert np.all((scores >= 0) & (scores <= 1))


def test_fold_ridge_matches_a_direct_fit_on_the_training_rows() -> None:
    rng = np.random.default_rng(3)
    n, d = 80, 5
    x = np.hstack([rng.normal(size=(n, d)), np.ones((n, 1))])
    y = x[:, 0] + 0.1 * rng.normal(size=n)
    y[::7] = np.nan
    fold_of = np.repeat(np.arange(4), n // 4)
    near = [np.zeros(n, dtype=bool) for _ in range(4)]
    near[0][40] = True  # a near-duplicate of fold 0 leaves fold 0's training set
    pct, raw = C.Folds(x, fold_of, near).oof(C.Head(y, np.ones(n), 2.0))
    train = (fold_of != 0) & ~near[0]
    lab = train & np.isfinite(y)
    xc = x[lab, :d] - x[lab, :d].mean(axis=0)
    coef = np.linalg.solve(xc.T @ xc + 2.0 * np.eye(d), xc.T @ (y[lab] - y[lab].mean()))
    intercept = y[lab].mean() - x[lab, :d].mean(axis=0) @ coef
    pred = x[:, :d] @ coef + intercept
    test = fold_of == 0
    np.testing.assert_allclose(raw[test], np.clip(pred[test], 0, 1), atol=1e-8)
    ref = np.sort(pred[train])
    expected = (
        np.searchsorted(ref, pred[test], "left")
        + np.searchsorted(ref, pred[test], "right")
    ) / (2 * len(ref))
    np.testing.assert_allclose(pct[test], expected, atol=1e-12)


def test_apgr_of_a_perfect_and_a_reversed_ranking() -> None:
    strong = np.array([1.0, 1.0, 0.0, 1.0])
    weak = np.array([0.0, 1.0, 0.0, 1.0])
    good = np.array([1.0, 0.0, 0.0, 0.0]) + np.array([0, 0.1, 0.2, 0.3])
    assert C.apgr(good, strong, weak) > C.apgr(-good, strong, weak)
    assert C.apgr(np.array([4.0, 3, 2, 1]), strong, weak) == pytest.approx(0.875)
