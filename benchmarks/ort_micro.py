"""Micro-benchmarks behind the session-3 int8 graph choices (docs/results.md).

    .venv/bin/python benchmarks/ort_micro.py [--part ops,threads,idle]

- ``ops``: one-node ORT models on a (1, 32, 384) / (1, 32, 1536) input, one thread:
  com.microsoft ``SkipLayerNormalization`` against ``Add`` + ``Add`` +
  ``LayerNormalization`` (what replaced it), and ``Gelu`` against ``FastGelu``. Each
  time includes ORT's ~10 us ``run`` overhead.
- ``threads``: the shipped ``minilm-dq8`` graph on random token ids of 16-256 tokens,
  one against two intra-op threads, interleaved (why a lone text of <= 40 tokens runs
  single-threaded).
- ``idle``: the ``mf`` router through the server's ``ScoreBatcher`` with 0 / 10 / 100
  / 500 ms of idle time between prompts (why one client of the server sees more added
  latency than 64): time inside ``router.score`` and the awaited total.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import numpy as np


def _median_us(fn: Callable[[], object], n: int = 2000) -> float:
    for _ in range(100):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def ops() -> None:
    """SkipLayerNormalization vs Add + LayerNormalization; Gelu vs FastGelu."""
    from onnx import TensorProto, helper, numpy_helper

    from prefroute.embed.onnx import cpu_session

    rng = np.random.default_rng(0)
    h = 384

    def model(nodes: list, inputs: list[str], width: int, inits: list) -> bytes:
        vi = [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, None, width])
            for n in inputs
        ]
        out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
        graph = helper.make_graph(nodes, "g", vi, out, inits)
        opsets = [helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
        m = helper.make_model(graph, opset_imports=opsets)
        m.ir_version = 8
        return m.SerializeToString()

    params = [
        numpy_helper.from_array(rng.random(h, dtype=np.float32), name)
        for name in ("g", "b", "bias")
    ]
    skip = helper.make_node(
        "SkipLayerNormalization",
        ["x", "s", "g", "b", "bias"],
        ["y"],
        domain="com.microsoft",
        epsilon=1e-12,
    )
    plain = [
        helper.make_node("Add", ["x", "s"], ["t"]),
        helper.make_node("Add", ["t", "bias"], ["t2"]),
        helper.make_node(
            "LayerNormalization", ["t2", "g", "b"], ["y"], axis=-1, epsilon=1e-12
        ),
    ]
    feed = {
        "x": rng.random((1, 32, h), dtype=np.float32),
        "s": rng.random((1, 32, h), dtype=np.float32),
    }
    for label, nodes in (("SkipLayerNormalization", [skip]), ("Add+LayerNorm", plain)):
        session = cpu_session(model(nodes, ["x", "s"], h, params), 1)
        us = _median_us(lambda s=session, f=feed: s.run(None, f))
        print(f"{label:24s} (1, 32, 384): {us:6.1f} us")
    feed = {"x": rng.standard_normal((1, 32, 1536), dtype=np.float32)}
    for op in ("Gelu", "FastGelu"):
        node = helper.make_node(op, ["x"], ["y"], domain="com.microsoft")
        session = cpu_session(model([node], ["x"], 1536, []), 1)
        us = _median_us(lambda s=session, f=feed: s.run(None, f))
        print(f"{op:24s} (1, 32, 1536): {us:6.1f} us")


def threads() -> None:
    """The dq8 graph on one vs two threads by token length."""
    from prefroute.embed.onnx import built_model_path, cpu_session

    path = str(built_model_path("dq8"))
    sessions = {n: cpu_session(path, n) for n in (1, 2)}
    rng = np.random.default_rng(0)
    for length in (16, 32, 48, 64, 128, 256):
        ids = rng.integers(1000, 20000, (1, length)).astype(np.int64)
        ids[0, 0], ids[0, -1] = 101, 102
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        rounds: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(6):
            for n, session in sessions.items():
                rounds[n].append(
                    _median_us(lambda s=session, f=feed: s.run(None, f), 20) / 1000
                )
        one, two = (statistics.median(rounds[n]) for n in (1, 2))
        print(f"{length:4d} tokens: 1 thread {one:6.2f} ms, 2 threads {two:6.2f} ms")


def idle() -> None:
    """The mf router through ScoreBatcher with idle gaps between prompts."""
    import prefroute
    from prefroute.gateway.batcher import ScoreBatcher

    router = prefroute.load_router("mf")
    router.score(["warm up"])
    score = router.score
    inner: list[float] = []

    def timed(prompts: list[str]) -> np.ndarray:
        t0 = time.perf_counter()
        out = score(prompts)
        inner.append(time.perf_counter() - t0)
        return out

    router.score = timed  # type: ignore[method-assign]

    async def run(gap: float) -> None:
        batcher = ScoreBatcher(router, window_s=0)
        inner.clear()
        outer = []
        for i in range(40):
            await asyncio.sleep(gap)
            t0 = time.perf_counter()
            await batcher.score(f"What is the capital of France? ~{gap}~{i}")
            outer.append(time.perf_counter() - t0)
        batcher.close()
        print(
            f"gap {1000 * gap:5.0f} ms: awaited {1000 * statistics.median(outer):.2f}"
            f" ms, inside router.score {1000 * statistics.median(inner):.2f} ms"
        )

    for gap in (0.0, 0.01, 0.1, 0.5):
        asyncio.run(run(gap))


def main() -> None:
    """Run the chosen parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="ops,threads,idle")
    args = parser.parse_args()
    parts = {"ops": ops, "threads": threads, "idle": idle}
    for name in args.part.split(","):
        print(f"== {name}")
        parts[name]()


if __name__ == "__main__":
    main()
