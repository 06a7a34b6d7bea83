"""Fuzz a real `prefroute serve` process with odd requests; print what came back.

Starts the fake OpenAI upstream (tests/integration/fake_upstream.py) in this process
and `prefroute serve` as a subprocess on 127.0.0.1 (shipped routers, calibrated at
start on the default prompts), then posts seeded random bodies: chat-completion
shaped JSON with odd values anywhere (wrong types, lone surrogates, NUL, huge
numbers, unknown routers, bad thresholds, streaming), raw bytes that are not JSON,
JSON nested deeper than Python's parser recurses, a body over the size limit, and
other paths. It counts the statuses and flags every answer that is a 5xx other than
an upstream error (502 / 504) or that is not an OpenAI error envelope. Then 350
clients hang up early (before the answer, mid-body, mid-stream); /metrics must show
no 5xx for any of it, and the server must still be alive. The integration test
`test_fuzzed_requests_get_a_status_and_an_envelope_never_a_crash` runs the same idea
in-process on every CI run; this script runs longer against the real CLI.

Usage::

    PREFROUTE_DATA_DIR=../shared/data .venv/bin/python benchmarks/fuzz_serve.py \
        --n 2500 --routers random,mf,default
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ODD: list[Any] = [
    None, True, 0, -1.5, 1e308, "", " ", "hi", "\x00", "\ud800", "\U0001f600" * 10,
    "x" * 5000, "router-mf@", "router-mf@0.5", "router-mf@nan", "router-mf@inf",
    "router-mf@-1", "router-mf@1e400", "router-default@0.3", "router-random@0.5",
    "router-nope@0.5", "router-@", "router-mf@0.5@0.5", "S", "W", [], {},
]  # fmt: skip
RAW: list[bytes] = [
    b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"model": "router-mf@0.5"',
    b'{"a":' * 5000, b"[" * 3000 + b"]" * 3000,
]  # fmt: skip


def _value(rnd: random.Random, depth: int = 0) -> Any:
    kind = rnd.randrange(10 if depth < 3 else 8)
    if kind == 8:
        return [_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 9:
        return {rnd.choice(["content", "role", "type", "text"]): _value(rnd, depth + 1)}
    return rnd.choice(ODD)


def _message(rnd: random.Random) -> dict[str, Any]:
    msg: dict[str, Any] = {}
    if rnd.random() < 0.9:
        msg["role"] = rnd.choice(["user", "system", "assistant", "tool", "x", None, 3])
    if rnd.random() < 0.9:
        msg["content"] = rnd.choice(
            [
                rnd.choice(ODD),
                _value(rnd),
                [{"type": "text", "text": rnd.choice(ODD)}],
                [{"type": "image_url", "image_url": {"url": "x"}}],
                [{"type": "text"}],
            ]
        )
    return msg


def body(rnd: random.Random, limit: int) -> bytes:
    """One request body (bytes)."""
    roll = rnd.random()
    if roll < 0.05:
        return rnd.choice(RAW)
    if roll < 0.07:
        big = {"model": "router-mf@0.5", "messages": [{"role": "user", "content": ""}]}
        big["messages"][0]["content"] = "x" * (limit + 1)
        return json.dumps(big).encode()
    out: dict[str, Any] = {}
    if rnd.random() < 0.9:
        out["model"] = rnd.choice(ODD)
    if rnd.random() < 0.9:
        out["messages"] = rnd.choice(
            [[_message(rnd) for _ in range(rnd.randrange(5))], _value(rnd), "hi"]
        )
    for key in ("stream", "n", "temperature", "max_tokens", "tools", "user"):
        if rnd.random() < 0.15:
            out[key] = _value(rnd)
    if rnd.random() < 0.3:
        text = rnd.choice(ODD) if rnd.random() < 0.5 else "hello there"
        out["messages"] = [{"role": "user", "content": text}]
    if rnd.random() < 0.2:
        out["stream"] = True
    try:
        return json.dumps(out).encode("utf-8", "surrogatepass")
    except ValueError:
        return b"{}"


def _hang_ups(port: int) -> str:
    """Clients that leave early: before the upstream answers, mid-body, mid-stream."""
    import socket

    def request(stream: bool) -> bytes:
        body = json.dumps(
            {
                "model": "router-random@0.5",
                "stream": stream,
                "messages": [{"role": "user", "content": "hello there"}],
            }
        ).encode()
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    socks = []
    for i in range(200):  # the whole request, then leave before the answer
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request(i % 2 == 0))
        socks.append(sock)
    time.sleep(0.2)
    for sock in socks:
        sock.close()
    for _ in range(100):  # leave in the middle of the body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request(False)[:-5])
    for _ in range(50):  # read the first streamed bytes, then leave
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request(True))
            sock.settimeout(5)
            sock.recv(100)
    return "200 before the answer, 100 mid-body, 50 mid-stream"


def main() -> None:
    """Start upstream and server, post the bodies, print the tally."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2500, help="requests to send")
    ap.add_argument("--routers", default="random,mf,default")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from fake_upstream import FakeUpstream, closed_port

    fake = FakeUpstream(record=False).start()
    port = closed_port()
    env = dict(os.environ, PREFROUTE_STRONG_API_KEY="x", PREFROUTE_WEAK_API_KEY="y")
    prefroute = str(Path(sys.executable).parent / "prefroute")
    cli = [prefroute, "serve", "--port", str(port)]
    cli += ["--routers", args.routers, "--calibration-prompts", "default"]
    cli += ["--strong-model", "S", "--strong-base-url", fake.base_url]
    cli += ["--weak-model", "W", "--weak-base-url", fake.base_url, "--timeout", "3"]
    server = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        limit = 1_000_000  # the server's default max_body_bytes
        rnd = random.Random(args.seed)
        statuses: dict[int, int] = {}
        bad: list[str] = []
        paths = ["/v1/chat/completions"] * 8 + ["/v1/completions", "/v1/models"]
        t0 = time.perf_counter()
        with httpx.Client(timeout=30) as http:
            for _ in range(args.n):
                raw = body(rnd, limit)
                response = http.post(
                    url + rnd.choice(paths),
                    content=raw,
                    headers={"content-type": "application/json"},
                )
                code = response.status_code
                statuses[code] = statuses.get(code, 0) + 1
                if code >= 500 and code not in (502, 504):
                    bad.append(f"{code} {response.text[:160]} <- {raw[:120]!r}")
                elif code != 200:
                    try:
                        message = response.json()["error"]["message"]
                        assert isinstance(message, str) and message
                    except (ValueError, KeyError, TypeError, AssertionError):
                        bad.append(f"no envelope {code} {response.text[:160]}")
        print(f"{args.n} requests in {time.perf_counter() - t0:.0f} s")
        fake.latency_seconds = 0.5
        print("clients that hang up:", _hang_ups(port))
        time.sleep(1.0)
        metrics = httpx.get(f"{url}/metrics").text
        errors = [
            line
            for line in metrics.splitlines()
            if line.startswith("prefroute_requests_total")
            and 'status="5' in line
            and not any(f'status="{c}"' in line for c in (502, 504))
        ]
        if errors:
            bad.extend(errors)
        alive = server.poll() is None and httpx.get(f"{url}/health").status_code == 200
        print("statuses:", dict(sorted(statuses.items())))
        print("server alive after the run:", alive)
        print("bad answers:", len(bad))
        for line in bad[:20]:
            print("  ", line)
    finally:
        server.terminate()
        server.wait(timeout=30)
        fake.stop()


if __name__ == "__main__":
    main()
