"""Train the shipped `default` checkpoint (a DifficultyRouter) from the real data.

Exact reproduction command (from the repository root)::

    .venv/bin/python benchmarks/train_default.py --out src/prefroute/checkpoints/default

Steps: load every golden source and AlpacaEval (``_difficulty_data.build_table``),
drop training prompts with cosine > 0.95 to any MT Bench / MMLU / GSM8K prompt
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _difficulty_data as D  # noqa: E402

from prefroute.config import resolve_data_dir  # noqa: E402
from prefroute.data.benchmarks import load_eval_prompts  # noqa: E402
from prefroute.embed import DEFAULT_EMBEDDER  # noqa: E402
from prefroute.routers.difficulty import DifficultyRouter  # noqa: E402
from prefroute.train.decontam import contaminated_prompts  # noqa: E402
from prefroute.train.pipeline import training_embedder  # noqa: E402

# The recipe chosen by leave-one-source-out cross-validation (docs/results/quality.md).
HEADS = ("gap", "gap_pct", "chat")
HEAD_WEIGHTS = {"gap": 1.0, "gap_pct": 1.0, "chat": 1.0}
LENGTH_WEIGHT = 1.0
ALPHA = 1.0


def main() -> None:
    """Build the table, decontaminate, embed, fit, save, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    t0 = time.time()
    table = D.build_table(data_dir)
    embedder = training_embedder(args.embedder)
    bad = contaminated_prompts(table.texts, load_eval_prompts(data_dir), embedder)
    keep = np.array([t not in bad for t in table.texts])
    print(f"{len(table)} prompts, {int((~keep).sum())} dropped by decontamination")
    texts = [t for t, k in zip(table.texts, keep, strict=True) if k]
    targets = {k: v[keep] for k, v in table.arrays().items()}
    emb = embedder.embed(texts)
    router = DifficultyRouter(
        embedder=args.embedder,
        alpha=ALPHA,
        length_weight=LENGTH_WEIGHT,
        head_weights=HEAD_WEIGHTS,
    )
    router.fit_targets(
        texts,
        {h: targets[h] for h in HEADS},
        calibration=targets["pair"],
        embeddings=emb,
    )
    router.save(args.out)
    meta = {
        "n_prompts": int(keep.sum()),
        "n_decontaminated": int((~keep).sum()),
        "heads": list(HEADS),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
