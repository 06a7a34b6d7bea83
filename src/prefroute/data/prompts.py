"""Prompt files: the one reader behind every command and server option that takes
prompts (`prefroute calibrate --prompts`, `score`, `label --prompts`, `serve
--calibration-prompts`, a recipe's evaluation prompt files).

Formats, by file suffix:

- ``.jsonl`` / ``.ndjson``: one JSON value per non-empty line;
- ``.json``: a JSON list of such values;
- ``.csv``: a header row with a `prompt` column (or another prompt key below);
- anything else (``.txt``, ...): one prompt per non-empty line, taken verbatim.

A JSON value is a string (the prompt) or an object with a ``prompt`` string, OpenAI
chat ``messages`` (routed on the last user turn; a content given as a list of parts
counts its text parts, joined by newlines), or an ``instruction``, ``question``,
``query`` or ``text`` string (AlpacaEval- and benchmark-style files). Every error
names the file and line (or item).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prefroute.data._io import iter_json_lines
from prefroute.errors import DataError

__all__ = [
    "PROMPT_FILE_HELP",
    "PROMPT_KEYS",
    "PromptRecord",
    "iter_prompt_records",
    "messages_from_record",
    "prompt_from_record",
    "read_prompt_records",
    "read_prompts",
]

#: Keys holding a prompt string, in the order they are looked up (after `messages`
#: in second place).
PROMPT_KEYS: tuple[str, ...] = ("prompt", "instruction", "question", "query", "text")

#: One-line description of the accepted formats, for command help texts.
PROMPT_FILE_HELP = (
    ".jsonl (per line: a string, or an object with 'prompt' or OpenAI 'messages'), "
    ".json (a list of those), .csv (a 'prompt' column), or one prompt per line"
)

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
# The csv module's default field limit (128 KiB) is below some real prompts.
_CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


@dataclass(frozen=True)
class PromptRecord:
    """One prompt of a prompt file.

    Attributes:
        fields: The record as read: a JSON object, a CSV row, or ``{"prompt": s}``
            for a bare string or text line (`prefroute score` writes it back with
            its score).
        where: Location for error messages (``file:line`` or ``file item i``).
        prompt: The text to route (see `prompt_from_record`).
    """

    fields: dict[str, Any]
    where: str
    prompt: str


def _record(value: Any, where: str) -> PromptRecord:
    if isinstance(value, str):
        return PromptRecord({"prompt": value}, where, value)
    if isinstance(value, dict):
        return PromptRecord(value, where, prompt_from_record(value, where))
    raise DataError(
        f"{where}: expected a string or a JSON object, got {type(value).__name__}"
    )


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type", "text") == "text"
            and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts) if texts else None
    return None


def messages_from_record(record: dict[str, Any], where: str) -> list[dict[str, str]]:
    """The conversation of a record's OpenAI ``messages``, as plain-text turns.

    Args:
        record: A JSON object with a ``messages`` list.
        where: Location for error messages.

    Returns:
        ``[{"role": ..., "content": ...}, ...]``; a content given as parts keeps
        its text parts joined by newlines ("" when it has none).

    Raises:
        DataError: ``messages`` is not a non-empty list of objects with a string
            ``role``, or has no user turn.
    """
    raw = record.get("messages")
    if not isinstance(raw, list) or not raw:
        raise DataError(
            f"{where}: field 'messages': expected a non-empty list, got {raw!r:.80}"
        )
    messages: list[dict[str, str]] = []
    for message in raw:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise DataError(
                f"{where}: each message needs a string 'role' and a 'content', "
                f"got {message!r:.80}"
            )
        text = _content_text(message.get("content"))
        messages.append({"role": message["role"], "content": text or ""})
    if not any(m["role"] == "user" for m in messages):
        raise DataError(f"{where}: field 'messages': expected a user turn, got none")
    return messages


def prompt_from_record(record: Any, where: str = "record") -> str:
    """The prompt to route for one record.

    Args:
        record: A JSON object with a ``prompt`` string, OpenAI ``messages`` (the
            last user turn with text; content a string or a list of content
            parts, whose text parts are joined by newlines), or an
            ``instruction``, ``question``, ``query`` or ``text`` string.
        where: Location for error messages (e.g. "input.jsonl:3").

    Returns:
        The prompt text.

    Raises:
        DataError: No usable prompt.
    """
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    prompt = record.get("prompt")
    if isinstance(prompt, str):
        return prompt
    messages = record.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                text = _content_text(message.get("content"))
                if text is not None:
                    return text
        raise DataError(f"{where}: 'messages' has no user turn with text content")
    for key in PROMPT_KEYS[1:]:
        value = record.get(key)
        if isinstance(value, str):
            return value
    raise DataError(
        f"{where}: expected a 'prompt' string or a 'messages' list (or an "
        f"'instruction', 'question', 'query' or 'text' string), got keys "
        f"{sorted(record)}"
    )


def _jsonl_records(lines: Iterable[str], name: str) -> Iterator[PromptRecord]:
    for lineno, value in iter_json_lines(lines, name):
        yield _record(value, f"{name}:{lineno}")


def _text_records(lines: Iterable[str], name: str) -> Iterator[PromptRecord]:
    try:
        for lineno, line in enumerate(lines, start=1):
            text = line.rstrip("\r\n")
            if text.strip():
                yield _record(text, f"{name}:{lineno}")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc.reason})") from exc


def _json_records(handle: IO[str], name: str) -> Iterator[PromptRecord]:
    try:
        value = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{name}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    if not isinstance(value, list):
        raise DataError(
            f"{name}: expected a JSON list of prompts, got {type(value).__name__}"
        )
    for i, item in enumerate(value):
        where = f"{name} item {i}"
        yield _record(item, where)


def _csv_records(handle: IO[str], name: str) -> Iterator[PromptRecord]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{name}: empty CSV file, expected a header row")
        if not any(key in header for key in (*PROMPT_KEYS, "messages")):
            raise DataError(f"{name}: expected a 'prompt' column, got columns {header}")
        for row in reader:
            if not row:
                continue
            where = f"{name}:{reader.line_num}"
            if len(row) != len(header):
                raise DataError(
                    f"{where}: expected {len(header)} fields, got {len(row)}"
                )
            fields: dict[str, Any] = dict(zip(header, row, strict=True))
            if "messages" in fields and not any(k in fields for k in PROMPT_KEYS):
                try:
                    fields["messages"] = json.loads(fields["messages"])
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{where}: column 'messages': invalid JSON ({exc.msg})"
                    ) from exc
            yield _record(fields, where)
    except csv.Error as exc:
        raise DataError(f"{name}: malformed CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc.reason})") from exc


def iter_prompt_records(
    source: Path | str | IO[str], *, name: str | None = None, suffix: str = ""
) -> Iterator[PromptRecord]:
    """Yield the records of a prompt file, in file order (streaming where the
    format allows: every format but ``.json``).

    Args:
        source: A path, or an open text stream (e.g. ``sys.stdin``).
        name: What to call the source in error messages (default: the path).
        suffix: Format of a stream, as a file suffix (default ``.jsonl``); for a
            path its own suffix decides.

    Yields:
        `PromptRecord` per non-empty line, item or row.

    Raises:
        DataError: A missing or unreadable file, invalid JSON or CSV, or a record
            without a prompt (names the file and line).
    """
    if isinstance(source, str | Path):
        path = Path(source)
        label = name or str(path)
        try:
            handle = path.open(encoding="utf-8", newline="")
        except OSError as exc:
            raise DataError(f"cannot read prompt file {label!r}: {exc}") from exc
        with handle:
            yield from _records(handle, label, path.suffix.lower())
        return
    yield from _records(source, name or "<stream>", suffix.lower() or ".jsonl")


def _records(handle: IO[str], name: str, suffix: str) -> Iterator[PromptRecord]:
    if suffix in _JSONL_SUFFIXES:
        yield from _jsonl_records(handle, name)
    elif suffix == ".json":
        yield from _json_records(handle, name)
    elif suffix == ".csv":
        yield from _csv_records(handle, name)
    else:
        yield from _text_records(handle, name)


def read_prompt_records(path: Path | str) -> list[PromptRecord]:
    """Every record of a prompt file, each checked to hold a prompt.

    Args:
        path: The file.

    Returns:
        The records, in file order.

    Raises:
        DataError: Missing, unreadable or malformed file, a record without a
            prompt, or no records at all.
    """
    records = list(iter_prompt_records(path))
    if not records:
        raise DataError(f"{str(path)!r} holds no prompts")
    return records


def read_prompts(path: Path | str) -> list[str]:
    """The prompts of a prompt file (see the module docstring for formats).

    Args:
        path: The file.

    Returns:
        The prompts, in file order.

    Raises:
        DataError: Missing, unreadable or malformed file, a record without a
            prompt, or no prompts.
    """
    return [record.prompt for record in read_prompt_records(path)]
