"""`prefroute ratings --recipe FILE`: Bradley-Terry leaderboard with tiers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `ratings` command to the app."""

    @app.command("ratings")
    def ratings(
        recipe: Annotated[
            Path, typer.Option("--recipe", help="Recipe file (.yaml or .toml).")
        ],
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="Data root.")
        ] = None,
        bootstrap: Annotated[
            int,
            typer.Option(
                "--bootstrap", min=0, help="Bootstrap resamples for 95% intervals."
            ),
        ] = 100,
        decontaminate: Annotated[
            bool,
            typer.Option(
                "--decontaminate", help="Drop evaluation prompts first (slow: embeds)."
            ),
        ] = False,
        top: Annotated[
            int | None, typer.Option("--top", min=1, help="Show only the best N.")
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
        data = build_battles(
            spec,
            resolve_data_dir(data_dir),
            emb,
            n_bootstrap=bootstrap,
        )
        assert data.ratings is not None
        r = data.ratings
        table = Table(title=f"{len(r.models)} models, {len(data.battles)} battles")
        for col in ("rank", "model", "elo", "95% CI", "battles", "tier"):
            table.add_column(col, justify="left" if col == "model" else "right")
        n = len(r.models) if top is None else min(top, len(r.models))
        for i in range(n):
            table.add_row(
                str(i + 1),
                r.models[i],
                f"{r.elo[i]:.0f}",
                f"{r.ci_low[i]:.0f}..{r.ci_high[i]:.0f}",
                str(int(r.n_battles[i])),
                str(int(r.tiers[i])),
            )
        Console().print(table)
