"""`prefroute eval`: APGR, CPT and curves of routers on a benchmark, with bootstrap
intervals and paired comparisons; rich table, JSON and PNG outputs."""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prefroute.cli._engine import EngineOpt, RayActorsOpt, RayAddressOpt
from prefroute.cli._options import DataDirOption
from prefroute.errors import ConfigError

if TYPE_CHECKING:
    from prefroute.types import FloatArray

__all__ = ["register"]

BENCHMARKS = ("mt-bench", "mmlu", "gsm8k")
# Golden-label sets of many models: N-model cost-quality evaluation (cmd_multi).
MULTI_BENCHMARKS = ("routerbench", "routerdc", "llmrouter")
# `eval` options of the two-model evaluation only, and of the N-model one only
# (parameter name -> flag).
_TWO_MODEL_ONLY = {
    "routers": "--routers",
    "scores": "--scores",
    "scores_dir": "--scores-dir",
    "compare": "--compare",
    "strong": "--strong",
    "weak": "--weak",
    "bootstrap": "--bootstrap",
    "batch_size": "--batch-size",
    "use_cache": "--cache/--no-cache",
    "random_seeds": "--random-seeds",
}
_MULTI_ONLY = {"split": "--split", "policy": "--policy"}
# `eval --log` options (off-policy estimates from a request log), and the others it
# takes.
_LOG_ONLY = {
    "method": "--method",
    "share": "--share",
    "since": "--since",
    "limit": "--limit",
}
_LOG_ALSO = (
    "routers",
    "bootstrap",
    "seed",
    "json_out",
    "engine",
    "ray_address",
    "ray_actors",
)
# The router the N-model evaluation cross-validates (naming it is allowed).
_MULTI_ROUTER = "mf-multi"


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _fmt_ci(ci: tuple[float, float] | None, pct: bool = False) -> str:
    if ci is None:
        return ""
    return f" [{_fmt(ci[0], pct)}, {_fmt(ci[1], pct)}]"


def _given(ctx: typer.Context, names: Sequence[str]) -> list[str]:
    """Parameters set on the command line (or from the environment), not defaults."""
    given = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given.append(name)
    return given


def _check_log_options(ctx: typer.Context, benchmark: str) -> None:
    """`eval --log` takes no benchmark and none of the benchmark options."""
    if benchmark:
        raise ConfigError("give --benchmark or --log, not both")
    names = [
        p.name
        for p in ctx.command.params
        if p.name and p.name not in (*_LOG_ONLY, *_LOG_ALSO, "log", "benchmark")
    ]
    unused = _given(ctx, names)
    if unused:
        flags = ", ".join(f"--{n.replace('_', '-')}" for n in unused)
        raise ConfigError(
            f"--log estimates from a request log and does not take {flags}; its "
            "options are --routers, --method, --share, --since, --limit, "
            "--bootstrap, --seed, --json and --engine (--ray-address, --ray-actors)"
        )


def _check_options(ctx: typer.Context, benchmark: str, routers: str) -> None:
    """Reject options that the chosen kind of evaluation would silently ignore."""
    unused_log = _given(ctx, list(_LOG_ONLY))
    if unused_log:
        flags = ", ".join(_LOG_ONLY[name] for name in unused_log)
        raise ConfigError(f"{flags} apply only to off-policy estimates (--log)")
    if benchmark in MULTI_BENCHMARKS:
        unused = _given(ctx, list(_TWO_MODEL_ONLY))
        if "routers" in unused and _split(routers) in ([], [_MULTI_ROUTER]):
            unused.remove("routers")
        if unused:
            flags = ", ".join(_TWO_MODEL_ONLY[name] for name in unused)
            raise ConfigError(
                f"--benchmark {benchmark} is the N-model evaluation of "
                f"{_MULTI_ROUTER} (as `prefroute eval-multi`), which does not take "
                f"{flags}; its options are --seed, --split, --policy, --json, --plot "
                "and --data-dir (more in `prefroute eval-multi --help`)"
            )
    else:
        unused = _given(ctx, list(_MULTI_ONLY))
        if unused:
            flags = ", ".join(_MULTI_ONLY[name] for name in unused)
            verb = "applies" if len(unused) == 1 else "apply"
            raise ConfigError(
                f"{flags} {verb} only to the N-model benchmarks "
                f"({', '.join(MULTI_BENCHMARKS)}), not to --benchmark {benchmark}"
            )


def register(app: typer.Typer) -> None:
    """Add the `eval` command to the app."""

    @app.command("eval")
    def eval_command(
        ctx: typer.Context,
        benchmark: Annotated[
            str,
            typer.Option(
                "--benchmark",
                "-b",
                metavar="NAME|FILE",
                help="mt-bench, mmlu or gsm8k; routerbench, routerdc or llmrouter for "
                "the N-model cost-quality evaluation of mf-multi (cross-validated); or "
                "your own file (.csv: prompt + a column per model; .json/.jsonl: "
                "{prompt, scores: {model: quality}}) with --strong/--weak.",
            ),
        ] = "",
        log: Annotated[
            str | None,
            typer.Option(
                "--log",
                metavar="LOG",
                help="Instead of a benchmark: estimate from a request log (SQLite "
                "file or postgresql:// URL; feedback and prompts logged) what each "
                "router would have scored on that traffic (off-policy, with the "
                "logged propensities).",
            ),
        ] = None,
        method: Annotated[
            str,
            typer.Option(
                "--method",
                metavar="NAME",
                help="--log only: dr (doubly robust) or ipw estimates.",
            ),
        ] = "dr",
        share: Annotated[
            float | None,
            typer.Option(
                "--share",
                metavar="SHARE",
                min=0.0,
                max=1.0,
                help="--log, pair routers: strong share for the quality and cost "
                "columns (default: the logged share).",
            ),
        ] = None,
        since: Annotated[
            float | None,
            typer.Option(
                "--since",
                metavar="UNIX_TIME",
                help="--log only: requests from this unix time.",
            ),
        ] = None,
        limit: Annotated[
            int | None,
            typer.Option(
                "--limit",
                metavar="N",
                min=1,
                help="--log only: the N most recent labelled.",
            ),
        ] = None,
        routers: Annotated[
            str,
            typer.Option(
                "--routers",
                "-r",
                metavar="NAMES",
                help="Comma-separated router names, shipped checkpoints or folders; "
                "NAME:key=value;... passes constructor arguments (random:seed=3).",
            ),
        ] = "",
        scores: Annotated[
            list[Path] | None,
            typer.Option(
                "--scores",
                metavar="FILE",
                help="Precomputed scores (JSONL with prompt + score, as written by "
                "`prefroute score`), named after the file stem. Repeatable.",
            ),
        ] = None,
        scores_dir: Annotated[
            Path | None,
            typer.Option(
                "--scores-dir", metavar="DIR", help="Evaluate every *.jsonl file in it."
            ),
        ] = None,
        json_out: Annotated[
            Path | None,
            typer.Option("--json", metavar="FILE", help="Write the report as JSON."),
        ] = None,
        plot_out: Annotated[
            Path | None,
            typer.Option("--plot", metavar="FILE", help="Write a PNG plot."),
        ] = None,
        compare: Annotated[
            list[str] | None,
            typer.Option(
                "--compare",
                metavar="A,B",
                help="A,B: paired difference A - B (repeatable).",
            ),
        ] = None,
        data_dir: DataDirOption = None,
        strong: Annotated[
            str | None,
            typer.Option("--strong", metavar="MODEL", help="Strong model name."),
        ] = None,
        weak: Annotated[
            str | None, typer.Option("--weak", metavar="MODEL", help="Weak model name.")
        ] = None,
        bootstrap: Annotated[
            int,
            typer.Option(
                "--bootstrap", metavar="N", min=0, help="Bootstrap resamples (0: none)."
            ),
        ] = 1000,
        seed: Annotated[
            int,
            typer.Option(
                "--seed",
                metavar="N",
                help="Bootstrap seed (the fold seed for routerbench, routerdc and "
                "llmrouter).",
            ),
        ] = 0,
        split: Annotated[
            str,
            typer.Option(
                "--split",
                metavar="SPLIT",
                help="N-model benchmarks only: random (K-fold over prompts) or "
                "task (leave-one-task-out).",
            ),
        ] = "random",
        policy: Annotated[
            str,
            typer.Option(
                "--policy",
                metavar="POLICY",
                help="N-model benchmarks only: utility (lambda) or tolerance.",
            ),
        ] = "utility",
        batch_size: Annotated[
            int,
            typer.Option(
                "--batch-size", metavar="N", min=1, help="Prompts per score call."
            ),
        ] = 256,
        use_cache: Annotated[
            bool,
            typer.Option("--cache/--no-cache", help="Cache saved routers' scores."),
        ] = True,
        random_seeds: Annotated[
            int,
            typer.Option(
                "--random-seeds",
                metavar="N",
                min=1,
                help="Seeds averaged for the router named 'random' (its expected "
                "figures); 1 = a single draw with seed 0.",
            ),
        ] = 10,
        engine: EngineOpt = "local",
        ray_address: RayAddressOpt = None,
        ray_actors: RayActorsOpt = None,
    ) -> None:
        """Evaluate routers on a benchmark: APGR, CPT(20/50/80%), curves, intervals."""
        import numpy as np
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from prefroute.config import cache_dir, resolve_data_dir
        from prefroute.data.benchmarks import (
            BENCHMARK_FILE_SUFFIXES,
            load_benchmark,
            load_benchmark_file,
        )
        from prefroute.evals.harness import (
            evaluate_router_scores,
            score_router_on_benchmark,
        )
        from prefroute.evals.scoring import read_scores_jsonl, scores_for_benchmark
        from prefroute.types import ModelPair

        if log is not None:
            _check_log_options(ctx, benchmark)
            from prefroute.cli._eval_log import run_eval_log

            run_eval_log(
                log,
                _split(routers),
                method=method,
                share=share,
                since=since,
                limit=limit,
                n_resamples=bootstrap,
                seed=seed,
                json_out=json_out,
                engine=engine,
                ray_address=ray_address,
                ray_actors=ray_actors,
            )
            return
        if not benchmark:
            ctx.fail(
                "Missing option '--benchmark' (or '--log' to estimate from a request "
                "log)"
            )
        _check_options(ctx, benchmark, routers)
        if benchmark in MULTI_BENCHMARKS:
            from prefroute.cli.cmd_multi import run_eval_multi

            run_eval_multi(
                benchmark,
                split=split,
                policy=policy,
                seed=seed,
                json_out=json_out,
                plot_out=plot_out,
                data_dir=data_dir,
            )
            return
        is_file = Path(benchmark).suffix in BENCHMARK_FILE_SUFFIXES
        if benchmark not in BENCHMARKS and not is_file:
            known = ", ".join(BENCHMARKS + MULTI_BENCHMARKS)
            raise ConfigError(
                f"--benchmark must be one of {known} or an evaluation file "
                f"({', '.join(BENCHMARK_FILE_SUFFIXES)}), got {benchmark!r}"
            )
        if (strong is None) != (weak is None):
            raise ConfigError("give both --strong and --weak, or neither")
        pairs: list[tuple[str, str]] = []
        for item in compare or []:
            names = _split(item)
            if len(names) != 2:
                raise ConfigError(f"--compare expects A,B, got {item!r}")
            pairs.append((names[0], names[1]))
        score_files = list(scores or [])
        if scores_dir is not None:
            if not scores_dir.is_dir():
                raise ConfigError(f"--scores-dir {str(scores_dir)!r} is not a folder")
            score_files += sorted(scores_dir.glob("*.jsonl"))
        specs = _split(routers)
        if not specs and not score_files:
            raise ConfigError(
                "nothing to evaluate: give --routers and/or --scores/--scores-dir"
            )

        console = Console(stderr=True)
        pair = (
            ModelPair(strong, weak) if strong is not None and weak is not None else None
        )
        bench = (
            load_benchmark_file(benchmark, pair=pair)
            if is_file
            else load_benchmark(benchmark, resolve_data_dir(data_dir), pair=pair)
        )
        all_scores: dict[str, FloatArray] = {}
        warnings: list[str] = []
        for file in score_files:
            table = read_scores_jsonl(file)
            all_scores[file.stem] = scores_for_benchmark(table, bench, str(file))
        runner = None
        if engine != "local" or ray_address is not None or ray_actors is not None:
            from prefroute.engine import get_engine

            runner = get_engine(engine, address=ray_address, n_actors=ray_actors)
        with contextlib.ExitStack() as stack:
            if runner is not None:
                stack.callback(runner.close)
            progress = stack.enter_context(
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
            )
            for spec in specs:
                task = progress.add_task(f"scoring {spec}", total=len(bench))
                if spec == "random" and random_seeds > 1:
                    # The random router's figure is an expectation: average seeds.
                    all_scores[spec] = np.stack(
                        [
                            score_router_on_benchmark(f"random:seed={k}", bench)
                            for k in range(random_seeds)
                        ]
                    )
                    progress.update(task, completed=len(bench))
                    continue
                if runner is not None:
                    # the same batches on the engine (no score cache there)
                    from prefroute.engine.jobs import score_prompts_on

                    all_scores[spec] = score_prompts_on(
                        runner, spec, bench.prompts, batch_size=batch_size
                    )
                    progress.update(task, completed=len(bench))
                    continue
                all_scores[spec] = score_router_on_benchmark(
                    spec,
                    bench,
                    batch_size=batch_size,
                    cache_root=cache_dir() if use_cache else None,
                    on_batch=functools.partial(progress.advance, task),
                    on_warning=warnings.append,
                )
                progress.update(task, completed=len(bench))
        for warning in warnings:
            typer.echo(warning, err=True)
        with console.status(f"bootstrap ({bootstrap} resamples)"):
            report = evaluate_router_scores(
                bench, all_scores, n_bootstrap=bootstrap, seed=seed, compare=pairs
            )
        _print_report(report)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(
                json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8"
            )
            console.print(f"wrote {json_out}")
        if plot_out is not None:
            from prefroute.evals.plots import plot_report

            plot_report(report, plot_out)
            console.print(f"wrote {plot_out}")


def _print_report(report: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from prefroute.evals.harness import EvalReport

    assert isinstance(report, EvalReport)
    console = Console(width=max(Console().width, 180))
    qi = report.quality_intervals
    console.print(
        f"[bold]{report.benchmark}[/bold]: {report.n_prompts} prompts; "
        f"strong {report.strong_model} {_fmt(report.strong_quality)}"
        f"{_fmt_ci(qi.get('strong_quality'))}, "
        f"weak {report.weak_model} {_fmt(report.weak_quality)}"
        f"{_fmt_ci(qi.get('weak_quality'))}"
    )
    level = f"{round(100 * report.level)}% CI" if report.n_bootstrap else "no CI"
    table = Table(title=f"routers ({level}, {report.n_bootstrap} bootstrap resamples)")
    table.add_column("router", no_wrap=True)
    for col in (
        "APGR",
        "APGR 10-bin",
        "CPT(20%)",
        "CPT(50%)",
        "CPT(80%)",
        "CPT(50%) 10-bin",
    ):
        table.add_column(col, justify="right", no_wrap=True)
    for name, r in report.routers.items():
        m, ci = r.metrics, r.intervals
        table.add_row(
            name,
            _fmt(m["APGR"]) + _fmt_ci(ci.get("APGR")),
            _fmt(m["APGR_10bin"]) + _fmt_ci(ci.get("APGR_10bin")),
            _fmt(m["CPT20"], True) + _fmt_ci(ci.get("CPT20"), True),
            _fmt(m["CPT50"], True) + _fmt_ci(ci.get("CPT50"), True),
            _fmt(m["CPT80"], True) + _fmt_ci(ci.get("CPT80"), True),
            _fmt(m["CPT50_10bin"], True) + _fmt_ci(ci.get("CPT50_10bin"), True),
        )
    om, oi = report.optimal_metrics, report.optimal_intervals
    table.add_row(
        "[dim]optimal[/dim]",
        _fmt(om["APGR"]) + _fmt_ci(oi.get("APGR")),
        "",
        _fmt(om["CPT20"], True),
        _fmt(om["CPT50"], True),
        _fmt(om["CPT80"], True),
        "",
    )
    table.caption = _optimal_caption(om, oi)
    table.caption_justify = "left"
    console.print(table)
    for key, entry in report.compare.items():
        apgr = entry["APGR"]
        ci = apgr.get("diff_ci")
        share = apgr.get("share_a_le_b")
        console.print(
            f"compare {key}: APGR diff {_fmt(apgr['diff'])}"
            + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
            + (
                f"; share of resamples with A <= B: {_fmt(share)}"
                if share is not None
                else ""
            )
        )


def _optimal_caption(
    metrics: dict[str, float], intervals: dict[str, tuple[float, float]]
) -> str:
    """What the `optimal` row is, and why its figures may exceed 1."""
    text = (
        "optimal: the oracle, which sends strong exactly the prompts the strong "
        "model does better on."
    )
    peak = metrics.get("PGR_max")
    if peak is not None and math.isfinite(peak) and peak > 1:
        text += (
            " It keeps the prompts the weak model does better on weak, so it beats "
            f"the strong model: its PGR peaks at {_fmt(peak)}"
            f"{_fmt_ci(intervals.get('PGR_max'))}, and its APGR and interval can "
            "exceed 1 (resamples with a smaller strong - weak gap, PGR's "
            "denominator, give larger ratios)."
        )
    return text
