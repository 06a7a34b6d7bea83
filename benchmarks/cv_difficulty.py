"""Leave-one-source-out cross-validation of difficulty-router recipes.

Never touches the evaluation benchmarks: each CV task holds out one training source
(or family), also drops training rows within cosine 0.95 of a held-out prompt, refits
the heads and reports APGR (exact) on the held-out prompts for one (strong, weak)
pair. This is how the shipped recipe was chosen (docs/results.md).

Usage (about a minute per alpha with cached embeddings)::

    .venv/bin/python benchmarks/cv_difficulty.py --embedding-store emb_store.npz \
        --alpha 1 --alpha 100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefroute.config import resolve_data_dir
from prefroute.embed import DEFAULT_EMBEDDER
from prefroute.evals.metrics import exact_curve
from prefroute.routers.difficulty import DifficultyRouter
from prefroute.train import difficulty as D
from prefroute.train.pipeline import training_embedder

NEMO, MIS7 = "llama-3.3-nemotron-super-49b-v1", "mistral-7b-instruct-v0.3"
# name -> (column, value selecting the held-out rows, strong, weak)
TASKS: dict[str, tuple[str, str, str, str]] = {
    "rb_pair": ("family", "routerbench", D.STRONG, D.WEAK_RB),
    "rp_pair": (
        "family",
        "routeprofile",
        "llama-3.3-70b-instruct",
        "mixtral-8x7b-instruct-v0.1",
    ),
    "gsm_dc": (
        "source",
        "routerdc/gsm8k-train",
        "meta-math/MetaMath-Mistral-7B",
        "mistralai/Mistral-7B-v0.1",
    ),
    "gsm_ulab": ("source", "llmrouter/gsm8k", NEMO, MIS7),
    "mmlu_ulab": ("source", "llmrouter/mmlu", NEMO, MIS7),
    "ulab_pool": ("family", "llmrouter", NEMO, MIS7),
    "alpaca_pair": ("family", "alpaca", "", ""),
}
CANDIDATES: dict[str, dict[str, float]] = {
    "len": {},
    "floor: fail_pct+len": {"fail_pct": 1.0},
    "fail": {"fail": 1.0},
    "fail+len": {"fail": 1.0},
    "gap": {"gap": 1.0},
    "gap+gap_pct+len": {"gap": 1.0, "gap_pct": 1.0},
    "fail+gap": {"fail": 1.0, "gap": 1.0},
    "chat": {"chat": 1.0},
}
WITH_LENGTH = {"len", "floor: fail_pct+len", "fail+len", "gap+gap_pct+len"}


def _apgr(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    curve = exact_curve(score, strong, weak)
    qs, qw = strong.mean(), weak.mean()
    pgr = (np.asarray(curve.quality) - qw) / (qs - qw)
    return float(np.trapezoid(pgr, np.asarray(curve.strong_share)))


def main() -> None:
    """Run every CV task for every candidate and alpha; print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--embedding-store", type=Path, default=None)
    ap.add_argument("--alpha", type=float, action="append", default=[])
    args = ap.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    embedder = training_embedder(DEFAULT_EMBEDDER)
    if args.embedding_store is not None:
        print("preloaded", embedder.load_store(args.embedding_store), "vectors")
    table, emb = D.clean_table(data_dir, embedder)
    targets = table.arrays()
    cols = {"family": np.asarray(table.family), "source": np.asarray(table.source)}
    alpaca_pair = targets["pair"]
    for alpha in args.alpha or [1.0]:
        print(f"\nalpha={alpha}")
        print(f"{'candidate':22s}" + "".join(f"{t:>12s}" for t in TASKS) + "    mean")
        results: dict[str, list[float]] = {c: [] for c in CANDIDATES}
        for col, value, strong, weak in TASKS.values():
            held = cols[col] == value
            if strong:
                held &= np.array(
                    [
                        r is not None and strong in r.scores and weak in r.scores
                        for r in table.records
                    ]
                )
                sq = np.array(
                    [table.records[i].scores[strong] for i in np.flatnonzero(held)]
                )  # type: ignore[union-attr]
                wq = np.array(
                    [table.records[i].scores[weak] for i in np.flatnonzero(held)]
                )  # type: ignore[union-attr]
            else:
                held &= np.isfinite(alpaca_pair)
                sq = alpaca_pair[held]
                wq = 1.0 - sq
            he = emb[held]
            near = np.concatenate(
                [
                    (emb[s : s + 4096] @ he.T).max(axis=1) > 0.95
                    for s in range(0, len(table), 4096)
                ]
            )
            train = ~near & (cols[col] != value)
            texts = [table.texts[i] for i in np.flatnonzero(held)]
            for cand, heads in CANDIDATES.items():
                use_len = cand in WITH_LENGTH
                fit_heads = {
                    h: targets[h][train]
                    for h in heads
                    if np.isfinite(targets[h][train]).sum() >= 2
                }
                if len(fit_heads) < len(heads):
                    results[cand].append(np.nan)
                    continue
                weights = dict(heads)
                if not fit_heads:  # length only: a dummy head with weight 0
                    fit_heads = {"fail": targets["fail"][train]}
                    weights = {"fail": 0.0}
                router = DifficultyRouter(
                    embedder=DEFAULT_EMBEDDER,
                    alpha=alpha,
                    length_weight=1.0 if use_len else 0.0,
                    head_weights=weights,
                )
                router.fit_targets(
                    [table.texts[i] for i in np.flatnonzero(train)],
                    fit_heads,
                    embeddings=emb[train],
                )
                parts = router.head_scores(texts, embeddings=he)
                w = router._weights()
                names = [*router.heads_, "length"]  # type: ignore[misc]
                avg = sum(wk * parts[n] for wk, n in zip(w, names, strict=True))
                results[cand].append(_apgr(np.asarray(avg), sq, wq))
        for cand, vals in results.items():
            arr = np.array(vals)
            print(
                f"{cand:22s}"
                + "".join(f"{v:12.3f}" for v in arr)
                + f"{np.nanmean(arr):8.3f}"
            )


if __name__ == "__main__":
    main()
