"""`prefroute calibrate`: the threshold that sends a share of prompts strong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from prefroute.cli._options import DataDirOption
from prefroute.data.prompts import PROMPT_FILE_HELP
from prefroute.errors import ConfigError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `calibrate` command to the app."""

    @app.command("calibrate")
    def calibrate_command(
        router: Annotated[
            list[str],
            typer.Option(
                "--router",
                "-r",
                metavar="NAME",
                help="Router name, shipped checkpoint or folder; repeat or "
                "comma-separate for several; NAME=PATH names a folder.",
            ),
        ],
        strong_share: Annotated[
            float,
            typer.Option(
                "--strong-share",
                "-s",
                metavar="SHARE",
                help="Target share of strong calls in [0, 1].",
            ),
        ],
        prompts: Annotated[
            Path | None,
            typer.Option(
                "--prompts",
                metavar="FILE",
                help=f"Prompt file: {PROMPT_FILE_HELP}. Default: the 805 AlpacaEval "
                "instructions of the data folder.",
            ),
        ] = None,
        data_dir: DataDirOption = None,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                "-o",
                metavar="FILE",
                help="Write the calibrations (all routers, all shares) as JSON, for "
                "`prefroute serve --calibration FILE`.",
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print a JSON object instead of text.")
        ] = False,
    ) -> None:
        """Print the threshold that sends a share of prompts to the strong model.

        The threshold sends --strong-share of the prompts strong (a score >=
        threshold goes strong).
        """
        from rich.console import Console

        from prefroute.calibrate import (
            calibrate_router,
            calibrate_threshold,
            default_prompts,
            load_prompts,
            save_calibrations,
            strong_share_at,
        )
        from prefroute.routers.registry import load_router

        if not 0.0 <= strong_share <= 1.0:
            raise ConfigError(f"--strong-share must be in [0, 1], got {strong_share!r}")
        specs: dict[str, str] = {}
        for item in router:
            for part in (p.strip() for p in item.split(",")):
                if part:
                    name, sep, target = part.partition("=")
                    specs[name] = target if sep else name
        if not specs:
            raise ConfigError("--router is required, e.g. --router mf")
        if prompts is None:
            texts = default_prompts(data_dir)
            source = "default prompt set (AlpacaEval instructions)"
        else:
            texts = load_prompts(prompts)
            source = str(prompts)
        console = Console(stderr=True)
        results = []
        calibrations = []
        for name, target in specs.items():
            with console.status(f"scoring {len(texts)} prompts with {name}"):
                calibration = calibrate_router(
                    load_router(target), texts, name=name, source=source
                )
            calibrations.append(calibration)
            threshold = calibrate_threshold(calibration.scores, strong_share)
            realised = strong_share_at(calibration.scores, threshold)
            results.append(
                {
                    "router": name,
                    "strong_share": strong_share,
                    "threshold": threshold,
                    "realised_strong_share": realised,
                    "n_prompts": len(texts),
                    "prompts": source,
                    "model": f"router-{name}-{threshold:.6g}",
                }
            )
        if out is not None:
            save_calibrations(out, calibrations)
        if as_json:
            typer.echo(
                json.dumps(results if len(results) > 1 else results[0], indent=2)
            )
        else:
            for r in results:
                typer.echo(
                    f"{r['router']}: threshold {r['threshold']:.6g} sends "
                    f"{r['realised_strong_share']:.1%} of {r['n_prompts']} prompts "
                    "to the "
                    f"strong model (target {strong_share:.1%}); model '{r['model']}'"
                )
        if out is not None:
            typer.echo(f"calibrations written to {out}", err=True)
