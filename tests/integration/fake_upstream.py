"""A fake OpenAI-compatible upstream: a real threaded HTTP server on 127.0.0.1.

Behaviour is chosen per upstream model id (the id the router sends), via
`FakeUpstream.behaviour[model]`:
    "ok"        200 chat completion echoing the last user message (default)
    "slow"      sleep `slow_seconds`, then answer as "ok"
    "500"       HTTP 500 with an error envelope
    "400"       HTTP 400 with an error envelope (a client error, passed through)
    "garbage"   HTTP 200 whose body is not JSON
    "nochoices" HTTP 200 JSON without "choices"
    "drop"      close the connection without answering
    "midstream" (streaming) two chunks, then the connection dies
Streaming requests (``"stream": true``) get SSE over chunked transfer encoding:
one role chunk, one chunk per word, a finish chunk, then ``data: [DONE]``.
Used by the integration tests and by benchmarks/serve_overhead.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from prefroute.routers.base import Router

__all__ = ["FakeUpstream", "KeywordRouter", "RunningServer", "closed_port"]


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": []})
        else:
            self._send_json(
                404,
                {
                    "error": {
                        "message": "not found",
                        "type": "x",
                        "param": None,
                        "code": None,
                    }
                },
            )

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        model = str(body.get("model"))
        with fake.lock:
            fake.requests.append(body)
            fake.auth_headers.append(self.headers.get("Authorization"))
        if not self.path.endswith("/chat/completions"):
            self._send_json(
                404,
                {
                    "error": {
                        "message": f"no {self.path}",
                        "type": "x",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        behaviour = fake.behaviour.get(model, "ok")
        if behaviour == "slow":
            time.sleep(fake.slow_seconds)
        if behaviour == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour == "500":
            self._send_json(
                500,
                {
                    "error": {
                        "message": "upstream exploded",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        if behaviour == "400":
            self._send_json(
                400,
                {
                    "error": {
                        "message": "bad temperature",
                        "type": "invalid_request_error",
                        "param": "temperature",
                        "code": None,
                    }
                },
            )
            return
        if behaviour == "garbage":
            data = b"<html>definitely not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if behaviour == "nochoices":
            self._send_json(200, {"hello": "world"})
            return
        messages = body.get("messages") or [{}]
        text = f"echo: {messages[-1].get('content', '')}"
        if not body.get("stream"):
            self._send_json(200, _completion(model, text))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._write_chunk(_chunk(model, {"role": "assistant", "content": ""}))
        words = text.split(" ")
        for i, word in enumerate(words):
            if behaviour == "midstream" and i == 1:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._write_chunk(
                _chunk(model, {"content": word if i == 0 else f" {word}"})
            )
        self._write_chunk(_chunk(model, {}, "stop"))
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    fake: FakeUpstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer closes the socket: expected here.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeUpstream:
    """Start with `start()`, stop with `stop()`; `base_url` ends in /v1."""

    def __init__(self) -> None:
        """Create (not started)."""
        self.behaviour: dict[str, str] = {}
        self.slow_seconds = 2.0
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Base URL of the API, e.g. http://127.0.0.1:PORT/v1."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeUpstream:
        """Bind a free port and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forget behaviours and recorded requests."""
        with self.lock:
            self.behaviour.clear()
            self.requests.clear()
            self.auth_headers.clear()


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
    """A uvicorn server running `app` in a thread on a free localhost port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
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
