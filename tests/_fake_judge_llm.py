"""A tiny OpenAI-compatible chat server on 127.0.0.1 for the llm_judge and label tests.

Real HTTP (threading http.server), configurable per test: a `responder` maps each
request body to a reply; `fail_first` answers the first N requests with an error
status; `delay` sleeps before answering. Every request body is recorded.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any] | tuple[int, Any]
Responder = Callable[[dict[str, Any]], Reply]


def chat_response(
    text: str,
    *,
    logprobs: dict[str, Any] | None = None,
    usage: tuple[int, int] = (10, 1),
    model: str = "fake",
) -> dict[str, Any]:
    """A chat.completion object with one choice."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop",
        "logprobs": logprobs,
    }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def grade_logprobs(
    probs: Mapping[str, float], sampled: str | None = None
) -> dict[str, Any]:
    """A `logprobs` object whose first generated token has these alternatives.

    Args:
        probs: Token -> probability (need not be grades; need not sum to 1).
        sampled: The generated token (default: the most likely one).
    """
    top = [
        {"token": token, "logprob": math.log(p), "bytes": None}
        for token, p in sorted(probs.items(), key=lambda kv: -kv[1])
    ]
    token = sampled if sampled is not None else top[0]["token"]
    logprob = next((t["logprob"] for t in top if t["token"] == token), -9.0)
    return {"content": [{"token": token, "logprob": logprob, "top_logprobs": top}]}


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class FakeLLM:
    """An OpenAI-compatible /v1/chat/completions server running in a thread."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        fail_first: int = 0,
        fail_status: int = 500,
        delay: float = 0.0,
    ) -> None:
        self.responder: Responder = responder or (lambda body: chat_response("4"))
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.n_failed = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def n_requests(self) -> int:
        """Requests answered successfully (failures excluded)."""
        with self._lock:
            return len(self.requests)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _handle(
        self, path: str, raw: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        if path.rstrip("/") != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}"}}
        body = json.loads(raw or b"{}")
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            failing = self.n_failed < self.fail_first
            if failing:
                self.n_failed += 1
        try:
            if self.delay:
                time.sleep(self.delay)
            if failing:
                return self.fail_status, {"error": {"message": "injected failure"}}
            reply = self.responder(body)
            with self._lock:
                self.requests.append(body)
                self.headers.append(headers)
            return reply if isinstance(reply, tuple) else (200, reply)
        finally:
            with self._lock:
                self._in_flight -= 1

    def __enter__(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = fake._handle(
                    self.path,
                    self.rfile.read(length),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                data = (
                    payload
                    if isinstance(payload, bytes)
                    else json.dumps(payload).encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# Usage the label responder reports per model: (prompt_tokens, completion_tokens).
LABEL_USAGE = {"strong-m": (100, 50), "weak-m": (100, 20), "judge-m": (300, 80)}


def _answer_section(text: str, letter: str) -> str:
    start = text.index(f"<|Assistant {letter}'s Answer|>")
    end = text.index(f"<|End of Assistant {letter}'s Answer|>")
    return text[start:end]


def label_responder(body: dict[str, Any]) -> Reply:
    """Answers as "strong-m", "weak-m" or "judge-m" (chosen by the request's model).

    The strong model answers "STRONG answer to: <prompt>", the weak "weak answer".
    The judge finds which assistant gave the STRONG answer and prefers it by an
    amount set by the prompt: "[tie]" -> =, "[close]" -> >, "[weakwins]" -> weak >,
    "[garbage]" -> no verdict, otherwise >>.
    """
    model = body.get("model")
    messages = body["messages"]
    last = str(messages[-1]["content"])
    if model == "strong-m":
        return chat_response(f"STRONG answer to: {last}", usage=LABEL_USAGE["strong-m"])
    if model == "weak-m":
        return chat_response("weak answer", usage=LABEL_USAGE["weak-m"])
    if model != "judge-m":
        return 404, {"error": {"message": f"unknown model {model!r}"}}
    strong_letter = "A" if "STRONG" in _answer_section(last, "A") else "B"
    weak_letter = "B" if strong_letter == "A" else "A"
    if "[garbage]" in last:
        verdict = "I refuse to decide."
    elif "[tie]" in last:
        verdict = "[[A=B]]"
    elif "[close]" in last:
        verdict = f"[[{strong_letter}>{weak_letter}]]"
    elif "[weakwins]" in last:
        verdict = f"[[{weak_letter}>{strong_letter}]]"
    else:
        verdict = f"[[{strong_letter}>>{weak_letter}]]"
    return chat_response(
        f"Explanation... Final verdict: {verdict}", usage=LABEL_USAGE["judge-m"]
    )
