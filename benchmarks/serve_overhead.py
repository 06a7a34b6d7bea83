"""Added latency of `prefroute serve` over calling the upstream directly.

Three processes: a fake OpenAI-compatible upstream that answers immediately
(tests/integration/fake_upstream.py), the routing server (uvicorn, one worker) in
front of it, and this load generator (httpx, N concurrent clients each sending
requests back to back). For each concurrency it measures the direct path and the
routed path and prints p50/p99 latency, requests/s and the p50/p99 overhead.

    .venv/bin/python benchmarks/serve_overhead.py --router mf
    .venv/bin/python benchmarks/serve_overhead.py --router random --concurrency 1,64

`--router` is anything `load_router` accepts; if it cannot be loaded (e.g. no shipped
`mf` checkpoint yet), a small MF router on the default MiniLM embedder is trained on
synthetic battles instead, so scoring costs what a real `mf` costs (the numbers do
not depend on what the router learned). The router actually used is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "What is the capital of France?",
    "Prove that the square root of two is irrational.",
    "Write a haiku about autumn leaves.",
    "Explain how a hash map handles collisions, with an example in Python.",
    "Translate 'good night' into German.",
    "Derive the closed form of the sum of the first n squares.",
    "Give me three ideas for a birthday party for a ten-year-old.",
    "Debug: my Rust program says 'borrowed value does not live long enough'.",
]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _role_upstream(port: int) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from fake_upstream import FakeUpstream, _Handler, _Server

    fake = FakeUpstream()
    server = _Server(("127.0.0.1", port), _Handler)
    server.fake = fake
    fake.requests = _NoList()  # type: ignore[assignment]
    fake.auth_headers = _NoList()  # type: ignore[assignment]
    server.serve_forever(poll_interval=0.05)


class _NoList(list):  # type: ignore[type-arg]
    """Drops appended items so a long benchmark does not grow memory."""

    def append(self, item: Any) -> None:
        return None


def _trained_mf(directory: Path) -> str:
    """Train a small MF router on the default embedder; return its folder."""
    from prefroute.routers.registry import get_router
    from prefroute.types import Battle

    battles = []
    for i, prompt in enumerate(PROMPTS * 4):
        hard = any(w in prompt.lower() for w in ("prove", "derive", "debug", "explain"))
        winner = "a" if hard else ("b" if i % 2 else "tie")
        battles.append(
            Battle(prompt, "strong-model", "weak-model", winner, source="bench")
        )
    router = get_router("mf", n_epochs=50).fit(battles)
    router.save(directory)
    return str(directory)


def _role_server(port: int, upstream_port: int, router: str, window_ms: float) -> None:
    import logging

    import uvicorn

    from prefroute.serve.app import create_app
    from prefroute.serve.config import ServeConfig

    base = f"http://127.0.0.1:{upstream_port}/v1"
    config = ServeConfig.model_validate(
        {
            "strong": {"model": "strong-model", "base_url": base, "max_retries": 0},
            "weak": {"model": "weak-model", "base_url": base, "max_retries": 0},
            "routers": {"bench": router},
            "fallback": False,
            "batch_window_ms": window_ms,
            "port": port,
        }
    )
    app = create_app(config)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _load(
    url: str, model: str, concurrency: int, n_requests: int
) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    counter = iter(range(n_requests))
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            for i in counter:
                body = {
                    "model": model,
                    "messages": [
                        {"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} #{i}"}
                    ],
                }
                started = time.perf_counter()
                response = await client.post(url, json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{url}: HTTP {response.status_code}: {response.text}"
                    )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(latencies) / elapsed,
        "n": float(len(latencies)),
    }


def _wait(url: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    """Run the benchmark (or one of its helper roles)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument(
        "--requests",
        type=int,
        default=0,
        help="requests per run (default: 300 at c=1, 30*c otherwise)",
    )
    parser.add_argument("--threshold", default="0.5")
    parser.add_argument("--window-ms", type=float, default=0.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--role", choices=["upstream", "server"], default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream-port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "upstream":
        _role_upstream(args.port)
        return
    if args.role == "server":
        _role_server(args.port, args.upstream_port, args.router, args.window_ms)
        return

    from prefroute.errors import PrefrouteError
    from prefroute.routers.registry import load_router

    router_target, note = args.router, f"router {args.router!r}"
    tmp = tempfile.TemporaryDirectory()
    try:
        load_router(args.router)
    except PrefrouteError as exc:
        router_target = _trained_mf(Path(tmp.name) / "mf")
        note = (
            f"router {args.router!r} unavailable ({exc}); used an MF router trained "
            "here on synthetic battles with the default MiniLM (ONNX) embedder"
        )
    print(note, flush=True)

    upstream_port, server_port = _free_port(), _free_port()
    script = str(Path(__file__).resolve())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                script,
                "--role",
                "upstream",
                "--port",
                str(upstream_port),
            ],
            env=env,
        ),
        subprocess.Popen(
            [
                sys.executable,
                script,
                "--role",
                "server",
                "--port",
                str(server_port),
                "--upstream-port",
                str(upstream_port),
                "--router",
                router_target,
                "--window-ms",
                str(args.window_ms),
            ],
            env=env,
        ),
    ]
    results: dict[str, Any] = {
        "router": note,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "runs": [],
    }
    try:
        _wait(f"http://127.0.0.1:{upstream_port}/v1/models")
        _wait(f"http://127.0.0.1:{server_port}/health")
        direct = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
        routed = f"http://127.0.0.1:{server_port}/v1/chat/completions"
        model = f"router-bench-{args.threshold}"
        asyncio.run(_load(routed, model, 8, 200))  # warm up (ONNX session, connections)
        asyncio.run(_load(direct, "weak-model", 8, 200))
        print(f"{'conc':>4} {'path':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            n = args.requests or (300 if concurrency == 1 else 30 * concurrency)
            row: dict[str, Any] = {"concurrency": concurrency, "requests": n}
            for name, url, m in (
                ("direct", direct, "weak-model"),
                ("server", routed, model),
            ):
                stats = asyncio.run(_load(url, m, concurrency, n))
                row[name] = stats
                print(
                    f"{concurrency:>4} {name:>7} {stats['p50_ms']:8.2f} "
                    f"{stats['p99_ms']:8.2f} {stats['rps']:8.0f}",
                    flush=True,
                )
            row["overhead_p50_ms"] = row["server"]["p50_ms"] - row["direct"]["p50_ms"]
            row["overhead_p99_ms"] = row["server"]["p99_ms"] - row["direct"]["p99_ms"]
            print(
                f"{concurrency:>4} overhead p50 {row['overhead_p50_ms']:+.2f} ms, "
                f"p99 {row['overhead_p99_ms']:+.2f} ms",
                flush=True,
            )
            results["runs"].append(row)
        import httpx

        metrics = httpx.get(f"http://127.0.0.1:{server_port}/metrics").text
        results["routing_latency_count"] = [
            line
            for line in metrics.splitlines()
            if line.startswith("prefroute_routing_latency_seconds_sum")
            or line.startswith("prefroute_routing_latency_seconds_count")
        ]
        print("\n".join(results["routing_latency_count"]))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        tmp.cleanup()
    results["load_avg_end"] = os.getloadavg()
    print(
        f"load average start {results['load_avg_start']}, end {results['load_avg_end']}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
