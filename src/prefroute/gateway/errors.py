"""What a gateway request can fail with, beyond `prefroute.errors`.

A front-end maps these to its own protocol (the server: HTTP status and the OpenAI
error envelope; the `Controller`: the exception itself). A failure in the middle of
an SSE stream cannot change the status any more, so it is sent as a last
``data: {"error": ...}`` event (`sse_error_event`).
"""

from __future__ import annotations

import json
from typing import Any

from prefroute.errors import ConfigError, UpstreamError

__all__ = [
    "InvalidRequestError",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
    "error_kind",
    "sse_error_event",
]


class InvalidRequestError(ConfigError):
    """The request is malformed; `param` names the offending field (HTTP 400)."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None
    ):
        """Store the message, the offending parameter and a machine-readable code.

        Args:
            message: What was expected and what came.
            param: Request field at fault (e.g. "messages").
            code: Short error code (e.g. "invalid_threshold").
        """
        super().__init__(message)
        self.param = param
        self.code = code


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not answer within its timeout (HTTP 504)."""


class UpstreamStatusError(UpstreamError):
    """The upstream rejected the request with a 4xx status; passed to the caller as is.

    Attributes:
        status_code: The upstream's HTTP status.
        body: The upstream's parsed JSON body, or None.
    """

    def __init__(self, message: str, status_code: int, body: Any = None) -> None:
        """Keep the status and body.

        Args:
            message: Description.
            status_code: Upstream HTTP status (4xx).
            body: Parsed JSON body, if any.
        """
        super().__init__(message)
        self.status_code = status_code
        self.body = body


def error_kind(exc: UpstreamError) -> str:
    """The metrics label of an upstream failure: "timeout", "status_4xx", "upstream".

    Args:
        exc: The failure.

    Returns:
        Its kind.
    """
    if isinstance(exc, UpstreamTimeoutError):
        return "timeout"
    if isinstance(exc, UpstreamStatusError):
        return "status_4xx"
    return "upstream"


def sse_error_event(message: str, kind: str) -> bytes:
    """An SSE event carrying an OpenAI error envelope (ends a failed stream).

    Args:
        message: Human-readable message.
        kind: Error type (e.g. "upstream_timeout").

    Returns:
        ``data: {"error": {...}}`` and the blank line that ends the event.
    """
    payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"
