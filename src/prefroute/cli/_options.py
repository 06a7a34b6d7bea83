"""What every command shares: the global state (-v, -q), the `--data-dir` option,
and the command group that shows flags without a type placeholder in `--help`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

__all__ = [
    "DATA_DIR_HELP",
    "CliState",
    "DataDirOption",
    "PrefrouteGroup",
    "cli_state",
    "reflow_help",
]

DATA_DIR_HELP = (
    "Data folder. Default: $PREFROUTE_DATA_DIR, else the user data dir (where "
    "`prefroute data download` puts files; `prefroute data list` shows it)."
)

#: The one `--data-dir` option of every command that reads data (resolved by
#: `prefroute.config.resolve_data_dir`: the flag, else PREFROUTE_DATA_DIR, else the
#: user data dir).
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
]


@dataclass(frozen=True)
class CliState:
    """Options of the root command, seen by every subcommand.

    Attributes:
        verbosity: Number of ``-v``: 0 warnings only, 1 INFO, 2 DEBUG.
        is_quiet: ``-q``: errors only, no progress output.
    """

    verbosity: int = 0
    is_quiet: bool = False


def cli_state(ctx: typer.Context) -> CliState:
    """The root command's `CliState` (defaults when run without the root).

    Args:
        ctx: A command's context.

    Returns:
        The state.
    """
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def reflow_help(text: str) -> str:
    """Join the lines of each paragraph of a docstring into one line.

    Rich help keeps a docstring's line breaks, so a paragraph wrapped at 88 columns
    in the source would break mid-sentence in a terminal of any other width;
    joined, rich wraps it to the terminal. Paragraphs starting with ``\\b`` (click's
    "keep as is" marker) are left alone.

    Args:
        text: A help text.

    Returns:
        The text with one line per paragraph.
    """
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def _polish(command: Any, ctx: Any) -> None:
    """Reflow the help text; flags and counters take no value: show no type
    placeholder for them, nor for arguments (their name says what they are)."""
    if isinstance(getattr(command, "help", None), str):
        command.help = reflow_help(command.help)
    params = list(getattr(command, "params", []))
    getter = getattr(command, "get_help_option", None)
    help_option = getter(ctx) if callable(getter) else None
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif getattr(param, "param_type_name", "") == "argument" and hasattr(
            param, "display_type_rich"
        ):
            param.display_type_rich = _no_type


def _no_type(ctx: Any = None) -> None:
    return None


class PrefrouteGroup(TyperGroup):
    """A command group whose `--help` shows flags as flags.

    Recent typer releases print a ``<bool>`` placeholder after every flag (``--json
    <bool>``), which reads as if the flag took a value; options with values carry
    their own metavar (``--data-dir DIR``).
    """

    def get_params(self, ctx: Any) -> Any:
        """The group's own options (help included), flags shown as flags."""
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                param.metavar = ""
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """Look up a subcommand, with its flags shown as flags."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _polish(command, ctx)
        return command
