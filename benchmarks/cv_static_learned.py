"""A regression-distilled static table, cross-validated on training sources.

Tokenlearn-style distillation (model2vec): instead of each word piece's MiniLM vector
alone, refit the rows of the pieces the training prompts use so that a prompt's
weighted mean of rows approximates MiniLM's vector of the whole prompt. With ``E`` the
unweighted rows in ``minilm-static``'s 64 principal axes, ``A`` the (prompts x
pieces) matrix of weighted-mean coefficients ``w_v c_pv / sum_u w_u c_pu`` (``w``:
the table's SIF weights, ``c``: counts in the prompt's first 256 pieces) and ``Y``
the prompts' MiniLM vectors centred and projected like the table, it solves::

    min_E ||A E - Y||^2 + lam ||E - E0||^2          (E0: minilm-static's rows)

by Jacobi-preconditioned conjugate gradients, every output dimension at once (torch's
sparse products, one thread; the ``train`` extra). A prompt's vector is then the
normalised sum of its pieces' ``E * w`` rows, as in ``minilm-static``.

The fit sees MiniLM vectors (no labels), but a table fitted on every training prompt
would make the held-out prompts' features closer to MiniLM than a new prompt's ever
are; so each fold refits the table on its training prompts only (the held-out task or
family and its near duplicates left out) and embeds everything with it. The protocol,
heads and metrics are `cv_static.py`'s; rows ``minilm`` and ``minilm-static`` are the
references (same numbers as there).

Usage (each ``lam`` refits 20 tables: 3-7 min on 2 busy cores)::

    PREFROUTE_DATA_DIR=../shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/cv_static_learned.py --embedder minilm --lam 0.01 --lam 0.1
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv_quality as C
from cv_static import (
    _embed,
    print_candidates,
    print_header,
    shipped_heads,
    word_pieces,
)

from prefroute.embed.static import distill, load_counts

F64 = npt.NDArray[np.float64]


class Design:
    """The sparse (prompts x active pieces) matrix ``A`` of the kept prompts."""

    def __init__(
        self, flat: np.ndarray, lengths: np.ndarray, weights: F64, keep: np.ndarray
    ) -> None:
        """flat / lengths: pieces per prompt; weights: per piece; keep: prompts."""
        import torch

        n, vocab = len(lengths), len(weights)
        prompt = np.repeat(np.arange(n, dtype=np.int64), lengths)
        w = weights[flat]
        coef = w / np.maximum(
            np.bincount(prompt, weights=w, minlength=n)[prompt], 1e-12
        )
        m = keep[prompt]
        keys, inverse = np.unique(
            prompt[m] * vocab + flat[m].astype(np.int64), return_inverse=True
        )
        values = np.bincount(inverse, weights=coef[m])
        pieces = keys % vocab
        self.active = np.unique(pieces)
        column = np.searchsorted(self.active, pieces)
        self.diag = np.bincount(column, weights=values**2, minlength=len(self.active))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            coo = torch.sparse_coo_tensor(
                torch.from_numpy(np.stack([keys // vocab, column])),
                torch.from_numpy(values),
                (n, len(self.active)),
            ).coalesce()
            self._a = coo.to_sparse_csr()
            self._at = coo.t().coalesce().to_sparse_csr()

    def matmul(self, x: F64) -> F64:
        """A @ x."""
        import torch

        return np.asarray((self._a @ torch.from_numpy(np.ascontiguousarray(x))).numpy())

    def rmatmul(self, r: F64) -> F64:
        """A.T @ r."""
        import torch

        return np.asarray(
            (self._at @ torch.from_numpy(np.ascontiguousarray(r))).numpy()
        )


def learn(design: Design, y: F64, prior: F64, lam: float, iters: int = 300) -> F64:
    """The ridge fit of the module docstring: rows of the active pieces refit, the
    others left at `prior` (CG until every column's residual is 1e-4 of its start)."""
    start = prior[design.active]
    b = design.rmatmul(y - design.matmul(start))
    inv_diag = (1.0 / (design.diag + lam))[:, None]
    x = np.zeros_like(b)
    r = b.copy()
    z = inv_diag * r
    p = z.copy()
    rz = (r * z).sum(axis=0)
    b2 = (b * b).sum(axis=0)
    for _ in range(iters):
        q = design.rmatmul(design.matmul(p)) + lam * p
        alpha = rz / np.maximum((p * q).sum(axis=0), 1e-300)
        x += alpha * p
        r -= alpha * q
        if np.all((r * r).sum(axis=0) <= 1e-8 * b2):
            break
        z = inv_diag * r
        rz_new = (r * z).sum(axis=0)
        p = z + (rz_new / np.maximum(rz, 1e-300)) * p
        rz = rz_new
    out = prior.copy()
    out[design.active] = start + x
    return out


def main() -> None:
    """Score the shipped head recipes on per-fold learned tables."""
    ap = C.cv_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--lam", type=float, action="append", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    cv = C.load_cv_data(args, t0)
    n = len(cv.table)
    flat, lengths, vectors, empty = word_pieces(cv.table.texts)
    table = distill(vectors, empty, load_counts())
    weights = table.weights.astype(np.float64)
    mean, axes = table.mean.astype(np.float64), table.axes.astype(np.float64)
    prior = (vectors.astype(np.float64) - mean) @ axes
    y = (cv.emb - mean) @ axes
    heads = shipped_heads(cv)
    static = _embed(table.rows.astype(np.float64), flat, lengths)

    def score(name: str, features: Callable[[np.ndarray], F64]) -> None:
        oof: dict[str, dict[str, F64]] = {}
        for scheme, fold_of in cv.schemes.items():
            n_folds = int(fold_of.max()) + 1
            near = C.near_sets(cv.pairs, fold_of, n_folds)
            cols = {"len": C.Folds(cv.emb, fold_of, near).length_oof(cv.length)}
            for h in heads:
                cols[h] = np.full(n, np.nan)
            for f in range(n_folds):
                test = fold_of == f
                emb = features(~(near[f] | test))
                x = np.hstack([emb, cv.zlen[:, None], np.ones((n, 1))])
                # one fold: its held-out rows and near duplicates, nothing else
                folds = C.Folds(x, np.where(test, 0, -1), [near[f]])
                for h, head in heads.items():
                    cols[h][test] = folds.oof(head)[0][test]
            oof[scheme] = cols
        print_candidates(name, oof, cv, 22, f"  ({time.time() - t0:.0f}s)")

    print_header(list(cv.schemes), 22)
    score("minilm", lambda train: cv.emb)
    score("minilm-static", lambda train: static)
    for lam in args.lam or [0.01, 0.1]:

        def learned(train: np.ndarray, lam: float = lam) -> F64:
            design = Design(flat, lengths, weights, train)
            rows = learn(design, y, prior, lam)
            return _embed(rows * weights[:, None], flat, lengths)

        score(f"learned, lam {lam:g}", learned)


if __name__ == "__main__":
    main()
