"""Checking an upstream's server-sent events before they are relayed.

A stream is relayed event by event: bytes are held until the blank line that ends an
event, and each event is checked first. An event may hold comments (``:`` lines) and
the fields ``data``, ``event``, ``id`` and ``retry``; its data (``data:`` lines,
joined) must be ``[DONE]`` or a JSON object. Anything else (an HTML error page, a
truncated or corrupted JSON chunk, NaN) raises `StreamFormatError`, which the relay
turns into a final OpenAI error event; garbage never reaches the client as if it were
part of a good answer. Line endings are relayed as ``\\n``.
"""

from __future__ import annotations

import json

from prefroute.errors import UpstreamError

__all__ = ["SSEChecker", "StreamFormatError"]

_FIELDS = frozenset({b"event", b"id", b"retry"})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class StreamFormatError(UpstreamError):
    """An upstream stream is not server-sent events carrying JSON."""


class SSEChecker:
    """Splits a byte stream into whole events and checks each one.

    Attributes:
        is_done: The ``data: [DONE]`` event went by.
        has_error: An event carried an ``{"error": ...}`` object (the upstream's own
            error report).
    """

    __slots__ = ("_buf", "has_error", "is_done")

    def __init__(self) -> None:
        """Nothing buffered."""
        self._buf = b""
        self.is_done = False
        self.has_error = False

    def feed(self, chunk: bytes) -> bytes:
        """Add upstream bytes; return the whole events they complete (checked).

        Args:
            chunk: Bytes as received.

        Returns:
            Complete events, each ending in a blank line (b"" if none completed).

        Raises:
            StreamFormatError: A completed event is not valid.
        """
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            if buf.endswith(b"\r"):  # maybe half of a CRLF: wait for the rest
                self._buf = buf
                return b""
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return b""
        complete, self._buf = buf[: end + 2], buf[end + 2 :]
        for event in complete.split(b"\n\n"):
            if event.strip(b"\n"):
                self._check(event)
        return complete

    def close(self) -> bytes:
        """The last event if the stream ended without its blank line (checked).

        Raises:
            StreamFormatError: The leftover bytes are not a valid event.
        """
        rest, self._buf = self._buf.strip(b"\r\n"), b""
        if not rest:
            return b""
        self._check(rest.replace(b"\r\n", b"\n"))
        return rest + b"\n\n"

    def _check(self, event: bytes) -> None:
        data: list[bytes] = []
        for line in event.split(b"\n"):
            if not line or line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name not in _FIELDS:
                raise StreamFormatError(f"a line is not an SSE field: {line[:60]!r}")
        if not data:
            return
        payload = b"\n".join(data)
        if payload == b"[DONE]":
            self.is_done = True
            return
        try:
            parsed = json.loads(payload, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise StreamFormatError(
                f"an event's data is not JSON: {payload[:60]!r}"
            ) from exc
        if not isinstance(parsed, dict):
            raise StreamFormatError(
                f"an event's data is JSON but not an object: {payload[:60]!r}"
            )
        if "error" in parsed:
            self.has_error = True
