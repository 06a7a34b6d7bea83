"""A fake OpenAI-compatible upstream: a real asyncio HTTP/1.1 server on 127.0.0.1.

Behaviour is chosen per upstream model id (the id the router sends), via
`FakeUpstream.behaviour[model]`:
    "ok"        200 chat completion echoing the last user message (default)
    "slow"      wait `slow_seconds`, then answer as "ok"
    "500"       HTTP 500 with an error envelope
    "400"       HTTP 400 with an error envelope (a client error, passed through)
    "garbage"   HTTP 200 whose body is not JSON
    "nochoices" HTTP 200 JSON without "choices"
    "nan"       HTTP 200 JSON-like body with a NaN (valid for Python, not JSON)
    "deep"      HTTP 200 JSON nested deeper than Python's parser can recurse
    "drop"      close the connection without answering
    "midstream" (streaming) two chunks, then the connection dies
    "cut"       half the answer (non-streaming: half the body; streaming: two
                chunks), then the connection dies
    "429"/"503" that status with ``Retry-After: <retry_after>`` and an envelope
    "hang"      wait `hang_seconds` (noticing a client that leaves), then answer
    "trickle"   the answer one byte every `trickle_seconds` (streaming: one SSE
                event every `trickle_seconds`, forever until the client leaves)
    "garbage_stream" (streaming) one good chunk, then a line that is not SSE JSON
Streaming requests (``"stream": true``) get SSE over chunked transfer encoding:
one role chunk, one chunk per word, a finish chunk, then ``data: [DONE]``.

`script[model]` is a list of behaviours used (and removed) one per request before
`behaviour` applies. Fault mode (`faults`: behaviour -> probability) draws a fault for
each "ok" request from a seeded generator, like a flaky provider.

Every request body may carry a ``fake_request_id``: `received[id]` counts the POSTs
that carried it, `generations[id]` those the fake began answering (anything but an
immediate 429/500/503/400), so a request generated twice on one upstream shows as
``generations[id] > 1``. `n_cancelled` counts answers the client abandoned (closed
the connection) before they were complete; ``GET /stats`` returns these counts as
JSON (for a fake running in another process). With a `journal` file each event is
also appended there at once (``R id`` received, ``G id`` generated, ``C id``
cancelled), so the counts survive a ``kill -9`` of the fake.

`latency_seconds` (or a request's ``fake_latency_ms`` field) makes every answer
wait (``asyncio.sleep``, so thousands of requests can wait at once, like a real LLM
that takes 0.5-2 s). With `latency_jitter` = j the wait is ``base * (1 + j * u)``,
u in [-1, 1] a hash of the last message, so the same request always waits the same
time (a direct and a routed run of the same prompts see the same latencies).

One event loop serves every connection (keep-alive, no thread per request), so the
fake is cheap enough for benchmarks/serve_overhead.py to measure the server, not the
fake. Tests run it in a daemon thread (`start()`); the benchmark runs it in its own
process (`serve_forever()`, uvloop when installed).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from prefroute.routers.base import Router

__all__ = ["FakeUpstream", "KeywordRouter", "RunningServer", "closed_port"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Error",
    503: "Service Unavailable",
}
# behaviours answered at once with an error status: nothing is generated
_REFUSALS = frozenset({"400", "429", "500", "503"})


def closed_port() -> int:
    """A localhost port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "system_fingerprint": "fake-upstream",
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _error(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _response(
    status: int, body: bytes, content_type: str = "application/json", extra: str = ""
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        f"{extra}\r\n"
    )
    return head.encode() + body


def _json(status: int, payload: Any, extra: str = "") -> bytes:
    return _response(status, json.dumps(payload).encode(), extra=extra)


def _sse_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return b"".join(parts)
        parts.append(data[:-2])


class FakeUpstream:
    """Start with `start()`, stop with `stop()`; `base_url` ends in /v1.

    Args:
        latency_seconds: How long an "ok" answer takes (asynchronous wait).
        latency_jitter: Relative spread of that wait, in [0, 1).
        record: Keep every request body in `requests` (turn off for long runs).
        ssl_context: Server-side TLS context (serve HTTPS).
        faults: Fault mode: behaviour -> probability per "ok" request.
        seed: Seed of the fault draws.
        word_seconds: Pause between streamed words (a model generating); a request's
            ``fake_word_ms`` field sets its own.
        journal: File to append request events to (see the module docstring).
    """

    def __init__(
        self,
        *,
        latency_seconds: float = 0.0,
        latency_jitter: float = 0.0,
        record: bool = True,
        ssl_context: Any = None,
        faults: dict[str, float] | None = None,
        seed: int = 0,
        word_seconds: float = 0.0,
        journal: str | None = None,
    ) -> None:
        """Create (not started); with `ssl_context` it serves HTTPS."""
        self.behaviour: dict[str, str] = {}
        self.script: dict[str, list[str]] = {}
        self.faults: dict[str, float] = dict(faults or {})
        self._rng = random.Random(seed)
        self.word_seconds = word_seconds
        self.slow_seconds = 2.0
        self.hang_seconds = 30.0
        self.trickle_seconds = 0.2
        self.retry_after = "0"
        self.paths: list[str] = []
        self.hosts: list[str | None] = []
        self.received: Counter[str] = Counter()
        self.generations: Counter[str] = Counter()
        self.n_cancelled = 0
        self.n_active = 0
        self.journal = journal
        self._journal_fd: int | None = None
        self.latency_seconds = latency_seconds
        self.latency_jitter = latency_jitter
        self.record = record
        self.ssl_context = ssl_context
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.n_requests = 0
        self.n_connections = 0
        self.lock = threading.Lock()
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        """Base URL of the API, e.g. http://127.0.0.1:PORT/v1."""
        assert self._port is not None
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}/v1"

    def latency_for(self, body: dict[str, Any]) -> float:
        """The wait of an "ok" answer to `body` (deterministic per last message).

        A request may set its own base latency with a ``fake_latency_ms`` field
        (the benchmark does; the routing server passes unknown fields through).
        """
        base = self.latency_seconds
        requested = body.get("fake_latency_ms")
        if isinstance(requested, int | float) and requested >= 0:
            base = float(requested) / 1000.0
        if base <= 0:
            return 0.0
        messages = body.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else None
        text = str(last.get("content", "")) if isinstance(last, dict) else ""
        u = zlib.crc32(text.encode()) / 2**31 - 1.0
        return base * (1.0 + self.latency_jitter * u)

    # -- serving --

    async def _listen(self, port: int) -> asyncio.AbstractServer:
        server = await asyncio.start_server(
            self._handle, "127.0.0.1", port, backlog=2048, ssl=self.ssl_context
        )
        self._port = server.sockets[0].getsockname()[1]
        return server

    def start(self, port: int = 0) -> FakeUpstream:
        """Bind `port` (0: a free one) and serve from a daemon thread's event loop."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                server = loop.run_until_complete(self._listen(port))
            except BaseException as exc:  # surface bind errors to the caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                for writer in list(self._writers):
                    writer.transport.abort()
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True)
                )
                loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def serve_forever(self, port: int) -> None:
        """Serve on `port` in this thread until interrupted (uvloop when present)."""

        async def main() -> None:
            server = await self._listen(port)
            async with server:
                await server.serve_forever()

        try:
            import uvloop
        except ImportError:
            asyncio.run(main())
        else:
            uvloop.run(main())

    def stop(self) -> None:
        """Shut the server down (open connections are dropped)."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop = None
        self._thread = None

    def reset(self) -> None:
        """Forget behaviours, scripts, faults and recorded requests."""
        with self.lock:
            self.behaviour.clear()
            self.script.clear()
            self.faults.clear()
            self.requests.clear()
            self.auth_headers.clear()
            self.paths.clear()
            self.hosts.clear()
            self.received.clear()
            self.generations.clear()
            self.n_cancelled = 0

    def stats(self) -> dict[str, Any]:
        """Counts for a soak: requests, generations, duplicates, cancellations."""
        with self.lock:
            return {
                "n_requests": self.n_requests,
                "n_generations": sum(self.generations.values()),
                "n_cancelled": self.n_cancelled,
                "n_active": self.n_active,
                "duplicates": {k: n for k, n in self.generations.items() if n > 1},
                "generated": sorted(self.generations),
            }

    def _note(self, event: str, request_id: Any) -> None:
        if self.journal is None or not isinstance(request_id, str):
            return
        if self._journal_fd is None:
            self._journal_fd = os.open(
                self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
        os.write(self._journal_fd, f"{event} {request_id}\n".encode())

    def _pick(self, model: str) -> str:
        """This request's behaviour: the model's script, its behaviour, a fault."""
        with self.lock:
            queue = self.script.get(model)
            if queue:
                return queue.pop(0)
            behaviour = self.behaviour.get(model, "ok")
            if behaviour == "ok" and self.faults:
                draw = self._rng.random()
                for fault, probability in self.faults.items():
                    if draw < probability:
                        return fault
                    draw -= probability
            return behaviour

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        self.n_connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    key, sep, value = line.partition(":")
                    if sep:
                        headers[key.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    raw = await _read_chunked(reader)
                else:
                    length = int(headers.get("content-length", "0") or 0)
                    raw = await reader.readexactly(length) if length else b""
                keep = await self._respond(method, path, headers, raw, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass  # the client went away or sent garbage
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _respond(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; False closes the connection."""
        if method == "GET":
            if path.rstrip("/").endswith("/models"):
                writer.write(_json(200, {"object": "list", "data": []}))
            elif path.rstrip("/").endswith("/stats"):
                writer.write(_json(200, self.stats()))
            else:
                writer.write(_json(404, _error("not found", "x")))
            await writer.drain()
            return True
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        model = str(body.get("model"))
        request_id = body.get("fake_request_id")
        self.n_requests += 1
        with self.lock:
            if self.record:
                self.requests.append(body)
                self.auth_headers.append(headers.get("authorization"))
                self.paths.append(path)
                self.hosts.append(headers.get("host"))
            if isinstance(request_id, str):
                self.received[request_id] += 1
        self._note("R", request_id)
        if not path.split("?", 1)[0].endswith("/chat/completions"):
            writer.write(_json(404, _error(f"no {path}", "x")))
            await writer.drain()
            return True
        behaviour = self._pick(model)
        if behaviour in _REFUSALS:
            writer.write(self._refusal(behaviour))
            await writer.drain()
            return True
        if isinstance(request_id, str):
            with self.lock:
                self.generations[request_id] += 1
        self._note("G", request_id)
        self.n_active += 1
        try:
            return await self._generate(behaviour, body, model, reader, writer)
        except (ConnectionError, RuntimeError) as exc:
            # uvloop raises RuntimeError for a write to a transport already closed
            if isinstance(exc, RuntimeError) and not writer.transport.is_closing():
                raise
            with self.lock:
                self.n_cancelled += 1
            self._note("C", request_id)
            return False
        finally:
            self.n_active -= 1

    def _refusal(self, behaviour: str) -> bytes:
        if behaviour == "400":
            return _json(
                400, _error("bad temperature", "invalid_request_error", "temperature")
            )
        if behaviour == "500":
            return _json(500, _error("upstream exploded", "server_error"))
        extra = f"retry-after: {self.retry_after}\r\n"
        if behaviour == "429":
            return _json(429, _error("slow down", "rate_limit_error"), extra)
        return _json(503, _error("overloaded", "server_error"), extra)

    async def _pause(self, reader: asyncio.StreamReader, seconds: float) -> None:
        """Wait `seconds`; raise ConnectionError as soon as the client leaves."""
        try:
            data = await asyncio.wait_for(reader.read(1), seconds)
        except TimeoutError:
            return
        if not data:
            raise ConnectionResetError("the client closed the connection")

    async def _generate(
        self,
        behaviour: str,
        body: dict[str, Any],
        model: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if behaviour == "slow":
            await self._pause(reader, self.slow_seconds)
        elif behaviour == "hang":
            await self._pause(reader, self.hang_seconds)
        else:
            wait = self.latency_for(body)
            if wait > 0:
                await asyncio.sleep(wait)
        if behaviour == "drop":
            writer.transport.abort()
            return False
        out: bytes | None = None
        if behaviour == "garbage":
            out = _response(200, b"<html>definitely not json")
        elif behaviour == "nochoices":
            out = _json(200, {"hello": "world"})
        elif behaviour == "nan":
            out = _response(200, b'{"choices": [], "score": NaN}')
        elif behaviour == "deep":
            out = _response(
                200, b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
            )
        messages = body.get("messages") or [{}]
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        text = f"echo: {last.get('content', '')}"
        if out is None and not body.get("stream"):
            out = _json(200, _completion(model, text))
            if behaviour == "cut":
                writer.write(out[: len(out) // 2])
                await writer.drain()
                writer.transport.abort()
                return False
            if behaviour == "trickle":
                for i in range(len(out)):
                    writer.write(out[i : i + 1])
                    await writer.drain()
                    await self._pause(reader, self.trickle_seconds)
                return True
        if out is not None:
            writer.write(out)
            await writer.drain()
            return True
        pause = self.word_seconds
        requested = body.get("fake_word_ms")
        if isinstance(requested, int | float) and requested >= 0:
            pause = float(requested) / 1000.0
        return await self._stream(behaviour, model, text, pause, reader, writer)

    async def _stream(
        self,
        behaviour: str,
        model: str,
        text: str,
        pause: float,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        writer.write(_sse_chunk(_chunk(model, {"role": "assistant", "content": ""})))
        if behaviour == "trickle":
            for _ in range(10_000):
                await writer.drain()
                await self._pause(reader, self.trickle_seconds)
                writer.write(_sse_chunk(_chunk(model, {"content": "."})))
        for i, word in enumerate(text.split(" ")):
            if behaviour in ("midstream", "cut") and i == 1:
                await writer.drain()
                writer.transport.abort()
                return False
            if behaviour == "garbage_stream" and i == 1:
                writer.write(_sse_chunk(b"data: {this is not json\n\n"))
            delta = {"content": word if i == 0 else f" {word}"}
            writer.write(_sse_chunk(_chunk(model, delta)))
            await writer.drain()
            if pause > 0:
                await asyncio.sleep(pause)
        writer.write(_sse_chunk(_chunk(model, {}, "stop")))
        writer.write(_sse_chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


class KeywordRouter(Router):
    """A tiny real router: prompts mentioning a hard keyword score 0.9, others 0.1."""

    name = "keyword"
    needs_fit = False

    def __init__(
        self, *, keywords: tuple[str, ...] = ("prove", "derive", "debug")
    ) -> None:
        self.keywords = keywords

    def score(self, prompts: Sequence[str]) -> Any:
        return np.array(
            [
                0.9 if any(k in p.lower() for k in self.keywords) else 0.1
                for p in prompts
            ]
        )


class RunningServer:
    """A uvicorn server running `app` in a thread on a free localhost port.

    An app made by `create_app` runs as `prefroute serve` runs it
    (`prefroute.serve.runner.build_server`: read timeouts, bounded shutdown).
    """

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        if hasattr(app, "state") and hasattr(app.state, "admission"):
            from prefroute.serve.runner import build_server

            self.server = build_server(app, log_level="warning")
        else:
            config = uvicorn.Config(app, log_level="warning", lifespan="on")
            self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
