"""Scaling out `prefroute serve`: worker processes, and the request log's backends.

Processes on one machine: the fake OpenAI-compatible upstream and the load
generator of benchmarks/serve_overhead.py, and `prefroute serve` started as a
user starts it (the CLI, ``--workers N``). Two comparisons, each measured in
alternating rounds so that load from elsewhere on the machine hits every
variant alike:

- ``workers``: one server per ``--workers`` value; saturation throughput (the
  upstream answers at once, ``--concurrency`` clients back to back) and the p50 /
  p99 added over calling the upstream directly at ``--latency-ms`` (a real
  LLM's wait, where the figure is what a user sees), and the server's CPU time
  per request at saturation (all its processes, from /proc: what a core can
  serve, whatever else runs on the machine);
- ``log``: three one-worker servers: no request log, a SQLite log, a PostgreSQL
  log (a private server started here: initdb in a temp dir, loopback only);
  the same two figures.

    .venv/bin/python benchmarks/scale_out.py --workers 1,2,4 --router random
    .venv/bin/python benchmarks/scale_out.py --compare log --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from serve_overhead import _cpu_seconds, _free_port, _run, _wait  # noqa: E402


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += _cpu_seconds(current)
        except OSError:
            continue
        todo += children.get(current, [])
    return total


def _serve(
    upstream_port: int, router: str, workers: int, extra: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    base = f"http://127.0.0.1:{upstream_port}/v1"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "prefroute.cli", "serve"),
            *("--port", str(port), "--routers", f"bench={router}"),
            *("--strong-model", "strong-model", "--strong-base-url", base),
            *("--weak-model", "weak-model", "--weak-base-url", base),
            *("--no-fallback", "--workers", str(workers), *extra),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    return proc, port


def _measure(
    ports: dict[str, int],
    pids: dict[str, int],
    args: argparse.Namespace,
    direct_port: int,
) -> dict[str, dict[str, list[float]]]:
    """Alternating rounds: saturation rps, and p50/p99 at the set latency."""
    model = f"router-bench-{args.threshold}"
    out: dict[str, dict[str, list[float]]] = {
        name: {
            "rps": [],
            "p50_ms": [],
            "p99_ms": [],
            "cpu_ms": [],
            "added_p50_ms": [],
            "added_p99_ms": [],
        }
        for name in ports
    }
    offset = 0
    for r in range(args.rounds):
        names = list(ports) if r % 2 == 0 else list(reversed(ports))
        direct = _run(
            direct_port,
            "weak-model",
            args.latency_clients,
            args.latency_requests,
            args.latency_ms,
            offset,
        )
        offset += args.latency_requests
        for name in names:
            cpu = _tree_cpu(pids[name])
            saturated = _run(
                ports[name], model, args.concurrency, args.requests, 0.0, offset
            )
            cpu = _tree_cpu(pids[name]) - cpu
            offset += args.requests
            timed = _run(
                ports[name],
                model,
                args.latency_clients,
                args.latency_requests,
                args.latency_ms,
                offset,
            )
            offset += args.latency_requests
            row = out[name]
            row["rps"].append(saturated["rps"])
            row["p50_ms"].append(saturated["p50_ms"])
            row["p99_ms"].append(saturated["p99_ms"])
            row["cpu_ms"].append(1000 * cpu / args.requests)
            row["added_p50_ms"].append(timed["p50_ms"] - direct["p50_ms"])
            row["added_p99_ms"].append(timed["p99_ms"] - direct["p99_ms"])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    return out


def main() -> None:
    """Run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", choices=["workers", "log"], default="workers")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--router", default="random")
    parser.add_argument("--threshold", default="0.5")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--latency-clients", type=int, default=16)
    parser.add_argument("--latency-requests", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    upstream_port = _free_port()
    script = str(ROOT / "benchmarks" / "serve_overhead.py")
    upstream = subprocess.Popen(
        [sys.executable, script, "--role", "upstream", "--port", str(upstream_port)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    servers: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    pg = None
    tmp = tempfile.mkdtemp(prefix="prefroute-scale-")
    try:
        if args.compare == "workers":
            for n in (int(x) for x in args.workers.split(",")):
                servers[f"{n} workers"], ports[f"{n} workers"] = _serve(
                    upstream_port, args.router, n, []
                )
        else:
            from _postgres import new_server

            pg = new_server()
            variants = {
                "no log": [],
                "sqlite log": ["--log", str(Path(tmp) / "requests.db")],
                "postgres log": ["--log", pg.new_database()],
            }
            for name, extra in variants.items():
                servers[name], ports[name] = _serve(
                    upstream_port, args.router, 1, extra
                )
        _wait(f"http://127.0.0.1:{upstream_port}/v1/models")
        for port in ports.values():
            _wait(f"http://127.0.0.1:{port}/health")
        time.sleep(2.0)
        pids = {name: proc.pid for name, proc in servers.items()}
        results = _measure(ports, pids, args, upstream_port)
    finally:
        for proc in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in servers.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        upstream.terminate()
        upstream.wait(10)
        if pg is not None:
            pg.destroy()
    print(
        f"router {args.router}; saturation: {args.concurrency} clients, upstream "
        f"answers at once; added latency: {args.latency_clients} clients, upstream "
        f"{args.latency_ms:g} ms; medians over {args.rounds} alternating rounds"
    )
    heads = ("req/s", "p50 ms", "p99 ms", "CPU ms", "+p50 ms", "+p99 ms")
    print(f"{'':>14} " + " ".join(f"{h:>8}" for h in heads))
    summary: dict[str, dict[str, float]] = {}
    for name, row in results.items():
        med = {k: statistics.median(v) for k, v in row.items()}
        summary[name] = med
        print(
            f"{name:>14} {med['rps']:8.0f} {med['p50_ms']:8.1f} {med['p99_ms']:8.1f} "
            f"{med['cpu_ms']:8.3f} {med['added_p50_ms']:8.2f} "
            f"{med['added_p99_ms']:8.2f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"args": vars(args), "rounds": results, "median": summary}, indent=1
            )
        )


if __name__ == "__main__":
    main()
