"""Do the newer label sources help the paper's routers (mf, sw_ranking, classifier)?

Validation that never touches the evaluation benchmarks, as the shipped recipe was
chosen (leave-RouterBench-out, `train_eval.py --holdout-source routerbench`),
extended to every source that grades the paper's strong model: for each training
mixture (the shipped `examples/recipes/default.yaml` plus one newer source) and each
held-out source, the routers are trained without that source and score its prompts
with its golden labels:

- ``rb``: RouterBench held out, gpt-4-1106-preview vs Mixtral-8x7B (2,217 prompts);
- ``gb``: gemini-benchmark held out, the same pair on SVAMP, MultiArith, HumanEval
  and ODEX (2,203 prompts);
- ``cx``: CRUXEval held out, gpt-4-0314 vs Mixtral-8x7B (800 prompts; the routers
  score their gpt-4-1106-preview vs Mixtral pair, a proxy).

A held-out source that is also the mixture's addition is skipped (that cell would
be the base mixture's). Exact APGR; the held-out prompts and every training prompt
within cosine 0.95 of an evaluation prompt (MT Bench, MMLU, GSM8K) are dropped as in
training. ``--bootstrap N`` adds, for every later mixture, its APGR difference to the
first mixture's with a 95 % paired bootstrap interval over the held-out prompts (the
same draws for both); ``--router`` restricts the routers.

Usage (~25 min on 2 busy cores with a warm embedding store)::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/cv_battle_sources.py \
        --embedding-store /tmp/emb_store.npz --json cv_battles.json
    # one router, two mixtures, paired intervals:
    ... --router classifier --mixture "base (shipped)" --mixture "+ elobench" \
        --holdout rb --holdout gb --bootstrap 1000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prefroute.config import resolve_data_dir
from prefroute.data.golden import load_crux, load_gemini_benchmark, load_routerbench
from prefroute.evals.metrics import apgr, exact_curve
from prefroute.train.pipeline import build_battles, train_router, training_embedder
from prefroute.train.recipe import Recipe, SourceSpec, load_recipe

ROUTERS = ("mf", "sw_ranking", "classifier")
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
#: Mixture name -> sources added to the shipped recipe's.
ADDITIONS: dict[str, tuple[SourceSpec, ...]] = {
    "base (shipped)": (),
    "+ elobench": (SourceSpec(kind="elobench", weight=1.0),),
    "+ elobench x0.1": (SourceSpec(kind="elobench", weight=0.1),),
    "+ gemini-benchmark": (SourceSpec(kind="gemini_benchmark"),),
    "+ crux": (SourceSpec(kind="crux"),),
    "+ all three": (
        SourceSpec(kind="elobench", weight=1.0),
        SourceSpec(kind="gemini_benchmark"),
        SourceSpec(kind="crux"),
    ),
}
HOLDOUTS = {"rb": "routerbench", "gb": "gemini_benchmark", "cx": "crux"}
Array = npt.NDArray[np.float64]


def paired_delta(
    a: Array, b: Array, strong: Array, weak: Array, n_boot: int, seed: int = 0
) -> tuple[float, float, float]:
    """APGR(a) - APGR(b) on the same prompts, with a 95 % paired bootstrap interval.

    Args:
        a: Scores of one router, shape (n,).
        b: Scores of the other, shape (n,).
        strong: Strong model's quality per prompt.
        weak: Weak model's quality per prompt.
        n_boot: Resamples.
        seed: Seed of the resampling.

    Returns:
        (difference, 2.5th percentile, 97.5th percentile).
    """

    def value(s: Array, idx: npt.NDArray[np.int64]) -> float:
        q_s, q_w = strong[idx], weak[idx]
        curve = exact_curve(s[idx], q_s, q_w)
        return apgr(curve, float(q_s.mean()), float(q_w.mean()))

    rng = np.random.default_rng(seed)
    every = np.arange(len(a))
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        diffs.append(value(a, idx) - value(b, idx))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return value(a, every) - value(b, every), float(lo), float(hi)


def holdout_sets(data_dir: Path) -> dict[str, tuple[list[str], Any, Any]]:
    """Held-out source -> (prompts, strong quality, weak quality)."""
    out: dict[str, tuple[list[str], Any, Any]] = {}
    for key, records, strong in (
        ("rb", load_routerbench(data_dir, canonical=True), STRONG),
        ("gb", load_gemini_benchmark(data_dir, canonical=True), STRONG),
        ("cx", load_crux(data_dir, canonical=True), "gpt-4-0314"),
    ):
        recs = [r for r in records if strong in r.scores and WEAK in r.scores]
        out[key] = (
            [r.prompt for r in recs],
            np.array([r.scores[strong] for r in recs]),
            np.array([r.scores[WEAK] for r in recs]),
        )
    return out


def mixture(base: Recipe, name: str, holdout: str) -> Recipe:
    """The shipped recipe plus `name`'s sources, without the held-out kind."""
    sources = [*base.sources, *ADDITIONS[name]]
    kept = tuple(s for s in sources if s.kind != holdout)
    return base.model_copy(update={"sources": kept})


def main() -> None:
    """Train per mixture and held-out source, print APGR per router."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--recipe", type=Path, default=Path("examples/recipes/default.yaml")
    )
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--embedding-store", type=Path, default=None)
    ap.add_argument("--mixture", action="append", default=None)
    ap.add_argument("--holdout", action="append", default=None, choices=HOLDOUTS)
    ap.add_argument("--router", action="append", default=None, choices=ROUTERS)
    ap.add_argument("--bootstrap", type=int, default=0, help="paired resamples")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    routers = args.router or list(ROUTERS)
    t0 = time.time()
    data_dir = resolve_data_dir(args.data_dir)
    base = load_recipe(args.recipe)
    emb = training_embedder(base.embedder)
    if args.embedding_store is not None:
        print("preloaded", emb.load_store(args.embedding_store), "vectors")
    sets = holdout_sets(data_dir)
    report: dict[str, dict[str, dict[str, float]]] = {}
    first: dict[tuple[str, str], Array] = {}  # (router, holdout) -> first mixture's
    for name in args.mixture or list(ADDITIONS):
        for key in args.holdout or list(HOLDOUTS):
            kind = HOLDOUTS[key]
            if any(s.kind == kind for s in ADDITIONS[name]):
                continue
            recipe = mixture(base, name, kind)
            data = build_battles(recipe, data_dir, emb)
            prompts, strong, weak = sets[key]
            for router_name in routers:
                router = train_router(router_name, recipe, data, emb)
                scores = router.score(prompts)
                curve = exact_curve(scores, strong, weak)
                value = apgr(curve, float(strong.mean()), float(weak.mean()))
                cells = report.setdefault(name, {}).setdefault(router_name, {})
                cells[key] = value
                ref = first.setdefault((router_name, key), scores)
                delta = ""
                if args.bootstrap and ref is not scores:
                    d, lo, hi = paired_delta(scores, ref, strong, weak, args.bootstrap)
                    cells[f"d_{key}"], cells[f"d_{key}_lo"], cells[f"d_{key}_hi"] = (
                        d,
                        lo,
                        hi,
                    )
                    delta = f", vs first {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                print(
                    f"{name:20s} holdout {key}: {router_name:10s} {value:.3f}{delta} "
                    f"({len(data.battles)} battles, {time.time() - t0:.0f}s)",
                    flush=True,
                )
            if args.embedding_store is not None:
                emb.save_store(args.embedding_store)
    print()
    print(
        f"{'mixture':20s} "
        + " ".join(f"{r + '.' + k:>14s}" for r in routers for k in HOLDOUTS)
    )
    for name, by_router in report.items():
        cells = [
            f"{by_router[r][k]:14.3f}" if k in by_router[r] else f"{'-':>14s}"
            for r in routers
            for k in HOLDOUTS
        ]
        print(f"{name:20s} " + " ".join(cells))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
