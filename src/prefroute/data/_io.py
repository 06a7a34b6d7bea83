"""Low-level readers shared by the loaders: every error names the file and row.

Plain python (``csv``, ``json``) only: loading must not need pandas.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prefroute.config import resolve_data_dir
from prefroute.errors import DataError, MissingDependencyError

__all__ = [
    "CsvTable",
    "as_dict",
    "as_float",
    "as_str",
    "find_file",
    "literal",
    "parse_bool",
    "parse_float",
    "read_csv",
    "read_json",
    "read_jsonl",
    "read_parquet",
    "root_dir",
]

# RouterBench responses and MMLU prompts exceed the csv module's default 128 KiB field.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_TRUE = frozenset({"true", "1", "1.0", "yes"})
_FALSE = frozenset({"false", "0", "0.0", "no"})


def root_dir(data_dir: Path | str | None) -> Path:
    """Resolve the data directory (explicit, env, or user default).

    Args:
        data_dir: An explicit folder, or None for the configured default.

    Returns:
        The existing data directory.

    Raises:
        DataError: It does not exist (the message says how to get the data).
    """
    return resolve_data_dir(data_dir)


def find_file(base: Path, candidates: Sequence[str], *, source: str, what: str) -> Path:
    """Return the first existing ``base / candidate``.

    Args:
        base: Folder to look in.
        candidates: Relative paths tried in order.
        source: Download-registry name of the public source holding the file.
        what: Human description of the file, for the error message.

    Returns:
        The path of the first candidate that exists.

    Raises:
        DataError: None exists; the message says how to fetch it.
    """
    for rel in candidates:
        path = base / rel
        if path.exists():
            return path
    tried = ", ".join(repr(str(base / c)) for c in candidates)
    raise DataError(
        f"{what} not found (looked for {tried}); fetch it with "
        f"`prefroute data download {source} --data-dir {base}` or point --data-dir / "
        "PREFROUTE_DATA_DIR at a folder holding it"
    )


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(
            f"file {str(path)!r} does not exist; fetch the data with "
            "`prefroute data download all` (see `prefroute data list`)"
        )


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-empty line of a JSONL file.

    Args:
        path: The file.

    Yields:
        1-based line number and the parsed JSON object.

    Raises:
        DataError: A line is not JSON or not a JSON object.
    """
    _check_file(path)
    with path.open(encoding="utf-8") as handle:
        yield from iter_jsonl_lines(handle, str(path))


def iter_json_lines(lines: Iterable[str], name: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-empty line of a JSON-lines
    stream, whatever JSON each line holds.

    Args:
        lines: The stream (an open file, ``sys.stdin``, a list of lines).
        name: What to call it in error messages (a path, ``<stdin>``).

    Yields:
        1-based line number and the parsed JSON value.

    Raises:
        DataError: ``<name>:<line>: ...`` when a line is not JSON, or
            ``<name>: ...`` when the stream is not UTF-8.
    """
    numbered = enumerate(lines, start=1)
    while True:
        try:
            lineno, line = next(numbered)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # decoding happens as the file is read
            raise DataError(f"{name}: not UTF-8 text ({exc.reason})") from exc
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{lineno}: invalid JSON ({exc.msg})") from exc
        yield lineno, value


def iter_jsonl_lines(
    lines: Iterable[str], name: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-empty line of a JSONL stream.

    Args:
        lines: The stream (an open file, ``sys.stdin``, a list of lines).
        name: What to call it in error messages (a path, ``<stdin>``).

    Yields:
        1-based line number and the parsed JSON object.

    Raises:
        DataError: ``<name>:<line>: ...`` when a line is not a JSON object.
    """
    for lineno, obj in iter_json_lines(lines, name):
        if not isinstance(obj, dict):
            raise DataError(
                f"{name}:{lineno}: expected a JSON object, got {type(obj).__name__}"
            )
        yield lineno, obj


def read_records(path: Path) -> list[tuple[int, str, dict[str, Any]]]:
    """The objects of a ``.jsonl`` file's lines or a ``.json`` list: each with its
    line number (.jsonl, 1-based) or index (.json) and its location for error
    messages (``file:line`` or ``file (record i)``).

    Raises:
        DataError: Missing file, invalid JSON, or an item that is not an object.
    """
    if path.suffix == ".jsonl":
        return [(n, f"{path}:{n}", obj) for n, obj in read_jsonl(path)]
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of records, got {type(data).__name__}"
        )
    out = []
    for i, obj in enumerate(data):
        where = f"{path} (record {i})"
        out.append((i, where, as_dict(obj, where)))
    return out


def read_json(path: Path) -> Any:
    """Parse a whole JSON file.

    Args:
        path: The file.

    Returns:
        The parsed value.

    Raises:
        DataError: The file is missing or not valid JSON (message gives the line).
    """
    _check_file(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc


class CsvTable:
    """A CSV file read into memory: header plus rows with their line numbers.

    Attributes:
        path: The file.
        header: Column names.
        rows: Data rows (lists of strings, same length as ``header``).
        lines: Physical line number where each row ends (for error messages).
    """

    def __init__(
        self, path: Path, header: list[str], rows: list[list[str]], lines: list[int]
    ) -> None:
        """Store the parsed table (use `read_csv` to build one)."""
        self.path = path
        self.header = header
        self.rows = rows
        self.lines = lines
        self._index = {name: i for i, name in enumerate(header)}

    def column(self, name: str) -> int:
        """Index of column ``name``.

        Raises:
            DataError: The column is absent.
        """
        try:
            return self._index[name]
        except KeyError:
            raise DataError(
                f"{self.path}: missing column {name!r}; columns are {self.header}"
            ) from None

    def has(self, name: str) -> bool:
        """Whether the column exists."""
        return name in self._index

    def where(self, i: int) -> str:
        """``path:line (row i)`` for error messages (i is the 0-based data row)."""
        return f"{self.path}:{self.lines[i]} (row {i + 1})"


def read_csv(path: Path, required: Sequence[str] = ()) -> CsvTable:
    """Read a CSV file with a header row.

    Args:
        path: The file.
        required: Columns that must be present.

    Returns:
        The table.

    Raises:
        DataError: Missing file/columns, empty file, or a row with the wrong
            number of fields.
    """
    _check_file(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                raise DataError(
                    f"{path}: empty CSV file, expected a header row"
                ) from None
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}:{reader.line_num} (row {len(rows) + 1}): expected "
                        f"{len(header)} fields, got {len(row)}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    table = CsvTable(path, header, rows, lines)
    for name in required:
        table.column(name)
    return table


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """Read a parquet file into a list of row dicts (needs pyarrow).

    Args:
        path: The file.

    Returns:
        One dict per row.

    Raises:
        MissingDependencyError: pyarrow is not installed (extra ``parquet``).
        DataError: The file is missing or not parquet.
    """
    _check_file(path)
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "parquet", "reading parquet") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def parse_bool(value: str, where: str, column: str) -> float:
    """Parse a correctness cell ("True"/"False"/"1"/"0"/"1.0"/"0.0") to 1.0/0.0.

    Raises:
        DataError: Any other value.
    """
    low = value.strip().lower()
    if low in _TRUE:
        return 1.0
    if low in _FALSE:
        return 0.0
    raise DataError(
        f"{where}: column {column!r}: expected True/False or 1/0, got {value!r}"
    )


def parse_float(value: str, where: str, column: str) -> float:
    """Parse a finite float cell.

    Raises:
        DataError: Not a finite number.
    """
    try:
        out = float(value)
    except ValueError:
        raise DataError(
            f"{where}: column {column!r}: expected a number, got {value!r}"
        ) from None
    if not math.isfinite(out):
        raise DataError(
            f"{where}: column {column!r}: expected a finite number, got {value!r}"
        )
    return out


def as_dict(obj: Any, where: str) -> dict[str, Any]:
    """Check that a record is a JSON object."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def as_str(obj: dict[str, Any], key: str, where: str) -> str:
    """Fetch a required string field.

    Raises:
        DataError: Missing or not a string.
    """
    if key not in obj:
        raise DataError(f"{where}: missing field {key!r}; fields are {sorted(obj)}")
    value = obj[key]
    if not isinstance(value, str):
        raise DataError(
            f"{where}: field {key!r}: expected a string, got {type(value).__name__}"
        )
    return value


def as_float(value: Any, where: str, what: str) -> float:
    """Check that a JSON value is a finite number (bools rejected).

    Raises:
        DataError: Not a finite int/float.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{where}: {what}: expected a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise DataError(f"{where}: {what}: expected a finite number, got {value!r}")
    return out


def literal(value: str, where: str, what: str) -> Any:
    """Parse a Python-literal string safely (``ast.literal_eval``, never ``eval``).

    Raises:
        DataError: Not a valid literal.
    """
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise DataError(f"{where}: {what}: not a valid Python literal ({exc})") from exc
