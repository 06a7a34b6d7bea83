"""Lone surrogates: legal in JSON ("\\ud800"), absent from UTF-8."""

from __future__ import annotations

import json

from prefroute._unicode import json_line, utf8_safe


def test_utf8_safe_replaces_only_lone_surrogates() -> None:
    assert utf8_safe("a\ud800b") == "a?b"
    assert utf8_safe("\udfff") == "?"
    for text in ("", "plain", "caf\u00e9 \u4e2d\u6587 \U0001f600"):
        assert utf8_safe(text) is text  # untouched, not even copied


def test_json_line_writes_unicode_as_is_and_escapes_lone_surrogates() -> None:
    assert json_line({"p": "caf\u00e9"}) == '{"p": "caf\u00e9"}'
    line = json_line({"p": "a\ud800b", "q": "caf\u00e9"})
    line.encode("utf-8")  # writable to a UTF-8 file
    assert json.loads(line) == {"p": "a\ud800b", "q": "caf\u00e9"}
