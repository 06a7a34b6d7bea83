"""Embedding speed: single-prompt latency and batch throughput per backend.

    .venv/bin/python benchmarks/embed_speed.py [--backends minilm,minilm-dq8]
        [--threads N] [--repeats 200] [--spin]

Prints, per backend: session start-up (first call, graph cached), median and p90
latency of one ~30-token prompt, and throughput (texts/s) of batches of 1, 32 and
256 short prompts (11-27 tokens), plus the process CPU time per text, which is less
sensitive to other jobs on a shared machine than wall time. ``minilm-dq8`` runs one
text per ORT call, a batch spread over ``--threads`` single-threaded sessions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from prefroute.embed import get_embedder
from prefroute.embed.onnx import OnnxEmbedder

_SUBJECTS = [
    "the French revolution",
    "binary search trees",
    "photosynthesis",
    "the stock market",
    "a vegan lasagna",
    "Kubernetes pods",
    "the Pythagorean theorem",
    "black holes",
    "Shakespeare's sonnets",
    "the immune system",
    "Rust lifetimes",
    "climate change",
    "the Roman empire",
    "gradient descent",
    "a job interview",
    "the water cycle",
]
_TEMPLATES = [
    "What is {s}?",
    "Explain {s} to a ten year old in a few simple sentences.",
    "Write a short poem about {s}.",
    "Give me three surprising facts about {s} and cite where they come from.",
    "How would you teach {s} to a class of university students in one hour?",
    "Summarise {s}.",
]
#: About 30 tokens with the MiniLM tokenizer.
SINGLE = (
    "Can you explain, step by step, how a binary search tree keeps its keys sorted "
    "and why lookups take logarithmic time on average?"
)


def short_prompts(n: int) -> list[str]:
    """``n`` distinct short chat prompts (11-27 tokens)."""
    out = []
    for i in range(n):
        s = _SUBJECTS[i % len(_SUBJECTS)]
        t = _TEMPLATES[(i // len(_SUBJECTS)) % len(_TEMPLATES)]
        out.append(f"{t.format(s=s)} (#{i})")
    return out


def bench(spec: str, threads: int | None, repeats: int, spin: bool) -> None:
    """Print the numbers of one backend."""
    embedder = get_embedder(spec)
    if isinstance(embedder, OnnxEmbedder):
        embedder = OnnxEmbedder(
            variant=embedder.variant, n_threads=threads, allow_spinning=spin
        )
    t0 = time.perf_counter()
    embedder.embed(["warm up"])
    startup = time.perf_counter() - t0
    n_tokens = None
    if isinstance(embedder, OnnxEmbedder):
        _, tokenizer = embedder._ensure_ready()
        n_tokens = len(tokenizer.encode(SINGLE).ids)
    for _ in range(20):
        embedder.embed([SINGLE])
    lat = []
    c0 = time.process_time()
    for _ in range(repeats):
        t = time.perf_counter()
        embedder.embed([SINGLE])
        lat.append(time.perf_counter() - t)
    cpu_single = (time.process_time() - c0) / repeats
    lat_ms = np.asarray(lat) * 1e3
    print(
        f"{spec:12s} start-up {startup * 1e3:7.0f} ms | "
        f"single prompt ({n_tokens} tokens): "
        f"median {np.median(lat_ms):.2f} ms, p90 {np.percentile(lat_ms, 90):.2f} ms, "
        f"cpu {cpu_single * 1e3:.2f} ms"
    )
    for batch in (1, 32, 256):
        n_texts = 256
        texts = short_prompts(n_texts)
        embedder.embed(texts[:batch])
        rates = []
        c0 = time.process_time()
        for _ in range(3):
            t = time.perf_counter()
            for i in range(0, n_texts, batch):
                embedder.embed(texts[i : i + batch])
            rates.append(n_texts / (time.perf_counter() - t))
        cpu_per_text = (time.process_time() - c0) / (3 * n_texts)
        print(
            f"{'':12s} batch {batch:4d}: {statistics.median(rates):7.0f} texts/s "
            f"(best {max(rates):.0f}), cpu {cpu_per_text * 1e3:.2f} ms/text"
        )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="minilm,minilm-dq8,minilm-q8,minilm-int8")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--spin", action="store_true", help="allow ORT spinning")
    args = parser.parse_args()
    import onnxruntime

    load = os.getloadavg()
    print(
        f"python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, "
        f"{os.cpu_count()} cpus, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    for spec in args.backends.split(","):
        bench(spec.strip(), args.threads, args.repeats, args.spin)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
