"""`prefroute train ROUTER --recipe FILE --out DIR`: fit a router from a recipe."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from prefroute.cli._engine import EngineOpt, RayActorsOpt, RayAddressOpt
from prefroute.cli._options import DataDirOption, cli_state
from prefroute.cli._progress import StageReporter, format_duration
from prefroute.errors import ConfigError

__all__ = ["parse_overrides", "register"]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` hyperparameter overrides (values as JSON, else strings).

    Args:
        items: Strings like ``dim=64`` or ``tier_mode=pair``.

    Returns:
        Name -> value.

    Raises:
        ConfigError: An item without "=".
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def register(app: typer.Typer) -> None:
    """Add the `train` command to the app."""

    @app.command("train")
    def train(
        ctx: typer.Context,
        router: Annotated[
            str,
            typer.Argument(
                metavar="ROUTER",
                help="Router to train: mf, sw_ranking, classifier, ...",
            ),
        ],
        recipe: Annotated[
            Path,
            typer.Option(
                "--recipe", metavar="FILE", help="Recipe file (.yaml or .toml)."
            ),
        ],
        out: Annotated[
            Path,
            typer.Option(
                "--out", metavar="DIR", help="Folder to write the trained router to."
            ),
        ],
        data_dir: DataDirOption = None,
        seed: Annotated[
            int | None,
            typer.Option("--seed", metavar="N", help="Override the recipe's seed."),
        ] = None,
        embedder: Annotated[
            str | None,
            typer.Option(
                "--embedder",
                metavar="SPEC",
                help="Override the recipe's embedder spec; the saved router then "
                "scores with it too, unless --serve-embedder says otherwise.",
            ),
        ] = None,
        serve_embedder: Annotated[
            str | None,
            typer.Option(
                "--serve-embedder",
                metavar="SPEC",
                help="Embedder the saved router scores with, a drop-in of the "
                "training one (default: the recipe's serve_embedder, or --embedder "
                "when given).",
            ),
        ] = None,
        overrides: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                metavar="KEY=VALUE",
                help="Hyperparameter override key=value (repeatable).",
            ),
        ] = None,
        embedding_store: Annotated[
            Path | None,
            typer.Option(
                "--embedding-store",
                metavar="FILE",
                help="An .npz of precomputed prompt embeddings: read if present, "
                "updated after training (speeds up retraining).",
            ),
        ] = None,
        finetune: Annotated[
            bool,
            typer.Option(
                "--finetune",
                help="classifier only: fine-tune the whole encoder (torch, the "
                "'train' extra) and save the `classifier-ft` router (ONNX); its "
                "hyperparameters come from the recipe's `classifier-ft` section "
                "and --set (e.g. --set n_epochs=2 --set max_length=128 "
                "--set device=cuda).",
            ),
        ] = False,
        engine: EngineOpt = "local",
        ray_address: RayAddressOpt = None,
        ray_actors: RayActorsOpt = None,
    ) -> None:
        """Train ROUTER on the battles a recipe names and save it to --out.

        `default` and `default-chat` (the shipped difficulty routers) train from the
        recipe's golden labels and AlpacaEval instead of battles; pick their head
        recipe with --set heads=NAME (default: theirs).
        """
        from prefroute.config import resolve_data_dir
        from prefroute.train.pipeline import (
            build_battles,
            embedding_stage,
            train_router,
            training_embedder,
        )
        from prefroute.train.recipe import load_recipe

        if finetune:
            if router not in ("classifier", "classifier-ft"):
                raise ConfigError(
                    f"--finetune applies to the classifier router, not {router!r}"
                )
            router = "classifier-ft"
        started = time.monotonic()
        spec = load_recipe(recipe)
        update: dict[str, Any] = {}
        if seed is not None:
            update["seed"] = seed
        if embedder is not None:
            # the recipe's serve_embedder is a drop-in for the recipe's embedder
            update["embedder"] = embedder
            update["serve_embedder"] = serve_embedder
        elif serve_embedder is not None:
            update["serve_embedder"] = serve_embedder
        spec = spec.model_copy(update=update)
        params = parse_overrides(overrides or [])
        root = resolve_data_dir(data_dir)
        runner = None
        if engine != "local" or ray_address is not None or ray_actors is not None:
            from prefroute.engine import get_engine
            from prefroute.engine.embed import EngineEmbedder

            # the embedding step on the engine; fitting stays here
            runner = get_engine(engine, address=ray_address, n_actors=ray_actors)
            emb = training_embedder(
                spec.embedder, inner=EngineEmbedder(spec.embedder, runner)
            )
        else:
            emb = training_embedder(spec.embedder)
        with StageReporter(quiet=cli_state(ctx).is_quiet) as progress:
            if embedding_store is not None:
                n_stored = emb.load_store(embedding_store)
                progress.print(
                    f"embedding store {embedding_store}: {n_stored:,} vectors"
                )
            if router in _DIFFICULTY_ROUTERS:
                result = _train_difficulty(router, spec, root, emb, params, progress)
                fitted, summary = result.router, result.summary()
            else:
                data = build_battles(spec, root, emb, progress=progress)
                summary = data.summary()
                if router != "classifier-ft":
                    # decontamination embedded every prompt already, unless it
                    # used an embedder of its own
                    dc = spec.decontamination
                    reused = dc.enabled and dc.embedder in (None, spec.embedder)
                    prompts = [b.prompt for b in data.battles]
                    with embedding_stage(
                        None if reused else emb,
                        prompts,
                        progress,
                    ):
                        fitted = train_router(
                            router, spec, data, emb, on_progress=progress, **params
                        )
        if router == "classifier-ft":  # shows its own progress bar
            progress.print(
                f"fine-tuning the classifier encoder: {len(data.battles)} battles"
            )
            params.setdefault("progress", not progress.quiet)
            fitted = train_router(router, spec, data, emb, **params)
        if runner is not None:
            runner.close()
        fitted.save(out)
        if embedding_store is not None:
            emb.save_store(embedding_store)
        progress.print(summary)
        progress.print(
            f"saved {router} to {out} ({format_duration(time.monotonic() - started)})"
        )


_DIFFICULTY_ROUTERS = ("default", "default-chat")


def _train_difficulty(
    router: str,
    spec: Any,
    root: Path,
    emb: Any,
    params: dict[str, Any],
    progress: Any,
) -> Any:
    """`prefroute train default|default-chat`: the shipped difficulty routers."""
    from prefroute.train.difficulty import SHIPPED_HEADS, train_from_recipe

    section = dict(spec.routers.get(router, {}))
    heads = params.pop("heads", section.pop("heads", SHIPPED_HEADS[router]))
    if params or section:
        raise ConfigError(
            f"router {router!r} takes only 'heads' (a head recipe name), got "
            f"{sorted({**section, **params})}"
        )
    return train_from_recipe(spec, root, emb, heads=str(heads), progress=progress)
