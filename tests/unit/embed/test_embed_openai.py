"""OpenAIEmbedder against a real HTTP server on 127.0.0.1 with deterministic vectors."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import numpy as np
import pytest

from prefroute.embed import get_embedder
from prefroute.embed.openai import OpenAIEmbedder, parse_openai_spec
from prefroute.errors import ConfigError, UpstreamError

DIM = 8


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255.0 + 0.01 for b in digest[:DIM]]  # deliberately not unit length


class _Handler(BaseHTTPRequestHandler):
    """Behaviour by model name: "ok", "flaky" (first call 500), "broken" (always
    500), "garbage" (non-JSON), "bad-request" (400), "short" (one vector too few)."""

    requests: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[dict[str, int]] = {}

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        body["_path"] = self.path
        type(self).requests.append(body)
        model = body["model"]
        n = type(self).calls[model] = type(self).calls.get(model, 0) + 1
        if model == "broken" or (model == "flaky" and n == 1):
            self._reply(500, b'{"error": {"message": "boom"}}')
            return
        if model == "garbage":
            self._reply(200, b"<html>not json</html>", "text/html")
            return
        if model == "bad-request":
            self._reply(400, b'{"error": {"message": "model not found"}}')
            return
        inputs = body["input"]
        if model == "short":
            inputs = inputs[:-1]
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(t)}
            for i, t in enumerate(inputs)
        ]
        data.reverse()  # servers may return any order; `index` is authoritative
        self._reply(
            200, json.dumps({"object": "list", "data": data, "model": model}).encode()
        )


@pytest.fixture()
def server() -> Iterator[str]:
    """Base URL of a fresh fake embeddings server."""
    _Handler.requests = []
    _Handler.calls = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _embedder(base_url: str, model: str = "ok", **kwargs: Any) -> OpenAIEmbedder:
    kwargs.setdefault("backoff", 0.0)
    return OpenAIEmbedder(base_url=base_url, model=model, **kwargs)


def test_vectors_follow_index_and_are_unit(server: str) -> None:
    texts = ["alpha", "beta", "gamma"]
    out = _embedder(server).embed(texts)
    expected = np.asarray([_vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert _Handler.requests[0]["_path"] == "/v1/embeddings"


def test_texts_are_sent_in_batches(server: str) -> None:
    texts = [f"t{i}" for i in range(7)]
    out = _embedder(server, batch_size=3).embed(texts)
    assert [len(r["input"]) for r in _Handler.requests] == [3, 3, 1]
    assert out.shape == (7, DIM)
    np.testing.assert_allclose(out[4], _embedder(server).embed(["t4"])[0], rtol=1e-6)


def test_dim_is_learned_from_the_first_reply(server: str) -> None:
    embedder = _embedder(server)
    assert embedder.dim == DIM
    assert _embedder(server, dim=DIM).embed([]).shape == (0, DIM)


def test_empty_text_is_sent_as_a_space(server: str) -> None:
    _embedder(server).embed(["", "x"])
    assert _Handler.requests[0]["input"] == [" ", "x"]


def test_lone_surrogate_is_sent_replaced(server: str) -> None:
    # "\ud800" has no UTF-8 form, so httpx could not write the request body
    _embedder(server).embed(["a\ud800b"])
    assert _Handler.requests[0]["input"] == ["a?b"]


def test_server_error_is_retried(server: str) -> None:
    out = _embedder(server, model="flaky").embed(["hello"])
    assert _Handler.calls["flaky"] == 2
    assert out.shape == (1, DIM)


def test_persistent_500_raises_upstream_error_after_retries(server: str) -> None:
    with pytest.raises(UpstreamError, match=r"after 3 tries.*HTTP 500"):
        _embedder(server, model="broken", max_retries=2).embed(["hello"])
    assert _Handler.calls["broken"] == 3


def test_garbage_json_raises_upstream_error(server: str) -> None:
    with pytest.raises(UpstreamError, match="not an embeddings response"):
        _embedder(server, model="garbage").embed(["hello"])


def test_client_error_is_not_retried(server: str) -> None:
    with pytest.raises(UpstreamError, match=r"HTTP 400.*model not found"):
        _embedder(server, model="bad-request").embed(["hello"])
    assert _Handler.calls["bad-request"] == 1


def test_wrong_number_of_vectors_raises(server: str) -> None:
    with pytest.raises(UpstreamError, match="expected 2 vectors"):
        _embedder(server, model="short").embed(["a", "b"])


def test_connection_refused_raises_upstream_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens here
    embedder = _embedder(f"http://127.0.0.1:{port}/v1", max_retries=1, timeout=2.0)
    with pytest.raises(UpstreamError, match="ConnectError"):
        embedder.embed(["hello"])


def test_api_key_comes_from_the_named_env_var(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_EMBED_KEY", "sk-test-123")
    _embedder(server, api_key_env="MY_EMBED_KEY").embed(["a"])
    monkeypatch.delenv("PREFROUTE_EMBED_API_KEY", raising=False)
    _embedder(server).embed(["a"])
    assert [r["_auth"] for r in _Handler.requests] == ["Bearer sk-test-123", None]


def test_spec_round_trips_through_get_embedder(server: str) -> None:
    embedder = get_embedder(f"openai:ok@{server}")
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.spec == f"openai:ok@{server}"
    assert get_embedder(embedder.spec).spec == embedder.spec
    assert embedder.embed(["a"]).shape == (1, DIM)


@pytest.mark.parametrize("arg", [None, "model-only", "m@ftp://host", "@http://h/v1"])
def test_bad_spec_raises_config_error(arg: str | None) -> None:
    with pytest.raises(ConfigError, match="openai:<model>@"):
        parse_openai_spec(arg)


def test_constructing_does_no_io() -> None:
    embedder = OpenAIEmbedder(base_url="http://127.0.0.1:9/v1", model="m", dim=4)
    assert embedder._client is None
    assert embedder.dim == 4
