"""`SSEChecker`: whole events out, garbage refused."""

from __future__ import annotations

import json

import pytest

from prefroute.gateway.sse import SSEChecker, StreamFormatError


def _event(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def test_events_split_across_chunks_come_out_whole() -> None:
    stream = _event({"a": 1}) + _event({"b": 2}) + b"data: [DONE]\n\n"
    checker = SSEChecker()
    out = b"".join(checker.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    assert out == stream
    assert checker.is_done
    assert checker.close() == b""


def test_crlf_line_endings_are_relayed_as_lf() -> None:
    checker = SSEChecker()
    out = checker.feed(b'data: {"a": 1}\r') + checker.feed(b"\n\r\n: ping\r\n\r\n")
    assert out == b'data: {"a": 1}\n\n: ping\n\n'


def test_comments_and_sse_fields_are_accepted() -> None:
    checker = SSEChecker()
    event = b': keep-alive\nevent: message\nid: 7\nretry: 100\ndata: {"x": 1}\n\n'
    assert checker.feed(event) == event


def test_data_split_over_lines_is_one_json_object() -> None:
    assert SSEChecker().feed(b'data: {"x":\ndata: 1}\n\n')


@pytest.mark.parametrize(
    "event",
    [
        b"data: {this is not json\n\n",
        b"<html>bad gateway</html>\n\n",
        b"data: [1, 2]\n\n",
        b'data: {"x": NaN}\n\n',
    ],
)
def test_garbage_events_raise(event: bytes) -> None:
    checker = SSEChecker()
    assert checker.feed(_event({"ok": True})) == _event({"ok": True})
    with pytest.raises(StreamFormatError):
        checker.feed(event)


def test_an_event_without_its_blank_line_is_checked_at_the_end() -> None:
    checker = SSEChecker()
    assert checker.feed(b'data: {"x": 1}') == b""
    assert checker.close() == b'data: {"x": 1}\n\n'
    checker = SSEChecker()
    checker.feed(b"data: {trunc")
    with pytest.raises(StreamFormatError):
        checker.close()


def test_an_upstream_error_event_is_noticed() -> None:
    checker = SSEChecker()
    checker.feed(_event({"error": {"message": "boom"}}))
    assert checker.has_error
