"""How far per-prompt routing can go on RouterBench: predictors, bound, cascade.

Everything is out-of-fold on the 2,205 RouterBench prompts (5-fold random split, seed
0, the folds of `multi_routerbench.py`; `--split task` for leave-one-task-out):

1. Per-prompt predictors of each model's correctness and the router curve each gives
   under the utility policy (argmax P(correct) - lam x cost, which is the
   expected-accuracy-optimal choice when P is calibrated): the MF router, the MF
   with the task prior, the task prior alone, the MF recalibrated by isotonic
   regression (cross-fitted on the other folds' predictions), per-model logistic
   regression and per-task kNN on the MiniLM embedding of the question with the
   shared few-shot preamble removed (the common prefix of each task's prompts), plus
   task one-hot and log length; per-task logistic regression on hand-made
   answer-structure features (option count and lengths, negations...). For each:
   AIQ, cost to match gpt-4, accuracy at 40% of gpt-4's cost, log-loss, ECE and
   the within-task AUC of gpt-4 and Yi-34B.
2. A bound: synthetic calibrated predictors ``score = y + sigma * noise`` (posterior
   from the in-sample task prior) with a known within-task AUC, to show how much
   separation the 40% target needs.
3. A cascade (not a router: it calls cheap models first and escalates to gpt-4 when
   their parsed answers disagree; ARC and Winogrande only, MBPP routed to one model),
   from the models' stored responses.
4. The difficulty of the *same* question measured on RouterDC's 7 open models (a
   lookup available for 929 of the 2,205 prompts, not for new prompts): how much a
   strong per-question difficulty signal would buy.

Usage:
    PREFROUTE_DATA_DIR=/path/to/data OPENBLAS_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/multi_routerbench_bound.py [--split task]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from prefroute.config import resolve_data_dir
from prefroute.data.golden import _router_prompt
from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.evals.multi import (
    GoldenTable,
    cross_validate_multi,
    evaluate_predictions,
    fold_ids,
    golden_table,
    load_golden,
)
from prefroute.routers.multi import MultiModelRouter

GPT4 = "gpt-4-1106-preview"
YI = "zero-one-ai/Yi-34B-Chat"
Pred = Callable[[np.ndarray, np.ndarray], np.ndarray]


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC with tied scores counted half."""
    pos, neg = score[y > 0.5], score[y <= 0.5]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (
        pos[:, None] == neg[None, :]
    ).sum()
    return float(greater / (pos.size * neg.size))


def logreg(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """L2 logistic regression by Newton steps; returns [intercept, coef...]."""
    a = np.hstack([np.ones((len(x), 1)), x])
    b = np.zeros(a.shape[1])
    pen = np.full(a.shape[1], l2)
    pen[0] = 0.0
    for _ in range(25):
        p = 1 / (1 + np.exp(-(a @ b)))
        g = a.T @ (p - y) + pen * b
        h = (a * (p * (1 - p))[:, None]).T @ a + np.diag(pen) + 1e-9 * np.eye(len(b))
        step = np.linalg.solve(h, g)
        b -= step
        if np.abs(step).max() < 1e-6:
            break
    return b


def isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators fit of y on x: knots for np.interp."""
    order = np.argsort(x, kind="stable")
    vals: list[float] = []
    wts: list[float] = []
    ends: list[float] = []
    for xi, yi in zip(x[order], y[order], strict=True):
        vals.append(float(yi))
        wts.append(1.0)
        ends.append(float(xi))
        while len(vals) > 1 and vals[-2] > vals[-1]:
            w = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w
            vals[-2:], wts[-2:], ends[-2:] = [v], [w], [ends[-1]]
    return np.array(ends), np.array(vals)


def row(
    table: GoldenTable, name: str, q: np.ndarray, c: np.ndarray, split: str
) -> None:
    """Print one predictor's curve summary and separation."""
    r = evaluate_predictions(table, q, c, split=split)
    s, best_cost = r.methods["router"], r.single[r.best_model][0]
    y = table.quality
    tasks = np.asarray(table.tasks)
    pc = np.clip(q, 1e-4, 1 - 1e-4)
    ll = float(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean())
    bins = np.minimum((q * 10).astype(int), 9)
    ece = sum(
        abs(q[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    aucs = []
    for model in (GPT4, YI):
        j = table.models.index(model)
        aucs.append(
            "/".join(
                f"{auc(q[tasks == t, j], y[tasks == t, j]):.2f}"
                for t in sorted(set(table.tasks))
            )
        )
    match = s.cost_to_match_best / best_cost
    print(
        f"{name:44s} {s.aiq:7.4f} {_pct(match):>7s} {s.quality_at_40pct:7.4f} "
        f"{ll:7.4f} {ece:6.4f}  {aucs[0]:>14s}  {aucs[1]:>14s}",
        flush=True,
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%" if math.isfinite(value) else "never"


def _header() -> None:
    print(
        f"{'predictor':44s} {'AIQ':>7s} {'match':>7s} {'q@40%':>7s} {'logloss':>7s} "
        f"{'ECE':>6s}  {'AUC gpt-4':>14s}  {'AUC Yi-34B':>14s}"
    )


def _structure(question: str) -> list[float]:
    """Hand-made features: stem length and words, option count and lengths,
    numeric options, negation words, a question mark, digits in the stem."""
    options = re.findall(r"\n([A-E])\) ([^\n]*)", question)
    stem = question.split("\nA)")[0]
    lengths = [len(o[1]) for o in options] or [0]
    return [
        math.log1p(len(stem)),
        len(options),
        math.log1p(float(np.mean(lengths))),
        math.log1p(max(lengths)),
        float(np.std(lengths)) / (float(np.mean(lengths)) + 1),
        float(np.mean([bool(re.search(r"\d", o[1])) for o in options]))
        if options
        else 0.0,
        float(bool(re.search(r"\b(not|except|least|false)\b", stem.lower()))),
        float("?" in stem),
        len(stem.split()),
        float(bool(re.search(r"\d", stem))),
    ]


def _difficulty_lookup(
    data_dir: Path, table: GoldenTable, questions: list[str]
) -> np.ndarray:
    """Mean score of RouterDC's 7 open models on the *same* ARC / MBPP question
    (matched on normalised text), NaN where the question is not in RouterDC."""

    def norm(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())[:150]

    known: dict[str, float] = {}
    for path in sorted((data_dir / "routerdc-7model").glob("*.json")):
        if not path.name.startswith(("arc_challenge", "mbpp")):
            continue
        for rec in json.loads(path.read_text(encoding="utf-8")):
            text = str(rec["question"])
            if path.name.startswith("arc"):
                text = text.split("Question:")[-1].split("\nAnswer:")[0]
            else:
                lines = [ln for ln in text.strip().strip('"').split("\n") if ln.strip()]
                text = lines[0] if lines else text
            known[norm(text)] = float(np.mean(list(rec["scores"].values())))
    out = np.full(len(questions), np.nan)
    for i, (q, t) in enumerate(zip(questions, table.tasks, strict=True)):
        stem = q.split("\nA)")[0] if t == "arc-challenge" else q
        out[i] = known.get(norm(stem), np.nan)
    return out


def main() -> None:
    """Run the three analyses and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("random", "task"), default="random")
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    data_dir = resolve_data_dir(None)
    table = golden_table(load_golden("routerbench", data_dir))
    n, m = table.quality.shape
    y = table.quality
    tasks = np.asarray(table.tasks)
    names = sorted(set(table.tasks))
    folds = fold_ids(
        n, n_folds=5, seed=0, groups=table.tasks if args.split == "task" else None
    )
    embedder = CachedEmbedder(get_embedder(args.embedder), memory_items=1_000_000)

    print(f"== 1. predictors ({args.split} split; AUC per task {'/'.join(names)})")
    _header()
    runs = {}
    shrinks: tuple[tuple[str, float | None], ...] = (
        ("MF (factorisation only)", None),
        ("MF + task prior 0.5 (shipped)", 0.5),
        ("task prior alone (shrink 0)", 0.0),
    )
    for label, shrink in shrinks:

        def make(s: float | None = shrink) -> MultiModelRouter:
            return MultiModelRouter(embedder=embedder, task_shrink=s)

        res = cross_validate_multi(table, make, split=args.split)
        runs[label] = res
        row(table, label, res.predicted_quality, res.predicted_cost, args.split)
    cost = runs["MF (factorisation only)"].predicted_cost
    mf = runs["MF (factorisation only)"].predicted_quality

    def oof(fn: Pred) -> np.ndarray:
        out = np.zeros((n, m))
        for k in sorted(set(folds.tolist())):
            te, tr = folds == k, folds != k
            out[te] = fn(tr, te)
        return out

    def iso(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        out = np.zeros((te.sum(), m))
        for j in range(m):
            xs, ys = isotonic(mf[tr, j], y[tr, j])
            out[:, j] = np.interp(mf[te, j], xs, ys)
        return out

    row(table, "MF, isotonic (cross-fitted)", oof(iso), cost, args.split)

    prefix = {
        t: os.path.commonprefix(  # noqa: RUF071 - strings, not paths
            [p for p, k in zip(table.prompts, table.tasks, strict=True) if k == t]
        )
        for t in names
    }
    questions = [
        p[len(prefix[t]) :] for p, t in zip(table.prompts, table.tasks, strict=True)
    ]
    removed = ", ".join(f"{t} {len(prefix[t])} chars" for t in names)
    print(f"   (preamble removed: {removed})")
    xq = np.asarray(embedder.embed(questions), dtype=np.float64)
    onehot = np.stack([(tasks == t).astype(float) for t in names], axis=1)
    length = np.log([len(q) + 1 for q in questions])[:, None] / 5
    feats = np.hstack([xq, onehot, length])

    for l2 in (3.0, 10.0):

        def lr(tr: np.ndarray, te: np.ndarray, l2: float = l2) -> np.ndarray:
            out = np.zeros((te.sum(), m))
            for j in range(m):
                b = logreg(feats[tr], y[tr, j], l2)
                out[:, j] = 1 / (1 + np.exp(-(b[0] + feats[te] @ b[1:])))
            return out

        row(
            table,
            f"logistic per model (question emb.), l2={l2:g}",
            oof(lr),
            cost,
            args.split,
        )

    unit = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    for k_nn in (50, 100):

        def knn(tr: np.ndarray, te: np.ndarray, k_nn: int = k_nn) -> np.ndarray:
            itr, ite = np.flatnonzero(tr), np.flatnonzero(te)
            out = np.tile(y[itr].mean(0), (len(ite), 1))
            for t in names:
                a, b = itr[tasks[itr] == t], ite[tasks[ite] == t]
                if a.size == 0 or b.size == 0:
                    continue
                near = np.argsort(-(unit[b] @ unit[a].T), axis=1)[:, :k_nn]
                prior = y[a].mean(0)
                out[np.searchsorted(ite, b)] = (y[a][near].sum(1) + 10 * prior) / (
                    k_nn + 10
                )
            return out

        row(
            table, f"kNN per task (question emb.), k={k_nn}", oof(knn), cost, args.split
        )

    hand = np.array([_structure(q) for q in questions])
    hand = (hand - hand.mean(0)) / (hand.std(0) + 1e-9)

    def per_task_lr(x: np.ndarray, l2: float) -> Pred:
        def fit(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
            out = np.zeros((te.sum(), m))
            for t in names:
                a, b = tr & (tasks == t), te & (tasks == t)
                if not a.any() or not b.any():
                    out[(tasks[te] == t)] = y[tr].mean(0)
                    continue
                for j in range(m):
                    w = logreg(x[a], y[a, j], l2)
                    out[tasks[te] == t, j] = 1 / (1 + np.exp(-(w[0] + x[b] @ w[1:])))
            return out

        return fit

    row(
        table,
        "answer-structure features, per-task logistic",
        oof(per_task_lr(hand, 10.0)),
        cost,
        args.split,
    )

    print("\n== 2. bound: calibrated synthetic predictors with a known within-task AUC")
    _header()
    prior = np.zeros_like(y)
    for t in names:
        prior[tasks == t] = y[tasks == t].mean(0)
    noise = np.random.default_rng(0).standard_normal(y.shape)
    for sigma in (4.0, 2.0, 1.5, 1.2, 1.0, 0.6):
        s = y + sigma * noise
        l1, l0 = (
            np.exp(-((s - 1) ** 2) / (2 * sigma**2)),
            np.exp(-(s**2) / (2 * sigma**2)),
        )
        post = prior * l1 / (prior * l1 + (1 - prior) * l0)
        row(table, f"score = y + {sigma:g} x noise", post, cost, args.split)

    print("\n== 3. cascade on stored responses (ARC, Winogrande; MBPP -> one model)")
    index = {p: i for i, p in enumerate(table.prompts)}
    answer = np.full((n, m), "", dtype=object)
    csv.field_size_limit(10**9)
    for path in sorted((data_dir / "routerbench").glob("*_train.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for rec in csv.DictReader(handle):
                i = index.get(_router_prompt(rec["prompt"]))
                if i is None:
                    continue
                for j, model in enumerate(table.models):
                    raw = rec.get(f"{model}|model_response", "")
                    with contextlib.suppress(ValueError, SyntaxError, TypeError):
                        raw = " ".join(ast.literal_eval(raw))
                    hit = re.match(r"\s*\(?([A-D])\b", raw)
                    answer[i, j] = hit.group(1) if hit else raw[:200]
    g4 = table.models.index(GPT4)
    g4_cost = table.cost[:, g4].mean()
    mcq = tasks != "mbpp"
    short = {mod.split("/")[-1]: j for j, mod in enumerate(table.models)}
    sets = (
        ["Yi-34B-Chat", "mixtral-8x7b-chat"],
        ["Yi-34B-Chat", "gpt-3.5-turbo-1106"],
        ["Yi-34B-Chat", "mixtral-8x7b-chat", "gpt-3.5-turbo-1106"],
        ["Yi-34B-Chat", "mixtral-8x7b-chat", "claude-instant-v1"],
    )
    print(f"   gpt-4 alone: accuracy {y[:, g4].mean():.4f} at 100% of its cost")
    for cheap in sets:
        cols = [short[c] for c in cheap]
        ans = answer[:, cols]
        agree = np.all(ans == ans[:, :1], axis=1) & np.isin(ans[:, 0], list("ABCD"))
        for mbpp in ("gpt-3.5-turbo-1106", GPT4):
            q = np.where(agree, y[:, cols[0]], y[:, g4])
            c = table.cost[:, cols].sum(1) + np.where(agree, 0.0, table.cost[:, g4])
            q = np.where(mcq, q, y[:, table.models.index(mbpp)])
            c = np.where(mcq, c, table.cost[:, table.models.index(mbpp)])
            print(
                f"   call {'+'.join(cheap):52s} MBPP->{mbpp.split('-1106')[0]:13s} "
                f"escalate {1 - agree[mcq].mean():.3f}  accuracy {q.mean():.4f} at "
                f"{100 * c.mean() / g4_cost:5.1f}% of gpt-4's cost"
            )

    print(
        "\n== 4. same-question difficulty measured on 7 other models (RouterDC), a "
        "lookup that new prompts do not have"
    )
    hard = _difficulty_lookup(data_dir, table, questions)
    has = ~np.isnan(hard)
    for t in ("arc-challenge", "mbpp"):
        sel = has & (tasks == t)
        aucs = ", ".join(
            f"{mod.split('/')[-1]} {auc(hard[sel], y[sel, j]):.2f}"
            for j, mod in enumerate(table.models)
        )
        print(f"   {t}: {sel.sum()} of {(tasks == t).sum()} prompts found; AUC {aucs}")
    feature = np.where(has, hard, 0.0)[:, None]

    def lookup(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        out = np.zeros((te.sum(), m))
        for t in names:
            a, b = tr & (tasks == t), te & (tasks == t)
            out[tasks[te] == t] = y[a].mean(0) if a.any() else y[tr].mean(0)
            a, b = a & has, b & has
            if a.sum() > 20 and b.any():
                pos = np.flatnonzero(b[te])
                for j in range(m):
                    w = logreg(feature[a], y[a, j], 1e-3)
                    out[pos, j] = 1 / (1 + np.exp(-(w[0] + feature[b] @ w[1:])))
        return out

    _header()
    row(table, "task prior + same-question difficulty", oof(lookup), cost, args.split)


if __name__ == "__main__":
    main()
