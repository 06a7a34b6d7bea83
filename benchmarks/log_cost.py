"""What the request log costs per request, in one process, without HTTP.

Two numbers: the wall time a routed request gains from the log (`start_request` +
`finish_request`, and the log writer thread running beside it, sharing the GIL),
the difference between routing with and without a trace, interleaved over rounds;
and the CPU of the whole process per record to finish N requests and write them
(build each record, hash its prompt, batched SQLite inserts).

    .venv/bin/python benchmarks/log_cost.py --requests 20000 --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Run the measurement and print per-request microseconds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    from prefroute.gateway.config import RoutingConfig
    from prefroute.gateway.core import RoutingCore

    messages = [
        {"role": "user", "content": "Explain how a hash map handles collisions."}
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = RoutingConfig.model_validate(
            {
                "strong": {"model": "strong-model"},
                "weak": {"model": "weak-model"},
                "routers": ["random"],
                "log": str(Path(tmp) / "requests.db"),
                "log_queue_size": args.requests * (args.rounds + 1),
            }
        )
        core = RoutingCore(config)
        log = core.request_log
        assert log is not None
        n = args.requests // args.rounds

        def plain() -> float:
            started = time.perf_counter()
            for _ in range(n):
                core.decide("router-random-0.5", messages)
            return (time.perf_counter() - started) / n

        def traced() -> float:
            started = time.perf_counter()
            for _ in range(n):
                trace = core.start_request()
                core.decide("router-random-0.5", messages, trace=trace)
                core.finish_request(trace, 200)
            return (time.perf_counter() - started) / n

        diffs = []
        for r in range(args.rounds):
            # the writer thread works during the traced rounds, as in a server;
            # what is still queued is written between rounds
            if r % 2 == 0:
                a, b = plain(), traced()
            else:
                b, a = traced(), plain()
            diffs.append(b - a)
            log.flush()
        path_us = 1e6 * statistics.median(diffs)

        traces = []
        for _ in range(args.requests):
            trace = core.start_request()
            core.decide("router-random-0.5", messages, trace=trace)
            traces.append(trace)
        cpu0 = time.process_time()
        for trace in traces:
            core.finish_request(trace, 200)
        log.flush()
        writer_us = 1e6 * (time.process_time() - cpu0) / args.requests
        stats = log.stats()
        core.close_log()
    print(
        f"routing with the log: +{path_us:.1f} us per request "
        f"(median of {args.rounds} interleaved rounds of {n})"
    )
    print(
        f"finish + write: {writer_us:.1f} us of CPU per record (all threads; "
        f"{stats.n_written} written, {stats.n_dropped} dropped)"
    )


if __name__ == "__main__":
    main()
