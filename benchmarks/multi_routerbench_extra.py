"""RouterBench CV with other golden sources added to every fold's training.

Only Mixtral is shared by (canonical) name between RouterBench and RouteProfile /
LLMRouter / RouterDC; the other sources' prompts and models train the shared
factorisation. Every RouterBench prompt is still scored by a router that did not see
it (the extra records are never RouterBench prompts). Prints AIQ, the cost to match
gpt-4 and the accuracy at 40% of gpt-4's cost for the MF alone and with the task prior.

Usage (slow: ~20k extra prompts to embed the first time, minutes per CV run):
    PREFROUTE_DATA_DIR=/path/to/data OPENBLAS_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/multi_routerbench_extra.py
"""

from __future__ import annotations

import math
import time

from prefroute.config import resolve_data_dir
from prefroute.data.golden import load_llmrouter, load_routeprofile
from prefroute.embed import get_embedder
from prefroute.embed.cache import CachedEmbedder
from prefroute.evals.multi import cross_validate_multi, golden_table, load_golden
from prefroute.routers.multi import MultiModelRouter
from prefroute.types import GoldenRecord


def main() -> None:
    """Run the four settings x two splits and print one line each."""
    data_dir = resolve_data_dir(None)
    table = golden_table(load_golden("routerbench", data_dir, canonical=True))
    embedder = CachedEmbedder(get_embedder("minilm"), memory_items=1_000_000)
    profile = load_routeprofile(data_dir, canonical=True)
    llmrouter = load_llmrouter(data_dir, canonical=True)
    routerdc = load_golden("routerdc", data_dir, canonical=True)
    shared = sorted(
        {m for r in profile + llmrouter + routerdc for m in r.scores}
        & set(table.models)
    )
    print(f"models shared with RouterBench: {shared}")
    settings: list[tuple[str, list[GoldenRecord]]] = [
        ("routeprofile+llmrouter", profile + llmrouter),
        ("routeprofile+llmrouter+routerdc", profile + llmrouter + routerdc),
    ]
    for name, extra in settings:
        for shrink in (None, 0.5):
            for split in ("random", "task"):

                def make(s: float | None = shrink) -> MultiModelRouter:
                    return MultiModelRouter(embedder=embedder, task_shrink=s)

                def fit(
                    router: MultiModelRouter,
                    train: list[GoldenRecord],
                    extra: list[GoldenRecord] = extra,
                ) -> None:
                    router.fit_multi(list(train) + extra)

                start = time.perf_counter()
                result = cross_validate_multi(table, make, split=split, fit_extra=fit)
                s = result.methods["router"]
                best_cost = result.single[result.best_model][0]
                share = s.cost_to_match_best / best_cost
                match = f"{100 * share:.1f}%" if math.isfinite(share) else "never"
                print(
                    f"{name:32s} task_shrink={shrink!s:4s} {split:6s} AIQ {s.aiq:.4f} "
                    f"match {match:>6s} acc@40% {s.quality_at_40pct:.4f} "
                    f"({time.perf_counter() - start:.0f}s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
