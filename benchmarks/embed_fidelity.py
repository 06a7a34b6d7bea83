"""Fidelity of prefroute's MiniLM backends to sentence-transformers.

    .venv/bin/python benchmarks/embed_fidelity.py [--backends minilm,minilm-q8]

Embeds tests/data/minilm_reference_texts.json (61 texts: short, > 256 tokens,
unicode, code, maths, empty) and prints, per backend, the min / 5th percentile / mean
cosine to the sentence-transformers vectors in tests/data/minilm_reference.npz
(regenerate those with benchmarks/make_minilm_reference.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from prefroute.embed import get_embedder

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    """Print the cosines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="minilm,minilm-q8,minilm-int8")
    args = parser.parse_args()
    texts = json.loads((DATA / "minilm_reference_texts.json").read_text("utf-8"))
    with np.load(DATA / "minilm_reference.npz", allow_pickle=False) as npz:
        ref = np.asarray(npz["embeddings"])
    for spec in args.backends.split(","):
        cosines = (get_embedder(spec).embed(texts) * ref).sum(axis=1)
        print(
            f"{spec:12s} n={len(texts)} min cosine {cosines.min():.6f} "
            f"(text #{cosines.argmin()}: {texts[cosines.argmin()][:30]!r}), "
            f"p5 {np.percentile(cosines, 5):.6f}, mean {cosines.mean():.6f}"
        )


if __name__ == "__main__":
    main()
