"""Load time of every data loader (docs/results.md, "Other measurements").

Each loader runs once, cold in this process (the OS file cache may be warm), timed
with `time.perf_counter`; prints records and seconds per loader.

Usage:
    PREFROUTE_DATA_DIR=/path/to/data .venv/bin/python benchmarks/data_load_times.py
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sized

from prefroute.config import resolve_data_dir
from prefroute.data.battles import load_alpaca_eval
from prefroute.data.benchmarks import load_benchmark, load_eval_prompts
from prefroute.data.golden import (
    load_llmrouter,
    load_routeprofile,
    load_routerbench,
    load_routerdc,
)


def main() -> None:
    """Time each loader once and print a Markdown table."""
    root = resolve_data_dir(None)
    loaders: list[tuple[str, Callable[[], Sized]]] = [
        ('load_benchmark("mmlu")', lambda: load_benchmark("mmlu", root)),
        ('load_benchmark("mt-bench")', lambda: load_benchmark("mt-bench", root)),
        ("load_eval_prompts()", lambda: load_eval_prompts(root)),
        ("load_alpaca_eval() (compact JSONL)", lambda: load_alpaca_eval(root)),
        (
            'load_alpaca_eval(prefer="annotations")',
            lambda: load_alpaca_eval(root, prefer="annotations"),
        ),
        ("load_routerbench()", lambda: load_routerbench(root)),
        ("load_routerdc()", lambda: load_routerdc(root)),
        ("load_llmrouter()", lambda: load_llmrouter(root)),
        ("load_routeprofile()", lambda: load_routeprofile(root)),
    ]
    print("| loader | records | seconds |\n|---|---|---|")
    for name, load in loaders:
        start = time.perf_counter()
        records = load()
        seconds = time.perf_counter() - start
        print(f"| `{name}` | {len(records):,} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
