"""Printing and JSON of off-policy estimates (`prefroute adapt`, `prefroute eval
--log`)."""

from __future__ import annotations

import math
from typing import Any

import typer

from prefroute.evals.offpolicy import Estimate, MultiEstimates, PairEstimates

__all__ = ["estimates_dict", "load_cached_router", "print_multi", "print_pair"]


_NA = Estimate(math.nan, math.nan, math.nan)


def load_cached_router(name: str, **overrides: Any) -> Any:
    """`load_router`, with a saved folder's model embedder behind the on-disk
    embedding cache (adapt and eval --log embed the log's prompts on every run).

    Args:
        name: Router name, shipped checkpoint or folder.
        **overrides: Constructor arguments (no cache is added when given).

    Returns:
        The router.
    """
    from prefroute.evals.harness import _cached_embedder_override
    from prefroute.routers.base import read_config
    from prefroute.routers.registry import load_router, router_folder

    folder = router_folder(name)
    if folder is not None and not overrides:
        saved = read_config(folder).get("hyperparameters", {}).get("embedder")
        spec = saved.get("__embedder__") if isinstance(saved, dict) else saved
        if isinstance(spec, str) and not spec.startswith("hashing"):
            overrides = _cached_embedder_override(folder)
    return load_router(name, **overrides)


def _pct(e: Estimate) -> str:
    if not math.isfinite(e.value):
        return "n/a"
    lo = f"{100 * e.low:.0f}" if math.isfinite(e.low) else "n/a"
    hi = f"{100 * e.high:.0f}" if math.isfinite(e.high) else "n/a"
    return f"{100 * e.value:.0f}% [{lo}, {hi}]"


def print_pair(est: PairEstimates, *, title: str) -> None:
    """Print pair estimates as a table with intervals and warnings."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    console.print(
        f"[bold]{title}[/bold]: {est.n} labelled requests ({est.method.upper()}); "
        f"all strong {est.strong_quality.text()}, all weak {est.weak_quality.text()}; "
        f"logged strong share {100 * est.logged_share:.0f}%"
    )
    table = Table(title="95% bootstrap intervals")
    table.add_column("router", no_wrap=True)
    share = f"@{100 * est.share:.0f}% strong"
    columns = ["APGR", "CPT(50%)", "CPT(80%)", f"quality {share}", f"cost {share}"]
    if est.reference is not None:
        columns.append(f"APGR - {est.reference}")
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    for name, metrics in est.routers.items():
        quality, cost = est.at_share.get(name, (_NA, _NA))
        row = [
            name,
            metrics["APGR"].text(),
            _pct(metrics["CPT50"]),
            _pct(metrics["CPT80"]),
            quality.text(),
            cost.text(5),
        ]
        if est.reference is not None:
            diff = est.diffs.get(name)
            row.append(diff.text() if diff is not None else "")
        table.add_row(*row)
    console.print(table)
    _print_warnings(est.warnings, est.support)


def print_multi(est: MultiEstimates, *, title: str) -> None:
    """Print N-model estimates: quality at the matched cost, single models."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    console.print(
        f"[bold]{title}[/bold]: {est.n} labelled requests ({est.method.upper()}); "
        f"logged answers' quality {est.logged_quality.text()}, compared at mean cost "
        f"{est.match_cost:.4g} per request"
    )
    table = Table(title="quality at the matched cost (95% bootstrap intervals)")
    table.add_column("router", no_wrap=True)
    table.add_column("quality", justify="right", no_wrap=True)
    table.add_column("vs " + str(est.reference or "-"), justify="right", no_wrap=True)
    for name, value in est.quality_at_cost.items():
        diff = est.diffs.get(name)
        table.add_row(name, value.text(), diff.text() if diff is not None else "")
    console.print(table)
    singles = ", ".join(
        f"{m} {q.value:.3f} at {c.value:.4g}" for m, (c, q) in est.singles.items()
    )
    console.print(f"single models (quality at mean cost): {singles}")
    _print_warnings(est.warnings, est.support)


def _print_warnings(warnings: list[str], support: dict[str, Any]) -> None:
    for text in warnings:
        typer.echo(f"warning: {text}", err=True)
    for name, report in support.items():
        for text in report.warnings:
            typer.echo(f"warning: {name}: {text}", err=True)


def estimates_dict(est: PairEstimates | MultiEstimates) -> dict[str, Any]:
    """JSON-ready form of pair or N-model estimates."""
    support = {
        name: {
            "match_share": r.match_share,
            "ess": r.ess,
            "n_unsupported": r.n_unsupported,
            "has_exploration": r.has_exploration,
            "warnings": list(r.warnings),
        }
        for name, r in est.support.items()
    }
    common: dict[str, Any] = {
        "method": est.method,
        "n": est.n,
        "reference": est.reference,
        "diffs": {k: v.as_dict() for k, v in est.diffs.items()},
        "support": support,
        "warnings": list(est.warnings),
    }
    if isinstance(est, PairEstimates):
        return {
            **common,
            "kind": "pair",
            "strong_quality": est.strong_quality.as_dict(),
            "weak_quality": est.weak_quality.as_dict(),
            "logged_strong_share": est.logged_share,
            "share": est.share,
            "at_share": {
                name: {"quality": q.as_dict(), "cost": c.as_dict()}
                for name, (q, c) in est.at_share.items()
            },
            "routers": {
                name: {k: v.as_dict() for k, v in m.items()}
                for name, m in est.routers.items()
            },
        }
    return {
        **common,
        "kind": "multi",
        "match_cost": est.match_cost,
        "logged_quality": est.logged_quality.as_dict(),
        "quality_at_cost": {k: v.as_dict() for k, v in est.quality_at_cost.items()},
        "curves": {
            k: [[float(c), float(q)] for c, q in v] for k, v in est.curves.items()
        },
        "singles": {
            m: {"cost": c.as_dict(), "quality": q.as_dict()}
            for m, (c, q) in est.singles.items()
        },
    }
