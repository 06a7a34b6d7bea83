"""uvicorn's httptools protocol with read timeouts for request heads and bodies.

uvicorn bounds idle keep-alive connections only: a client that opens a connection and
sends nothing, sends its headers a byte at a time, or announces a body it never sends,
holds the connection (and, for the body, a request in flight) for as long as it likes.
This protocol closes such connections: the head of a request (request line and
headers) must arrive within `header_timeout` seconds of the connection opening or the
request starting, and its body within `body_timeout` seconds after the head. A
connection that sent part of a request gets ``408 Request Timeout`` before it is
closed; one that sent nothing is closed silently.

When a client's connection closes before its response is complete, the protocol calls
the request's ``scope[ON_DISCONNECT]`` (set by the app), so the request and its
upstream call are cancelled at once rather than run to the end for nobody.
"""

from __future__ import annotations

import asyncio
import json
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
    """`HttpToolsProtocol` plus one read timer per request (head, then body)."""

    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._has_bytes = False

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            on_disconnect: Any = cycle.scope.get(ON_DISCONNECT)
            if on_disconnect is not None:
                on_disconnect()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._has_bytes = True
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:  # a new request on a kept-alive connection
            self._arm(self.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        self._has_bytes = False
        super().on_message_complete()

    def _head_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self._has_bytes:
            self.transport.write(
                _timeout_response(
                    "the request line and headers did not arrive within "
                    f"{self.header_timeout:g} s"
                )
            )
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._read_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or not cycle.more_body:
            return
        cycle.scope[BODY_TIMED_OUT] = True  # type: ignore[literal-required]
        if not cycle.response_started:
            self.transport.write(
                _timeout_response(
                    f"the request body did not arrive within {self.body_timeout:g} s"
                )
            )
        self.transport.close()


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
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
