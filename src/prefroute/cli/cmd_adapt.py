"""`prefroute adapt`: adapt a router to the traffic in a request log (feedback on the
answers it routed), check it on held-out requests, and save it as a router folder."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from prefroute.cli._engine import EngineOpt, RayActorsOpt, RayAddressOpt
from prefroute.errors import ConfigError

__all__ = ["register"]

# Exit status when the adapted router is not written (worse, or cannot tell).
_EXIT_NOT_WRITTEN = 1


def _replace_folder(router: Any, out: Path) -> None:
    """Save into a sibling temporary folder, then swap it in (a server reloading
    `out` never sees a half-written router)."""
    from prefroute.routers.base import CONFIG_FILE

    out = out.expanduser()
    if out.exists() and not (out / CONFIG_FILE).is_file() and any(out.iterdir()):
        raise ConfigError(
            f"--out {str(out)!r} exists and is not a router folder; refusing to "
            "replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        router.save(fresh)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            old.rmdir()
            out.rename(old)
        fresh.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if fresh.exists():
            shutil.rmtree(fresh, ignore_errors=True)


def _parse_blends(text: str) -> tuple[float, ...]:
    """``--blends``: comma-separated weights in (0, 1]."""
    try:
        weights = tuple(float(w) for w in text.split(",") if w.strip())
    except ValueError:
        weights = ()
    if not weights or not all(0.0 < w <= 1.0 for w in weights):
        raise ConfigError(
            f"--blends must be comma-separated weights in (0, 1], got {text!r}"
        )
    return weights


def register(app: typer.Typer) -> None:
    """Add the `adapt` command to the app."""

    @app.command("adapt")
    def adapt_command(
        router: Annotated[
            str,
            typer.Option(
                "--router",
                "-r",
                metavar="ROUTER",
                help="Starting router: a shipped checkpoint, a registered name or a "
                "folder (mf-multi or a folder of one for N-model logs). An adapted "
                "folder restarts from the router it was adapted from.",
            ),
        ],
        log: Annotated[
            str,
            typer.Option(
                "--log",
                metavar="LOG",
                help="The request log (SQLite file or postgresql:// URL) with prompts "
                "logged and feedback.",
            ),
        ],
        out: Annotated[
            Path,
            typer.Option(
                "--out", "-o", metavar="DIR", help="Folder to write the router to."
            ),
        ],
        force: Annotated[
            bool,
            typer.Option(
                "--force",
                help="Write even when the held-out check finds it worse or cannot "
                "tell.",
            ),
        ] = False,
        holdout: Annotated[
            float,
            typer.Option(
                "--holdout",
                metavar="SHARE",
                help="Share of labelled prompts held out for the check.",
            ),
        ] = 0.3,
        since: Annotated[
            float | None,
            typer.Option(
                "--since",
                metavar="UNIX_TIME",
                help="Only requests from this unix time on.",
            ),
        ] = None,
        limit: Annotated[
            int | None,
            typer.Option(
                "--limit", metavar="N", min=1, help="Only the N most recent labelled."
            ),
        ] = None,
        judge_weight: Annotated[
            float,
            typer.Option(
                "--judge-weight",
                metavar="WEIGHT",
                min=0.0,
                help="Weight of each judge label (feedback source 'judge'); 0 ignores "
                "them.",
            ),
        ] = 1.0,
        correction: Annotated[
            str,
            typer.Option(
                "--correction",
                metavar="KIND",
                help="Pair logs: 'gain' (a ridge regression of the strong model's "
                "gain on top of the starting ranking) or 'heads' (logistic heads "
                "per model, used only when a guard finds them better).",
            ),
        ] = "gain",
        guard_se: Annotated[
            float | None,
            typer.Option(
                "--guard-se",
                metavar="Z",
                min=0.0,
                help="Pair logs: a new ranking is used only when its gain over the "
                "starting router on held-out folds of the log, less Z standard "
                "errors, is above 0 (default 1 for the gain correction, 2 for the "
                "heads: about a 2.5% one-sided test; lower adapts sooner at more "
                "risk).",
            ),
        ] = None,
        blends: Annotated[
            str | None,
            typer.Option(
                "--blends",
                metavar="W,W,...",
                help="Pair logs, --correction heads: shares of the new ranking's "
                "correction the guard tries (each in (0, 1]; default 1; e.g. "
                "0.25,0.5,1 takes a weakly supported correction in part).",
            ),
        ] = None,
        length: Annotated[
            bool,
            typer.Option(
                "--length/--no-length",
                help="Pair logs: the heads also see the prompt's log length.",
            ),
        ] = True,
        bootstrap: Annotated[
            int,
            typer.Option(
                "--bootstrap", metavar="N", min=1, help="Bootstrap resamples."
            ),
        ] = 1000,
        seed: Annotated[
            int, typer.Option("--seed", metavar="N", help="Split and fold seed.")
        ] = 0,
        json_out: Annotated[
            Path | None,
            typer.Option("--json", metavar="FILE", help="Write the check as JSON."),
        ] = None,
        engine: EngineOpt = "local",
        ray_address: RayAddressOpt = None,
        ray_actors: RayActorsOpt = None,
    ) -> None:
        """Adapt ROUTER to the log's feedback; write it when the held-out check
        finds it no worse (or with --force).

        The log's prompts are embedded once, up front: in this process, or with
        --engine ray on a Ray cluster (same vectors, so the same router).
        """
        from prefroute.cli._log_report import (
            estimates_dict,
            load_cached_router,
            print_multi,
            print_pair,
        )
        from prefroute.engine import get_engine
        from prefroute.routers.adapted import CORRECTIONS
        from prefroute.train.adapt import adapt_router
        from prefroute.train.log_embed import embed_log_prompts
        from prefroute.train.logdata import read_log

        if not 0.0 <= holdout < 1.0:
            raise ConfigError(f"--holdout must be in [0, 1), got {holdout!r}")
        if correction not in CORRECTIONS:
            raise ConfigError(
                f"--correction must be one of {', '.join(CORRECTIONS)}, got "
                f"{correction!r}"
            )
        if correction != "heads" and blends is not None:
            raise ConfigError("--blends applies to --correction heads")
        weights = _parse_blends("1" if blends is None else blends)
        traffic = read_log(log, since=since, limit=limit)
        start = load_cached_router(router)
        runner = get_engine(engine, address=ray_address, n_actors=ray_actors)
        try:
            # the log's prompts embedded once, here or on the engine
            start = embed_log_prompts(
                {router: start},
                [*traffic.prompts, *traffic.unlabeled],
                engine=None if engine == "local" else runner,
            )[router]
        finally:
            runner.close()
        result = adapt_router(
            start,
            traffic,
            holdout=holdout,
            seed=seed,
            n_resamples=bootstrap,
            judge_weight=judge_weight,
            guard_z=guard_se,
            blends=weights,
            length_feature=length,
            correction=correction,
        )
        models = (
            " vs ".join(result.models)
            if result.mode == "pair"
            else ", ".join(result.models)
        )
        typer.echo(
            f"{result.mode} log: {models}; {result.n_labels} labelled requests"
            + (f" + {result.n_judge} judge labels" if result.n_judge else "")
            + (f", {traffic.n_skipped} skipped" if traffic.n_skipped else "")
            + f"; held out {result.n_holdout}, fitted on {result.n_train}"
        )
        typer.echo(f"heads (on every label): {result.describe_heads()}")
        if result.pair is not None:
            print_pair(result.pair, title="held-out check (before = starting router)")
        if result.multi is not None:
            print_multi(result.multi, title="held-out check (before = starting router)")
        for text in result.warnings:
            typer.echo(f"warning: {text}", err=True)
        is_ok = result.is_not_worse is True
        written = is_ok or force
        if json_out is not None:
            check = result.pair or result.multi
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(
                json.dumps(
                    {
                        "mode": result.mode,
                        "models": list(result.models),
                        "n_labels": result.n_labels,
                        "n_judge": result.n_judge,
                        "n_train": result.n_train,
                        "n_holdout": result.n_holdout,
                        "heads": result.choice_dict(),
                        "is_not_worse": result.is_not_worse,
                        "written": written,
                        "check": estimates_dict(check) if check is not None else None,
                        "warnings": result.warnings,
                    },
                    indent=1,
                )
                + "\n",
                encoding="utf-8",
            )
        if not written:
            why = (
                "it is worse than the starting router on the held-out requests"
                if result.is_not_worse is False
                else "the held-out requests are too few to tell"
            )
            typer.echo(f"not written: {why}; pass --force to write it anyway", err=True)
            raise typer.Exit(_EXIT_NOT_WRITTEN)
        _replace_folder(result.router, out)
        note = (
            "calibrate its thresholds again (`prefroute calibrate`) before serving "
            "with a threshold"
            if result.mode == "pair"
            else "budgets calibrated on the log's prompts"
        )
        typer.echo(
            f"wrote {result.router.name} router to {out}"
            f"{'' if is_ok else ' (--force)'}; refitted on every label; {note}"
        )
