"""Do the newer label sources help the `default` recipes? Cross-validation only.

The same protocol, folds, heads and metrics as `cv_quality.py` (leave-task-out and
leave-family-out, training rows within cosine 0.95 of a held-out prompt dropped; W,
P, Q on the original sources, `sel2` their mean; rb, alp reported), with the
training mixture varied. The table holds every prompt of the original mixture
(RouterBench, RouterDC, LLMRouter, RouteProfile, AlpacaEval) and of the newer
sources (gemini-benchmark, CRUXEval, EloBench); a variant says which families may
train the heads. Rows outside it are scored out of fold like every other row (so
the new evaluation sets below exist for every variant) but never train a head or
enter a percentile reference. A new family may train:

- ``all``: every head it labels (golden sources: the failure percentile
  ``fail_pct`` and, for math / code, the task-type head ``reasoning``; EloBench:
  the chat side of ``reasoning``);
- ``type``: the task-type head only (its ``fail_pct`` labels are ignored).

Candidates: ``floor`` (fail_pct@1 + log length, the shipped `default`) and ``floor +
reasoning@10`` (the shipped `default-chat`). Extra evaluation sets (reported, not in
`sel2`), exact APGR of out-of-fold scores:

- ``gb``: gemini-benchmark, the paper's exact pair (gpt-4-1106-preview vs
  Mixtral-8x7B) pooled over SVAMP, MultiArith, HumanEval and ODEX; ``gb_math`` /
  ``gb_code`` the math / code tasks pooled; ``gb_svamp`` SVAMP alone (one math
  task: the GSM8K situation);
- ``cx``: CRUXEval, gpt-4-0314 vs Mixtral-8x7B;
- ``eb``: EloBench, the judge's verdict for gpt-4-turbo vs gpt-35-turbo (886
  battles; strong quality = gpt-4-turbo's credit).

Usage (~5 min with a warm embedding store on 2 cores)::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/cv_new_sources.py \
        --embedder minilm --embedding-store /tmp/emb_store.npz --json cv_new.json
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv_quality as C

from prefroute.config import resolve_data_dir
from prefroute.data.elobench import load_elobench
from prefroute.routers.difficulty import log_length
from prefroute.train import difficulty as D
from prefroute.train.pipeline import training_embedder

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NEW_FAMILIES = ("gemini_benchmark", "crux", "elobench")
ALL_FAMILIES = (*D.DEFAULT_FAMILIES, *NEW_FAMILIES)
#: Variant name -> {new family: role}; the original families always train.
VARIANTS: dict[str, dict[str, str]] = {
    "base (shipped mixture)": {},
    "+ gemini-benchmark": {"gemini_benchmark": "all"},
    "+ gemini-benchmark (type)": {"gemini_benchmark": "type"},
    "+ crux": {"crux": "all"},
    "+ crux (type)": {"crux": "type"},
    "+ elobench (chat class)": {"elobench": "all"},
    "+ gemini + crux": {"gemini_benchmark": "all", "crux": "all"},
    "+ gemini + crux (type)": {"gemini_benchmark": "type", "crux": "type"},
    "+ all three": {"gemini_benchmark": "all", "crux": "all", "elobench": "all"},
    "+ all three (golden as type)": {
        "gemini_benchmark": "type",
        "crux": "type",
        "elobench": "all",
    },
}
CANDIDATES: dict[str, dict[str, float]] = {
    "floor": {"fail_pct@1": 1, "len": 1},
    "floor + reasoning": {"fail_pct@1": 1, "len": 1, "reasoning@10": 1},
}
EXTRA = ("gb", "gb_math", "gb_code", "gb_svamp", "cx", "eb")
CRUX_PAIR = ("gpt-4-0314", "Mixtral-8x7B-Instruct-v0.1")
EB_PAIR = ("gpt-4-turbo", "gpt-35-turbo")


class MaskedFolds(C.Folds):
    """`cv_quality.Folds` where only `trainable` rows fit heads and form the
    percentile references; every row is still scored out of fold."""

    def __init__(
        self,
        x: FloatArray,
        fold_of: npt.NDArray[np.int64],
        near: list[BoolArray],
        trainable: BoolArray,
    ) -> None:
        """As `cv_quality.Folds`; `trainable` marks rows that may train."""
        super().__init__(x, fold_of, [n | ~trainable for n in near])


def _pair_set(
    table: D.Table, name: str, rows: npt.NDArray[np.int64], strong: str, weak: str
) -> C.EvalSet:
    recs = [table.records[i] for i in rows]
    s = np.array([r.scores[strong] for r in recs], dtype=np.float64)  # type: ignore[union-attr]
    w = np.array([r.scores[weak] for r in recs], dtype=np.float64)  # type: ignore[union-attr]
    return C.EvalSet(name, name, name, rows, [(s, w)])


def extra_sets(table: D.Table, data_dir: Path) -> list[C.EvalSet]:
    """The new evaluation sets (module docstring)."""
    family = np.asarray(table.family)
    groups = np.array([D.task_group(s) for s in table.source])
    source = np.asarray(table.source)

    def has(i: int, strong: str, weak: str) -> bool:
        r = table.records[i]
        return r is not None and strong in r.scores and weak in r.scores

    gb = np.array(
        [
            i
            for i in np.flatnonzero(family == "gemini_benchmark")
            if has(i, D.STRONG, D.WEAK_GB)
        ]
    )
    out = [
        _pair_set(table, "gb", gb, D.STRONG, D.WEAK_GB),
        _pair_set(table, "gb_math", gb[groups[gb] == "math_word"], D.STRONG, D.WEAK_GB),
        _pair_set(table, "gb_code", gb[groups[gb] == "code"], D.STRONG, D.WEAK_GB),
        _pair_set(
            table,
            "gb_svamp",
            gb[source[gb] == "gemini_benchmark/svamp"],
            D.STRONG,
            D.WEAK_GB,
        ),
    ]
    cx = np.array([i for i in np.flatnonzero(family == "crux") if has(i, *CRUX_PAIR)])
    out.append(_pair_set(table, "cx", cx, *CRUX_PAIR))
    credit: dict[str, list[float]] = defaultdict(list)
    for b in load_elobench(data_dir):
        if (b.model_a, b.model_b) == EB_PAIR:
            credit[b.prompt].append(b.credit_a)
        elif (b.model_b, b.model_a) == EB_PAIR:
            credit[b.prompt].append(1.0 - b.credit_a)
    row_of = {p: i for i, p in enumerate(table.prompts) if family[i] == "elobench"}
    eb = [(row_of[p], float(np.mean(c))) for p, c in credit.items() if p in row_of]
    rows = np.array([i for i, _ in eb])
    s = np.array([c for _, c in eb])
    out.append(C.EvalSet("eb", "eb", "eb", rows, [(s, 1.0 - s)]))
    return out


def combine(cols: dict[str, FloatArray], weights: dict[str, float]) -> FloatArray:
    """The candidate's score per row (`cv_quality.combine_and_score`'s average)."""
    num = np.zeros(len(next(iter(cols.values()))))
    den = np.zeros_like(num)
    for name, w in weights.items():
        ok = np.isfinite(cols[name])
        num[ok] += w * cols[name][ok]
        den[ok] += w
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.5)


#: (set name, scheme) pairs whose paired bootstrap is reported.
BOOTSTRAP_SETS = (
    ("rb_paper_pair", "LTO"),
    ("rb_paper_pair", "LFO"),
    ("gb", "LFO"),
    ("gb_math", "LFO"),
    ("cx", "LFO"),
    ("eb", "LFO"),
)


def paired_deltas(
    sets: list[C.EvalSet],
    scores: dict[str, FloatArray],
    ref: dict[str, FloatArray],
    n_boot: int,
) -> dict[str, tuple[float, float, float]]:
    """APGR difference to `ref` with a 95 % paired bootstrap interval over prompts,
    for each of `BOOTSTRAP_SETS` (key ``<set>@<scheme>``)."""
    by_name = {es.name: es for es in sets}
    out: dict[str, tuple[float, float, float]] = {}
    for name, scheme in BOOTSTRAP_SETS:
        es = by_name[name]
        (strong, weak), rows = es.pairs[0], es.rows
        a, b = scores[scheme][rows], ref[scheme][rows]
        rng = np.random.default_rng(0)
        diffs = []
        for _ in range(n_boot):
            i = rng.integers(0, len(rows), len(rows))
            diffs.append(
                C.apgr(a[i], strong[i], weak[i]) - C.apgr(b[i], strong[i], weak[i])
            )
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        delta = C.apgr(a, strong, weak) - C.apgr(b, strong, weak)
        out[f"{name.replace('_paper_pair', '')}@{scheme}"] = (delta, lo, hi)
    return out


def trainable_rows(
    table: D.Table, roles: dict[str, str]
) -> tuple[BoolArray, BoolArray]:
    """(rows that train any head, rows that train the failure head too)."""
    family = np.asarray(table.family)
    base = np.isin(family, D.DEFAULT_FAMILIES)
    any_head = base | np.isin(family, list(roles))
    fail_head = base | np.isin(family, [f for f, r in roles.items() if r == "all"])
    return any_head, fail_head


def main() -> None:
    """Score every variant x candidate, print the table."""
    ap = C.cv_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--variant", action="append", default=None, help="only these variants"
    )
    ap.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        help="paired bootstrap resamples of the extra sets and rb against the "
        "first variant",
    )
    args = ap.parse_args()
    t0 = time.time()
    data_dir = resolve_data_dir(args.data_dir)
    embedder = training_embedder(args.embedder)
    if args.embedding_store is not None:
        print("preloaded", embedder.load_store(args.embedding_store), "vectors")
    table = D.build_table(data_dir, families=ALL_FAMILIES)
    table, emb32 = D.clean_table(data_dir, embedder, table=table)
    if args.embedding_store is not None:
        embedder.save_store(args.embedding_store)
    emb = np.asarray(emb32, dtype=np.float64)
    counts = {f: int(np.sum(np.asarray(table.family) == f)) for f in ALL_FAMILIES}
    print(f"{len(table)} prompts {counts} ({time.time() - t0:.0f}s)")
    length = log_length(table.texts)
    zlen = (length - length.mean()) / length.std()
    x = np.hstack([emb, zlen[:, None], np.ones((len(table), 1))])
    groups = [D.task_group(s) for s in table.source]
    g_names, f_names = sorted(set(groups)), sorted(set(table.family))
    schemes = {
        "LTO": np.array([g_names.index(g) for g in groups]),
        "LFO": np.array([f_names.index(f) for f in table.family]),
    }
    family = np.asarray(table.family)
    old = np.isin(family, D.DEFAULT_FAMILIES)
    sets = [
        es
        for es in C.eval_sets(table)
        if es.kind != "W" or old[es.rows].all()  # W on the original sources only
    ]
    sets += extra_sets(table, data_dir)
    pairs = C.near_pairs(emb)
    print(f"{len(pairs[0])} near-duplicate pairs ({time.time() - t0:.0f}s)")
    t = table.arrays()
    names = args.variant or list(VARIANTS)
    report: dict[str, dict[str, dict[str, float]]] = {}
    header = f"{'variant':30s} {'candidate':18s} {'sel2':>6s} | " + " ".join(
        f"{s + '.' + k:>8s}" for s in schemes for k in ("W", "P", "Q", "rb")
    )
    header += " | " + " ".join(f"{k:>8s}" for k in ("alp", *EXTRA))
    lines: list[str] = []
    first: dict[str, dict[str, FloatArray]] = {}  # candidate -> scheme -> scores
    for variant in names:
        roles = VARIANTS[variant]
        any_head, fail_head = trainable_rows(table, roles)
        fail = np.where(fail_head, t["fail_pct"], np.nan)
        reasoning = np.where(any_head, t["reasoning"], np.nan)
        heads = {
            "fail_pct@1": C.Head(fail, np.ones(len(table)), 1.0),
            "reasoning@10": C.Head(reasoning, D.balanced_weights(reasoning), 10.0),
        }
        oof: dict[str, dict[str, FloatArray]] = {}
        for scheme, fold_of in schemes.items():
            nf = int(fold_of.max()) + 1
            near = C.near_sets(pairs, fold_of, nf)
            folds = MaskedFolds(x, fold_of, near, any_head)
            cols = {"len": folds.length_oof(length)}
            for name, head in heads.items():
                cols[name], _ = folds.oof(head)
            oof[scheme] = cols
        for cand, weights in CANDIDATES.items():
            res = {s: C.combine_and_score(oof[s], weights, sets) for s in schemes}
            if args.bootstrap:
                scores = {s: combine(oof[s], weights) for s in schemes}
                ref = first.setdefault(cand, scores)
                deltas = paired_deltas(sets, scores, ref, args.bootstrap)
                for key, (d, lo, hi) in deltas.items():
                    res["LFO"][f"d_{key}"] = d
                    res["LFO"][f"d_{key}_lo"], res["LFO"][f"d_{key}_hi"] = lo, hi
                print(
                    f"  {variant} / {cand}: "
                    + ", ".join(
                        f"d{k} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                        for k, (d, lo, hi) in deltas.items()
                    )
                )
            sel2 = float(np.mean([res[s][k] for s in schemes for k in ("W", "P", "Q")]))
            # the extra sets: LFO (family held out) for gb/cx/eb; LTO in the JSON
            line = (
                f"{variant:30s} {cand:18s} {sel2:6.3f} | "
                + " ".join(
                    f"{res[s][k]:8.3f}" for s in schemes for k in ("W", "P", "Q", "rb")
                )
                + " | "
                + " ".join(f"{res['LFO'][k]:8.3f}" for k in ("alp", *EXTRA))
            )
            print(line, flush=True)
            lines.append(line)
            report.setdefault(variant, {})[cand] = {
                "sel2": sel2,
                **{f"{s}.{k}": v for s in schemes for k, v in res[s].items()},
            }
        print(f"  ({time.time() - t0:.0f}s)")
    print()
    print(header)
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
