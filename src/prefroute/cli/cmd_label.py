"""`prefroute label`: answer prompts with the strong and weak models, have a judge
model compare the answers, and append battles for training (resumable). With
`--from-log`, the prompts are drawn from a request log and the verdicts also go back
into it as judge feedback (`prefroute adapt` reads them)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from prefroute.data.prompts import PROMPT_FILE_HELP
from prefroute.errors import ConfigError, UpstreamError

__all__ = ["register"]

_ROLES = ("strong", "weak", "judge")
_INTERRUPTED = "interrupted: rerun the same command to resume"
# SIGINT's conventional exit status (128 + 2)
_EXIT_INTERRUPTED = 130


def _price(value: str | None, flag: str) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    try:
        price_in, price_out = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"{flag} must be 'IN,OUT' in USD per 1M tokens (e.g. 0.5,1.5), "
            f"got {value!r}"
        ) from None
    return price_in, price_out


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {str(path)!r}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{str(path)!r}: expected a mapping at top level, got {type(data).__name__}"
        )
    return data


def _merge(
    base: dict[str, Any],
    endpoints: dict[str, dict[str, Any]],
    top: dict[str, Any],
) -> dict[str, Any]:
    """Overlay CLI values (None = not given) on the YAML settings."""
    merged = dict(base)
    for role, values in endpoints.items():
        if not isinstance(merged.get(role) or {}, dict):
            raise ConfigError(f"config key {role!r} must be a mapping")
        section = dict(merged.get(role) or {})
        section.update({k: v for k, v in values.items() if v is not None})
        merged[role] = section
    merged.update({k: v for k, v in top.items() if v is not None})
    return merged


def _usage_line(report: Any) -> str:
    return (
        f"tokens in {report.prompt_tokens:,} out {report.completion_tokens:,} "
        f"| ${report.cost:.4f}"
    )


def _print_summary(console: Any, report: Any, output: Path) -> None:
    console.print(
        f"wrote {report.n_written} battles to {output} "
        f"({report.n_already_done} already there, {report.n_skipped} skipped "
        f"without a judge verdict, {report.n_judge_retries} judge retries, "
        f"{report.n_remaining} left)"
    )
    for role in _ROLES:
        usage = report.usage[role]
        console.print(
            f"  {role:<6} {usage.n_calls} calls, tokens in {usage.prompt_tokens:,} "
            f"out {usage.completion_tokens:,}, ${usage.cost:.4f}"
            + (
                f" ({usage.n_missing_usage} answers without usage)"
                if usage.n_missing_usage
                else ""
            )
        )
    console.print(f"  total  {_usage_line(report)}; {report.n_requests} requests")


def _nothing_labelled(report: Any, output: Path) -> str:
    from prefroute.train.label import skipped_path

    return (
        f"error: nothing labelled: the judge's answers to all {report.n_skipped} "
        "prompts had no verdict in the expected form (a last line with [[A>>B]], "
        "[[A>B]], [[A=B]], [[B>A]] or [[B>>A]]), even when asked twice. Its "
        f"answers are in {skipped_path(output)} ('judge_output'); check that "
        "--judge names an instruction-following model that can compare two "
        "answers, then rerun with --retry-skipped"
    )


def _feedback(
    console: Any, log: str | None, drawn: Any, output: Path, settings: Any
) -> None:
    """Write the verdicts in `output` back into the log (with --from-log)."""
    if log is None or drawn is None:
        return
    from prefroute.train.label_log import write_judge_feedback

    n = write_judge_feedback(
        log,
        output,
        drawn.requests,
        strong=settings.strong.model,
        weak=settings.weak.model,
    )
    console.print(f"wrote {n} judge feedback records to the log {log}")


def register(app: typer.Typer) -> None:
    """Add the `label` command to the app."""

    @app.command("label")
    def label_command(
        prompts: Annotated[
            Path | None,
            typer.Option(
                "--prompts",
                metavar="FILE",
                help=f"Prompt file: {PROMPT_FILE_HELP}. A record may add "
                "'strong_response' / 'weak_response' (that model is then not called).",
            ),
        ] = None,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output",
                "-o",
                metavar="FILE",
                help="Battles JSONL, appended to (resumable); with --from-log "
                "default <log>.judge.jsonl.",
            ),
        ] = None,
        from_log: Annotated[
            str | None,
            typer.Option(
                "--from-log",
                metavar="LOG",
                help="Instead of --prompts: draw prompts from a request log (SQLite "
                "file or postgresql:// URL, prompts logged) answered by the strong "
                "or weak model, and write each verdict back as feedback from the "
                "source 'judge'.",
            ),
        ] = None,
        sample: Annotated[
            int | None,
            typer.Option(
                "--sample",
                metavar="N",
                min=1,
                help="--from-log: prompts to draw (default 100).",
            ),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                metavar="FILE",
                help="YAML with the same settings (strong/weak/judge: model, base_url, "
                "api_key_env, price_in, price_out; concurrency, seed, ...); "
                "flags override it.",
            ),
        ] = None,
        strong: Annotated[
            str | None,
            typer.Option("--strong", metavar="MODEL", help="Strong model name."),
        ] = None,
        weak: Annotated[
            str | None, typer.Option("--weak", metavar="MODEL", help="Weak model name.")
        ] = None,
        judge: Annotated[
            str | None,
            typer.Option("--judge", metavar="MODEL", help="Judge model name."),
        ] = None,
        base_url: Annotated[
            str | None,
            typer.Option(
                "--base-url",
                metavar="URL",
                help="Base URL (.../v1) for all three models.",
            ),
        ] = None,
        api_key_env: Annotated[
            str | None,
            typer.Option(
                "--api-key-env",
                metavar="VAR",
                help="Env var with the key, for all three.",
            ),
        ] = None,
        strong_base_url: Annotated[
            str | None,
            typer.Option(
                "--strong-base-url", metavar="URL", help="Strong model's URL."
            ),
        ] = None,
        weak_base_url: Annotated[
            str | None,
            typer.Option("--weak-base-url", metavar="URL", help="Weak model's URL."),
        ] = None,
        judge_base_url: Annotated[
            str | None,
            typer.Option("--judge-base-url", metavar="URL", help="Judge model's URL."),
        ] = None,
        strong_api_key_env: Annotated[
            str | None,
            typer.Option("--strong-api-key-env", metavar="VAR", help="Strong key var."),
        ] = None,
        weak_api_key_env: Annotated[
            str | None,
            typer.Option("--weak-api-key-env", metavar="VAR", help="Weak key var."),
        ] = None,
        judge_api_key_env: Annotated[
            str | None,
            typer.Option("--judge-api-key-env", metavar="VAR", help="Judge key var."),
        ] = None,
        strong_price: Annotated[
            str | None,
            typer.Option(
                "--strong-price", metavar="IN,OUT", help="IN,OUT USD per 1M tokens."
            ),
        ] = None,
        weak_price: Annotated[
            str | None,
            typer.Option(
                "--weak-price", metavar="IN,OUT", help="IN,OUT USD per 1M tokens."
            ),
        ] = None,
        judge_price: Annotated[
            str | None,
            typer.Option(
                "--judge-price", metavar="IN,OUT", help="IN,OUT USD per 1M tokens."
            ),
        ] = None,
        concurrency: Annotated[
            int | None,
            typer.Option(
                "--concurrency",
                metavar="N",
                help="HTTP requests in flight (default 8).",
            ),
        ] = None,
        max_retries: Annotated[
            int | None,
            typer.Option(
                "--max-retries", metavar="N", help="Retries per request (default 4)."
            ),
        ] = None,
        timeout: Annotated[
            float | None,
            typer.Option(
                "--timeout",
                metavar="SECS",
                help="Seconds per request (default 120).",
            ),
        ] = None,
        seed: Annotated[
            int | None,
            typer.Option(
                "--seed", metavar="N", help="Seed of the A/B position draw (default 0)."
            ),
        ] = None,
        max_tokens: Annotated[
            int | None,
            typer.Option(
                "--max-tokens", metavar="N", help="Answer token limit (default 1024)."
            ),
        ] = None,
        max_requests: Annotated[
            int | None,
            typer.Option(
                "--max-requests",
                metavar="N",
                help="Stop cleanly after this many HTTP requests.",
            ),
        ] = None,
        retry_skipped: Annotated[
            bool,
            typer.Option(
                "--retry-skipped", help="Redo prompts recorded in <stem>.skipped.jsonl."
            ),
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help="Count the work and stop; no requests."),
        ] = False,
    ) -> None:
        """Label prompts with a judge: write strong-vs-weak battles for training.

        The strong and the weak model answer each prompt (unless the file holds
        their answers); the judge model sees both answers as assistants A and B, in
        an order drawn per prompt, and must end its answer with its verdict in one
        of these forms: [[A>>B]] (A much better), [[A>B]] (A better), [[A=B]]
        (tie), [[B>A]] or [[B>>A]]; MT-Bench's [[A]], [[B]] and [[C]] (tie) are
        accepted too. The verdict becomes the strong model's soft label: 1, 0.75,
        0.5, 0.25 or 0. An answer without a verdict is asked again once, then the
        prompt is recorded in OUTPUT's <stem>.skipped.jsonl with the judge's
        answer. A run that labels no prompt exits with status 1.
        """
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from prefroute.train.label import (
            LabelInterrupted,
            label_battles,
            load_label_config,
            read_label_inputs,
        )

        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # one INFO line per HTTP request would bury the progress bar
            logging.getLogger("httpx").setLevel(logging.WARNING)
        base = _read_yaml(config) if config is not None else {}
        cli_roles: dict[str, dict[str, Any]] = {}
        given = {
            "strong": (strong, strong_base_url, strong_api_key_env, strong_price),
            "weak": (weak, weak_base_url, weak_api_key_env, weak_price),
            "judge": (judge, judge_base_url, judge_api_key_env, judge_price),
        }
        for role, (model, url, key_env, price) in given.items():
            prices = _price(price, f"--{role}-price")
            raw = base.get(role)
            section: dict[str, Any] = raw if isinstance(raw, dict) else {}
            cli_roles[role] = {
                "model": model,
                "base_url": url or (base_url if not section.get("base_url") else None),
                "api_key_env": key_env
                or (api_key_env if not section.get("api_key_env") else None),
                "price_in": prices[0] if prices else None,
                "price_out": prices[1] if prices else None,
            }
        merged = _merge(
            base,
            cli_roles,
            {
                "concurrency": concurrency,
                "max_retries": max_retries,
                "timeout": timeout,
                "seed": seed,
                "max_tokens": max_tokens,
                "max_requests": max_requests,
            },
        )
        origin = f"{config} + flags" if config is not None else "flags"
        settings = load_label_config(merged, origin)
        console = Console(stderr=True)
        if (prompts is None) == (from_log is None):
            raise ConfigError("give --prompts or --from-log (one of them)")
        if sample is not None and from_log is None:
            raise ConfigError("--sample applies only with --from-log")
        drawn = None
        if from_log is not None:
            from prefroute.train.label import label_item
            from prefroute.train.label_log import sample_log_prompts

            if output is None:
                if "://" in from_log:
                    raise ConfigError("give --output for a log that is not a file")
                output = Path(from_log).with_suffix(".judge.jsonl")
            drawn = sample_log_prompts(
                from_log,
                strong=settings.strong.model,
                weak=settings.weak.model,
                n=sample or 100,
                seed=settings.seed,
            )
            console.print(
                f"drew {len(drawn.prompts)} of {drawn.n_eligible} logged prompts "
                f"answered by {settings.strong.model} or {settings.weak.model} "
                "without a judge label"
            )
            items = [label_item(p) for p in drawn.prompts]
        else:
            assert prompts is not None
            items = read_label_inputs(prompts)
        if output is None:
            raise ConfigError("give --output (the battles file)")
        if dry_run:
            report = label_battles(items, settings, output, dry_run=True)
            console.print(
                f"{report.n_prompts} prompts, {report.n_already_done} already done, "
                f"{report.n_remaining} to label with about "
                f"{report.n_requests_planned} requests (dry run: none sent)"
            )
            return
        try:
            with Progress(
                TextColumn("[bold]labelling"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=console,
                transient=False,
            ) as progress:
                task = progress.add_task("", total=len(items), completed=0)

                def on_progress(report: Any) -> None:
                    progress.update(
                        task,
                        completed=report.n_already_done
                        + report.n_written
                        + report.n_skipped,
                        description=_usage_line(report),
                    )

                report = label_battles(
                    items,
                    settings,
                    output,
                    retry_skipped=retry_skipped,
                    on_progress=on_progress,
                )
        except KeyboardInterrupt as exc:
            # a plain KeyboardInterrupt came before any request: nothing to sum up
            if isinstance(exc, LabelInterrupted):
                _print_summary(console, exc.report, output)
            _feedback(console, from_log, drawn, output, settings)
            console.print(_INTERRUPTED)
            raise typer.Exit(_EXIT_INTERRUPTED) from None
        except UpstreamError:
            # the prompts finished before the error are saved: keep their verdicts
            _feedback(console, from_log, drawn, output, settings)
            raise
        _print_summary(console, report, output)
        _feedback(console, from_log, drawn, output, settings)
        if report.stopped_early:
            console.print(
                "stopped at --max-requests; run the same command again to resume"
            )
        if report.n_written == 0 and report.n_skipped > 0:
            if output.is_file() and output.stat().st_size == 0:
                output.unlink()  # created by this run, holds nothing
            console.print(_nothing_labelled(report, output))
            raise typer.Exit(1)
