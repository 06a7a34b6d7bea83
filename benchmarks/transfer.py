"""Transfer: does a router trained for one pair rank prompts well for other pairs?

For RouterBench (11 models, per-prompt correctness) and RouterDC (7 models) we hold
out half of each family's prompts (a fixed hash split; training rows within cosine
0.95 of a held-out prompt are dropped as well). On the held-out half we score, for
several (strong, weak) pairs:

- ``random`` (expected APGR 0.5) and ``length`` (log prompt length);
- ``cv-recipe`` and ``floor``: difficulty recipes trained on everything except the
  held-out prompts, never told the pair (no retraining); ``floor`` is the shipped
  `default`'s recipe, ``cv-recipe`` an earlier candidate (raw failure share);
- ``retrained``: a difficulty router with one head fitted to this pair's own label
  P(strong right and weak wrong) on the family's training half;
- ``floor+pair``: the floor plus that pair head (`floor-pair`, what
  ``prefroute train default --set heads=floor-pair`` fits for the recipe's pair);
- every shipped checkpoint, or the routers given as ``--router NAME=SPEC``
  (marked ``*``: trained on all prompts, including the held-out half, so their
  numbers are optimistic), each scoring with its own embedder.

The split and its near duplicates are found with the default embedder; the fitted
rows embed with ``--embedder`` (default: the default embedder).

``--compare A,B`` (two ``--router`` names or fitted columns) prints B - A per pair
and for the mean of the pairs, with 95 % paired bootstrap intervals: each family's
held-out prompts are resampled (the same draw for every pair of the family and both
routers).

``--new-sources`` adds the newer label sources: two more families of pairs
(gemini-benchmark: the paper's pair and others on SVAMP, MultiArith, HumanEval,
ODEX; CRUXEval: 26 models), held out by the same hash split, and the columns
``floor+new`` and ``floor-reasoning`` / ``floor-reasoning+new`` (the shipped
`default-chat` recipe) trained without / with gemini-benchmark, CRUXEval and
EloBench (their held-out halves excluded), and ``floor+crux`` /
``floor-reasoning+crux`` with CRUXEval alone.

Usage::

    .venv/bin/python benchmarks/transfer.py --embedding-store emb_store.npz \
        [--new-sources]
    .venv/bin/python benchmarks/transfer.py --embedder minilm-static \
        --router default --router default-minilm=twins/default \
        --compare default-minilm,default
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefroute.config import resolve_data_dir
from prefroute.embed import DEFAULT_EMBEDDER
from prefroute.evals.harness import _cached_embedder_override, evaluate_router_scores
from prefroute.evals.metrics import apgr, exact_curve
from prefroute.routers.difficulty import DifficultyRouter, log_length
from prefroute.routers.registry import load_router, router_folder, shipped_checkpoints
from prefroute.train import difficulty as D
from prefroute.train.pipeline import training_embedder
from prefroute.types import BenchmarkSet, ModelPair

MIN_GAP = 0.03
#: (family, held-out table rows, strong quality, weak quality, router -> scores)
HeldPair = tuple[str, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]
PAIRS: dict[str, list[tuple[str, str]]] = {
    "routerbench": [
        ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"),
        ("gpt-4-1106-preview", "meta/llama-2-70b-chat"),
        ("gpt-4-1106-preview", "gpt-3.5-turbo-1106"),
        ("claude-v2", "mistralai/mistral-7b-chat"),
        ("gpt-3.5-turbo-1106", "WizardLM/WizardLM-13B-V1.2"),
        ("zero-one-ai/Yi-34B-Chat", "meta/code-llama-instruct-34b-chat"),
    ],
    "routerdc": [
        ("cognitivecomputations/dolphin-2.9-llama3-8b", "mistralai/Mistral-7B-v0.1"),
        ("meta-math/MetaMath-Mistral-7B", "mistralai/Mistral-7B-v0.1"),
        ("meta-math/MetaMath-Mistral-7B", "HuggingFaceH4/zephyr-7b-beta"),
        ("meta-llama/Meta-Llama-3-8B", "itpossible/Chinese-Mistral-7B-v0.1"),
    ],
}
NEW_PAIRS: dict[str, list[tuple[str, str]]] = {
    "gemini_benchmark": [
        ("gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"),
        ("gpt-4-1106-preview", "gpt-3.5-turbo"),
        ("gpt-3.5-turbo", "gemini-pro"),
    ],
    "crux": [
        ("gpt-4-0314", "Mixtral-8x7B-Instruct-v0.1"),
        ("gpt-4-turbo-2024-04-09", "Meta-Llama-3-8B-Instruct"),
        ("Qwen2.5-32B-Instruct", "Qwen2-7B-Instruct"),
    ],
}
NEW_FAMILIES = ("gemini_benchmark", "crux", "elobench")


def _held_out(prompt: str) -> bool:
    return hashlib.blake2b(prompt.encode("utf-8"), digest_size=2).digest()[0] % 2 == 0


def main() -> None:
    """Fit per split, score every pair, print APGR (exact / 10-bin)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--embedding-store", type=Path, default=None)
    ap.add_argument("--new-sources", action="store_true")
    ap.add_argument(
        "--embedder", default=DEFAULT_EMBEDDER, help="embedder of the fitted rows"
    )
    ap.add_argument(
        "--router",
        action="append",
        default=[],
        help="NAME=SPEC of a trained router to score (default: every shipped one)",
    )
    ap.add_argument(
        "--compare",
        action="append",
        default=[],
        help="A,B: router names; B - A with paired bootstrap intervals",
    )
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    args = ap.parse_args()
    pairs_of = {**PAIRS, **NEW_PAIRS} if args.new_sources else PAIRS
    data_dir = resolve_data_dir(args.data_dir)
    embedder = training_embedder(DEFAULT_EMBEDDER)
    if args.embedding_store is not None:
        print("preloaded", embedder.load_store(args.embedding_store), "vectors")
    families = (*D.DEFAULT_FAMILIES, *NEW_FAMILIES) if args.new_sources else None
    table, emb = D.clean_table(
        data_dir, embedder, table=D.build_table(data_dir, families=families)
    )
    split_emb = emb
    if args.embedder != DEFAULT_EMBEDDER:
        emb = np.asarray(
            training_embedder(args.embedder).embed(table.texts), dtype=np.float32
        )
    fit_embedder = args.embedder
    family = np.asarray(table.family)
    test = np.array(
        [
            f in pairs_of and _held_out(p)
            for f, p in zip(table.family, table.prompts, strict=True)
        ]
    )
    near = np.zeros(len(table), dtype=bool)
    test_emb = split_emb[test]
    for start in range(0, len(table), 4096):
        sims = split_emb[start : start + 4096] @ test_emb.T
        near[start : start + 4096] = sims.max(axis=1) > 0.95
    train = ~test & ~near
    print(f"held out {int(test.sum())} prompts; training on {int(train.sum())}")
    old = list(D.DEFAULT_FAMILIES)
    default = D.fit_difficulty(
        table, emb, mask=train, families=old, embedder=fit_embedder
    )
    floor = D.fit_difficulty(
        table, emb, mask=train, families=old, embedder=fit_embedder, recipe="floor"
    )
    extra: dict[str, object] = {}
    if args.new_sources:
        every = [*old, *NEW_FAMILIES]
        for label, fams, recipe in (
            ("floor+new", every, "floor"),
            ("floor+crux", [*old, "crux"], "floor"),
            ("floor-reasoning", old, "floor-reasoning"),
            ("floor-reasoning+new", every, "floor-reasoning"),
            ("floor-reasoning+crux", [*old, "crux"], "floor-reasoning"),
        ):
            extra[label] = D.fit_difficulty(
                table,
                emb,
                mask=train,
                families=fams,
                embedder=fit_embedder,
                recipe=recipe,
            )
    specs = dict(
        item.partition("=")[::2] if "=" in item else (item, item)
        for item in args.router
    ) or {name: name for name in shipped_checkpoints()}
    shipped = {}
    for name, spec in specs.items():
        folder = router_folder(spec)
        cached = _cached_embedder_override(folder) if folder is not None else {}
        try:
            shipped[name + "*"] = load_router(spec, **cached)
        except Exception as exc:
            print(f"skip {name}: {exc}")

    fitted = {"cv-recipe", "floor", "retrained", "floor+pair", *extra}
    compared = [
        tuple(n if n in fitted else f"{n}*" for n in c.split(",")) for c in args.compare
    ]
    held_pairs: list[HeldPair] = []
    print(f"{'family':12s} {'strong':28s} {'weak':34s} {'router':16s} APGR  APGR10")
    for fam, pairs in pairs_of.items():
        in_fam = family == fam
        for strong, weak in pairs:
            recs = table.records

            def has(i: int, s: str = strong, w: str = weak, rr: list = recs) -> bool:
                r = rr[i]
                return r is not None and s in r.scores and w in r.scores

            te = np.array([i for i in np.flatnonzero(in_fam & test) if has(i)])
            tr = np.array([i for i in np.flatnonzero(in_fam & train) if has(i)])
            if te.size < 20 or tr.size < 20:
                print(f"{fam:12s} {strong:28s} {weak:34s} too few prompts")
                continue
            sq = np.array([recs[i].scores[strong] for i in te])  # type: ignore[union-attr]
            wq = np.array([recs[i].scores[weak] for i in te])  # type: ignore[union-attr]
            if sq.mean() - wq.mean() < MIN_GAP:
                # PGR divides by the mean gap: a near-zero gap makes APGR explode.
                print(f"{fam:12s} {strong[-28:]:28s} {weak[-34:]:34s} gap < {MIN_GAP}")
                continue
            label = np.array(
                [
                    recs[i].scores[strong] * (1 - recs[i].scores[weak])  # type: ignore[union-attr]
                    for i in tr
                ]
            )
            retrained = DifficultyRouter(
                embedder=fit_embedder, alpha=D.ALPHA, length_weight=0.0
            ).fit_targets(
                [table.texts[i] for i in tr], {"pair": label}, embeddings=emb[tr]
            )
            D.add_pair_target(table, strong, weak)  # labels the training half only
            floor_pair = D.fit_difficulty(
                table,
                emb,
                mask=train,
                families=[*old, fam] if fam not in old else old,
                embedder=fit_embedder,
                recipe="floor-pair",
            )
            prompts = [table.texts[i] for i in te]
            bench = BenchmarkSet(
                name=f"{fam}-heldout",
                prompts=prompts,
                strong_quality=sq,
                weak_quality=wq,
                pair=ModelPair(strong, weak),
            )
            scores = {
                "random": np.stack(
                    [np.random.default_rng(k).random(te.size) for k in range(20)]
                ),
                "length": log_length(prompts),
                "cv-recipe": default.score(prompts, embeddings=emb[te]),
                "floor": floor.score(prompts, embeddings=emb[te]),
                "retrained": retrained.score(prompts, embeddings=emb[te]),
                "floor+pair": floor_pair.score(prompts, embeddings=emb[te]),
            }
            for label, router in extra.items():
                scores[label] = router.score(  # type: ignore[attr-defined]
                    prompts, embeddings=emb[te]
                )
            for name, router in shipped.items():
                scores[name] = router.score(prompts)
            held_pairs.append((fam, te, sq, wq, scores))
            report = evaluate_router_scores(bench, scores, n_bootstrap=0)
            for name, res in report.routers.items():
                m = res.metrics
                print(
                    f"{fam:12s} {strong[-28:]:28s} {weak[-34:]:34s} {name:16s} "
                    f"{m['APGR']:.3f} {m['APGR_10bin']:.3f}"
                )
            print()
    for a, b in compared:
        _paired_differences(held_pairs, a, b, args.n_bootstrap)


def _apgr(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    return apgr(exact_curve(score, strong, weak), strong.mean(), weak.mean())


def _paired_differences(
    held_pairs: list[HeldPair], a: str, b: str, n_bootstrap: int
) -> None:
    """Print B - A per pair and for the mean of the pairs, with paired bootstrap
    intervals (each family's held-out prompts resampled once per draw)."""
    point = np.array(
        [_apgr(s[b], sq, wq) - _apgr(s[a], sq, wq) for _, _, sq, wq, s in held_pairs]
    )
    held = {
        fam: np.unique(np.concatenate([p[1] for p in held_pairs if p[0] == fam]))
        for fam in {p[0] for p in held_pairs}
    }
    rng = np.random.default_rng(0)
    draws = np.empty((n_bootstrap, len(held_pairs)))
    for k in range(n_bootstrap):
        counts = {}
        for fam in sorted(held):
            ids = held[fam]
            counts[fam] = np.bincount(
                ids[rng.integers(0, len(ids), len(ids))], minlength=int(ids.max()) + 1
            )
        for j, (fam, te, sq, wq, s) in enumerate(held_pairs):
            rows = np.repeat(np.arange(len(te)), counts[fam][te])
            draws[k, j] = _apgr(s[b][rows], sq[rows], wq[rows]) - _apgr(
                s[a][rows], sq[rows], wq[rows]
            )
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    for j, (fam, *_rest) in enumerate(held_pairs):
        print(
            f"{b} - {a}: {fam} pair {j}: {point[j]:+.3f} [{lo[j]:+.3f}, {hi[j]:+.3f}]"
        )
    mlo, mhi = np.percentile(draws.mean(axis=1), [2.5, 97.5])
    print(
        f"{b} - {a}: mean of the {len(point)} pairs {point.mean():+.3f} "
        f"[{mlo:+.3f}, {mhi:+.3f}]",
        flush=True,
    )


if __name__ == "__main__":
    main()
