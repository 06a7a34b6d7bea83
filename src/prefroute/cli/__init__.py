"""The `prefroute` command line. Subcommands live in `cli/cmd_*.py`, each exposing
`register(app)`; they are discovered here so adding one touches no shared file."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from typing import Annotated

import typer

from prefroute.cli._options import CliState, PrefrouteGroup
from prefroute.errors import PrefrouteError

__all__ = ["build_app", "main"]


_LOG_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)


def _configure_logging(level: int) -> None:
    """Send log records of `level` and above to stderr (one handler, added once)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    # One INFO line per HTTP request drowns progress output: shown with -vv only.
    logging.getLogger("httpx").setLevel(
        max(level, logging.WARNING) if level > logging.DEBUG else level
    )


def build_app() -> typer.Typer:
    """Create the Typer app with every `cmd_*` module registered."""
    app = typer.Typer(
        name="prefroute",
        help="Route each LLM request to the cheapest model that will answer it well.",
        cls=PrefrouteGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        verbose: Annotated[
            int,
            typer.Option(
                "--verbose",
                "-v",
                count=True,
                help="More log output: -v for INFO lines, -vv for DEBUG.",
            ),
        ] = 0,
        quiet: Annotated[
            bool,
            typer.Option(
                "--quiet", "-q", help="Errors only: no progress, no log lines."
            ),
        ] = False,
    ) -> None:
        if quiet:
            _configure_logging(logging.ERROR)
        else:
            _configure_logging(_LOG_LEVELS[min(verbose, len(_LOG_LEVELS) - 1)])
        ctx.obj = CliState(verbosity=verbose, is_quiet=quiet)

    package = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(app)
    return app


def main() -> None:
    """Entry point: run the app; known errors print one line and exit 2."""
    try:
        # Without standalone mode click *returns* the code of `typer.Exit(n)`
        # instead of exiting with it.
        code = build_app()(prog_name="prefroute", standalone_mode=False)
        if isinstance(code, int) and code != 0:
            raise SystemExit(code)
    except PrefrouteError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except UnicodeDecodeError as exc:  # a file read outside the checked readers
        typer.echo(f"error: an input file is not UTF-8 text ({exc})", err=True)
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(130) from None
    except Exception as exc:
        # click usage errors (a bad option value, a missing argument), from click or
        # from the copy of click that newer typer releases vendor (typer._click):
        # told apart by their interface, since the two classes are unrelated
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            raise SystemExit(code) from None
        raise
