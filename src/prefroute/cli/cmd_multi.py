"""`prefroute eval-multi` and `prefroute train-multi`: the N-model router.

`eval-multi` cross-validates the `mf-multi` router on RouterBench (11 models, USD per
query) or RouterDC (7 models) and prints the cost-quality summary against every
single model, the random mix, the two-model router on the best pair and the oracle.
`train-multi` fits one router on golden labels (and optional battles) and saves it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from prefroute.cli._options import DataDirOption
from prefroute.errors import ConfigError

__all__ = ["print_multi_result", "register", "run_eval_multi"]

_PAPER_PAIR = ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat")
# The task prior's share of the factorisation's within-task signal (see
# `MultiModelRouter(task_shrink=...)`): chosen by 5-fold CV on RouterBench.
DEFAULT_TASK_SHRINK = 0.5


# The task prior's knob, shared by eval-multi and train-multi.
_TaskShrink = Annotated[
    float,
    typer.Option(
        "--task-shrink",
        metavar="SHARE",
        help="Task prior: route on each task's accuracy plus this share of "
        "the factorisation's within-task signal (0..1); negative: "
        "factorisation only.",
    ),
]


def _fmt(value: float, pct: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.1f}%" if pct else f"{value:.4f}"


def _router_factory(
    embedder_spec: str,
    dim: int,
    l2: float,
    n_epochs: int,
    tail_chars: int,
    seed: int,
    task_shrink: float | None = None,
) -> Any:
    from prefroute.embed import get_embedder
    from prefroute.embed.cache import CachedEmbedder
    from prefroute.routers.multi import MultiModelRouter

    embedder = CachedEmbedder(get_embedder(embedder_spec), memory_items=1_000_000)

    def make() -> MultiModelRouter:
        return MultiModelRouter(
            embedder=embedder,
            dim=dim,
            l2=l2,
            n_epochs=n_epochs,
            tail_chars=tail_chars or None,
            seed=seed,
            task_shrink=task_shrink,
        )

    return make


def print_multi_result(result: Any) -> None:
    """Print a rich table of a `MultiEvalResult`.

    Args:
        result: From `prefroute.evals.multi.cross_validate_multi`.
    """
    from rich.console import Console
    from rich.table import Table

    best_cost, best_q = result.single[result.best_model]
    usd = result.cost_unit == "USD"
    per_query = f"${best_cost:.6f}/query" if usd else f"{best_cost:g} unit/query"
    console = Console()
    table = Table(
        title=f"{result.benchmark}: {result.split} split, {result.n_prompts} prompts "
        f"(best single: {result.best_model} q={best_q:.4f} at {per_query})"
        + ("" if usd else "; no costs in the data: every model costs 1 per query")
    )
    for column in (
        "method",
        "AIQ",
        "cost to match best (share)",
        "same, hull",
        "quality at cheapest cost",
        "quality at 40% of best cost",
    ):
        table.add_column(column)
    pairs: list[str] = []
    for key, summary in result.methods.items():
        name = summary.name
        if key in ("best-pair", "pair"):  # long model names: spelled out below
            short = "best pair" if key == "best-pair" else "given pair"
            pairs.append(f"{short}: {name.removeprefix(short).strip()}")
            name = short
        table.add_row(
            name,
            _fmt(summary.aiq),
            _fmt(summary.cost_to_match_best / best_cost, pct=True),
            _fmt(summary.cost_to_match_best_hull / best_cost, pct=True),
            _fmt(summary.quality_at_cheapest),
            _fmt(summary.quality_at_40pct),
        )
    if pairs:
        table.caption = "; ".join(pairs)
    console.print(table)
    singles = Table(title="single models")
    for column in ("model", f"mean cost ({result.cost_unit})", "quality"):
        singles.add_column(column)
    for model, (cost, quality) in sorted(
        result.single.items(), key=lambda kv: kv[1][0]
    ):
        singles.add_row(model, f"{cost:.6f}", f"{quality:.4f}")
    console.print(singles)


def run_eval_multi(
    benchmark: str,
    *,
    split: str = "random",
    folds: int = 5,
    policy: str = "utility",
    embedder: str = "minilm",
    dim: int = 16,
    l2: float = 3e-3,
    n_epochs: int = 400,
    tail_chars: int = 384,
    seed: int = 0,
    json_out: Path | None = None,
    plot_out: Path | None = None,
    data_dir: Path | None = None,
    task_shrink: float | None = DEFAULT_TASK_SHRINK,
    prices: Path | None = None,
) -> Any:
    """Cross-validate mf-multi on a golden benchmark, print the table, write outputs.

    The body of `prefroute eval-multi`; `prefroute eval --benchmark routerbench`
    can delegate here.

    Args:
        benchmark: "routerbench", "routerdc", "llmrouter" or a .json/.jsonl file.
        split: "random" (K-fold over prompts) or "task" (leave-one-task-out).
        folds: Folds for the random split.
        policy: "utility" or "tolerance".
        embedder: Embedder spec.
        dim: Rank of the factors.
        l2: L2 penalty per 1,000 prompts.
        n_epochs: Adam steps.
        tail_chars: Embed the prompt's last N characters (0: all).
        seed: Fold and weight seed.
        json_out: Write the result as JSON here.
        plot_out: Write a PNG plot here.
        data_dir: Data directory (default: the configured one).
        task_shrink: The router's task prior (see `MultiModelRouter`); None fits
            the factorisation alone.
        prices: Prices file (`prefroute.evals.multi.load_prices_file`) for data
            without per-query costs; default: the benchmark's listed prices
            (llmrouter), else 1 per query.

    Returns:
        The `MultiEvalResult`.
    """
    from rich.progress import Progress

    from prefroute.evals.multi import (
        benchmark_prices,
        cross_validate_multi,
        golden_table,
        json_safe,
        load_golden,
        load_prices_file,
        plot_multi_eval,
    )

    if policy not in ("utility", "tolerance"):
        raise ConfigError(f"--policy must be utility or tolerance, got {policy!r}")
    # (a user's file needs no data directory: the loaders resolve it only for
    # the built-in sets)
    records = load_golden(benchmark, data_dir)
    price_map = (
        load_prices_file(prices)
        if prices is not None
        else benchmark_prices(benchmark, data_dir)
    )
    table = golden_table(records, prices=price_map)
    if prices is not None and table.cost_source == "measured":
        typer.echo(
            f"warning: {benchmark} has its own per-query costs; --prices is not used",
            err=True,
        )
    if Path(benchmark).suffix in (".json", ".jsonl"):  # named after the file's stem
        benchmark = Path(benchmark).stem
    make = _router_factory(
        embedder, dim, l2, n_epochs, tail_chars, seed, task_shrink=task_shrink
    )
    with Progress(transient=True) as bar:
        n_tasks = len(set(table.tasks)) if split == "task" else folds
        task = bar.add_task(f"{benchmark}: fitting folds", total=n_tasks)
        result = cross_validate_multi(
            table,
            make,
            benchmark=benchmark,
            split=split,
            n_folds=folds,
            seed=seed,
            policy=policy,  # type: ignore[arg-type]
            pair=_PAPER_PAIR if benchmark == "routerbench" else None,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    print_multi_result(result)
    if json_out is not None:
        report = result.as_dict()
        report["settings"] = {
            "embedder": embedder,
            "dim": dim,
            "l2": l2,
            "epochs": n_epochs,
            "tail_chars": tail_chars,
            "policy": policy,
            "folds": folds,
            "seed": seed,
            "task_shrink": task_shrink,
            "prices": str(prices) if table.cost_source == "prices" and prices else None,
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(json_safe(report), indent=2, allow_nan=False)
        json_out.write_text(text + "\n", encoding="utf-8")
    if plot_out is not None:
        plot_multi_eval(result, plot_out)
    return result


def register(app: typer.Typer) -> None:
    """Add the `eval-multi` and `train-multi` commands to the app."""

    @app.command("eval-multi")
    def eval_multi(
        benchmark: Annotated[
            str,
            typer.Option(
                "--benchmark",
                "-b",
                metavar="NAME|FILE",
                help="routerbench, routerdc, llmrouter, or your own .json/.jsonl "
                "file of {prompt, scores: {model: q}, costs: {model: usd}} records.",
            ),
        ] = "routerbench",
        prices: Annotated[
            Path | None,
            typer.Option(
                "--prices",
                metavar="FILE",
                help="YAML/JSON: model -> USD per query, or {input_per_mtok, "
                "output_per_mtok, per_query, expected_output_tokens}; prices data "
                "without per-query costs (routerdc, your file). llmrouter defaults "
                "to its listed prices.",
            ),
        ] = None,
        split: Annotated[
            str,
            typer.Option(
                "--split",
                metavar="SPLIT",
                help="random (K-fold over prompts) or task (leave-one-task-out).",
            ),
        ] = "random",
        folds: Annotated[
            int, typer.Option("--folds", metavar="N", help="Folds for --split random.")
        ] = 5,
        policy: Annotated[
            str,
            typer.Option(
                "--policy",
                metavar="POLICY",
                help="utility (lambda) or tolerance.",
            ),
        ] = "utility",
        embedder: Annotated[
            str, typer.Option("--embedder", metavar="SPEC", help="Embedder spec.")
        ] = "minilm",
        dim: Annotated[
            int, typer.Option("--dim", metavar="N", help="Rank of the factors.")
        ] = 16,
        l2: Annotated[
            float, typer.Option("--l2", metavar="FLOAT", help="L2 penalty.")
        ] = 3e-3,
        n_epochs: Annotated[
            int, typer.Option("--epochs", metavar="N", help="Adam steps.")
        ] = 400,
        tail_chars: Annotated[
            int,
            typer.Option(
                "--tail-chars",
                metavar="N",
                help="Embed the prompt's last N chars (0: all).",
            ),
        ] = 384,
        seed: Annotated[
            int, typer.Option("--seed", metavar="N", help="Fold and weight seed.")
        ] = 0,
        task_shrink: _TaskShrink = DEFAULT_TASK_SHRINK,
        json_out: Annotated[
            Path | None,
            typer.Option("--json", metavar="FILE", help="Write the result as JSON."),
        ] = None,
        plot_out: Annotated[
            Path | None,
            typer.Option(
                "--plot", metavar="FILE", help="Write a PNG cost-quality plot."
            ),
        ] = None,
        data_dir: DataDirOption = None,
    ) -> None:
        """Cross-validate the multi-model router: cost-quality curve, AIQ, baselines."""
        run_eval_multi(
            benchmark,
            split=split,
            folds=folds,
            policy=policy,
            embedder=embedder,
            dim=dim,
            l2=l2,
            n_epochs=n_epochs,
            tail_chars=tail_chars,
            seed=seed,
            json_out=json_out,
            plot_out=plot_out,
            data_dir=data_dir,
            task_shrink=task_shrink if task_shrink >= 0 else None,
            prices=prices,
        )

    @app.command("train-multi")
    def train_multi(
        out: Annotated[
            Path,
            typer.Option("--out", metavar="DIR", help="Folder to write the router to."),
        ],
        golden: Annotated[
            str,
            typer.Option(
                "--golden",
                metavar="NAMES",
                help="Comma-separated: routerbench, routerdc, or your own "
                ".json/.jsonl files of {prompt, scores, costs} records.",
            ),
        ] = "routerbench",
        battles: Annotated[
            list[Path] | None,
            typer.Option(
                "--battles",
                metavar="FILE",
                help="Battles JSONL (prefroute format); repeatable.",
            ),
        ] = None,
        embedder: Annotated[
            str, typer.Option("--embedder", metavar="SPEC", help="Embedder spec.")
        ] = "minilm",
        serve_embedder: Annotated[
            str | None,
            typer.Option(
                "--serve-embedder",
                metavar="SPEC",
                help="Embedder the saved router scores with (same dimension; e.g. "
                "train on exact minilm, serve with minilm-dq8). Default: --embedder.",
            ),
        ] = None,
        dim: Annotated[
            int, typer.Option("--dim", metavar="N", help="Rank of the factors.")
        ] = 16,
        l2: Annotated[
            float, typer.Option("--l2", metavar="FLOAT", help="L2 penalty.")
        ] = 3e-3,
        n_epochs: Annotated[
            int, typer.Option("--epochs", metavar="N", help="Adam steps.")
        ] = 400,
        tail_chars: Annotated[
            int,
            typer.Option(
                "--tail-chars",
                metavar="N",
                help="Embed the prompt's last N chars (0: all).",
            ),
        ] = 384,
        alpaca_eval: Annotated[
            bool,
            typer.Option(
                "--alpaca-eval/--no-alpaca-eval",
                help="Add the AlpacaEval judge battles of the data directory.",
            ),
        ] = False,
        canonical: Annotated[
            bool,
            typer.Option(
                "--canonical/--raw-names",
                help="Canonical model names, so one model's labels from several "
                "sources are joined.",
            ),
        ] = True,
        battle_weight: Annotated[
            float,
            typer.Option(
                "--battle-weight", metavar="FLOAT", help="Weight of the battle term."
            ),
        ] = 1.0,
        strong: Annotated[
            str | None,
            typer.Option(
                "--strong", metavar="MODEL", help="Strong model of `score`'s pair."
            ),
        ] = None,
        weak: Annotated[
            str | None,
            typer.Option(
                "--weak", metavar="MODEL", help="Weak model of `score`'s pair."
            ),
        ] = None,
        seed: Annotated[
            int, typer.Option("--seed", metavar="N", help="Weight seed.")
        ] = 0,
        task_shrink: _TaskShrink = DEFAULT_TASK_SHRINK,
        data_dir: DataDirOption = None,
    ) -> None:
        """Fit the mf-multi router on golden labels (+ battles) and save it."""
        from prefroute.config import resolve_data_dir
        from prefroute.embed import get_embedder
        from prefroute.evals.multi import load_golden
        from prefroute.routers.multi import MultiModelRouter
        from prefroute.types import Battle, GoldenRecord

        records: list[GoldenRecord] = []
        for name in (g.strip() for g in golden.split(",") if g.strip()):
            records.extend(load_golden(name, data_dir, canonical=canonical))
        fights: list[Battle] = []
        if battles:
            from prefroute.data.battles import load_battles_jsonl

            for path in battles:
                fights.extend(load_battles_jsonl(path, canonical=canonical))
        if alpaca_eval:
            from prefroute.data.battles import load_alpaca_eval

            fights.extend(
                load_alpaca_eval(resolve_data_dir(data_dir), canonical=canonical)
            )
        from prefroute.embed.cache import CachedEmbedder

        router = MultiModelRouter(
            # Cached: the saved config records the inner spec, as for a plain one.
            embedder=CachedEmbedder(get_embedder(embedder)),
            dim=dim,
            l2=l2,
            n_epochs=n_epochs,
            tail_chars=tail_chars or None,
            battle_weight=battle_weight,
            strong=strong,
            weak=weak,
            seed=seed,
            task_shrink=task_shrink if task_shrink >= 0 else None,
        )
        router.fit_multi(records, fights)
        if serve_embedder and serve_embedder != embedder:
            router = router.with_embedder(serve_embedder)
        router.save(out)
        typer.echo(
            f"saved mf-multi ({len(router.models)} models, pair {router.default_pair}) "
            f"to {out}"
        )
