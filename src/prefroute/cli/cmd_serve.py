"""`prefroute serve`: the OpenAI-compatible routing server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "DEFAULT_ADMIN_KEYS_ENV",
    "DEFAULT_SERVER_KEYS_ENV",
    "DEFAULT_STRONG_KEY_ENV",
    "DEFAULT_WEAK_KEY_ENV",
    "config_from_options",
    "register",
]

DEFAULT_STRONG_KEY_ENV = "PREFROUTE_STRONG_API_KEY"
DEFAULT_WEAK_KEY_ENV = "PREFROUTE_WEAK_API_KEY"
DEFAULT_SERVER_KEYS_ENV = "PREFROUTE_SERVER_API_KEYS"
DEFAULT_ADMIN_KEYS_ENV = "PREFROUTE_ADMIN_API_KEYS"

logger = logging.getLogger(__name__)


def config_from_options(config_file: Path | None, options: dict[str, Any]) -> Any:
    """Build the `ServeConfig` from an optional file and flag values (flags win).

    Endpoints without an API key setting read ``PREFROUTE_STRONG_API_KEY`` /
    ``PREFROUTE_WEAK_API_KEY``; without server keys configured, the server reads
    ``PREFROUTE_SERVER_API_KEYS`` (comma-separated; unset = no auth), and without
    admin keys ``PREFROUTE_ADMIN_API_KEYS`` (unset = admin endpoints off).

    Args:
        config_file: YAML file or None.
        options: Dotted config keys -> flag values (None = not given).

    Returns:
        The validated `ServeConfig`.
    """
    from prefroute.serve.config import load_serve_config

    config = load_serve_config(config_file, options)
    updates: dict[str, Any] = {}
    for tier, env in (
        ("strong", DEFAULT_STRONG_KEY_ENV),
        ("weak", DEFAULT_WEAK_KEY_ENV),
    ):
        endpoint = getattr(config, tier)
        if endpoint.api_key is None and endpoint.api_key_env is None:
            updates[tier] = endpoint.model_copy(update={"api_key_env": env})
    if config.api_keys_env is None and not config.api_keys:
        updates["api_keys_env"] = DEFAULT_SERVER_KEYS_ENV
    if config.admin_api_keys_env is None and not config.admin_api_keys:
        updates["admin_api_keys_env"] = DEFAULT_ADMIN_KEYS_ENV
    return config.model_copy(update=updates) if updates else config


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the app."""

    @app.command("serve")
    def serve_command(
        config_file: Annotated[
            Path | None,
            typer.Option(
                "--config", "-c", help="YAML config (see examples/serve-*.yaml)."
            ),
        ] = None,
        strong_model: Annotated[
            str | None, typer.Option("--strong-model", help="Strong upstream model id.")
        ] = None,
        strong_base_url: Annotated[
            str | None,
            typer.Option(
                "--strong-base-url", help="Strong OpenAI-compatible base URL."
            ),
        ] = None,
        strong_api_key_env: Annotated[
            str | None,
            typer.Option(
                "--strong-api-key-env",
                help="Env var with the strong API key "
                f"(default: {DEFAULT_STRONG_KEY_ENV}).",
            ),
        ] = None,
        weak_model: Annotated[
            str | None, typer.Option("--weak-model", help="Weak upstream model id.")
        ] = None,
        weak_base_url: Annotated[
            str | None,
            typer.Option("--weak-base-url", help="Weak OpenAI-compatible base URL."),
        ] = None,
        weak_api_key_env: Annotated[
            str | None,
            typer.Option(
                "--weak-api-key-env",
                help="Env var with the weak API key "
                f"(default: {DEFAULT_WEAK_KEY_ENV}).",
            ),
        ] = None,
        routers: Annotated[
            str | None,
            typer.Option(
                "--routers",
                help="Comma-separated routers (names, shipped checkpoints, or "
                "NAME=FOLDER) (default: random).",
            ),
        ] = None,
        host: Annotated[
            str | None,
            typer.Option("--host", help="Interface to bind (default: 127.0.0.1)."),
        ] = None,
        port: Annotated[
            int | None, typer.Option("--port", help="TCP port (default: 6060).")
        ] = None,
        calibration: Annotated[
            Path | None,
            typer.Option(
                "--calibration",
                help="Calibration JSON from `prefroute calibrate --out`.",
            ),
        ] = None,
        calibration_prompts: Annotated[
            str | None,
            typer.Option(
                "--calibration-prompts",
                help="Calibrate routers at start on this prompt file, or 'default': "
                "@share thresholds, and the prompts N-model @USD budgets are met on "
                "(default: the router's training prompts).",
            ),
        ] = None,
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="Data directory.")
        ] = None,
        timeout: Annotated[
            float | None,
            typer.Option(
                "--timeout", help="Upstream timeout in seconds (both models)."
            ),
        ] = None,
        fallback: Annotated[
            bool | None,
            typer.Option(
                "--fallback/--no-fallback", help="Try the other model on failure."
            ),
        ] = None,
        route_on: Annotated[
            str | None,
            typer.Option("--route-on", help="last_user | all_user | conversation."),
        ] = None,
        log: Annotated[
            str | None,
            typer.Option(
                "--log",
                help="Request log: a SQLite file (created if missing) or a "
                "postgresql:// URL. Enables POST /v1/feedback.",
            ),
        ] = None,
        log_prompts: Annotated[
            bool | None,
            typer.Option(
                "--log-prompts/--no-log-prompts",
                help="Store prompt text in the log (default: only its sha256).",
            ),
        ] = None,
        log_max_rows: Annotated[
            int | None,
            typer.Option("--log-max-rows", help="Keep at most this many requests."),
        ] = None,
        log_max_age_days: Annotated[
            float | None,
            typer.Option(
                "--log-max-age-days", help="Delete logged requests older than this."
            ),
        ] = None,
        explore: Annotated[
            float | None,
            typer.Option(
                "--explore",
                help="Share of routed requests sent to a model the router did not "
                "pick, propensity logged (default: 0).",
            ),
        ] = None,
        explore_seed: Annotated[
            int | None,
            typer.Option("--explore-seed", help="Seed of the exploration draws."),
        ] = None,
        access_log: Annotated[
            bool, typer.Option("--access-log", help="Log every request (uvicorn).")
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help="Load everything, print the config, exit."),
        ] = False,
    ) -> None:
        """Serve POST /v1/chat/completions, GET /v1/models, /health and /metrics.

        With --log, also POST /v1/feedback; with admin keys, POST /admin/reload
        (SIGHUP reloads too).
        """
        options: dict[str, Any] = {
            "strong.model": strong_model,
            "strong.base_url": strong_base_url,
            "strong.api_key_env": strong_api_key_env,
            "strong.timeout": timeout,
            "weak.model": weak_model,
            "weak.base_url": weak_base_url,
            "weak.api_key_env": weak_api_key_env,
            "weak.timeout": timeout,
            "routers": routers,
            "host": host,
            "port": port,
            "calibration_file": str(calibration) if calibration else None,
            "calibration_prompts": calibration_prompts,
            "data_dir": str(data_dir) if data_dir else None,
            "fallback": fallback,
            "route_on": route_on,
            "log": log,
            "log_prompts": log_prompts,
            "log_max_rows": log_max_rows,
            "log_max_age_days": log_max_age_days,
            "explore": explore,
            "explore_seed": explore_seed,
        }
        config = config_from_options(config_file, options)
        from prefroute.serve.app import create_app

        app = create_app(config)
        core = app.state.core
        for name in sorted(core.routers):
            cal = core.calibrations.get(name)
            shares = (
                ", ".join(f"{s:g}->{cal.threshold_for(s):.4g}" for s in (0.1, 0.3, 0.5))
                if cal
                else "not calibrated"
            )
            typer.echo(f"router {name}: {shares}", err=True)
        for (name, budget), knob in sorted(core.budget_knobs.items()):
            n_prompts = getattr(core.routers[name], "n_calibration_prompts", None)
            typer.echo(
                f"router {name}: budget ${budget:g}/request -> lambda {knob:.6g} "
                f"(on {n_prompts} calibration prompts)",
                err=True,
            )
        if config.log is not None:
            # a database URL may hold a password: show its scheme only
            where = (
                config.log.split("://")[0] + "://..."
                if "://" in config.log
                else config.log
            )
            typer.echo(
                f"request log: {where} (prompts "
                f"{'stored' if config.log_prompts else 'hashed'}), explore "
                f"{config.explore:g}",
                err=True,
            )
        if dry_run:
            typer.echo(config.model_dump_json(indent=2))
            core.close_log()
            return
        import uvicorn

        typer.echo(
            f"prefroute serving on http://{config.host}:{config.port}/v1 "
            f"(strong={config.strong.model}, weak={config.weak.model})",
            err=True,
        )
        uvicorn.run(
            app,
            host=config.host,
            port=config.port,
            log_level="info",
            access_log=access_log,
            timeout_keep_alive=30,
        )
