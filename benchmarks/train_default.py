"""Train the shipped `default` checkpoint (a DifficultyRouter) from the real data.

Exact reproduction commands (from the repository root; byte-identical arrays)::

    .venv/bin/python benchmarks/train_default.py --out src/prefroute/checkpoints/default
    .venv/bin/python benchmarks/train_default.py --recipe floor-reasoning \
        --out src/prefroute/checkpoints/default-chat

Training embeds with the exact fp32 ``minilm``; the saved router scores with
``--serve-embedder`` (default: the package default, the int8 ``minilm-dq8``, cosine
>= 0.997 to fp32).

The same training is `prefroute train default|default-chat --recipe
examples/recipes/default-router.yaml`; this script adds `--score-benchmarks`.

Steps: load every golden source and AlpacaEval
(``prefroute.train.difficulty.build_table``), drop training prompts with cosine
> 0.95 to any MT Bench / MMLU / GSM8K prompt
(`prefroute.train.decontam.contaminated_prompts`), embed with the default embedder
(on-disk cached when `prefroute.embed.cache` exists), fit the heads below, calibrate
to P(strong model needed) on the paper's pair, and save.

Embedding ~21k prompts with MiniLM takes 10-25 minutes on 2 cores the first time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefroute.config import resolve_data_dir
from prefroute.embed import DEFAULT_EMBEDDER
from prefroute.train import difficulty as D
from prefroute.train.pipeline import training_embedder


def main() -> None:
    """Build the table, decontaminate, embed, fit, save, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--embedder", default="minilm", help="training vectors")
    parser.add_argument(
        "--serve-embedder",
        default=DEFAULT_EMBEDDER,
        help="embedder the saved router scores with (same dimension)",
    )
    parser.add_argument("--recipe", default="floor", choices=sorted(D.RECIPES))
    parser.add_argument(
        "--embedding-store",
        type=Path,
        default=None,
        help="npz of precomputed vectors (MemoEmbedder.save_store); updated after",
    )
    parser.add_argument(
        "--score-benchmarks",
        type=Path,
        default=None,
        help="folder: also write <benchmark>/<recipe>.jsonl scores of the MT Bench, "
        "MMLU and GSM8K prompts (embedded by the same embedder/store), for "
        "`prefroute eval --scores`",
    )
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    t0 = time.time()
    embedder = training_embedder(args.embedder)
    if args.embedding_store is not None:
        print("preloaded", embedder.load_store(args.embedding_store), "vectors")
    n_all = len(D.build_table(data_dir))
    table, emb = D.clean_table(data_dir, embedder)
    print(f"{n_all} prompts, {n_all - len(table)} dropped by decontamination")
    router = D.fit_difficulty(table, emb, embedder=args.embedder, recipe=args.recipe)
    if args.serve_embedder != args.embedder:
        router = router.with_embedder(args.serve_embedder)
    router.save(args.out)
    if args.score_benchmarks is not None:
        _score_benchmarks(
            router, embedder, data_dir, args.score_benchmarks, args.recipe
        )
    if args.embedding_store is not None:
        embedder.save_store(args.embedding_store)
    meta = {
        "n_prompts": len(table),
        "n_decontaminated": n_all - len(table),
        "heads": router.heads_,
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(meta, indent=2))


def _score_benchmarks(
    router: object, embedder: object, data_dir: Path, folder: Path, recipe: str
) -> None:
    from prefroute.data.benchmarks import BENCHMARKS, load_benchmark
    from prefroute.errors import DataError

    for bench_name in BENCHMARKS:
        try:
            bench = load_benchmark(bench_name, data_dir)
        except DataError:
            continue
        prompts = list(bench.prompts)
        emb = embedder.embed(prompts)  # type: ignore[attr-defined]
        scores = router.score(prompts, embeddings=emb)  # type: ignore[attr-defined]
        path = folder / bench_name / f"{recipe}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for p, sc in zip(prompts, scores, strict=True):
                fh.write(json.dumps({"prompt": p, "score": float(sc)}) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
