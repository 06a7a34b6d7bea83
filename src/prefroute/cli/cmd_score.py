"""`prefroute score`: add a router's score to every record of a prompt file."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import IO, Annotated

import typer

from prefroute.cli._engine import EngineOpt, RayActorsOpt, RayAddressOpt
from prefroute.data.prompts import PROMPT_FILE_HELP
from prefroute.errors import ConfigError, DataError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `score` command to the app."""

    @app.command("score")
    def score_command(
        input_path: Annotated[
            str,
            typer.Argument(
                metavar="INPUT",
                help=f"Prompt file: {PROMPT_FILE_HELP}. Messages are routed on the "
                "last user turn. '-' reads JSONL from stdin.",
            ),
        ],
        router: Annotated[
            str,
            typer.Option(
                "--router",
                "-r",
                metavar="NAME",
                help="Router name, shipped checkpoint or folder.",
            ),
        ],
        output: Annotated[
            str,
            typer.Option(
                "--output",
                "-o",
                metavar="FILE",
                help="Output JSONL ('-' = stdout): each input record plus 'score'.",
            ),
        ] = "-",
        batch_size: Annotated[
            int,
            typer.Option("--batch-size", metavar="N", help="Records per batch."),
        ] = 256,
        engine: EngineOpt = "local",
        ray_address: RayAddressOpt = None,
        ray_actors: RayActorsOpt = None,
    ) -> None:
        """Score prompts with a router, streaming in batches."""
        from prefroute.engine import get_engine
        from prefroute.evals.harness import parse_router_spec
        from prefroute.evals.scoring import score_jsonl_stream
        from prefroute.routers import load_router

        if batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
        runner = None
        if engine != "local" or ray_address is not None or ray_actors is not None:
            runner = get_engine(engine, address=ray_address, n_actors=ray_actors)
        else:
            name, overrides = parse_router_spec(router)
            loaded = load_router(name, **overrides)
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        # Write to OUTPUT.part and rename on success, so a bad line midway never
        # leaves a truncated file that looks complete.
        partial = None if output == "-" else Path(output + ".part")
        with contextlib.ExitStack() as stack:
            source: IO[str]
            sink: IO[str]
            if input_path == "-":
                source, source_name = sys.stdin, "<stdin>"
            else:
                try:
                    source = stack.enter_context(
                        Path(input_path).open(encoding="utf-8", newline="")
                    )
                except FileNotFoundError as exc:
                    raise DataError(
                        f"input file {input_path!r} does not exist"
                    ) from exc
                source_name = input_path
            if partial is None:
                sink = sys.stdout
            else:
                partial.parent.mkdir(parents=True, exist_ok=True)
                sink = stack.enter_context(partial.open("w", encoding="utf-8"))
            progress = stack.enter_context(
                Progress(
                    SpinnerColumn(),
                    TextColumn("scored {task.completed} records"),
                    console=Console(stderr=True),
                    transient=True,
                )
            )
            task = progress.add_task("score", total=None)
            try:
                if runner is None:
                    n = score_jsonl_stream(
                        loaded,
                        source,
                        sink,
                        name=source_name,
                        batch_size=batch_size,
                        suffix=Path(input_path).suffix
                        if input_path != "-"
                        else ".jsonl",
                        on_batch=functools.partial(progress.advance, task),
                    )
                else:
                    from prefroute.engine.jobs import score_jsonl_on

                    n = score_jsonl_on(
                        runner,
                        router,
                        source,
                        sink,
                        name=source_name,
                        batch_size=batch_size,
                        on_batch=functools.partial(progress.advance, task),
                    )
            except BaseException:
                if partial is not None:
                    sink.close()
                    partial.unlink(missing_ok=True)
                raise
            finally:
                if runner is not None:
                    runner.close()
        if partial is not None:
            partial.replace(output)
        if output != "-":
            typer.echo(f"scored {n} records -> {output}", err=True)
        if runner is None:
            from prefroute.evals.scoring import scoring_warning

            warning = scoring_warning(loaded)
            if warning is not None:
                typer.echo(warning, err=True)
