"""`--engine ray` against the local engine: rows/s and fixed cost of a scoring job.

Scores the same prompts with a router (default: the shipped `mf`) on the local
engine and on a private Ray cluster on this machine with 1 and 2 actors. Each
engine runs a small job and a large one: the large job's extra rows over its
extra time is the throughput, and what the small job costs beyond its rows at
that throughput is the fixed cost (router loading; for Ray also starting the
actors). Starting the private cluster is timed apart. The break-even is the job
size from which Ray would be faster, if its throughput is higher at all.

CPU per row is the marginal CPU time (the large job's over the small one's, per
extra row) of everything the engine runs on: this process for the local engine;
this process, the private cluster's daemons and its actors (finished ones
included, from /proc) for Ray. On a shared machine it is the stable figure:
throughput depends on the CPU other jobs leave, and Ray's extra processes get a
larger share of a contended machine.

    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=disabled \
        .venv/bin/python benchmarks/ray_engine.py --rows 4000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

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


def _prompts(n: int) -> list[str]:
    return [f"{PROMPTS[i % len(PROMPTS)]} (variant {i})" for i in range(n)]


def _own_cpu() -> float:
    """CPU seconds of this process (all its threads)."""
    t = os.times()
    return t.user + t.system


def _tree_cpu() -> float:
    """CPU seconds of this process and every descendant, with the time of the
    finished children each one has reaped (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        fields = stats.get(pid)
        if fields is not None:
            # utime, stime, cutime, cstime
            total += sum(int(f) for f in fields[11:15])
        todo += children.get(pid, [])
    return total / ticks


def _timed(
    engine: object, router: str, n: int, batch: int, *, tree: bool
) -> tuple[float, float]:
    """Wall and CPU seconds of one scoring job."""
    from prefroute.engine.jobs import score_prompts_on

    cpu = _tree_cpu if tree else _own_cpu
    cpu_before = cpu()
    started = time.perf_counter()
    score_prompts_on(engine, router, _prompts(n), batch_size=batch)  # type: ignore[arg-type]
    return time.perf_counter() - started, cpu() - cpu_before


def main() -> None:
    """Run the comparison and print one row per engine."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--small", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from prefroute.engine import LocalEngine
    from prefroute.engine.ray import RayEngine

    runs: dict[str, list[dict[str, float]]] = {}

    def measure(name: str, engine: object) -> None:
        tree = name != "local"
        small, cpu_small = _timed(
            engine, args.router, args.small, args.batch_size, tree=tree
        )
        large, cpu_large = _timed(
            engine, args.router, args.rows, args.batch_size, tree=tree
        )
        rate = (args.rows - args.small) / max(1e-9, large - small)
        run = {
            "rows_per_s": rate,
            "fixed_s": max(0.0, small - args.small / rate),
            "large_job_s": large,
            "cpu_ms_per_row": 1000 * (cpu_large - cpu_small) / (args.rows - args.small),
        }
        runs.setdefault(name, []).append(run)
        print(f"{name}: {run}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    ray_engine = RayEngine(n_actors=1)
    cluster_s = time.perf_counter() - started
    try:
        # alternating rounds: load from elsewhere on the machine hits all alike
        for r in range(args.rounds):
            order = ["local", "ray, 1 actor", "ray, 2 actors"]
            for name in order if r % 2 == 0 else order[::-1]:
                if name == "local":
                    measure(name, LocalEngine())
                else:
                    ray_engine.n_actors = 1 if "1 actor" in name else 2
                    measure(name, ray_engine)
    finally:
        ray_engine.close()
    rows = {
        name: {k: statistics.median(run[k] for run in done) for k in done[0]}
        for name, done in runs.items()
    }

    local = rows["local"]
    print(
        f"router {args.router}, jobs of {args.small} and {args.rows} prompts "
        f"(batches of {args.batch_size}); private cluster start: {cluster_s:.1f} s"
    )
    print(
        f"{'engine':>14} {'rows/s':>8} {'fixed s':>8} {'CPU ms/row':>10} "
        f"{'break-even rows':>16}"
    )
    for name, row in rows.items():
        if name == "local":
            even = "-"
        elif row["rows_per_s"] <= local["rows_per_s"]:
            even = "never"
        else:
            extra = row["fixed_s"] + cluster_s - local["fixed_s"]
            per_row = 1 / local["rows_per_s"] - 1 / row["rows_per_s"]
            even = f"{extra / per_row:.0f}"
        print(
            f"{name:>14} {row['rows_per_s']:8.0f} {row['fixed_s']:8.1f} "
            f"{row['cpu_ms_per_row']:10.2f} {even:>16}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"cluster_start_s": cluster_s, "median": rows, "runs": runs}, indent=1
            )
        )


if __name__ == "__main__":
    main()
