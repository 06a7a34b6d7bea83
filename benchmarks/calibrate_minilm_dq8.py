"""Find the outlier input channels of MiniLM for the ``minilm-dq8`` graph.

    .venv/bin/python benchmarks/calibrate_minilm_dq8.py  # data: $PREFROUTE_DATA_DIR

Runs the fp32 graph on 498 calibration prompts (300 AlpacaEval instructions and 66
each of RouterBench ARC / MBPP / Winogrande, drawn with seed 0; no reference texts)
and prints the table pasted into ``src/prefroute/embed/_minilm_dq8.py`` (``OUTLIERS``)
and the weights' sha256 prefix.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pprint
from pathlib import Path

import numpy as np

from prefroute.embed._minilm_dq8 import calibrate_outliers
from prefroute.embed.onnx import OnnxEmbedder, built_model_path


def calibration_texts(
    data: Path, n_alpaca: int = 300, n_routerbench: int = 198
) -> list[str]:
    """AlpacaEval instructions + RouterBench prompts, drawn with seed 0."""
    rng = np.random.default_rng(0)
    alpaca = [
        row["instruction"]
        for row in json.loads((data / "alpaca-eval/instructions_805.json").read_text())
    ]
    texts = [alpaca[i] for i in rng.permutation(len(alpaca))[:n_alpaca]]
    csv.field_size_limit(1 << 30)
    for name in ("mbpp_train.csv", "arc_challenge_train.csv", "winograde_train.csv"):
        with (data / "routerbench" / name).open(newline="") as f:
            prompts = [row["prompt"] for row in csv.DictReader(f)]
        texts += [
            prompts[i] for i in rng.permutation(len(prompts))[: n_routerbench // 3]
        ]
    return texts


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=2, help="channels per site")
    args = parser.parse_args()
    data = Path(os.environ.get("PREFROUTE_DATA_DIR", "../shared/data"))
    texts = calibration_texts(data)
    tokenizer = OnnxEmbedder()._make_tokenizer()
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    path = built_model_path("fused")
    print(f"# {len(texts)} calibration texts; weights: {path.parent.name}")
    pprint.pprint(calibrate_outliers(path, ids, k=args.k), width=88, sort_dicts=False)


if __name__ == "__main__":
    main()
