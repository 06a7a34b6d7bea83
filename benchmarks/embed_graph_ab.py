"""A/B latency of two MiniLM ONNX graph files, interleaved in one process.

    .venv/bin/python benchmarks/embed_graph_ab.py A.onnx B.onnx [--threads 1,2]
        [--rounds 8] [--calls 40]

This VM's speed drifts by tens of percent from minute to minute, so two graphs are
only comparable when timed in the same process, alternating: each round times
``--calls`` runs of one ~32-token prompt on every (graph, threads) session in turn, and
the script prints the median over rounds of each session's per-round median, plus the
largest element difference between the two graphs' vectors over 60 texts (so a speed-up
that changes the maths shows). Graph files live under ``~/.cache/prefroute/models/``
(``built_model_path``); keep a copy of the old folder before changing the builder.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from prefroute.embed.onnx import cpu_session, load_tokenizer, minilm_model_dir

PROMPT = (
    "Can you explain, step by step, how a binary search tree keeps its keys sorted "
    "and why lookups take logarithmic time on average?"
)


def main() -> None:
    """Print the A/B table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    text = (minilm_model_dir() / "tokenizer.json").read_text(encoding="utf-8")
    tokenizer = load_tokenizer(text, 256)

    def feed(t: str) -> dict[str, np.ndarray]:
        ids = np.asarray([tokenizer.encode(t).ids], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    threads = [int(t) for t in args.threads.split(",")]
    sessions = {
        (label, n): cpu_session(str(path), n)
        for label, path in (("A", args.a), ("B", args.b))
        for n in threads
    }
    readme = Path(__file__).resolve().parents[1] / "README.md"
    lines = [line.strip() for line in readme.read_text("utf-8").splitlines()]
    texts = [PROMPT, *[line for line in lines if len(line) > 20][:59]]
    diff = 0.0
    for t in texts:
        f = feed(t)
        va = sessions[("A", threads[0])].run(None, f)[0]
        vb = sessions[("B", threads[0])].run(None, f)[0]
        diff = max(diff, float(np.abs(va - vb).max()))
    print(f"max |A - B| over {len(texts)} texts: {diff:.2e}")
    f = feed(PROMPT)
    print(f"prompt: {f['input_ids'].shape[1]} tokens")
    medians: dict[tuple[str, int], list[float]] = {k: [] for k in sessions}
    for session in sessions.values():
        for _ in range(20):
            session.run(None, f)
    for _ in range(args.rounds):
        for key, session in sessions.items():
            times = []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                session.run(None, f)
                times.append(time.perf_counter() - t0)
            medians[key].append(1000 * statistics.median(times))
    for (label, n), values in medians.items():
        rounds = " ".join(f"{v:.2f}" for v in values)
        mid = statistics.median(values)
        print(f"{label} threads={n}: {mid:.2f} ms  (rounds {rounds})")


if __name__ == "__main__":
    main()
