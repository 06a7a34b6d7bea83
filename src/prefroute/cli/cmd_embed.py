"""`prefroute embed distill-static`: build the static MiniLM table ahead of time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from prefroute.cli._options import DataDirOption

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `embed` command group to the root app."""
    embed_app = typer.Typer(
        help="Embedders: build their model files ahead of first use.",
        no_args_is_help=True,
    )

    @embed_app.command("distill-static")
    def distill_static(
        force: Annotated[
            bool,
            typer.Option("--force", help="Distil again even if the table is cached."),
        ] = False,
    ) -> None:
        """Distil all-MiniLM-L6-v2 into the token table of the `minilm-static`
        embedder (from the installed weights; no network) and cache it under
        PREFROUTE_CACHE_DIR. Prints the table's path, shape and sha256: the same
        bytes on every build on one machine."""
        from prefroute.embed.static import StaticTable, static_table_path

        started = time.perf_counter()
        path = static_table_path(rebuild=force)
        table = StaticTable.load(path)
        rows, dim = table.rows.shape
        typer.echo(str(path))
        typer.echo(
            f"{rows} word pieces x {dim} dims, sha256 {table.sha256()} "
            f"({time.perf_counter() - started:.1f} s)"
        )

    @embed_app.command("static-counts")
    def static_counts(
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                metavar="FILE",
                help="Output .npz (the shipped file: COUNTS_FILE).",
            ),
        ],
        data_dir: DataDirOption = None,
    ) -> None:
        """Count MiniLM's word pieces over the training prompts (every golden
        source and AlpacaEval, as `prefroute train default` loads them, before
        decontamination): the frequencies behind `minilm-static`'s weights,
        shipped as prefroute/embed/minilm_static_counts.npz."""
        from prefroute.config import resolve_data_dir
        from prefroute.embed.static import count_pieces, save_counts
        from prefroute.train.difficulty import build_table

        texts = build_table(resolve_data_dir(data_dir)).texts
        counts = count_pieces(texts)
        save_counts(out, counts, len(texts))
        typer.echo(
            f"{out}: {int(counts.sum()):,} word pieces in {len(texts):,} prompts, "
            f"{int((counts > 0).sum()):,} distinct"
        )

    app.add_typer(embed_app, name="embed")
