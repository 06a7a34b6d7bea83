"""Do lexical features help the `default` recipes? Cross-validation, no benchmarks.

The same protocol, folds and metrics as `cv_quality.py` and `cv_nonlinear.py`
(leave-task-out and leave-family-out, near duplicates of held-out prompts dropped
from training; W, P, Q, rb), but each ridge head sees one of these feature sets:

- ``lin``: ``[embedding, z(log length), 1]``, the shipped router's features;
- ``lexK``: the same plus a K-column lexical block (K = 512, 1024);
- ``lexonlyK``: ``[lexical block, z(log length), 1]``, no embedding (floor only).

The lexical block of a text: word unigrams and bigrams (lowercased, split on
non-alphanumerics, with the symbols in `SYMBOLS` kept as tokens) and character
3-5-grams (lowercased, whitespace runs collapsed), hashed with ``zlib.crc32`` into
2**18 buckets per namespace (word, char); sublinear tf ``1 + log(tf)``, smoothed idf
``1 + log((1 + N) / (1 + df))``; each namespace L2-normalised to norm 1/sqrt(2) (so
the far more numerous char n-grams do not drown the words); then a fixed seeded
Gaussian random projection with N(0, 1/K) entries, so a text's block has norm ~1,
like its MiniLM embedding. The idf is recomputed in every fold from that fold's
training rows only (held-out and near-duplicate rows excluded), so the held-out
texts get no say in it. ``lex512`` uses the first 512 of the 1024 projection
columns (rescaled), so the two widths are nested.

Usage (~2 min with a warm embedding store on 2 cores; peak memory ~4 GB)::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/cv_lexical.py \
        --embedder minilm --embedding-store emb_store.npz
"""

from __future__ import annotations

import itertools
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv_quality as C

from prefroute.train import difficulty as D

FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

N_BUCKETS = 1 << 18
WIDTHS = (512, 1024)  # nested: the 512 block is the first 512 projection columns
CHAR_NS = (3, 4, 5)
SYMBOLS = "+-*/=^(){}[]<>$\\%"
WORD_RE = re.compile(r"[^\W_]+|[" + re.escape(SYMBOLS) + "]")
SPACE_RE = re.compile(r"\s+")
CANDIDATES: dict[str, dict[str, float]] = {
    "floor@1": {"fail_pct@1": 1, "len": 1},
    "floor@1 + reasoning": {"fail_pct@1": 1, "len": 1, "reasoning@10": 1},
}
LEX_ONLY_CANDIDATES = ("floor@1",)


# -- hashed n-gram counts -----------------------------------------------------------


@dataclass
class LexCounts:
    """Hashed n-gram counts of n texts, CSR-like: row i is ``indptr[i]:indptr[i+1]``.

    Within a row, word entries come first, then char entries; a bucket appears at
    most once per row and namespace.
    """

    indptr: IntArray  # (n + 1,)
    bucket: IntArray  # (nnz,)
    tf: F32Array  # (nnz,) sublinear term frequency 1 + log(count)
    is_char: BoolArray  # (nnz,)

    @property
    def n_rows(self) -> int:
        """Number of texts."""
        return len(self.indptr) - 1


def _hashed(counts: Counter[str], prefix: str) -> tuple[IntArray, FloatArray]:
    """Distinct buckets of the grams and their summed counts (collisions merge)."""
    if not counts:
        return np.zeros(0, np.int64), np.zeros(0)
    # crc32, not hash(): Python's str hash is salted per process
    raw = np.fromiter(
        (zlib.crc32((prefix + g).encode("utf-8", "surrogatepass")) for g in counts),
        np.int64,
        len(counts),
    ) & (N_BUCKETS - 1)
    buckets, inv = np.unique(raw, return_inverse=True)
    summed = np.bincount(inv, weights=np.fromiter(counts.values(), np.float64))
    return buckets, summed


def count_ngrams(texts: Iterable[str]) -> LexCounts:
    """Word uni/bigram and char 3-5-gram counts of each text, hashed."""
    indptr = [0]
    buckets: list[IntArray] = []
    tfs: list[FloatArray] = []
    chars: list[BoolArray] = []
    for text in texts:
        low = SPACE_RE.sub(" ", text.lower()).strip()
        toks = WORD_RE.findall(low)
        words = Counter(toks)
        words.update(a + " " + b for a, b in itertools.pairwise(toks))
        grams = Counter(
            low[i : i + k] for k in CHAR_NS for i in range(len(low) - k + 1)
        )
        for counts, prefix, is_char in ((words, "w\0", False), (grams, "c\0", True)):
            b, c = _hashed(counts, prefix)
            buckets.append(b)
            tfs.append(1.0 + np.log(c))
            chars.append(np.full(len(b), is_char))
        indptr.append(indptr[-1] + len(buckets[-1]) + len(buckets[-2]))
    return LexCounts(
        np.array(indptr, np.int64),
        np.concatenate(buckets),
        np.concatenate(tfs).astype(np.float32),
        np.concatenate(chars),
    )


def fold_values(lex: LexCounts, train: BoolArray) -> F32Array:
    """tf-idf of every entry with the idf of the `train` rows only, each row's
    word and char parts L2-normalised to 1/sqrt(2); shape (nnz,)."""
    row_len = np.diff(lex.indptr)
    entry_train = np.repeat(train, row_len)
    n_train = int(train.sum())
    idf = np.empty(len(lex.bucket))
    for ns in (False, True):
        m = lex.is_char == ns
        df = np.bincount(lex.bucket[m & entry_train], minlength=N_BUCKETS)
        idf[m] = 1.0 + np.log((1.0 + n_train) / (1.0 + df[lex.bucket[m]]))
    vals = lex.tf * idf
    seg = 2 * np.repeat(np.arange(lex.n_rows), row_len) + lex.is_char
    sq = np.bincount(seg, weights=vals * vals, minlength=2 * lex.n_rows)
    return (vals / np.sqrt(2.0 * sq[seg])).astype(np.float32)


def project(lex: LexCounts, vals: F32Array, proj: F32Array) -> F32Array:
    """Random projection of several value sets of the same sparse rows.

    Args:
        lex: the sparse rows (n texts).
        vals: (nnz, n_sets) entry values, e.g. one column per fold's idf.
        proj: (N_BUCKETS, k) projection matrix.

    Returns:
        (n, n_sets, k) float32; rows without entries are zero.
    """
    out = np.zeros((lex.n_rows, vals.shape[1], proj.shape[1]), np.float32)
    for i in range(lex.n_rows):
        lo, hi = lex.indptr[i], lex.indptr[i + 1]
        if hi > lo:
            # one gather of the row's projection rows serves every value set
            out[i] = vals[lo:hi].T @ proj[lex.bucket[lo:hi]]
    return out


# -- per-fold ridge heads on per-fold designs ----------------------------------------


@dataclass
class Variant:
    """A feature set: columns of the full design, their scale, the heads it fits."""

    cols: IntArray
    scale: FloatArray
    heads: tuple[str, ...]


def variants(d_emb: int, width: int, heads: Sequence[str]) -> dict[str, Variant]:
    """Feature sets as column subsets of ``[emb, lex(width), zlen, 1]``."""
    emb = np.arange(d_emb)
    tail = np.array([d_emb + width, d_emb + width + 1])
    out: dict[str, Variant] = {}
    only_heads = tuple(
        sorted({h for c in LEX_ONLY_CANDIDATES for h in CANDIDATES[c]} - {"len"})
    )
    for k in WIDTHS:
        lex = d_emb + np.arange(k)
        # the first k of `width` N(0, 1/width) columns, rescaled to N(0, 1/k)
        s = np.full(k, np.sqrt(width / k))
        out[f"lex{k}"] = Variant(
            np.concatenate([emb, lex, tail]),
            np.concatenate([np.ones(d_emb), s, np.ones(2)]),
            tuple(heads),
        )
        out[f"lexonly{k}"] = Variant(
            np.concatenate([lex, tail]), np.concatenate([s, np.ones(2)]), only_heads
        )
    return out


def fold_oof(
    x: FloatArray,
    heads: dict[str, C.Head],
    sets: dict[str, Variant],
    train: BoolArray,
    test: BoolArray,
    out: dict[str, dict[str, FloatArray]],
) -> None:
    """One fold of `cv_quality.Folds.oof` for every variant: fit each head on the
    `train` rows of `x` (a column subset of it per variant) and write the `test`
    rows' percentiles among the train rows' predictions into ``out[variant][head]``.
    """
    for hname, head in heads.items():
        users = [v for v, s in sets.items() if hname in s.heads]
        if not users:
            continue
        lab = np.isfinite(head.target) & (head.weight > 0)
        lab_tr = lab & train
        y = head.target[lab_tr]
        if lab_tr.sum() < 2 or np.unique(y).size < 2:
            continue
        sw = np.sqrt(head.weight[lab_tr])
        xs = x[lab_tr] * sw[:, None]
        gram = xs.T @ xs
        rhs = xs.T @ (y * sw)
        pen = head.alpha * head.weight[lab_tr].sum() / lab_tr.sum()
        for v in users:
            s = sets[v]
            reg = np.full(len(s.cols), pen)
            reg[-1] = 0.0
            g = gram[np.ix_(s.cols, s.cols)] * np.outer(s.scale, s.scale)
            beta = np.linalg.solve(g + np.diag(reg), rhs[s.cols] * s.scale)
            full = np.zeros(x.shape[1])
            full[s.cols] = beta * s.scale
            ref = np.sort(x[train] @ full)
            pred = x[test] @ full
            lo = np.searchsorted(ref, pred, side="left")
            hi = np.searchsorted(ref, pred, side="right")
            out[v][hname][test] = (lo + hi) / (2.0 * len(ref))


# -- main ---------------------------------------------------------------------------


def main() -> None:
    """Out-of-fold head percentiles per feature set; print the CV table."""
    ap = C.cv_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    cv = C.load_cv_data(args, t0)
    table, emb, t, length, zlen = cv.table, cv.emb, cv.targets, cv.length, cv.zlen
    schemes, sets, pairs = cv.schemes, cv.sets, cv.pairs
    n, d_emb = emb.shape
    tail = np.hstack([zlen[:, None], np.ones((n, 1))])
    ones = np.ones(n)
    heads = {
        "fail_pct@1": C.Head(t["fail_pct"], ones, 1.0),
        "reasoning@10": C.Head(
            t["reasoning"], D.balanced_weights(t["reasoning"]), 10.0
        ),
    }
    lex = count_ngrams(table.texts)
    print(
        f"hashed n-grams: {len(lex.bucket)} entries, "
        f"{np.unique(lex.bucket).size} of {N_BUCKETS} buckets used "
        f"({time.time() - t0:.0f}s)"
    )
    width = max(WIDTHS)
    rng = np.random.default_rng(args.seed)
    proj = rng.standard_normal((N_BUCKETS, width), dtype=np.float32)
    proj /= np.float32(np.sqrt(width))
    var = variants(d_emb, width, list(heads))
    x_lin = np.hstack([emb, tail])
    cols: dict[str, dict[str, dict[str, FloatArray]]] = {"lin": {}}
    cols.update({v: {} for v in var})
    for scheme, fold_of in schemes.items():
        nf = int(fold_of.max()) + 1
        near = C.near_sets(pairs, fold_of, nf)
        folds = C.Folds(x_lin, fold_of, near)
        length_oof = folds.length_oof(length)
        cols["lin"][scheme] = {"len": length_oof}
        for hname, head in heads.items():
            cols["lin"][scheme][hname], _ = folds.oof(head)
        out = {v: {h: np.full(n, np.nan) for h in heads} for v in var}
        trains = [~(near[f] | (fold_of == f)) for f in range(nf)]
        vals = np.stack([fold_values(lex, tr) for tr in trains], axis=1)
        blocks = project(lex, vals, proj)  # (n, nf, width)
        del vals
        print(f"{scheme}: {nf} lexical blocks projected ({time.time() - t0:.0f}s)")
        for f in range(nf):
            x = np.hstack([emb, blocks[:, f].astype(np.float64), tail])
            if f == 0:
                norm = np.linalg.norm(x[:, d_emb : d_emb + width], axis=1).mean()
                print(
                    f"  mean row norm: embedding "
                    f"{np.linalg.norm(emb, axis=1).mean():.3f}, lexical {norm:.3f}"
                )
            fold_oof(x, heads, var, trains[f], fold_of == f, out)
        del blocks
        for v in var:
            cols[v][scheme] = {"len": length_oof, **out[v]}
        print(f"{scheme}: {nf} folds done ({time.time() - t0:.0f}s)")
    rows: list[tuple[str, str, dict[str, dict[str, float]]]] = []
    for fname, by_scheme in cols.items():
        cands = LEX_ONLY_CANDIDATES if fname.startswith("lexonly") else CANDIDATES
        for cand in cands:
            r = {
                s: C.combine_and_score(by_scheme[s], CANDIDATES[cand], sets)
                for s in schemes
            }
            rows.append((fname, cand, r))
    C.print_feature_table(rows, schemes, width=11)
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
