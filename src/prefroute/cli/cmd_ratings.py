"""`prefroute ratings --recipe FILE`: Bradley-Terry leaderboard with tiers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prefroute.cli._options import DataDirOption, cli_state
from prefroute.cli._progress import StageReporter

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `ratings` command to the app."""

    @app.command("ratings")
    def ratings(
        ctx: typer.Context,
        recipe: Annotated[
            Path,
            typer.Option(
                "--recipe", metavar="FILE", help="Recipe file (.yaml or .toml)."
            ),
        ],
        data_dir: DataDirOption = None,
        bootstrap: Annotated[
            int,
            typer.Option(
                "--bootstrap",
                metavar="N",
                min=0,
                help="Bootstrap resamples for 95% intervals.",
            ),
        ] = 100,
        decontaminate: Annotated[
            bool,
            typer.Option(
                "--decontaminate", help="Drop evaluation prompts first (slow: embeds)."
            ),
        ] = False,
        top: Annotated[
            int | None,
            typer.Option("--top", metavar="N", min=1, help="Show only the best N."),
        ] = None,
    ) -> None:
        """Print the leaderboard (Elo scale, 95% bootstrap interval, tier) of all
        models in the recipe's battles."""
        from rich.console import Console
        from rich.table import Table

        from prefroute.config import resolve_data_dir
        from prefroute.train.pipeline import build_battles, training_embedder
        from prefroute.train.recipe import load_recipe

        spec = load_recipe(recipe)
        if not decontaminate:
            dc = spec.decontamination.model_copy(update={"enabled": False})
            spec = spec.model_copy(update={"decontamination": dc})
        emb = training_embedder(spec.embedder) if decontaminate else None
        import logging

        logging.getLogger("prefroute.train.pipeline").setLevel(logging.ERROR)
        with StageReporter(quiet=cli_state(ctx).is_quiet) as progress:
            data = build_battles(
                spec,
                resolve_data_dir(data_dir),
                emb,
                progress=progress,
                n_bootstrap=bootstrap,
            )
        assert data.ratings is not None
        r = data.ratings
        table = Table(title=f"{len(r.models)} models, {len(data.battles)} battles")
        columns = ["rank", "model", "elo", "95% CI", "battles", "tier"]
        if bootstrap == 0:
            columns.remove("95% CI")
        for col in columns:
            if col == "model":
                # Never cut a name: two models sharing a long prefix would read the
                # same; a name wider than its column folds onto the next line.
                table.add_column(col, overflow="fold")
            else:
                table.add_column(col, justify="right", no_wrap=True)
        n = len(r.models) if top is None else min(top, len(r.models))
        for i in range(n):
            cells = {
                "rank": str(i + 1),
                "model": r.models[i],
                "elo": f"{r.elo[i]:.0f}",
                "95% CI": f"{r.ci_low[i]:.0f}..{r.ci_high[i]:.0f}",
                "battles": str(int(r.n_battles[i])),
                "tier": str(int(r.tiers[i])),
            }
            table.add_row(*(cells[c] for c in columns))
        Console().print(table)
