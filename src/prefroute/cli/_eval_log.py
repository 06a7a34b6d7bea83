"""`prefroute eval --log`: off-policy estimates of routers on logged traffic."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer

from prefroute.errors import ConfigError

__all__ = ["run_eval_log"]


def run_eval_log(
    log: str,
    specs: Sequence[str],
    *,
    method: str,
    share: float | None,
    since: float | None,
    limit: int | None,
    n_resamples: int,
    seed: int,
    json_out: Path | None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int | None = None,
) -> None:
    """Load the routers, estimate them on the log, print and optionally save.

    Args:
        log: The request log.
        specs: Router names, checkpoints or folders (NAME:key=value;... allowed).
        method: "dr" or "ipw".
        share: Strong share for the pair quality/cost columns.
        since: Only requests from this unix time on.
        limit: Only the N most recent labelled requests.
        n_resamples: Bootstrap resamples (>= 1).
        seed: Bootstrap and fold seed.
        json_out: Where to write the estimates as JSON.
        engine: Where the log's prompts are embedded ("local" or "ray"; the same
            vectors either way).
        ray_address: Ray cluster to join (None: a private local one).
        ray_actors: Ray actors in the pool.
    """
    from prefroute.cli._log_report import (
        estimates_dict,
        load_cached_router,
        print_multi,
        print_pair,
    )
    from prefroute.engine import get_engine
    from prefroute.evals.harness import parse_router_spec
    from prefroute.evals.offpolicy import PairEstimates
    from prefroute.train.log_embed import embed_log_prompts
    from prefroute.train.logdata import read_log
    from prefroute.train.logeval import estimate_log

    if not specs:
        raise ConfigError("give --routers to estimate on the log")
    if method not in ("dr", "ipw"):
        raise ConfigError(f"--method must be dr or ipw, got {method!r}")
    if n_resamples < 1:
        raise ConfigError("--bootstrap must be >= 1 with --log")
    routers = {}
    for spec in specs:
        name, kwargs = parse_router_spec(spec)
        routers[spec] = load_cached_router(name, **kwargs)
    traffic = read_log(log, since=since, limit=limit)
    runner = get_engine(engine, address=ray_address, n_actors=ray_actors)
    try:
        # every router and the outcome model read the log's prompts embedded once
        routers = embed_log_prompts(
            routers,
            [*traffic.prompts, *traffic.unlabeled],
            engine=None if engine == "local" else runner,
        )
    finally:
        runner.close()
    est = estimate_log(
        routers,
        traffic,
        method=method,  # type: ignore[arg-type]
        share=share,
        n_resamples=n_resamples,
        seed=seed,
    )
    title = f"{log} (off-policy)"
    if isinstance(est, PairEstimates):
        print_pair(est, title=title)
    else:
        print_multi(est, title=title)
    if traffic.n_skipped:
        typer.echo(
            f"note: {traffic.n_skipped} rated requests left out (fallback answers, "
            "failed requests or prompts not logged)",
            err=True,
        )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps({"log": log, **estimates_dict(est)}, indent=1) + "\n",
            encoding="utf-8",
        )
        typer.echo(f"wrote {json_out}", err=True)
