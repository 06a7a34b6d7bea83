"""uvicorn's httptools protocol with read timeouts for request heads and bodies.

uvicorn bounds idle keep-alive connections only: a client that opens a connection and
sends nothing, sends its headers a byte at a time, or announces a body it never sends,
holds the connection (and, for the body, a request in flight) for as long as it likes.
This protocol closes such connections: the head of a request (request line and
headers) must arrive within `header_timeout` seconds of the connection opening or the
request starting, and its body within `body_timeout` seconds after the head (checked
by one sweep per server, a few times per timeout, not a timer per request). A
connection that sent part of a request gets ``408 Request Timeout`` before it is
closed; one that sent nothing is closed silently.

When a client's connection closes before its response is complete, the protocol calls
the request's ``scope[ON_DISCONNECT]`` (set by the app), so the request and its
upstream call are cancelled at once rather than run to the end for nobody.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from prefroute.serve.limits import BODY_TIMED_OUT, ON_DISCONNECT

__all__ = ["timed_protocol"]


def _timeout_response(message: str) -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "request_timeout",
            }
        }
    ).encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class _TimedProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` plus a read deadline per request (head, then body).

    No timer per request: each connection notes when its current read must end, and
    one sweep per server (every `tick` seconds while connections are open) closes
    those past it.
    """

    header_timeout = 10.0
    body_timeout = 30.0
    tick = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_until = math.inf
        self._in_body = False
        self._has_bytes = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_until = self.loop.time() + self.header_timeout
        if getattr(self.server_state, _SWEEP, None) is None:
            self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        handle = self.loop.call_later(self.tick, _sweep, self.server_state, self.loop)
        setattr(self.server_state, _SWEEP, handle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._read_until = math.inf
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            on_disconnect: Any = cycle.scope.get(ON_DISCONNECT)
            if on_disconnect is not None:
                on_disconnect()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._has_bytes = True
        if self._read_until == math.inf:  # a new request on a kept-alive connection
            self._read_until = self.loop.time() + self.header_timeout

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._read_until = self.loop.time() + self.body_timeout
            self._in_body = True
        else:
            self._read_until = math.inf

    def on_message_complete(self) -> None:
        self._read_until = math.inf
        self._in_body = self._has_bytes = False
        super().on_message_complete()

    def _timed_out(self) -> None:
        """The current read ran past its deadline: answer 408 (if anything came)
        and close."""
        self._read_until = math.inf
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._in_body and cycle is not None:
            cycle.scope[BODY_TIMED_OUT] = True  # type: ignore[literal-required]
            if not cycle.response_started:
                self.transport.write(
                    _timeout_response(
                        "the request body did not arrive within "
                        f"{self.body_timeout:g} s"
                    )
                )
        elif self._has_bytes:
            self.transport.write(
                _timeout_response(
                    "the request line and headers did not arrive within "
                    f"{self.header_timeout:g} s"
                )
            )
        self.transport.close()


_SWEEP = "_prefroute_read_sweep"


def _sweep(server_state: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Close the server's connections past their read deadline; again in a tick
    while any connection is open."""
    setattr(server_state, _SWEEP, None)
    now = loop.time()
    tick = None
    for connection in list(server_state.connections):
        if isinstance(connection, _TimedProtocol):
            tick = connection.tick
            if now >= connection._read_until:
                connection._timed_out()
    if tick is not None and server_state.connections:
        setattr(server_state, _SWEEP, loop.call_later(tick, _sweep, server_state, loop))


def timed_protocol(header_timeout: float, body_timeout: float) -> type[Any]:
    """An `HttpToolsProtocol` class with these read timeouts (for uvicorn's `http=`).

    Args:
        header_timeout: Seconds for a request's line and headers.
        body_timeout: Seconds for its body, after the headers.

    Returns:
        The protocol class.
    """
    return type(
        "TimedHttpToolsProtocol",
        (_TimedProtocol,),
        {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            # read deadlines are enforced within a quarter of the shorter timeout
            "tick": min(1.0, header_timeout / 4, body_timeout / 4),
        },
    )
