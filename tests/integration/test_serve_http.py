"""The server's lean upstream HTTP client (`prefroute.gateway._http`) against the fake
upstream: keep-alive reuse, streaming, timeouts, refused connections, proxies."""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_upstream import FakeUpstream, closed_port

from prefroute.gateway._http import LeanClient, proxy_applies


def _payload(model: str = "weak-model", stream: bool = False) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": "a b"}]}
    return json.dumps({**body, "stream": stream}).encode()


def test_requests_reuse_one_keep_alive_connection(upstream: FakeUpstream) -> None:
    async def run() -> list[Any]:
        client = LeanClient(upstream.base_url, {"authorization": "Bearer k"}, 5.0)
        before = upstream.n_connections
        out = []
        for _ in range(5):
            response = await client.post("/chat/completions", _payload(), stream=False)
            out.append((response.status_code, response.json()["model"]))
        await client.aclose()
        return [out, upstream.n_connections - before]

    replies, connections = asyncio.run(run())
    assert replies == [(200, "weak-model")] * 5
    assert connections == 1
    assert upstream.auth_headers[-1] == "Bearer k"


def test_streams_chunked_sse_in_order(upstream: FakeUpstream) -> None:
    async def run() -> bytes:
        client = LeanClient(upstream.base_url, {}, 5.0)
        response = await client.post(
            "/chat/completions", _payload(stream=True), stream=True
        )
        assert response.headers["content-type"] == "text/event-stream"
        data = b"".join([chunk async for chunk in response.aiter_bytes()])
        await client.aclose()
        return data

    events = [e for e in asyncio.run(run()).split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    words = [
        json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[1:-2]
    ]
    assert "".join(words) == "echo: a b"


def test_slow_upstream_raises_read_timeout(upstream: FakeUpstream) -> None:
    upstream.behaviour["weak-model"] = "slow"
    upstream.slow_seconds = 1.0

    async def run() -> None:
        client = LeanClient(upstream.base_url, {}, 0.2)
        try:
            await client.post("/chat/completions", _payload(), stream=False)
        finally:
            await client.aclose()

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(run())


def test_refused_connection_raises_connect_error() -> None:
    async def run() -> None:
        client = LeanClient(f"http://127.0.0.1:{closed_port()}/v1", {}, 1.0)
        await client.post("/chat/completions", _payload(), stream=False)

    with pytest.raises(httpx.ConnectError):
        asyncio.run(run())


def test_dropped_connection_raises_protocol_error(upstream: FakeUpstream) -> None:
    upstream.behaviour["weak-model"] = "drop"

    async def run() -> None:
        client = LeanClient(upstream.base_url, {}, 2.0)
        try:
            await client.post("/chat/completions", _payload(), stream=False)
        finally:
            await client.aclose()

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(run())


def test_proxy_from_environment_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert not proxy_applies("https://api.example.com/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert proxy_applies("https://api.example.com/v1")
    assert not proxy_applies("http://127.0.0.1:8080/v1")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
# CPython 3.11's asyncio can leave the socket of a failed TLS handshake to the garbage
# collector; collect it inside this test so the ResourceWarning cannot land elsewhere.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_https_upstream_is_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-days", "1", "-keyout", str(key), "-out", str(cert)),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake = FakeUpstream(ssl_context=context).start()

    async def ask() -> Any:
        client = LeanClient(fake.base_url, {}, 5.0)
        try:
            response = await client.post("/chat/completions", _payload(), stream=False)
            return response.json()["model"]
        finally:
            await client.aclose()

    try:
        assert fake.base_url.startswith("https://")
        with pytest.raises(
            httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"
        ) as failed:
            asyncio.run(ask())  # a self-signed certificate is not trusted
        del failed  # its traceback holds the frames that hold the failed socket
        gc.collect()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert asyncio.run(ask()) == "weak-model"
    finally:
        fake.stop()
        gc.collect()
