"""What one routing decision costs, router against router, interleaved in one run.

Two measurements, each in rounds that visit every router in turn (the order rotates
per round), so a busy machine slows every router alike and the ratios hold:

1. In-process: `load_router(spec).score([prompt])` on one short, fresh prompt
   (``--calls`` calls per router per round): median wall time and median CPU time
   (``time.thread_time``, what other processes on the machine do not inflate).
2. Server (``--serve``): one `prefroute serve` process with every router
   configured (``router-<name>-0.5``), in front of the fake OpenAI upstream of
   ``tests/integration/fake_upstream.py`` answering at once, driven by
   ``--concurrency`` closed-loop clients (the load generator of
   ``benchmarks/serve_overhead.py``) with ``--requests`` unique prompts per router
   per round: the server's CPU time per request (from /proc) and requests/s. With
   64 clients the server is saturated, so requests/s is its throughput.

Routers are given as ``NAME=SPEC`` (SPEC: anything `load_router` takes; a bare SPEC
is its own name). The first router is the reference of the ratio columns. Example
(the MiniLM twin of a shipped router retrained into a folder first, see
docs/results.md "Embedders and route cost")::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/route_cost.py \\
        --router default --router default-minilm=/tmp/default-minilm \\
        --router random --rounds 5 --serve --json route_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_overhead as S

PROMPTS = [
    "What is the capital of Peru?",
    "Write a haiku about autumn rain.",
    "Solve 12 * (3 + 4) and explain.",
    "Give me three tips for a job interview.",
]


def _parse_routers(items: list[str]) -> dict[str, str]:
    routers: dict[str, str] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        routers[name if sep else item] = spec if sep else item
    return routers


def _rotated(names: list[str], k: int) -> list[str]:
    k %= len(names)
    return names[k:] + names[:k]


def in_process(routers: dict[str, str], rounds: int, calls: int) -> dict[str, Any]:
    """Interleaved rounds of one-prompt `score` calls; per-call wall and CPU ms."""
    from prefroute.routers import load_router

    loaded = {name: load_router(spec) for name, spec in routers.items()}
    for router in loaded.values():  # warm up: sessions, tables, caches
        for p in PROMPTS:
            router.score([p])
    wall: dict[str, list[float]] = {n: [] for n in loaded}
    cpu: dict[str, list[float]] = {n: [] for n in loaded}
    per_round: dict[str, list[float]] = {n: [] for n in loaded}
    counter = 0
    for r in range(rounds):
        for name in _rotated(list(loaded), r):
            router = loaded[name]
            times = []
            for _ in range(calls):
                # a fresh prompt each call: no cache anywhere can answer it
                prompt = f"{PROMPTS[counter % len(PROMPTS)]} (request {counter})"
                counter += 1
                c0, t0 = time.thread_time(), time.perf_counter()
                router.score([prompt])
                t1, c1 = time.perf_counter(), time.thread_time()
                times.append(1000 * (t1 - t0))
                cpu[name].append(1000 * (c1 - c0))
            wall[name].extend(times)
            per_round[name].append(statistics.median(times))
    return {
        name: {
            "wall_median_ms": statistics.median(wall[name]),
            "cpu_median_ms": statistics.median(cpu[name]),
            "round_medians_ms": per_round[name],
        }
        for name in loaded
    }


def _role_server(port: int, upstream_port: int, routers: dict[str, str]) -> None:
    import logging
    import signal

    import uvicorn

    from prefroute.serve.app import create_app
    from prefroute.serve.config import ServeConfig

    base = f"http://127.0.0.1:{upstream_port}/v1"
    config = ServeConfig.model_validate(
        {
            "strong": {"model": "strong-model", "base_url": base, "max_retries": 0},
            "weak": {"model": "weak-model", "base_url": base, "max_retries": 0},
            "routers": routers,
            "fallback": False,
            "port": port,
        }
    )
    app = create_app(config)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()


def served(
    routers: dict[str, str], rounds: int, requests: int, concurrency: int
) -> dict[str, Any]:
    """Interleaved rounds through one server: CPU ms per request and requests/s."""
    upstream_port, server_port = S._free_port(), S._free_port()
    script = str(Path(__file__).resolve())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    upstream = subprocess.Popen(
        [
            *(sys.executable, str(Path(S.__file__).resolve()), "--role", "upstream"),
            *("--port", str(upstream_port), "--jitter", "0"),
        ],
        env=env,
    )
    server = subprocess.Popen(
        [
            *(sys.executable, script, "--role", "server"),
            *("--port", str(server_port), "--upstream-port", str(upstream_port)),
            *("--routers-json", json.dumps(routers)),
        ],
        env=env,
    )
    cpu: dict[str, list[float]] = {n: [] for n in routers}
    rps: dict[str, list[float]] = {n: [] for n in routers}
    try:
        S._wait(f"http://127.0.0.1:{upstream_port}/v1/models")
        S._wait(f"http://127.0.0.1:{server_port}/health")
        offset = 10_000_000
        for name in routers:  # warm up every router's model and the connections
            S._run(server_port, f"router-{name}-0.5", 8, 200, 0.0, offset)
            offset += 200
        offset = 0
        for r in range(rounds):
            for name in _rotated(list(routers), r):
                cpu0 = S._cpu_seconds(server.pid)
                stats = S._run(
                    server_port,
                    f"router-{name}-0.5",
                    concurrency,
                    requests,
                    0.0,
                    offset,
                )
                offset += requests
                cpu[name].append(1000 * (S._cpu_seconds(server.pid) - cpu0) / requests)
                rps[name].append(stats["rps"])
                print(
                    f"round {r} {name:>16s}: server CPU "
                    f"{cpu[name][-1]:.3f} ms/request, {stats['rps']:.0f} requests/s",
                    flush=True,
                )
    finally:
        for proc in (server, upstream):
            proc.terminate()
        for proc in (server, upstream):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        name: {
            "server_cpu_ms_per_request": statistics.median(cpu[name]),
            "requests_per_s": statistics.median(rps[name]),
            "rounds_cpu_ms": cpu[name],
            "rounds_requests_per_s": rps[name],
        }
        for name in routers
    }


def _table(results: dict[str, Any], keys: list[tuple[str, str]], ref: str) -> None:
    print(
        f"{'router':>16s} "
        + " ".join(f"{label:>14s} {'/ ' + ref[:8]:>10s}" for _, label in keys)
    )
    for name, row in results.items():
        cells = []
        for key, _ in keys:
            value, base = row[key], results[ref][key]
            cells.append(
                f"{value:14.3f} {value / base if base else float('nan'):10.2f}"
            )
        print(f"{name:>16s} " + " ".join(cells))


def main() -> None:
    """Run the interleaved measurements and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", action="append", default=[], help="NAME=SPEC")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400, help="score calls per round")
    parser.add_argument("--serve", action="store_true", help="also run the server")
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--role", choices=["server"], default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument("--routers-json", default="{}")
    args = parser.parse_args()
    if args.role == "server":
        _role_server(args.port, args.upstream_port, json.loads(args.routers_json))
        return
    routers = _parse_routers(args.router or ["default", "random"])
    ref = next(iter(routers))
    out: dict[str, Any] = {
        "routers": routers,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    out["in_process"] = in_process(routers, args.rounds, args.calls)
    print(f"in-process score([one prompt]), {args.rounds} rounds x {args.calls} calls:")
    _table(
        out["in_process"],
        [("wall_median_ms", "wall ms"), ("cpu_median_ms", "CPU ms")],
        ref,
    )
    if args.serve:
        out["server"] = served(routers, args.rounds, args.requests, args.concurrency)
        print(
            f"server, upstream answering at once, {args.concurrency} clients, "
            f"{args.rounds} rounds x {args.requests} requests:"
        )
        _table(
            out["server"],
            [
                ("server_cpu_ms_per_request", "CPU ms/req"),
                ("requests_per_s", "requests/s"),
            ],
            ref,
        )
    out["load_avg_end"] = os.getloadavg()
    print(f"load average start {out['load_avg_start']}, end {out['load_avg_end']}")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
