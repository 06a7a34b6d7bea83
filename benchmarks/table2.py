"""The paper's Table 2 in our form: router x training mixture x benchmark.

Mixtures: ``judge`` (AlpacaEval judge battles only), ``golden`` (golden labels
only: RouterBench, RouterDC, LLMRouter, RouteProfile), ``all`` (both). Benchmarks:
MT Bench (72), MMLU (14,037), GSM8K (the 25-row sample: huge intervals). Metrics:
APGR exact and by the paper's 10-bin method, CPT(50%), CPT(80%), 95% bootstrap
intervals. Training prompts within cosine 0.95 of any evaluation prompt are dropped.

Routers: random; prompt length; ``default`` and ``default-chat`` (ours: the shipped
difficulty recipes ``floor`` and ``floor-reasoning``, retrained per mixture on exact
``minilm`` vectors); every shipped checkpoint as users load it (own embedder spec,
``minilm-dq8``; listed under mixture "shipped"). The paper's routers retrained per
mixture are `benchmarks/train_eval.py`'s job. ``--ablation`` adds the per-source
ablation of the ``default`` recipe. ``--new-sources`` adds the newer label sources
(gemini-benchmark and CRUXEval golden labels, EloBench's judged questions) as
mixtures for both recipes (``all + <source>``, ``all + new``, ``judge +
elobench``) and, with ``--ablation``, as ``only <source>`` rows.

Usage (a few minutes on 2 cores once embeddings are cached)::

    .venv/bin/python benchmarks/table2.py --embedding-store emb_store.npz \
        [--ablation] [--new-sources] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefroute.config import resolve_data_dir
from prefroute.data.benchmarks import load_benchmark
from prefroute.evals.harness import evaluate_router_scores
from prefroute.routers.difficulty import log_length
from prefroute.routers.registry import load_router, shipped_checkpoints
from prefroute.train import difficulty as D
from prefroute.train.pipeline import training_embedder

BENCHMARKS = ("mt-bench", "mmlu", "gsm8k")
MIXTURES: dict[str, tuple[str, ...]] = {
    "judge": ("alpaca",),
    "golden": ("routerbench", "routerdc", "llmrouter", "routeprofile"),
    "all": ("routerbench", "routerdc", "llmrouter", "routeprofile", "alpaca"),
}
NEW_SOURCES = ("gemini_benchmark", "crux", "elobench")
NEW_MIXTURES: dict[str, tuple[str, ...]] = {
    **{f"all + {fam}": (*MIXTURES["all"], fam) for fam in NEW_SOURCES},
    "all + new": (*MIXTURES["all"], *NEW_SOURCES),
    "judge + elobench": ("alpaca", "elobench"),
}
METRICS = ("APGR", "APGR_10bin", "CPT50", "CPT80")
TRAIN_EMBEDDER = "minilm"


def _fmt(res: Any, key: str) -> str:
    value = res.metrics.get(key, float("nan"))
    lo, hi = res.intervals.get(key, (float("nan"), float("nan")))
    if not np.isfinite(value):
        return "    n/a          "
    return f"{value:.3f} [{lo:.2f},{hi:.2f}]"


def main() -> None:
    """Train per mixture, score every benchmark, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--embedding-store", type=Path, default=None)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--ablation", action="store_true")
    ap.add_argument("--new-sources", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    # The shipped difficulty routers train on exact fp32 `minilm` vectors (their
    # recipe's `embedder`); the per-mixture rows are trained and scored on them.
    embedder = training_embedder(TRAIN_EMBEDDER)
    if args.embedding_store is not None:
        print("preloaded", embedder.load_store(args.embedding_store), "vectors")
    benches = {b: load_benchmark(b, data_dir) for b in BENCHMARKS}
    bench_emb = {b: embedder.embed(list(s.prompts)) for b, s in benches.items()}
    families = (*D.DEFAULT_FAMILIES, *NEW_SOURCES) if args.new_sources else None
    table, emb = D.clean_table(
        data_dir, embedder, table=D.build_table(data_dir, families=families)
    )
    if args.embedding_store is not None:
        embedder.save_store(args.embedding_store)

    scores: dict[str, dict[str, np.ndarray]] = {b: {} for b in BENCHMARKS}
    rows: list[tuple[str, str]] = []
    for b, s in benches.items():
        scores[b]["random"] = np.stack(
            [np.random.default_rng(k).random(len(s)) for k in range(20)]
        )
        scores[b]["length"] = log_length(list(s.prompts))
    rows += [("random", "-"), ("length", "-")]

    variants: dict[str, tuple[str, ...]] = dict(MIXTURES)
    both = set(MIXTURES)  # mixtures fitted for both recipes
    if args.new_sources:
        variants.update(NEW_MIXTURES)
        both |= set(NEW_MIXTURES)
    if args.ablation:
        every = MIXTURES["all"]
        for fam in every:
            variants[f"all - {fam}"] = tuple(f for f in every if f != fam)
            variants[f"only {fam}"] = (fam,)
        if args.new_sources:
            for fam in NEW_SOURCES:
                variants[f"only {fam}"] = (fam,)
    # The shipped difficulty recipes (`prefroute train default|default-chat`),
    # retrained per mixture; the ablation varies the `default` recipe only.
    for name, recipe in D.SHIPPED_HEADS.items():
        for label, families in variants.items():
            if name != "default" and label not in both:
                continue
            router = D.fit_difficulty(
                table, emb, families=families, embedder=TRAIN_EMBEDDER, recipe=recipe
            )
            for b, s in benches.items():
                scores[b][f"{name}|{label}"] = router.score(
                    list(s.prompts), embeddings=bench_emb[b]
                )
            rows.append((name, label))

    for name in shipped_checkpoints():
        try:
            # Each with its own embedder spec (minilm-dq8), as users get it.
            router = load_router(name)
        except Exception as exc:
            print(f"skip shipped {name}: {exc}")
            continue
        for b, s in benches.items():
            scores[b][f"{name}|shipped"] = router.score(list(s.prompts))
        rows.append((name, "shipped"))

    out: dict[str, Any] = {}
    header = f"{'router':14s} {'mixture':22s} {'bench':9s} " + " ".join(
        f"{m:>17s}" for m in METRICS
    )
    print(header)
    for b, s in benches.items():
        report = evaluate_router_scores(s, scores[b], n_bootstrap=args.n_bootstrap)
        for router_name, mixture in rows:
            key = router_name if mixture == "-" else f"{router_name}|{mixture}"
            res = report.routers[key]
            print(
                f"{router_name:14s} {mixture:22s} {b:9s} "
                + " ".join(_fmt(res, m) for m in METRICS)
            )
            out.setdefault(key, {})[b] = {
                "metrics": res.metrics,
                "intervals": {k: list(v) for k, v in res.intervals.items()},
            }
        print()
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
