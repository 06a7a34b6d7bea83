"""Cost-quality frontier of the mf-multi router on RouterBench (RouterDC, LLMRouter).

Cross-validates over prompts (5-fold random split, and leave-one-task-out), prints
AIQ, the cost to match the best single model and the quality at the cheapest model's
cost for the router and every baseline, and writes JSON + PNG files. The router is
the shipped recipe (factorisation + task prior, `--task-shrink 0.5`); the
factorisation alone (`task_shrink=None`) is reported as one more row, "router-mf".
`--llmrouter` adds LLMRouter's 9 open models (both splits), priced by the USD per 1M
input / output tokens its authors list (`benchmark_prices`).

Usage:
    PREFROUTE_DATA_DIR=/path/to/data OPENBLAS_NUM_THREADS=1 \
        .venv/bin/python benchmarks/multi_routerbench.py --out docs/img \
        [--routerdc] [--llmrouter]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from prefroute.config import resolve_data_dir
from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.evals.multi import (
    MultiEvalResult,
    benchmark_prices,
    cross_validate_multi,
    golden_table,
    json_safe,
    load_golden,
    plot_multi_eval,
)
from prefroute.routers.multi import MultiModelRouter

PAPER_PAIR = ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat")


def _print(result: MultiEvalResult, seconds: float) -> None:
    best_cost, best_q = result.single[result.best_model]
    cheap_cost, cheap_q = result.single[result.cheapest_model]
    unit = "$" if result.cost_unit == "USD" else "unit "
    print(
        f"\n== {result.benchmark} / {result.split} split: {result.n_prompts} prompts, "
        f"{seconds:.0f}s\n   best single {result.best_model}: quality {best_q:.4f} at "
        f"{unit}{best_cost:.6f}/query; cheapest {result.cheapest_model}: {cheap_q:.4f} "
        f"at {unit}{cheap_cost:.6f}"
        + ("" if unit == "$" else " (no costs in the data: every model costs 1)")
    )
    print(
        f"   {'method':58s} {'AIQ':>7s} {'match':>7s} {'hull':>7s} {'q@cheap':>8s} "
        f"{'q@40%':>7s}"
    )
    for summary in result.methods.values():
        match = summary.cost_to_match_best / best_cost
        hull = summary.cost_to_match_best_hull / best_cost
        print(
            f"   {summary.name:58s} {summary.aiq:7.4f} {100 * match:6.1f}% "
            f"{100 * hull:6.1f}% {summary.quality_at_cheapest:8.4f} "
            f"{summary.quality_at_40pct:7.4f}"
        )


def _check_same_baselines(a: MultiEvalResult, b: MultiEvalResult) -> None:
    """Both runs saw the same table (same single models)."""
    assert a.single == b.single


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--json-dir", type=Path, default=None)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--l2", type=float, default=3e-3)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--tail-chars", type=int, default=384)
    parser.add_argument(
        "--task-shrink",
        type=float,
        default=0.5,
        help="Task prior share of the MF's within-task signal; negative: MF only.",
    )
    parser.add_argument(
        "--no-mf-row", action="store_true", help="Skip the MF-only comparison row."
    )
    parser.add_argument(
        "--routerdc", action="store_true", help="Also RouterDC (7 models)."
    )
    parser.add_argument(
        "--only-routerdc", action="store_true", help="RouterDC only (no RouterBench)."
    )
    parser.add_argument(
        "--llmrouter", action="store_true", help="Also LLMRouter (9 priced models)."
    )
    parser.add_argument("--only-llmrouter", action="store_true", help="LLMRouter only.")
    args = parser.parse_args()
    data_dir = resolve_data_dir(None)
    embedder = CachedEmbedder(get_embedder(args.embedder), memory_items=1_000_000)

    def factory(task_shrink: float | None) -> Callable[[], MultiModelRouter]:
        def make() -> MultiModelRouter:
            return MultiModelRouter(
                embedder=embedder,
                dim=args.dim,
                l2=args.l2,
                n_epochs=args.epochs,
                tail_chars=args.tail_chars or None,
                task_shrink=task_shrink,
            )

        return make

    shrink = args.task_shrink if args.task_shrink >= 0 else None

    runs = [("routerbench", "random"), ("routerbench", "task")]
    if args.only_routerdc or args.only_llmrouter:
        runs = []
    if args.routerdc or args.only_routerdc:
        runs.append(("routerdc", "random"))
    if args.llmrouter or args.only_llmrouter:
        runs += [("llmrouter", "random"), ("llmrouter", "task")]
    json_dir = args.json_dir or args.out
    for benchmark, split in runs:
        table = golden_table(
            load_golden(benchmark, data_dir),
            prices=benchmark_prices(benchmark, data_dir),
        )
        start = time.perf_counter()
        pair = PAPER_PAIR if benchmark == "routerbench" else None
        result = cross_validate_multi(
            table,
            factory(shrink),
            benchmark=benchmark,
            split=split,
            n_folds=5,
            pair=pair,
        )
        if shrink is not None and not args.no_mf_row:
            # The factorisation alone on the same folds: one more row.
            mf = cross_validate_multi(
                table, factory(None), benchmark=benchmark, split=split, n_folds=5
            )
            row = mf.methods["router"]
            row.name = "router-mf (factorisation only)"
            result.methods["router-mf"] = row
            _check_same_baselines(result, mf)
        _print(result, time.perf_counter() - start)
        stem = f"multi_{benchmark}_{split}"
        plot_multi_eval(result, args.out / f"{stem}.png")
        json_dir.mkdir(parents=True, exist_ok=True)
        (json_dir / f"{stem}.json").write_text(
            json.dumps(json_safe(result.as_dict()), indent=1, allow_nan=False) + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
