"""mf-multi on two embedders, same folds: N-model AIQ with a paired bootstrap.

For each N-model benchmark and split of `multi_routerbench.py` (RouterBench 5-fold
and leave-one-task-out, RouterDC 5-fold, LLMRouter 5-fold and leave-one-task-out),
the shipped mf-multi recipe (factorisation + task prior) is cross-validated once per
embedder on the same folds. Printed per run: each embedder's AIQ, best quality at
40 % of the best model's cost (RouterBench, LLMRouter) and the AIQ difference
B - A with a 95 % paired bootstrap interval over prompts (the out-of-fold
predictions stay fixed; resampling the prompts redraws the single models' costs and
qualities, the curves and AIQ of both embedders together).

Usage (~10 min on 2 cores with MiniLM vectors cached)::

    PREFROUTE_DATA_DIR=../shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/multi_embedders.py --a minilm --b minilm-static --json out.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from prefroute.config import resolve_data_dir
from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.evals.multi import (
    GoldenTable,
    aiq,
    benchmark_prices,
    cross_validate_multi,
    curve,
    default_knobs,
    golden_table,
    load_golden,
)
from prefroute.routers.multi import MultiModelRouter

RUNS = [
    ("routerbench", "random"),
    ("routerbench", "task"),
    ("routerdc", "random"),
    ("llmrouter", "random"),
    ("llmrouter", "task"),
]


def router_aiq(
    table: GoldenTable, rows: np.ndarray, pred_q: np.ndarray, pred_c: np.ndarray
) -> float:
    """The router's AIQ on the prompts `rows` (with repeats), as
    `prefroute.evals.multi.evaluate_predictions` computes it."""
    q, c = table.quality[rows], table.cost[rows]
    mean_c, mean_q = c.mean(axis=0), q.mean(axis=0)
    cheapest = int(np.lexsort((-mean_q, mean_c))[0])
    low, high = float(mean_c.min()), float(mean_c.max())
    if not high > low:
        high = low + 1.0
    knobs = default_knobs(pred_c[rows], "utility")
    points = curve(pred_q[rows], pred_c[rows], q, c, knobs, "utility")[:, 1:]
    return aiq(
        points[:, 0],
        points[:, 1],
        (low, high),
        start=(float(mean_c[cheapest]), float(mean_q[cheapest])),
    )


def main() -> None:
    """Cross-validate both embedders per run, then bootstrap the AIQ difference."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", default="minilm", help="embedder spec A (reference)")
    ap.add_argument("--b", default="minilm-static", help="embedder spec B")
    ap.add_argument("--n-bootstrap", type=int, default=300)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    data_dir = resolve_data_dir(None)
    embedders = {
        spec: CachedEmbedder(get_embedder(spec), memory_items=1_000_000)
        for spec in (args.a, args.b)
    }
    report: list[dict[str, Any]] = []
    for benchmark, split in RUNS:
        started = time.perf_counter()
        table = golden_table(
            load_golden(benchmark, data_dir),
            prices=benchmark_prices(benchmark, data_dir),
        )
        preds = {}
        summary: dict[str, Any] = {"benchmark": benchmark, "split": split}
        for spec, embedder in embedders.items():
            result = cross_validate_multi(
                table,
                lambda e=embedder: MultiModelRouter(
                    embedder=e,
                    dim=16,
                    l2=3e-3,
                    n_epochs=400,
                    tail_chars=384,
                    task_shrink=0.5,  # the shipped recipe (prefroute train-multi)
                ),
                benchmark=benchmark,
                split=split,
                n_folds=5,
            )
            preds[spec] = (result.predicted_quality, result.predicted_cost)
            row = result.methods["router"]
            every = np.arange(len(table.prompts))
            check = router_aiq(table, every, *preds[spec])
            assert abs(check - row.aiq) < 1e-9, (check, row.aiq)
            summary[spec] = {"aiq": row.aiq, "quality_at_40pct": row.quality_at_40pct}
        summary["random_mix_aiq"] = result.methods["random-mix"].aiq
        rng = np.random.default_rng(0)
        n = len(table.prompts)
        diffs = []
        for _ in range(args.n_bootstrap):
            rows = rng.integers(0, n, n)
            diffs.append(
                router_aiq(table, rows, *preds[args.b])
                - router_aiq(table, rows, *preds[args.a])
            )
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        summary["aiq_diff"] = summary[args.b]["aiq"] - summary[args.a]["aiq"]
        summary["aiq_diff_interval"] = [float(lo), float(hi)]
        report.append(summary)
        print(
            f"{benchmark:11s} {split:6s} n={n:5d}: AIQ {args.a} "
            f"{summary[args.a]['aiq']:.4f}, {args.b} {summary[args.b]['aiq']:.4f}, "
            f"diff {summary['aiq_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]; q@40% "
            f"{summary[args.a]['quality_at_40pct']:.4f} / "
            f"{summary[args.b]['quality_at_40pct']:.4f}; random mix "
            f"{summary['random_mix_aiq']:.4f} ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
