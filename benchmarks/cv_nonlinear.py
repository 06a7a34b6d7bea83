"""Do nonlinear heads help the `default` recipes? Cross-validation, no benchmarks.

The same protocol, folds and metrics as `cv_quality.py` (leave-task-out and
leave-family-out, near duplicates of held-out prompts dropped from training; W, P, Q,
rb), but each ridge head sees one of three feature sets:

- ``lin``: ``[embedding, z(log length), 1]``, the shipped router's features;
- ``rfN``: the same plus N random ReLU features of the embedding,
  ``relu(e @ G + b)`` (G Gaussian, b uniform), standardised: a random-feature
  approximation of a kernel ridge, i.e. a nonlinear head with the same penalty.

Usage (~2 min with a warm embedding store)::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/cv_nonlinear.py \
        --embedder minilm --embedding-store emb_store.npz
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv_quality as C

from prefroute.train import difficulty as D

FloatArray = npt.NDArray[np.float64]

# (number of random features, scale of the Gaussian projection)
RANDOM_FEATURES = ((1024, 1.0), (2048, 2.0))
CANDIDATES: dict[str, dict[str, float]] = {
    "floor@1": {"fail_pct@1": 1, "len": 1},
    "floor@10": {"fail_pct@10": 1, "len": 1},
    "floor@100": {"fail_pct@100": 1, "len": 1},
    "floor@1 + reasoning": {"fail_pct@1": 1, "len": 1, "reasoning@10": 1},
    "floor@10 + reasoning": {"fail_pct@10": 1, "len": 1, "reasoning@10": 1},
}


def feature_sets(emb: FloatArray, zlen: FloatArray, seed: int) -> dict[str, FloatArray]:
    """The linear features and one random-ReLU expansion per `RANDOM_FEATURES`."""
    n, d = emb.shape
    tail = np.hstack([zlen[:, None], np.ones((n, 1))])
    out = {"lin": np.hstack([emb, tail])}
    rng = np.random.default_rng(seed)
    for width, scale in RANDOM_FEATURES:
        proj = rng.normal(size=(d, width)) * scale
        bias = rng.uniform(-0.5, 0.5, width)
        rf = np.maximum(emb @ proj + bias, 0.0)
        # standardised, then scaled so the block's total variance matches d columns
        rf = (rf - rf.mean(0)) / (rf.std(0) + 1e-9) / np.sqrt(width / d)
        out[f"rf{width}"] = np.hstack([emb, rf, tail])
    return out


def main() -> None:
    """Out-of-fold head percentiles per feature set; print the CV table."""
    ap = C.cv_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    cv = C.load_cv_data(args, t0)
    emb, t, length, zlen = cv.emb, cv.targets, cv.length, cv.zlen
    schemes, sets, pairs = cv.schemes, cv.sets, cv.pairs
    n = len(cv.table)
    ones = np.ones(n)
    heads = {
        "fail_pct@1": C.Head(t["fail_pct"], ones, 1.0),
        "fail_pct@10": C.Head(t["fail_pct"], ones, 10.0),
        "fail_pct@100": C.Head(t["fail_pct"], ones, 100.0),
        "reasoning@10": C.Head(
            t["reasoning"], D.balanced_weights(t["reasoning"]), 10.0
        ),
    }
    rows: list[tuple[str, str, dict[str, dict[str, float]]]] = []
    for fname, x in feature_sets(emb, zlen, args.seed).items():
        results: dict[str, dict[str, dict[str, float]]] = {c: {} for c in CANDIDATES}
        for scheme, fold_of in schemes.items():
            nf = int(fold_of.max()) + 1
            folds = C.Folds(x, fold_of, C.near_sets(pairs, fold_of, nf))
            cols = {"len": folds.length_oof(length)}
            for hname, head in heads.items():
                cols[hname], _ = folds.oof(head)
            for cand, weights in CANDIDATES.items():
                results[cand][scheme] = C.combine_and_score(cols, weights, sets)
        rows.extend((fname, c, r) for c, r in results.items())
        print(f"{fname}: {x.shape[1]} features ({time.time() - t0:.0f}s)")
    C.print_feature_table(rows, schemes, width=9)
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
