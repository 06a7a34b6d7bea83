"""`--help` of every command, the shared `--data-dir` option and the -v/-q levels."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.cli._options import DATA_DIR_HELP, reflow_help

# Commands whose help is checked (groups and their subcommands).
COMMANDS = [
    [],
    ["calibrate"],
    ["data"],
    ["data", "check"],
    ["data", "download"],
    ["data", "list"],
    ["eval"],
    ["eval-multi"],
    ["label"],
    ["ratings"],
    ["score"],
    ["serve"],
    ["train"],
    ["train-multi"],
]
# What typer prints for an option without a metavar: <bool>, <str>, <path>, ...
TYPE_PLACEHOLDER = re.compile(r"<(bool|str|path|int|float|list)[^>]*>")


def _help(args: list[str], columns: int) -> str:
    result = CliRunner().invoke(
        build_app(), [*args, "--help"], env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    return result.output


def _commands() -> list[tuple[str, Any]]:
    """(name, click command) of every leaf command, via the root group."""
    root = typer.main.get_command(build_app())
    ctx = root.make_context("prefroute", [], resilient_parsing=True)
    out = []
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        command = root.get_command(ctx, name)  # type: ignore[attr-defined]
        if hasattr(command, "list_commands"):
            sub_ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
            for sub in command.list_commands(sub_ctx):
                out.append((f"{name} {sub}", command.get_command(sub_ctx, sub)))
        else:
            out.append((name, command))
    return out


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "root")
def test_help_shows_no_type_placeholders_and_cuts_nothing(
    args: list[str], columns: int
) -> None:
    text = _help(args, columns)
    assert not TYPE_PLACEHOLDER.search(text), TYPE_PLACEHOLDER.search(text)
    assert "…" not in text  # rich cuts a word that does not fit its column
    assert max(len(line) for line in text.splitlines()) <= columns


def test_every_option_with_a_value_names_it() -> None:
    for name, command in _commands():
        for param in command.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            if param.is_flag or getattr(param, "count", False):
                assert not param.metavar, (name, param.opts)
            else:
                assert param.metavar and param.metavar.upper() == param.metavar, (
                    name,
                    param.opts,
                    param.metavar,
                )


def test_command_help_is_reflowed_to_the_terminal() -> None:
    # A docstring paragraph wrapped in the source must not break mid-sentence.
    text = _help(["label"], 200)
    assert "The strong and the weak model answer each prompt (unless the file" in text
    summary = _help([], 200)
    row = next(line for line in summary.splitlines() if "calibrate" in line)
    assert row.rstrip(" │").endswith("to the strong model.")


def test_reflow_keeps_paragraphs_and_verbatim_blocks() -> None:
    doc = """First line
    continues here.

    Second paragraph
    on two lines.

    \b
    keep
    as is"""
    assert reflow_help(doc) == (
        "First line continues here.\n\nSecond paragraph on two lines.\n\n"
        "\b\nkeep\nas is"
    )


def test_every_data_reading_command_takes_the_same_data_dir_option() -> None:
    with_option = set()
    for name, command in _commands():
        for param in command.params:
            if "--data-dir" in getattr(param, "opts", []):
                with_option.add(name)
                assert param.help == DATA_DIR_HELP, name
                assert param.metavar == "DIR", name
    assert with_option == {
        "calibrate",
        "data check",
        "data download",
        "data list",
        "eval",
        "embed static-counts",
        "eval-multi",
        "ratings",
        "serve",
        "train",
        "train-multi",
    }


def _root_level(*flags: str, tmp_path: Path) -> int:
    code = (
        "import logging, sys; from prefroute.cli import build_app; "
        "build_app()(sys.argv[1:], standalone_mode=False); "
        "print(logging.getLogger().level)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            *flags,
            "data",
            "list",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_log_level_is_warning_by_default_and_v_q_change_it(tmp_path: Path) -> None:
    assert _root_level(tmp_path=tmp_path) == 30  # no INFO lines without -v
    assert _root_level("-v", tmp_path=tmp_path) == 20
    assert _root_level("-vv", tmp_path=tmp_path) == 10
    assert _root_level("-q", tmp_path=tmp_path) == 40


def test_usage_line_names_the_program() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from prefroute.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: prefroute " in done.stdout
