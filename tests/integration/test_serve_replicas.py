"""Replicas behind nginx sharing one PostgreSQL request log, and a database outage.

Everything is real and on 127.0.0.1: PostgreSQL started by the tests (initdb in a
temp dir), nginx with its own config in a temp dir, `prefroute serve` and
`prefroute adapt` processes; only the LLM upstream is the fake OpenAI-protocol
server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _cli_server import CLIServer, free_port, samples, serve_cli, wait_for

from _postgres import new_server, shared_server
from prefroute.embed.hashing import HashingEmbedder
from prefroute.gateway.store import open_store
from prefroute.routers.adapted import AdaptedRouter
from prefroute.routers.mf import MFRouter
from prefroute.routers.registry import load_router
from prefroute.types import Battle

__all__ = ["serve_cli"]  # the fixture, imported to be found here

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "prove theorem 7 about primes and groups, which replica routes this?"
HARD = [f"prove theorem {i} about primes and groups" for i in range(60)]
EASY = [f"say hello to friend {i} today" for i in range(60)]


def find_nginx() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )


class Nginx:
    """nginx in front of the replicas: its own config, temp dir and port."""

    def __init__(self, binary: str, root: Path, upstreams: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server {u} max_fails=0;" for u in upstreams)
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = root / "nginx.conf"
        conf.write_text(
            f"""{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream prefroute {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://prefroute;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            add_header x-upstream $upstream_addr always;
        }}
    }}
}}
"""
        )
        self.proc = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # errors go to error_log
        )
        self.error_log = root / "error.log"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture()
def nginx(tmp_path: Path) -> Iterator[Callable[[list[str]], Nginx]]:
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx is not installed (.ci/run installs it)")
    started: list[Nginx] = []

    def start(upstreams: list[str]) -> Nginx:
        proxy = Nginx(binary, tmp_path / "nginx", upstreams)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def write_router(folder: Path) -> float:
    """Save a small starting router there (mf on hashed words: the strong model
    for the HARD prompts); returns its score of `PROMPT`."""
    battles = [Battle(p, "strong-model", "weak-model", "a") for p in HARD]
    battles += [Battle(p, "strong-model", "weak-model", "tie") for p in EASY]
    router = MFRouter(
        embedder=HashingEmbedder(dim=64),
        dim=4,
        n_epochs=60,
        strong_model="strong-model",
        weak_model="weak-model",
    ).fit(battles)
    router.save(folder)
    return float(router.score([PROMPT])[0])


def adapt_cli(start: Path, log: str, out: Path, report: Path) -> None:
    """`prefroute adapt` as users run it, on the shared log."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "prefroute.cli", "adapt", "--router", str(start)),
            *("--log", log, "--out", str(out), "--force", "--bootstrap", "100"),
            *("--json", str(report)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def ask(client: httpx.Client, url: str, text: str) -> httpx.Response:
    return client.post(
        url + "/v1/chat/completions",
        json={"model": "router-r-0.5", "messages": [{"role": "user", "content": text}]},
    )


def serve_config(tmp_path: Path, log: str, extra: str = "") -> Path:
    config = tmp_path / "serve.yaml"
    config.write_text(f"log: {log}\nreload_poll_s: 0.25\n{extra}")
    return config


class Traffic:
    """Requests through a URL from a thread until stopped: counts statuses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self._stop.is_set() and i < 20_000:
                try:
                    status = ask(client, self.url, f"background {i}").status_code
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                else:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                i += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_replicas_behind_nginx_share_log_feedback_adapt_and_reload(
    serve_cli: Callable[..., CLIServer],
    nginx: Callable[[list[str]], Nginx],
    tmp_path: Path,
) -> None:
    url = shared_server().new_database()
    start, folder = tmp_path / "start", tmp_path / "router"
    write_router(start)
    old_score = write_router(folder)
    # prompts logged, some exploration: what `prefroute adapt` learns from
    config = serve_config(
        tmp_path, url, "log_prompts: true\nexplore: 0.3\nexplore_seed: 1\n"
    )
    replicas = [
        serve_cli("--config", str(config), "--routers", f"r={folder}") for _ in range(2)
    ]
    for replica in replicas:
        replica.wait_ready()
    proxy = nginx([f"127.0.0.1:{r.port}" for r in replicas])
    wait_for(
        lambda: httpx.get(proxy.url + "/health", timeout=2).status_code == 200,
        20,
        "nginx starting",
        proxy.proc,  # type: ignore[arg-type]
    )

    prompts = [p for pair in zip(HARD, EASY, strict=True) for p in pair]
    served_by: dict[str, str] = {}
    is_good: dict[str, bool] = {}  # the fake user's verdict on each answer
    with httpx.Client(timeout=30) as client:
        for prompt in prompts:
            response = ask(client, proxy.url, prompt)
            assert response.status_code == 200, response.text
            request_id = response.headers["x-prefroute-request-id"]
            served_by[request_id] = response.headers["x-upstream"]
            routed = response.headers["x-prefroute-routed-to"]
            is_good[request_id] = routed == "strong-model" or prompt in EASY
    assert set(served_by.values()) == {f"127.0.0.1:{r.port}" for r in replicas}
    n_requests = len(prompts)

    store = open_store(url)
    try:
        wait_for(
            lambda: store.counts()["requests"] == n_requests,
            20,
            "both replicas writing the log",
            replicas[0].proc,
        )
        n_across = 0
        with httpx.Client(timeout=30) as client:
            # in another order than served, so that round robin sends some
            # feedback to the replica that did not serve the request
            for request_id, replica in sorted(served_by.items()):
                response = client.post(
                    proxy.url + "/v1/feedback",
                    json={
                        "request_id": request_id,
                        "score": 1.0 if is_good[request_id] else 0.0,
                        "source": "test",
                    },
                )
                assert response.status_code == 200, response.text
                n_across += response.headers["x-upstream"] != replica
        assert n_across > 0  # feedback that reached the replica that did not serve
        assert store.counts() == {"requests": n_requests, "feedback": n_requests}
    finally:
        store.close()

    # adapt on the shared log into the served folder, one reload through nginx:
    # both replicas serve the adapted router, no request fails
    traffic = Traffic(proxy.url)
    try:
        time.sleep(0.5)
        report = tmp_path / "adapt.json"
        adapt_cli(start, url, folder, report)
        check = json.loads(report.read_text())
        assert check["n_labels"] == n_requests and check["written"]
        adapted = load_router(folder)
        assert isinstance(adapted, AdaptedRouter)
        new_score = float(adapted.score([PROMPT])[0])
        assert new_score != old_score
        reloaded_at = time.monotonic()
        response = httpx.post(
            proxy.url + "/admin/reload",
            headers={"authorization": "Bearer admin-key"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

        def serves_new_router(replica: CLIServer) -> bool:
            health = httpx.get(replica.url + "/health", timeout=5).json()
            with httpx.Client(timeout=10) as client:
                score = float(
                    ask(client, replica.url, PROMPT).headers["x-prefroute-score"]
                )
            return health["router_version"] == 2 and abs(score - new_score) < 1e-6

        for replica in replicas:
            wait_for(
                lambda r=replica: serves_new_router(r), 20, "following", replica.proc
            )
        propagation_s = time.monotonic() - reloaded_at
        time.sleep(0.5)
    finally:
        traffic.stop()
    assert traffic.errors == []
    assert set(traffic.statuses) == {200}, traffic.statuses
    assert sum(traffic.statuses.values()) > 10
    print(
        f"replicas: {n_requests} requests, {n_across} feedback across replicas, "
        f"adapted on {check['n_labels']} labels, "
        f"{sum(traffic.statuses.values())} requests during adapt and reload, 0 "
        f"failed, reload reached both in {propagation_s:.2f}s"
    )
    for replica in replicas:
        # uvicorn ends a graceful stop by re-raising SIGTERM on itself
        assert replica.stop() in (0, -signal.SIGTERM)


def test_database_outage_drops_counted_records_never_requests(
    serve_cli: Callable[..., CLIServer], tmp_path: Path
) -> None:
    server = new_server()
    try:
        url = server.new_database()
        replica = serve_cli(
            "--config", str(serve_config(tmp_path, url)), "--routers", "r=random"
        )
        replica.wait_ready()

        def metric(name: str) -> float:
            return samples(replica.metrics(), name).get("", 0.0)

        traffic = Traffic(replica.url)
        try:
            wait_for(
                lambda: metric("prefroute_log_written_total") > 20,
                20,
                "logging",
                replica.proc,
            )
            server.stop("fast")
            wait_for(
                lambda: metric("prefroute_log_failed_total") > 0,
                30,
                "counting lost records",
                replica.proc,
            )
            written_down = metric("prefroute_log_written_total")
            time.sleep(1.0)
            server.start()
            wait_for(
                lambda: metric("prefroute_log_written_total") > written_down + 20,
                60,
                "writing again",
                replica.proc,
            )
        finally:
            traffic.stop()
        assert traffic.errors == []
        assert set(traffic.statuses) == {200}, traffic.statuses
        n_failed = metric("prefroute_log_failed_total")
        assert n_failed > 0
        store = open_store(url)
        try:
            n_logged = store.counts()["requests"]
        finally:
            store.close()
        assert n_logged > written_down
        print(
            f"outage: {sum(traffic.statuses.values())} requests, 0 failed, "
            f"{n_failed:g} log records lost and counted, {n_logged} logged"
        )
        assert replica.stop() in (0, -signal.SIGTERM)
    finally:
        server.destroy()
