"""The user-facing docs (README.md, CHANGELOG.md, docs/*.md) stay true to the repo.

Every relative link points at a file that exists (and, for Markdown targets, at a
heading that exists), every ``prefroute <command>`` they name answers ``--help``, the
example serve configs they point at parse, and no work-log remnant (temporary paths,
issue numbers, dated or "session" headings, remarks to the team) is left in them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from prefroute.cli import build_app

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").glob("*.md")),
]

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(
    r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# `prefroute [-v] <sub> [<subsub>]`; a second word counts only when it ends there
# (so `prefroute score in.jsonl` names `score`, not `score in`)
_COMMAND = re.compile(
    r"(?<![\w./-])prefroute(?:[ \t]+(?:-v|--verbose))?[ \t]+([a-z][a-z0-9_-]*)"
    r"(?:[ \t]+([a-z][a-z0-9_-]*)(?=[\s|`\\]|$))?"
)
# fenced blocks whose lines are shell commands (python / json / yaml are not)
_SHELL_LANGS = frozenset({"", "bash", "sh", "shell", "console", "zsh"})
_FORBIDDEN = {
    "temporary or machine path": re.compile(r"(?<![\w.])/(?:tmp|work)/"),
    "issue reference": re.compile(r"\bissues?\s*#?\d+\b|(?<![\w&/#])#\d+\b", re.I),
    "work-session wording": re.compile(
        r"\bsession[ -]?\d+\b|\b(?:this|last|next|previous|first|second|"
        r"third|each|every|earlier|later)\s+session\b",
        re.I,
    ),
    "remark to the team": re.compile(
        r"\bthe lead\b|\bhelpers?\b|\bTODO\b|\bFIXME\b|\bWIP\b|kept for the record",
        re.I,
    ),
    # a Python repr pasted in with a table (numpy scalars print as np.int64(3))
    "stray program output": re.compile(r"\bnp\.(?:u?int|float|bool_)\w*\("),
}
# headings of a work log: a date, a session or round number, "update(d)"
_LOG_HEADING = re.compile(
    r"\b(?:19|20)\d\d-\d\d-\d\d\b|\bsession\b|\bround \d|\bupdated?\b", re.I
)
_DATED_RELEASE = re.compile(r"^\d+\.\d+\.\d+ - \d{4}-\d\d-\d\d$")


@dataclass(frozen=True)
class Line:
    """One line of a Markdown file and where it sits."""

    number: int
    text: str
    fence_lang: str | None  # None: prose; else the language of the enclosing block


def iter_lines(text: str) -> Iterator[Line]:
    """Every line, marked with the language of the fenced block it is in (if any)."""
    fence: str | None = None
    lang = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(raw)
        if fence is None and match:
            fence, lang = match.group(2), match.group(3).lower()
            continue
        closing = fence is not None and raw.strip().startswith(fence)
        if closing and raw.strip().strip(raw.strip()[0]) == "":
            fence = None
            continue
        yield Line(number, raw, lang if fence is not None else None)


def _prose(line: str) -> str:
    """A prose line with inline code spans removed."""
    return _INLINE_CODE.sub(" ", line)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: text only, lower case, punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(text: str) -> list[str]:
    """The headings (outside code blocks), in order."""
    out = []
    for line in iter_lines(text):
        if line.fence_lang is None and (match := _HEADING.match(line.text)):
            out.append(match.group(2))
    return out


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown file's headings (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(text):
        slug = github_slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link and image outside code."""
    out = []
    for line in iter_lines(text):
        if line.fence_lang is None:
            out += [
                (line.number, m.group(1)) for m in _LINK.finditer(_prose(line.text))
            ]
    return out


def commands(text: str) -> set[tuple[str, ...]]:
    """Every distinct ``prefroute <sub> [<subsub>]`` named in code spans and shell
    blocks, as a tuple of its words."""
    chunks: list[str] = []
    for line in iter_lines(text):
        if line.fence_lang is None:
            chunks += [m.group(2) for m in _INLINE_CODE.finditer(line.text)]
        elif line.fence_lang in _SHELL_LANGS:
            chunks.append(line.text)
    found = set()
    for chunk in chunks:
        for match in _COMMAND.finditer(chunk):
            found.add(tuple(word for word in match.groups() if word))
    return found


def broken_links(path: Path) -> list[str]:
    """Problems with the relative links of `path` (missing files or anchors)."""
    problems = []
    for number, target in links(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.name}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
        elif (
            anchor
            and dest.suffix == ".md"
            and anchor not in anchors(dest.read_text(encoding="utf-8"))
        ):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    return problems


def forbidden_text(path: Path) -> list[str]:
    """Work-log remnants in `path`: temporary paths, issue numbers, session talk,
    remarks to the team, dated or session headings."""
    problems = []
    for line in iter_lines(path.read_text(encoding="utf-8")):
        for what, pattern in _FORBIDDEN.items():
            if match := pattern.search(line.text):
                problems.append(
                    f"{path.name}:{line.number}: {what}: {match.group(0)!r}"
                )
        heading = _HEADING.match(line.text) if line.fence_lang is None else None
        title = heading.group(2) if heading else ""
        if title and not _DATED_RELEASE.match(title) and _LOG_HEADING.search(title):
            problems.append(f"{path.name}:{line.number}: work-log heading: {title!r}")
    return problems


@cache
def _app() -> typer.Typer:
    return build_app()


def help_exit_code(words: tuple[str, ...]) -> int:
    """Exit code of ``prefroute <words> --help`` (in process)."""
    return CliRunner().invoke(_app(), [*words, "--help"]).exit_code


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _all_commands() -> list[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for path in DOC_FILES:
        found |= commands(path.read_text(encoding="utf-8"))
    return sorted(found)


# -- the extractors, on made-up docs --

_FAKE_DOC = """# Title

Run `prefroute nosuchcmd --flag` or `prefroute score in.jsonl -o out.jsonl`.

```bash
prefroute -v data list
prefroute train default --recipe r.yaml   # a router name, not a subcommand
```

```python
import prefroute
from prefroute import Controller   # prefroute here is a package, not a command
```

| command | |
|---|---|
| `prefroute eval -b mt-bench\\|mmlu` | |

See [the guide](guide.md#first-steps), ![plot](img/p.png) and [web](https://example.com).

## First steps
"""


def test_commands_are_found_in_code_spans_and_shell_blocks_only() -> None:
    assert commands(_FAKE_DOC) == {
        ("nosuchcmd",),
        ("score",),
        ("data", "list"),
        ("train", "default"),
        ("eval",),
    }


def test_an_unknown_command_fails_its_help_check() -> None:
    assert help_exit_code(("nosuchcmd",)) != 0
    assert help_exit_code(("data", "nosuchsub")) != 0
    assert help_exit_code(("data", "list")) == 0


def test_links_and_anchors_are_extracted_outside_code() -> None:
    assert [t for _, t in links(_FAKE_DOC)] == [
        "guide.md#first-steps",
        "img/p.png",
        "https://example.com",
    ]
    assert anchors(_FAKE_DOC) == {"title", "first-steps"}


def test_github_slugs_drop_punctuation_and_code_marks() -> None:
    assert github_slug("Calibrating: `prefroute calibrate`") == (
        "calibrating-prefroute-calibrate"
    )
    assert github_slug("Table 2 and ablation") == "table-2-and-ablation"
    assert github_slug("Endpoints (`strong`, `weak`)") == "endpoints-strong-weak"


def test_broken_links_are_reported(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\n## Other\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](guide.md#other) [gone](missing.md) [bad](guide.md#first-steps) "
        "[self](#here)\n\n# Here\n",
        encoding="utf-8",
    )
    problems = broken_links(doc)
    assert len(problems) == 2
    assert "missing.md: no such file" in problems[0]
    assert "#first-steps" in problems[1]


def test_work_log_remnants_are_reported(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Results\n\n## Session 3 (2026-11-30)\n\nSee /tmp/out.json (issue 12, #12);\n"
        "the lead will re-run it.\n\n## 0.1.0 - 2026-11-30\n\n{'a': np.int64(0)}\n",
        encoding="utf-8",
    )
    problems = forbidden_text(doc)
    kinds = " ".join(problems)
    assert "work-log heading" in kinds
    assert "temporary or machine path" in kinds
    assert kinds.count("issue reference") == 1  # both on one line: first match
    assert "remark to the team" in kinds
    assert "stray program output" in kinds
    assert not any(":9:" in p for p in problems)  # a release heading with its date


# -- the real docs --


def test_the_doc_set_is_complete() -> None:
    names = {p.name for p in DOC_FILES}
    for name in (
        "README.md",
        "CHANGELOG.md",
        "getting-started.md",
        "routers.md",
        "serving.md",
        "multi-model.md",
        "training.md",
        "operations.md",
        "results.md",
    ):
        assert name in names


@pytest.mark.parametrize("path", DOC_FILES, ids=_doc_id)
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOC_FILES, ids=_doc_id)
def test_no_work_log_remnants(path: Path) -> None:
    assert forbidden_text(path) == []


@pytest.mark.parametrize("words", _all_commands(), ids=" ".join)
def test_named_command_exists(words: tuple[str, ...]) -> None:
    assert help_exit_code(words) == 0, f"`prefroute {' '.join(words)} --help` failed"


def test_the_docs_name_the_main_commands() -> None:
    named = {words[0] for words in _all_commands()}
    assert {"serve", "eval", "train", "calibrate", "data"} <= named


def test_readme_starts_with_the_contract_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:6]
    assert head[0] == "# prefroute"
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples").glob("serve-*.yaml")), ids=lambda p: p.name
)
def test_example_serve_configs_parse(path: Path) -> None:
    from prefroute.serve.config import load_serve_config

    config = load_serve_config(path)
    assert config.routers
