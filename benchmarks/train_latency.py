"""Median latency of routing one short prompt (embedding included) per router.

Usage:
    .venv/bin/python benchmarks/train_latency.py --router mf --router classifier \
        --router sw_ranking [--n 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

from prefroute.routers import load_router

PROMPTS = [
    "What is the capital of Peru?",
    "Write a haiku about autumn rain.",
    "Solve 12 * (3 + 4) and explain.",
    "Give me three tips for a job interview.",
]


def main() -> None:
    """Print median and p90 milliseconds per router."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--router", action="append", default=[])
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    for name in args.router or ["mf", "classifier", "sw_ranking"]:
        router = load_router(name)
        for p in PROMPTS:  # warm up (session creation, caches)
            router.score([p])
        times = []
        for i in range(args.n):
            # A fresh prompt each call, so no embedding cache can help.
            prompt = f"{PROMPTS[i % len(PROMPTS)]} (request {i})"
            t0 = time.perf_counter()
            router.route([prompt], 0.5)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(
            f"{name:12s} median {statistics.median(times):6.2f} ms  "
            f"p90 {times[int(0.9 * len(times))]:6.2f} ms  (n={args.n})"
        )


if __name__ == "__main__":
    main()
