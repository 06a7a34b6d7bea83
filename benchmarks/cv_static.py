"""Which static MiniLM table? Cross-validation on training sources, no benchmarks.

The protocol, folds and metrics of `cv_quality.py` (leave-task-out and
leave-family-out, near duplicates of held-out prompts dropped from training; W, P,
Q, rb, alp; ``sel2`` = mean of W, P and Q over both schemes), with the shipped
heads: ``floor`` (`default`: fail_pct head at alpha 1 + log length) and
``floor-reasoning`` (`default-chat`: + the task-type head at alpha 10). The training
table and its decontamination come from ``--embedder`` (MiniLM); only the features
change, one row per embedding:

- ``minilm``: the vectors of ``--embedder`` (the reference);
- static tables built from the same word-piece vectors
  (`prefroute.embed.static._token_vectors`: each of MiniLM's 30,522 word pieces
  through the fp32 graph as ``[CLS] piece [SEP]``), a text = the normalised sum of
  its pieces' rows: centred on the vocabulary mean, then ``pcaK`` (the K leading
  principal axes, or all 384 without), and weighted by ``logid`` (log(1 + id), the
  first probe), ``zipf`` (``a / (a + p)`` with p a Zipf law over the vocabulary
  order: no data), or ``count`` (``a / (a + p)`` with p the word pieces' share in
  the training prompts, `prefroute.embed.static.COUNTS_FILE`). ``pca64 count 1e-3``
  is what ``minilm-static`` ships (`TABLE_VERSION` 1);
- ``... -> minilm``: a static table's vectors mapped onto MiniLM's space by a ridge
  regression (alpha 1) fitted on every training prompt's MiniLM vector (no labels;
  a learned distillation in the spirit of model2vec's fine-tuning);
- ``..., distinct``: a text = the normalised sum of its *distinct* pieces' rows (a
  piece counts once however often it occurs); ``..., sqrt`` / ``..., log``: each
  distinct piece weighted by sqrt(count) / log2(1 + count); ``..., +max``: the
  normalised max-pooled rows beside the sum (128 dims); ``..., -pc1``: the first
  principal component of the prompts' vectors removed (SIF's second step);
  ``..., unit var``: every axis scaled to unit variance over the vocabulary.
  ``pca64 count 1e-3, distinct`` (the table of ``minilm-static``) matched MiniLM
  here for the floor head, but `default` retrained on it was worse on MMLU
  (docs/results.md), so no embedder ships it.

The rows of a table refit to the training prompts' MiniLM vectors (tokenlearn-style
regression distillation, refit per fold) are `cv_static_learned.py`'s.

Usage (the table's word-piece pass takes ~15 s on 2 idle cores; MiniLM vectors of
the training prompts come from the embedding cache or store)::

    PREFROUTE_DATA_DIR=../shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/cv_static.py --embedder minilm --embedding-store /tmp/emb_store.npz
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv_quality as C

from prefroute.embed.onnx import built_model_path, minilm_model_dir
from prefroute.embed.static import (
    _load_tokenizer,
    _token_vectors,
    distill,
    load_counts,
    piece_ids,
)
from prefroute.train import difficulty as D

# name -> (PCA axes or 0 for all, weighting, a)
VARIANTS: dict[str, tuple[int, str, float]] = {
    "pca384 logid (probe)": (0, "logid", 0.0),
    "pca384 zipf 1e-4": (0, "zipf", 1e-4),
    "pca256 zipf 1e-4": (256, "zipf", 1e-4),
    "pca64 zipf 1e-4": (64, "zipf", 1e-4),
    "pca256 count 1e-3": (256, "count", 1e-3),
    "pca128 count 1e-3": (128, "count", 1e-3),
    "pca64 count 1e-4": (64, "count", 1e-4),
    "pca64 count 1e-3": (64, "count", 1e-3),
    "pca32 count 1e-3": (32, "count", 1e-3),
    # second round
    "pca96 count 1e-3": (96, "count", 1e-3),
    "pca48 count 1e-3": (48, "count", 1e-3),
    "pca64 count 3e-3": (64, "count", 3e-3),
}
# name -> the VARIANTS entry whose table it sums over each text's distinct pieces
DISTINCT: dict[str, tuple[int, str, float]] = {
    "pca64 count 1e-3, distinct": (64, "count", 1e-3),
    "pca64 count 3e-4, distinct": (64, "count", 3e-4),
    "pca64 count 3e-3, distinct": (64, "count", 3e-3),
    "pca32 count 1e-3, distinct": (32, "count", 1e-3),
    "pca128 count 1e-3, distinct": (128, "count", 1e-3),
}
CANDIDATES = {
    "floor": {"fail@1": 1.0, "len": 1.0},
    "floor-reasoning": {"fail@1": 1.0, "len": 1.0, "reas@10": 1.0},
}


def word_pieces(
    texts: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each text's word pieces (flat ids, pieces per text) and every piece's vector
    through the fp32 graph (vectors, which pieces are empty)."""
    tokenizer = _load_tokenizer(minilm_model_dir(), 256)
    flat, lengths = piece_ids(tokenizer, texts)
    vectors, empty = _token_vectors(
        built_model_path("fused"), tokenizer.get_vocab_size(), 2
    )
    return flat, lengths, vectors, empty


def shipped_heads(cv: Any) -> dict[str, C.Head]:
    """The heads of the shipped recipes: fail_pct at alpha 1, task type at 10."""
    t = cv.targets
    return {
        "fail@1": C.Head(t["fail_pct"], np.ones(len(cv.table)), 1.0),
        "reas@10": C.Head(t["reasoning"], D.balanced_weights(t["reasoning"]), 10.0),
    }


def print_header(schemes: list[str], width: int) -> None:
    """The column heads of `print_candidates`' rows."""
    print(
        f"{'features':{width}s} {'candidate':16s} {'sel2':>6s} | "
        + " ".join(f"{s + '.' + k:>7s}" for s in schemes for k in ("W", "P", "Q", "rb"))
    )


def print_candidates(
    name: str, oof: dict[str, Any], cv: Any, width: int, suffix: str = ""
) -> None:
    """One row per candidate recipe: sel2, then W, P, Q, rb per scheme."""
    schemes = list(cv.schemes)
    for cand, weights in CANDIDATES.items():
        r = {s: C.combine_and_score(oof[s], weights, cv.sets) for s in schemes}
        sel2 = float(np.mean([r[s][k] for s in schemes for k in ("W", "P", "Q")]))
        print(
            f"{name:{width}s} {cand:16s} {sel2:6.3f} | "
            + " ".join(
                f"{r[s][k]:7.3f}" for s in schemes for k in ("W", "P", "Q", "rb")
            )
            + suffix,
            flush=True,
        )


def _rows(
    vectors: np.ndarray, empty: np.ndarray, counts: np.ndarray, variant: tuple
) -> np.ndarray:
    dim, weighting, a = variant
    if weighting == "count":
        return distill(vectors, empty, counts, dim=dim or vectors.shape[1], sif=a).rows
    x = vectors.astype(np.float64) - vectors.mean(axis=0)
    if dim:
        uniform = distill(vectors, empty, np.zeros(len(vectors), np.int64), dim=dim)
        x = x @ uniform.axes.astype(np.float64)
    ids = np.arange(len(x), dtype=np.float64)
    if weighting == "logid":
        w = np.log1p(ids)
    else:
        p = 1.0 / (ids + 1.0)
        w = a / (a + p / p.sum())
    return x * w[:, None]


def _embed(rows: np.ndarray, flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    sums = np.zeros((len(lengths), rows.shape[1]))
    starts = np.cumsum(lengths) - lengths
    has = lengths > 0
    sums[has] = np.add.reduceat(rows[flat], starts[has], axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.maximum(norms, 1e-12)


def _distinct(flat: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each text's distinct pieces (sorted), concatenated, and their counts."""
    starts = np.cumsum(lengths) - lengths
    pieces = [np.unique(flat[a : a + k]) for a, k in zip(starts, lengths, strict=True)]
    return np.concatenate(pieces), np.array([len(p) for p in pieces])


def _extra(
    rows: np.ndarray, flat: np.ndarray, lengths: np.ndarray
) -> dict[str, np.ndarray]:
    """The second round's other variants of one table (see the module docstring)."""
    n = len(lengths)
    prompt = np.repeat(np.arange(n), lengths)
    keys, first, count = np.unique(
        prompt * len(rows) + flat, return_index=True, return_counts=True
    )
    order = np.argsort(first, kind="stable")
    p, piece, c = keys[order] // len(rows), keys[order] % len(rows), count[order]
    out = {}
    for name, damp in (("sqrt", np.sqrt(c)), ("log", np.log2(1.0 + c))):
        sums = np.zeros((n, rows.shape[1]))
        np.add.at(sums, p, rows[piece] * damp[:, None])
        out[name] = sums / np.maximum(
            np.linalg.norm(sums, axis=1, keepdims=True), 1e-12
        )
    base = _embed(rows, flat, lengths)
    has = lengths > 0
    peak = np.zeros_like(base)
    starts = np.cumsum(lengths) - lengths
    peak[has] = np.maximum.reduceat(rows[flat], starts[has], axis=0)
    peak /= np.maximum(np.linalg.norm(peak, axis=1, keepdims=True), 1e-12)
    out["+max"] = np.hstack([base, peak]) / np.sqrt(2.0)
    pc1 = np.linalg.svd(base, full_matrices=False)[2][0]
    out["-pc1"] = _embed(rows, flat, lengths) - np.outer(base @ pc1, pc1)
    out["-pc1"] /= np.linalg.norm(out["-pc1"], axis=1, keepdims=True)
    out["unit var"] = _embed(rows / rows.std(axis=0), flat, lengths)
    return out


def _to_minilm(static: np.ndarray, minilm: np.ndarray) -> np.ndarray:
    """Ridge map (alpha 1, free intercept) of static vectors onto MiniLM's,
    applied to the same prompts and normalised."""
    x = np.hstack([static, np.ones((len(static), 1))])
    gram = x.T @ x
    gram[np.diag_indices(len(gram) - 1)] += 1.0
    mapped = x @ np.linalg.solve(gram, x.T @ minilm)
    return mapped / np.linalg.norm(mapped, axis=1, keepdims=True)


def main() -> None:
    """Score the shipped head recipes on MiniLM and on each static table."""
    args = C.cv_arg_parser(__doc__.splitlines()[0]).parse_args()
    t0 = time.time()
    cv = C.load_cv_data(args, t0)
    n = len(cv.table)
    flat, lengths, vectors, empty = word_pieces(cv.table.texts)
    counts = load_counts()
    print(f"word-piece vectors ({time.time() - t0:.0f}s)")
    heads = shipped_heads(cv)
    features = {"minilm": cv.emb}
    for name, variant in VARIANTS.items():
        features[name] = _embed(_rows(vectors, empty, counts, variant), flat, lengths)
    flat_d, lengths_d = _distinct(flat, lengths)
    for name, variant in DISTINCT.items():
        rows = _rows(vectors, empty, counts, variant)
        features[name] = _embed(rows, flat_d, lengths_d)
    shipped = _rows(vectors, empty, counts, VARIANTS["pca64 count 1e-3"])
    for name, emb in _extra(shipped, flat, lengths).items():
        features[f"pca64 count 1e-3, {name}"] = emb
    for name in ("pca64 count 1e-3", "pca384 count 1e-3"):
        dim = int(name.split()[0][3:])
        static = features.get(name)
        if static is None:
            rows = _rows(vectors, empty, counts, (dim, "count", 1e-3))
            static = _embed(rows, flat, lengths)
        features[f"{name} -> minilm"] = _to_minilm(static, cv.emb)
    print_header(list(cv.schemes), 32)
    for fname, emb in features.items():
        x = np.hstack([emb, cv.zlen[:, None], np.ones((n, 1))])
        oof = {}
        for scheme, fold_of in cv.schemes.items():
            n_folds = int(fold_of.max()) + 1
            folds = C.Folds(x, fold_of, C.near_sets(cv.pairs, fold_of, n_folds))
            cols = {"len": folds.length_oof(cv.length)}
            for h, head in heads.items():
                cols[h], _ = folds.oof(head)
            oof[scheme] = cols
        print_candidates(fname, oof, cv, 32)


if __name__ == "__main__":
    main()
