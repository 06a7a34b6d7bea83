"""The prompt-file reader every command shares: formats, keys and error locations."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.data.prompts import (
    iter_prompt_records,
    messages_from_record,
    read_prompts,
)
from prefroute.errors import DataError

MESSAGES = {
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_format_gives_the_same_prompts(tmp_path: Path) -> None:
    jsonl = "\n".join(
        [
            json.dumps("plain string"),
            json.dumps({"prompt": "a prompt"}),
            "",
            json.dumps(MESSAGES),
            json.dumps({"instruction": "an instruction"}),
        ]
    )
    files = {
        "p.jsonl": jsonl,
        "p.json": json.dumps(
            [
                "plain string",
                {"prompt": "a prompt"},
                MESSAGES,
                {"instruction": "an instruction"},
            ]
        ),
        "p.csv": "id,prompt\n1,plain string\n2,a prompt\n3,second\n\n"
        '4,"an instruction"\n',
        "p.txt": "plain string\na prompt\n\nsecond\nan instruction\n",
    }
    expected = ["plain string", "a prompt", "second", "an instruction"]
    for name, text in files.items():
        assert read_prompts(_write(tmp_path / name, text)) == expected, name


def test_text_lines_are_taken_verbatim(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.txt", '{"prompt": "not parsed"}\r\n  indented  \n')
    assert read_prompts(path) == ['{"prompt": "not parsed"}', "  indented  "]


def test_csv_cells_keep_commas_and_newlines(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", 'prompt,x\n"a, b\nc",1\n')
    assert read_prompts(path) == ["a, b\nc"]


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("p.jsonl", '{"prompt": "ok"}\n{"body": "x"}\n', "p.jsonl:2"),
        ("p.jsonl", '{"prompt": "ok"}\n{broken\n', "p.jsonl:2: invalid JSON"),
        ("p.json", '["ok", {"body": "x"}]', "p.json item 1"),
        ("p.json", '{"prompt": "x"}', "expected a JSON list"),
        ("p.csv", "text,prompt\nx\n", "p.csv:2: expected 2 fields"),
        ("p.csv", "a,b\n1,2\n", "expected a 'prompt' column"),
        ("p.jsonl", '{"messages": [{"role": "system", "content": "s"}]}\n', ":1"),
    ],
)
def test_errors_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    with pytest.raises(DataError, match=where.replace(".", r"\.")):
        read_prompts(_write(tmp_path / name, text))


def test_empty_and_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no prompts"):
        read_prompts(_write(tmp_path / "p.txt", "\n\n"))
    with pytest.raises(DataError, match="cannot read"):
        read_prompts(tmp_path / "nope.jsonl")


def test_streams_are_read_as_jsonl_and_keep_their_records() -> None:
    stream = io.StringIO('{"prompt": "a", "id": 7}\n"b"\n')
    records = list(iter_prompt_records(stream, name="<stdin>"))
    assert [r.prompt for r in records] == ["a", "b"]
    assert records[0].fields == {"prompt": "a", "id": 7}
    assert records[1].fields == {"prompt": "b"}
    assert records[1].where == "<stdin>:2"


def test_messages_become_plain_text_turns() -> None:
    turns = messages_from_record(MESSAGES, "x")
    assert turns[-1] == {"role": "user", "content": "second"}
    with pytest.raises(DataError, match="x: field 'messages'"):
        messages_from_record({"messages": []}, "x")


def test_cli_calibrate_accepts_the_messages_lines_score_accepts(
    tmp_path: Path,
) -> None:
    lines = [
        json.dumps({"messages": [{"role": "user", "content": f"question {i}"}]})
        for i in range(40)
    ]
    path = _write(tmp_path / "traffic.jsonl", "\n".join(lines) + "\n")
    for args in (
        ["calibrate", "-r", "random", "-s", "0.25", "--prompts", str(path)],
        ["score", "-r", "random", str(path)],
    ):
        result = CliRunner().invoke(build_app(), args)
        assert result.exit_code == 0, (args, result.output)
    calibrated = CliRunner().invoke(
        build_app(),
        ["calibrate", "-r", "random", "-s", "0.25", "--prompts", str(path), "--json"],
    )
    assert json.loads(calibrated.stdout)["n_prompts"] == 40


@pytest.mark.parametrize(
    ("name", "text"),
    [("in.txt", "alpha\nbeta\n"), ("in.csv", "prompt\nalpha\nbeta\n")],
)
def test_cli_score_reads_text_and_csv_prompt_files(
    tmp_path: Path, name: str, text: str
) -> None:
    path = _write(tmp_path / name, text)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        build_app(), ["score", "-r", "random", str(path), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["alpha", "beta"]
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
