"""Added latency of `prefroute serve` over calling the upstream directly.

Three processes on the same machine: a fake OpenAI-compatible upstream
(tests/integration/fake_upstream.py: one asyncio event loop, answers after an
asynchronous wait like a real LLM), the routing server (uvicorn, one worker) in front
of it, and this load generator (N closed-loop clients, each on its own keep-alive
connection, sending requests back to back over a minimal asyncio HTTP/1.1 client so
the generator costs little CPU). For each upstream latency and each concurrency it
runs the same requests directly against the upstream and through the server, in the
same run, and prints p50/p99 latency, requests/s, the p50/p99 overhead and the
server's CPU time per request (from /proc, robust to other load on the machine),
the mean routing time (parse + queue + score, from /metrics) and the mean score batch.

    .venv/bin/python benchmarks/serve_overhead.py --router mf
    .venv/bin/python benchmarks/serve_overhead.py --router mf --latency-ms 500,0 \
        --concurrency 1,64 --json out.json

Upstream latency (``--latency-ms``, per request ``fake_latency_ms``, which the
server passes through like any unknown field): ``L * (1 + jitter * u)``, u in
[-1, 1] a hash of the prompt, so direct and routed runs see the same latencies. At
L > 0 clients start staggered over one latency period (independent users), and the
figure is what a user sees. At L = 0 the upstream answers at once and back-to-back
clients saturate the CPU: that run gives the maximum requests/s, and its latencies
are queueing, not overhead.

`--log` adds a second routing server with the request log on (`log:` to a
temporary SQLite file) and measures both servers in alternating order
(`--rounds` times, each phase's requests split over the rounds); the row
"log overhead" is the logged server's p50 minus the plain server's, the median
over rounds.

`--router` is anything `load_router` accepts (default: the shipped `mf`).
`--profile FILE` runs the server under pyinstrument (must be importable, e.g.
``pip install --target /tmp/pyinst pyinstrument`` and ``PYTHONPATH=/tmp/pyinst``) and
writes an HTML profile of its event-loop thread and a flat text one beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- roles (separate processes) ----------------------------------------------------


def _role_upstream(port: int, jitter: float) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from fake_upstream import FakeUpstream

    FakeUpstream(latency_jitter=jitter, record=False).serve_forever(port)


def _role_server(
    port: int,
    upstream_port: int,
    router: str,
    window_ms: float,
    profile: str | None,
    log_path: str | None = None,
) -> None:
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
            "routers": {"bench": router},
            "fallback": False,
            "batch_window_ms": window_ms,
            "port": port,
            **({"log": log_path} if log_path else {}),
        }
    )
    app = create_app(config)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
    if profiler is not None and profile:
        profiler.stop()
        Path(profile).write_text(profiler.output_html(), encoding="utf-8")
        Path(profile).with_suffix(".txt").write_text(
            profiler.output_text(unicode=False, flat=True), encoding="utf-8"
        )


# -- load generator ------------------------------------------------------------------


class _Conn:
    """One keep-alive HTTP/1.1 connection (content-length responses only)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
        assert self.reader is not None
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        data = await self.reader.readexactly(length)
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _load(
    port: int,
    model: str,
    concurrency: int,
    n_requests: int,
    latency_ms: float,
    offset: int,
) -> dict[str, Any]:
    latencies: list[float] = []
    counter = iter(range(offset, offset + n_requests))
    conns = [_Conn("127.0.0.1", port) for _ in range(concurrency)]
    stagger = latency_ms / 1000.0 / concurrency if latency_ms > 0 else 0.0

    async def worker(k: int) -> None:
        conn = conns[k]
        await asyncio.sleep(k * stagger)
        for i in counter:
            body = {
                "model": model,
                "messages": [
                    {"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} #{i}"}
                ],
                "fake_latency_ms": latency_ms,
            }
            payload = json.dumps(body).encode()
            started = time.perf_counter()
            status, data = await conn.post("/v1/chat/completions", payload)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"port {port}: HTTP {status}: {data[:300]!r}")
            if f" #{i}".encode() not in data:  # the answer belongs to this request
                raise RuntimeError(f"port {port}: wrong answer {data[:300]!r}")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    finally:
        for conn in conns:
            conn.close()
    elapsed = time.perf_counter() - started
    return {**_summary(latencies), "rps": len(latencies) / elapsed}


def _summary(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "mean_ms": 1000 * statistics.fmean(ordered),
        "n": float(len(ordered)),
        "latencies": ordered,
    }


def _run(*args: Any) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_load(*args))
    return uvloop.run(_load(*args))


def _score_floor(router_name: str) -> dict[str, float]:
    """The router's own cost in this process (before the servers start): the
    floor under the server's added latency."""
    from prefroute.routers.registry import load_router

    router = load_router(router_name)
    prompts = [f"{PROMPTS[i % len(PROMPTS)]} ~{i}" for i in range(200)]
    router.score(prompts[:4])  # load the model
    times = []
    for prompt in prompts[4:44]:
        started = time.perf_counter()
        router.score([prompt])
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(44, 172, 16):
        router.score(prompts[i : i + 16])
    batch = (time.perf_counter() - started) / 128
    return {
        "one_prompt_p50_ms": 1000 * statistics.median(times),
        "batch16_ms_per_prompt": 1000 * batch,
    }


def _routing(port: int) -> tuple[float, float, float, float]:
    """(routing seconds sum, routed count, score batches, scored prompts) so far."""
    import httpx

    values = [0.0, 0.0, 0.0, 0.0]
    prefixes = (
        "prefroute_routing_latency_seconds_sum{",
        "prefroute_routing_latency_seconds_count{",
        "prefroute_score_batches_total{",
        "prefroute_scored_prompts_total{",
    )
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        for i, prefix in enumerate(prefixes):
            if line.startswith(prefix):
                values[i] += float(line.rsplit(" ", 1)[1])
    return values[0], values[1], values[2], values[3]


def _wait(url: str, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _n_requests(args: argparse.Namespace, concurrency: int, latency_ms: float) -> int:
    if args.requests:
        return int(args.requests)
    if latency_ms > 0:  # about 10 s per phase
        per_client = max(4, round(10_000 / latency_ms))
        return concurrency * per_client if concurrency > 1 else max(20, per_client * 2)
    return 300 if concurrency == 1 else 30 * concurrency


def main() -> None:
    """Run the benchmark (or one of its helper roles)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument(
        "--latency-ms",
        default="500,0",
        help="upstream latencies to run, comma-separated (0 = answer at once)",
    )
    parser.add_argument("--jitter", type=float, default=0.5)
    parser.add_argument(
        "--requests",
        type=int,
        default=0,
        help="requests per phase (default: ~10 s per phase at L > 0; "
        "300 at c=1 and 30*c otherwise at L = 0)",
    )
    parser.add_argument("--threshold", default="0.5")
    parser.add_argument("--window-ms", type=float, default=0.0)
    parser.add_argument(
        "--log",
        action="store_true",
        help="also measure a server with the request log on (alternating rounds)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="split each phase into this many rounds, alternating the servers",
    )
    parser.add_argument("--log-path", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", default=None, help="server profile (HTML path)")
    parser.add_argument("--role", choices=["upstream", "server"], default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream-port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "upstream":
        _role_upstream(args.port, args.jitter)
        return
    if args.role == "server":
        _role_server(
            args.port,
            args.upstream_port,
            args.router,
            args.window_ms,
            args.profile,
            args.log_path,
        )
        return

    floor = _score_floor(args.router)
    print(
        f"in-process {args.router}.score, no server: one prompt p50 "
        f"{floor['one_prompt_p50_ms']:.2f} ms; batch of 16 "
        f"{floor['batch16_ms_per_prompt']:.2f} ms/prompt",
        flush=True,
    )
    upstream_port, server_port = _free_port(), _free_port()
    script = str(Path(__file__).resolve())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    upstream = subprocess.Popen(
        [
            *(sys.executable, script, "--role", "upstream"),
            *("--port", str(upstream_port), "--jitter", str(args.jitter)),
        ],
        env=env,
    )
    log_dir = tempfile.mkdtemp(prefix="prefroute-bench-log-") if args.log else None
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    for name in ("server", "logged") if args.log else ("server",):
        port = server_port if name == "server" else _free_port()
        server_cmd = [
            sys.executable,
            script,
            "--role",
            "server",
            "--port",
            str(port),
            "--upstream-port",
            str(upstream_port),
            "--router",
            args.router,
            "--window-ms",
            str(args.window_ms),
        ]
        if args.profile and name == "server":
            server_cmd += ["--profile", str(Path(args.profile).resolve())]
        if name == "logged":
            assert log_dir is not None
            server_cmd += ["--log-path", str(Path(log_dir) / "requests.db")]
        servers[name] = (port, subprocess.Popen(server_cmd, env=env))
    results: dict[str, Any] = {
        "router": args.router,
        "jitter": args.jitter,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "rounds": args.rounds,
        "runs": [],
        "score_floor": floor,
    }
    try:
        _wait(f"http://127.0.0.1:{upstream_port}/v1/models")
        for port, _ in servers.values():
            _wait(f"http://127.0.0.1:{port}/health")
        model = f"router-bench-{args.threshold}"
        # warm up (ONNX session, connections); prompts offset so none repeat later
        for port, _ in servers.values():
            _run(port, model, 8, 200, 0.0, 10_000_000)
        _run(upstream_port, "weak-model", 8, 200, 0.0, 10_000_000)
        print(
            f"{'L ms':>5} {'conc':>4} {'path':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'req/s':>7} {'srv CPU ms/req':>14} {'route mean ms':>14} "
            f"{'batch':>6}"
        )
        offset = 0
        for latency_ms in (float(x) for x in args.latency_ms.split(",")):
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                n = _n_requests(args, concurrency, latency_ms)
                per_round = max(1, n // max(1, args.rounds))
                row: dict[str, Any] = {
                    "latency_ms": latency_ms,
                    "concurrency": concurrency,
                    "requests": per_round * args.rounds,
                }
                paths = [("direct", upstream_port, "weak-model", None)] + [
                    (name, port, model, proc) for name, (port, proc) in servers.items()
                ]
                rounds: dict[str, list[dict[str, Any]]] = {p[0]: [] for p in paths}
                cpu: dict[str, float] = dict.fromkeys(rounds, 0.0)
                route: dict[str, list[float]] = {p[0]: [0.0] * 4 for p in paths}
                for r in range(args.rounds):
                    # alternate the servers' order so drift in machine load
                    # falls on both alike
                    order = paths[:1] + (paths[1:] if r % 2 == 0 else paths[:0:-1])
                    for name, port, m, proc in order:
                        metrics_port = port if proc is not None else server_port
                        pid = (proc or servers["server"][1]).pid
                        cpu0 = _cpu_seconds(pid)
                        route0 = _routing(metrics_port)
                        # all paths of a round send the same prompts (and so
                        # see the same upstream latencies)
                        stats = _run(
                            port, m, concurrency, per_round, latency_ms, offset
                        )
                        cpu[name] += _cpu_seconds(pid) - cpu0
                        route1 = _routing(metrics_port)
                        route[name] = [
                            acc + b - a
                            for acc, a, b in zip(
                                route[name], route0, route1, strict=True
                            )
                        ]
                        rounds[name].append(stats)
                    offset += per_round
                for name, stats_list in rounds.items():
                    latencies = [x for st in stats_list for x in st["latencies"]]
                    stats = _summary(latencies)
                    del stats["latencies"]
                    stats["rps"] = statistics.fmean(st["rps"] for st in stats_list)
                    stats["round_p50_ms"] = [st["p50_ms"] for st in stats_list]
                    stats["server_cpu_ms_per_req"] = 1000 * cpu[name] / len(latencies)
                    seconds, routed, batches, prompts = route[name]
                    stats["routing_mean_ms"] = (
                        1000 * seconds / routed if routed else 0.0
                    )
                    stats["mean_batch"] = prompts / batches if batches else 0.0
                    row[name] = stats
                    print(
                        f"{latency_ms:>5.0f} {concurrency:>4} {name:>7} "
                        f"{stats['p50_ms']:8.2f} {stats['p99_ms']:8.2f} "
                        f"{stats['rps']:7.1f} {stats['server_cpu_ms_per_req']:14.2f} "
                        f"{stats['routing_mean_ms']:14.2f} {stats['mean_batch']:6.1f}",
                        flush=True,
                    )
                row["overhead_p50_ms"] = (
                    row["server"]["p50_ms"] - row["direct"]["p50_ms"]
                )
                row["overhead_p99_ms"] = (
                    row["server"]["p99_ms"] - row["direct"]["p99_ms"]
                )
                print(
                    f"{latency_ms:>5.0f} {concurrency:>4} overhead p50 "
                    f"{row['overhead_p50_ms']:+.2f} ms, p99 "
                    f"{row['overhead_p99_ms']:+.2f} ms",
                    flush=True,
                )
                if "logged" in row:
                    diffs = [
                        a - b
                        for a, b in zip(
                            row["logged"]["round_p50_ms"],
                            row["server"]["round_p50_ms"],
                            strict=True,
                        )
                    ]
                    row["log_overhead_p50_ms"] = statistics.median(diffs)
                    row["log_overhead_cpu_ms_per_req"] = (
                        row["logged"]["server_cpu_ms_per_req"]
                        - row["server"]["server_cpu_ms_per_req"]
                    )
                    print(
                        f"{latency_ms:>5.0f} {concurrency:>4} log overhead p50 "
                        f"{row['log_overhead_p50_ms']:+.3f} ms (median of "
                        f"{len(diffs)} rounds), server CPU "
                        f"{row['log_overhead_cpu_ms_per_req']:+.3f} ms/req",
                        flush=True,
                    )
                results["runs"].append(row)
        import httpx

        metrics = httpx.get(f"http://127.0.0.1:{server_port}/metrics").text
        results["metrics"] = [
            line
            for line in metrics.splitlines()
            if line.startswith(
                (
                    "prefroute_routing_latency_seconds_sum",
                    "prefroute_routing_latency_seconds_count",
                    "prefroute_score_batches_total{",
                    "prefroute_scored_prompts_total{",
                )
            )
        ]
        print("\n".join(results["metrics"]))
        if "logged" in servers:
            logged = httpx.get(f"http://127.0.0.1:{servers['logged'][0]}/metrics").text
            results["log_metrics"] = [
                line
                for line in logged.splitlines()
                if line.startswith("prefroute_log_")
            ]
            print("\n".join(results["log_metrics"]))
    finally:
        procs = [proc for _, proc in servers.values()] + [upstream]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if log_dir is not None:
            shutil.rmtree(log_dir, ignore_errors=True)
    results["load_avg_end"] = os.getloadavg()
    print(
        f"load average start {results['load_avg_start']}, end {results['load_avg_end']}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
