"""`prefroute serve`: the OpenAI-compatible routing server."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from prefroute.cli._options import DataDirOption

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


def _printable(config: Any) -> dict[str, Any]:
    """The config as JSON data with base URLs redacted (no user:password, no query
    values); keys are masked by pydantic already."""
    from prefroute.gateway.config import redact_url

    data: dict[str, Any] = config.model_dump(mode="json")
    for endpoint in [data["strong"], data["weak"], *data.get("models", [])]:
        if endpoint.get("base_url"):
            endpoint["base_url"] = redact_url(endpoint["base_url"])
    return data


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the app."""

    @app.command("serve")
    def serve_command(
        config_file: Annotated[
            Path | None,
            typer.Option(
                "--config",
                "-c",
                metavar="FILE",
                help="YAML serve config (examples in the examples folder).",
            ),
        ] = None,
        strong_model: Annotated[
            str | None,
            typer.Option(
                "--strong-model", metavar="MODEL", help="Strong upstream model id."
            ),
        ] = None,
        strong_base_url: Annotated[
            str | None,
            typer.Option(
                "--strong-base-url",
                metavar="URL",
                help="Strong OpenAI-compatible base URL.",
            ),
        ] = None,
        strong_api_key_env: Annotated[
            str | None,
            typer.Option(
                "--strong-api-key-env",
                metavar="VAR",
                help="Env var with the strong API key; default "
                f"{DEFAULT_STRONG_KEY_ENV}.",
            ),
        ] = None,
        weak_model: Annotated[
            str | None,
            typer.Option(
                "--weak-model", metavar="MODEL", help="Weak upstream model id."
            ),
        ] = None,
        weak_base_url: Annotated[
            str | None,
            typer.Option(
                "--weak-base-url",
                metavar="URL",
                help="Weak OpenAI-compatible base URL.",
            ),
        ] = None,
        weak_api_key_env: Annotated[
            str | None,
            typer.Option(
                "--weak-api-key-env",
                metavar="VAR",
                help=f"Env var with the weak API key; default {DEFAULT_WEAK_KEY_ENV}.",
            ),
        ] = None,
        routers: Annotated[
            str | None,
            typer.Option(
                "--routers",
                metavar="NAMES",
                help="Comma-separated routers (names, shipped checkpoints, or "
                "NAME=FOLDER); default: default, the shipped router (random: the "
                "paper's random baseline).",
            ),
        ] = None,
        host: Annotated[
            str | None,
            typer.Option(
                "--host", metavar="HOST", help="Interface to bind (default: 127.0.0.1)."
            ),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option("--port", metavar="PORT", help="TCP port (default: 6060)."),
        ] = None,
        calibration: Annotated[
            Path | None,
            typer.Option(
                "--calibration",
                metavar="FILE",
                help="Calibration JSON from `prefroute calibrate --out`.",
            ),
        ] = None,
        calibration_prompts: Annotated[
            str | None,
            typer.Option(
                "--calibration-prompts",
                metavar="FILE",
                help="Calibrate routers at start on this prompt file, or 'default': "
                "@share thresholds, and the prompts N-model @USD budgets are met on "
                "(default: the router's training prompts).",
            ),
        ] = None,
        data_dir: DataDirOption = None,
        timeout: Annotated[
            float | None,
            typer.Option(
                "--timeout",
                metavar="SECS",
                help="Upstream timeout in seconds (both models).",
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
            typer.Option(
                "--route-on",
                metavar="MODE",
                help="last_user | all_user | conversation.",
            ),
        ] = None,
        request_timeout: Annotated[
            float | None,
            typer.Option(
                "--request-timeout",
                metavar="SEC",
                help="Seconds a request may take from arrival to its last byte: "
                "routing, retries, fallback, the whole stream (default: 600).",
            ),
        ] = None,
        max_in_flight: Annotated[
            int | None,
            typer.Option(
                "--max-in-flight",
                metavar="N",
                help="Chat requests served at once; more are shed with 503 and "
                "Retry-After (default: 256).",
            ),
        ] = None,
        shutdown_timeout: Annotated[
            float | None,
            typer.Option(
                "--shutdown-timeout",
                metavar="SEC",
                help="Seconds requests in flight still get after SIGTERM "
                "(default: 15).",
            ),
        ] = None,
        log: Annotated[
            str | None,
            typer.Option(
                "--log",
                metavar="LOG",
                help="Request log: a SQLite file (created if missing) or a "
                "postgresql:// URL. Enables POST /v1/feedback.",
            ),
        ] = None,
        log_prompts: Annotated[
            bool | None,
            typer.Option(
                "--log-prompts",
                help="Store prompt text in the log (default: only its sha256).",
            ),
        ] = None,
        log_max_rows: Annotated[
            int | None,
            typer.Option(
                "--log-max-rows", metavar="N", help="Keep at most this many requests."
            ),
        ] = None,
        log_max_age_days: Annotated[
            float | None,
            typer.Option(
                "--log-max-age-days",
                metavar="DAYS",
                help="Delete logged requests older than this.",
            ),
        ] = None,
        explore: Annotated[
            float | None,
            typer.Option(
                "--explore",
                metavar="SHARE",
                help="Share of routed requests sent to a model the router did not "
                "pick, propensity logged (default: 0).",
            ),
        ] = None,
        explore_seed: Annotated[
            int | None,
            typer.Option(
                "--explore-seed", metavar="N", help="Seed of the exploration draws."
            ),
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(
                "--workers",
                metavar="N",
                help="Server processes on the port (default: 1); calibrations are "
                "computed once, /metrics sums all workers.",
            ),
        ] = None,
        access_log: Annotated[
            bool,
            typer.Option(
                "--access-log", help="Log every request (query strings redacted)."
            ),
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
            "request_timeout": request_timeout,
            "max_in_flight": max_in_flight,
            "shutdown_timeout": shutdown_timeout,
            "log": log,
            "log_prompts": log_prompts,
            "log_max_rows": log_max_rows,
            "log_max_age_days": log_max_age_days,
            "explore": explore,
            "explore_seed": explore_seed,
            "workers": workers,
        }
        config = config_from_options(config_file, options)
        from prefroute.serve.app import create_app

        prepared = None
        if config.workers > 1:
            from prefroute.serve.workers import prepare_workers

            # routers loaded and calibrated once here; each worker loads the result
            prepared = prepare_workers(config, access_log=access_log)
            core = prepared.core
        else:
            app = create_app(config)
            core = app.state.core
        for name in sorted(core.routers):
            if config.models and core.is_multi(name):
                continue  # budgets, listed below
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
            typer.echo(json.dumps(_printable(config), indent=2))
            core.close_log()
            if prepared is not None:
                prepared.discard()
            return
        from prefroute.serve.runner import run_server

        typer.echo(
            f"prefroute serving on http://{config.host}:{config.port}/v1 "
            f"(strong={config.strong.model}, weak={config.weak.model}"
            + (f", {config.workers} workers)" if prepared is not None else ")"),
            err=True,
        )
        if prepared is not None:
            from prefroute.serve.workers import run_workers

            spec = prepared.spec
            prepared.release()
            del prepared, core  # the workers load their own routers
            raise typer.Exit(run_workers(spec))
        from prefroute.serve.workers import attach_cluster

        # replicas sharing a PostgreSQL log follow each other's router reloads
        app = attach_cluster(app)
        run_server(app, access_log=access_log)
