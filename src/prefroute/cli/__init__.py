"""The `prefroute` command line. Subcommands live in `cli/cmd_*.py`, each exposing
`register(app)`; they are discovered here so adding one touches no shared file."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import typer

from prefroute.errors import PrefrouteError

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    """Create the Typer app with every `cmd_*` module registered."""
    app = typer.Typer(
        name="prefroute",
        help="Route each LLM request to the cheapest model that will answer it well.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    ) -> None:
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        # One INFO line per HTTP request drowns progress output.
        logging.getLogger("httpx").setLevel(logging.WARNING)

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
        code = build_app()(standalone_mode=False)
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
