"""Train routers from a recipe and print APGR (exact and 10-bin) per benchmark.

Validation that never touches the evaluation benchmarks: with ``--holdout-source
routerbench`` the routers are trained without RouterBench and scored on RouterBench's
own prompts with the paper's pair (gpt-4-1106-preview vs Mixtral golden labels).

Usage:
    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/train_eval.py \
        --recipe examples/recipes/default.yaml --embedding-store emb_store.npz \
        --router mf --router sw_ranking --router classifier
    # a router variant: --router 'mf:dim=64,n_epochs=500'
    # a shipped checkpoint folder: --load src/prefroute/checkpoints/mf
    # one more source on top of the recipe's: --add-source elobench:0.1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from prefroute.config import resolve_data_dir
from prefroute.data.benchmarks import DEFAULT_PAIR, load_benchmark
from prefroute.data.golden import load_routerbench
from prefroute.evals.harness import evaluate_router_scores
from prefroute.train.pipeline import build_battles, train_router, training_embedder
from prefroute.train.recipe import SourceSpec, load_recipe
from prefroute.types import BenchmarkSet


def _parse(spec: str) -> tuple[str, dict[str, Any]]:
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return name, params


def _routerbench_pair(data_dir: Path) -> BenchmarkSet:
    recs = [
        r
        for r in load_routerbench(data_dir, canonical=True)
        if DEFAULT_PAIR.strong in r.scores and DEFAULT_PAIR.weak in r.scores
    ]
    return BenchmarkSet(
        name="routerbench-holdout",
        prompts=[r.prompt for r in recs],
        strong_quality=np.array([r.scores[DEFAULT_PAIR.strong] for r in recs]),
        weak_quality=np.array([r.scores[DEFAULT_PAIR.weak] for r in recs]),
        pair=DEFAULT_PAIR,
    )


def main() -> None:
    """Run the benchmark and print one line per router and benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipe", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--embedding-store", type=Path, default=None)
    ap.add_argument("--router", action="append", default=[])
    ap.add_argument("--load", action="append", default=[], type=Path)
    ap.add_argument("--holdout-source", default=None)
    ap.add_argument(
        "--add-source",
        action="append",
        default=[],
        help="KIND[:WEIGHT]: a source added to the recipe's (repeatable)",
    )
    ap.add_argument("--benchmarks", default="mt-bench,mmlu,gsm8k")
    ap.add_argument("--n-bootstrap", type=int, default=0, help="for 95%% intervals")
    ap.add_argument("--label", default=None, help="mixture name in the --json rows")
    ap.add_argument("--json", type=Path, default=None, help="append rows (JSONL)")
    args = ap.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    recipe = load_recipe(args.recipe)
    emb = training_embedder(recipe.embedder)
    if args.embedding_store is not None:
        print("preloaded", emb.load_store(args.embedding_store), "vectors")
    if args.add_source:
        added = []
        for item in args.add_source:
            kind, _, weight = item.partition(":")
            added.append(SourceSpec(kind=kind, weight=float(weight or 1.0)))
        recipe = recipe.model_copy(update={"sources": (*recipe.sources, *added)})
    benches: list[BenchmarkSet] = []
    if args.holdout_source:
        kept = tuple(s for s in recipe.sources if s.kind != args.holdout_source)
        recipe = recipe.model_copy(update={"sources": kept})
        if args.holdout_source == "routerbench":
            benches.append(_routerbench_pair(data_dir))
    benches += [load_benchmark(b, data_dir) for b in args.benchmarks.split(",") if b]
    routers: dict[str, Any] = {}
    if args.router:
        t0 = time.time()
        data = build_battles(recipe, data_dir, emb)
        print(f"built battles in {time.time() - t0:.0f}s")
        print(data.summary().split("\nmodels")[0])
        for spec in args.router:
            name, params = _parse(spec)
            t0 = time.time()
            routers[spec] = train_router(name, recipe, data, emb, **params)
            print(f"trained {spec} in {time.time() - t0:.1f}s")
    from prefroute.routers import load_router

    for folder in args.load:
        routers[str(folder)] = load_router(folder, embedder=emb)
    if args.embedding_store is not None:
        emb.save_store(args.embedding_store)
    print(
        f"{'router':40s} {'benchmark':20s} {'APGR':>18s} {'APGR10':>18s} "
        f"{'CPT50':>6s} {'CPT80':>6s}"
    )
    rows: list[dict[str, Any]] = []
    for bench in benches:
        scores = {k: r.score(list(bench.prompts)) for k, r in routers.items()}
        report = evaluate_router_scores(bench, scores, n_bootstrap=args.n_bootstrap)
        for k, res in report.routers.items():
            m, ci = res.metrics, res.intervals

            def cell(key: str, m: dict[str, float] = m, ci: Any = ci) -> str:
                if key in ci:
                    return f"{m[key]:.3f} [{ci[key][0]:.2f},{ci[key][1]:.2f}]"
                return f"{m[key]:.3f}"

            print(
                f"{k:40s} {bench.name:20s} {cell('APGR'):>18s} "
                f"{cell('APGR_10bin'):>18s} {m.get('CPT50', float('nan')):6.3f} "
                f"{m.get('CPT80', float('nan')):6.3f}"
            )
            rows.append(
                {
                    "router": k,
                    "mixture": args.label or str(args.recipe),
                    "benchmark": bench.name,
                    "metrics": m,
                    "intervals": {key: list(v) for key, v in ci.items()},
                }
            )
    if args.json is not None:
        with args.json.open("a", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
