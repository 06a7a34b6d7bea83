"""A lean HTTP/1.1 client for the server's upstream calls (the hot path).

`httpx` costs about 1-2 ms of CPU per proxied request at 64 concurrent requests
(connection-pool bookkeeping, request/response models, anyio streams); this client
costs a few tens of microseconds: one asyncio protocol per keep-alive connection, the
response parsed by `httptools` (the C parser uvicorn uses), an idle-connection stack
per endpoint, no per-request objects beyond the response. It speaks plain HTTP/1.1
over TCP or TLS and raises `httpx` exception types, so callers handle both clients
alike. Endpoints behind an HTTP proxy (``HTTP(S)_PROXY`` / ``ALL_PROXY`` applying to
the host) or configured with ``http_client: httpx`` use `httpx` instead.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import zlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx

__all__ = ["LeanClient", "LeanResponse", "proxy_applies"]


def proxy_applies(base_url: str) -> bool:
    """True when the environment names an HTTP proxy for `base_url`'s host."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(base_url)
    proxies = getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not proxy_bypass(parts.hostname or "")


def _ssl_context() -> ssl.SSLContext:
    """Verifying TLS context: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set (as httpx
    honours them), else certifi's bundle (what httpx verifies against)."""
    import os

    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        try:
            import certifi
        except ImportError:  # pragma: no cover - certifi comes with httpx
            return ssl.create_default_context()
        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)


class LeanResponse:
    """One upstream response: status and headers first, body as it arrives.

    Mirrors the part of `httpx.Response` the routing core uses: `status_code`,
    `headers` (lower-case names), `aread`, `json`, `text`, `aiter_bytes`, `aclose`.
    """

    __slots__ = (
        "_chunks",
        "_client",
        "_complete",
        "_consumed",
        "_deadline",
        "_error",
        "_head",
        "_keep_alive",
        "_proto",
        "_timeout",
        "_timer",
        "_until_eof",
        "_wake",
        "content",
        "headers",
        "status_code",
    )

    def __init__(self, client: LeanClient, proto: _Protocol, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._client = client
        self._proto = proto
        self._timeout = timeout
        self._deadline = loop.time() + timeout
        self._timer: asyncio.TimerHandle | None = loop.call_at(
            self._deadline, self._on_timer
        )
        self._head: asyncio.Future[None] = loop.create_future()
        self._wake: asyncio.Future[None] | None = None
        self._chunks: list[bytes] = []
        self._complete = False
        self._consumed = False
        self._keep_alive = False
        self._until_eof = False
        self._error: BaseException | None = None
        self.status_code = 0
        self.headers: dict[str, str] = {}
        self.content = b""

    # -- events from the protocol --

    def _activity(self) -> None:
        self._deadline = self._proto.loop.time() + self._timeout

    def _on_timer(self) -> None:
        self._timer = None
        if self._complete or self._error is not None:
            return
        now = self._proto.loop.time()
        if now < self._deadline:
            self._timer = self._proto.loop.call_at(self._deadline, self._on_timer)
            return
        self._fail(
            httpx.ReadTimeout(f"no data from the upstream for {self._timeout:g} s")
        )
        self._proto.close()

    def _headers_done(self, status: int, keep_alive: bool) -> None:
        self.status_code = status
        self._keep_alive = keep_alive
        self._until_eof = (
            "content-length" not in self.headers
            and "chunked" not in self.headers.get("transfer-encoding", "").lower()
            and status not in (204, 304)
        )
        if not self._head.done():
            self._head.set_result(None)

    def _body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._notify()

    def _done(self) -> None:
        self._complete = True
        self._stop_timer()
        self._notify()
        self._proto.response = None
        if self._keep_alive:
            self._client._release(self._proto)
        else:
            self._proto.close()

    def _fail(self, exc: BaseException) -> None:
        if self._complete or self._error is not None:
            return
        self._error = exc
        self._stop_timer()
        if not self._head.done():
            self._head.set_exception(exc)
            self._head.exception()  # retrieved: no "never retrieved" warning
        self._notify()

    def _eof(self) -> None:
        if self._head.done() and self._until_eof and self._error is None:
            self._keep_alive = False
            self._done()
        else:
            self._fail(
                httpx.RemoteProtocolError(
                    "the upstream closed the connection before the response ended"
                )
            )

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the caller's side --

    async def _wait_head(self) -> None:
        await self._head

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (chunked transfer coding removed)."""
        while True:
            if self._chunks:
                chunks, self._chunks = self._chunks, []
                for chunk in chunks:
                    yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self._complete:
                return
            self._wake = self._proto.loop.create_future()
            await self._wake
            self._wake = None

    async def aread(self) -> bytes:
        """The whole body (decompressed if the upstream sent gzip/deflate)."""
        if self._consumed:
            return self.content
        parts = [chunk async for chunk in self.aiter_bytes()]
        body = b"".join(parts)
        encoding = self.headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "deflate"):
            try:
                body = zlib.decompress(body, 47 if encoding == "gzip" else 15)
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad {encoding} body: {exc}") from exc
        self.content = body
        self._consumed = True
        return body

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not, nesting too deep
        for the parser included)."""
        try:
            return json.loads(self.content)
        except RecursionError as exc:
            raise ValueError("JSON body is nested too deeply to parse") from exc

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", errors="replace")

    async def aclose(self) -> None:
        """Drop the connection unless the response was read to its end."""
        self._stop_timer()
        if not self._complete:
            self._error = self._error or httpx.ReadError("response closed")
            self._proto.response = None
            self._proto.close()


class _Protocol(asyncio.Protocol):
    """One keep-alive connection; feeds bytes to the current response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: LeanResponse | None = None
        self.closed = False
        self._header_name = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's own class

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        response._activity()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            response._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None:
            self.response = None
            response._eof()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.response.headers.get(key)
        self.response.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        assert self.response is not None
        self.response._headers_done(
            self.parser.get_status_code(), self.parser.should_keep_alive()
        )

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response._body(body)

    def on_message_complete(self) -> None:
        if self.response is not None:
            self.response._done()


class LeanClient:
    """Keep-alive HTTP/1.1 connections to one base URL.

    Args:
        base_url: E.g. "https://api.openai.com/v1" (http or https).
        headers: Sent with every request (e.g. authorization).
        timeout: Seconds for connecting, and between received bytes.
        max_idle: Idle connections kept for reuse.
    """

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        max_idle: int = 256,
    ) -> None:
        """Parse the URL; nothing is connected yet."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) base URL, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_idle = max_idle
        self._ssl = _ssl_context() if parts.scheme == "https" else None
        default = {
            "host": parts.netloc,
            "user-agent": "prefroute",
            "accept": "*/*",
            "accept-encoding": "identity",
            "content-type": "application/json",
        }
        merged = {**default, **{k.lower(): v for k, v in headers.items()}}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in merged.items())
        self._idle: list[_Protocol] = []

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Protocol(loop),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                ),
                self.timeout,
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connecting to {self.host}:{self.port} took over {self.timeout:g} s"
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(
                f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from exc
        return proto

    def _release(self, proto: _Protocol) -> None:
        if proto.closed or len(self._idle) >= self.max_idle:
            proto.close()
        else:
            self._idle.append(proto)

    async def post(self, path: str, payload: bytes, *, stream: bool) -> LeanResponse:
        """POST `payload` (JSON bytes) to base path + `path`.

        Returns once the status and headers arrived; without `stream` the body has
        been read too (`content`).

        Raises:
            httpx.ConnectError / ConnectTimeout: Cannot connect.
            httpx.ReadTimeout: No bytes for `timeout` seconds.
            httpx.RemoteProtocolError: Connection closed early or garbage.
        """
        proto = None
        while self._idle:
            candidate = self._idle.pop()
            if not candidate.closed:
                proto = candidate
                break
        if proto is None:
            proto = await self._connect()
        assert proto.transport is not None
        response = LeanResponse(self, proto, self.timeout)
        proto.response = response
        proto.transport.write(
            f"POST {self.prefix}{path} HTTP/1.1\r\n{self._head}"
            f"content-length: {len(payload)}\r\n\r\n".encode("latin-1")
            + payload
        )
        try:
            await response._wait_head()
            if not stream:
                await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    async def aclose(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for proto in idle:
            proto.close()
