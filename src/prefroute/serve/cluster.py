"""One server among many: metrics summed across workers, reloads that reach all.

`ClusterApp` wraps the app that `create_app` built, for a process that is one of
several serving the same traffic (``prefroute serve --workers N``, or replicas
sharing a PostgreSQL request log):

- ``GET /metrics`` answers for every worker of the machine: each worker
  publishes its own metrics text to a shared directory (`MetricsShare`, every
  `publish_s` seconds and when it stops) and any worker's ``/metrics`` sums them
  (counters and histograms of workers that died included, so totals never go
  back; gauges of live workers only).
- ``POST /admin/reload`` that succeeds bumps the fleet's router generation, and a
  `ReloadFollower` task reloads this process whenever another one bumped it.

Everything else goes straight to the wrapped app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prefroute.gateway.reload_sync import ReloadFollower

__all__ = ["ClusterApp", "MetricsShare", "merge_metrics"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SUFFIXES = ("_bucket", "_sum", "_count")
# gauges that are not summed across workers: how they combine instead
_GAUGE_MODES = {"prefroute_router_version": "min"}
_RETIRED = "retired.prom"
_LIVE = re.compile(r"^worker-(\d+)\.prom$")


class _Family:
    __slots__ = ("help", "kind", "samples")

    def __init__(self) -> None:
        self.help: str | None = None
        self.kind = "untyped"
        self.samples: dict[str, float] = {}


def _parse(text: str) -> dict[str, _Family]:
    """Families of a Prometheus text exposition, in order of appearance."""
    families: dict[str, _Family] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                family = families.setdefault(parts[2], _Family())
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    family.help = rest
                else:
                    family.kind = rest.strip() or "untyped"
            continue
        key, _, value = line.rpartition(" ")
        name = key.split("{", 1)[0]
        if name not in families:
            for suffix in _SUFFIXES:
                base = name.removesuffix(suffix)
                if base != name and families.get(base) is not None:
                    name = base
                    break
        try:
            number = float(value)
        except ValueError:
            continue
        family = families.setdefault(name, _Family())
        family.samples[key] = family.samples.get(key, 0.0) + number
    return families


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return f"{value:.10g}"


def merge_metrics(live: Sequence[str], retired: Sequence[str] = ()) -> str:
    """Sum Prometheus texts of several processes into one.

    Counters, histograms and untyped series add up over `live` and `retired`
    texts; gauges come from `live` texts only, summed, or combined as
    `_GAUGE_MODES` says.

    Args:
        live: Texts of running processes (the first one's order is kept).
        retired: Texts of processes that have exited.

    Returns:
        One text in the exposition format.
    """
    merged: dict[str, _Family] = {}
    gauge_values: dict[tuple[str, str], list[float]] = {}
    texts = [(t, True) for t in live] + [(t, False) for t in retired]
    for text, is_live in texts:
        for name, family in _parse(text).items():
            out = merged.setdefault(name, _Family())
            out.help = out.help if out.help is not None else family.help
            if family.kind != "untyped":
                out.kind = family.kind
            for key, value in family.samples.items():
                if family.kind == "gauge":
                    if is_live:
                        gauge_values.setdefault((name, key), []).append(value)
                        out.samples.setdefault(key, 0.0)
                    continue
                out.samples[key] = out.samples.get(key, 0.0) + value
    for (name, key), values in gauge_values.items():
        mode = _GAUGE_MODES.get(name, "sum")
        merged[name].samples[key] = (
            min(values)
            if mode == "min"
            else max(values)
            if mode == "max"
            else sum(values)
        )
    lines: list[str] = []
    for name, family in merged.items():
        if family.help is not None:
            lines.append(f"# HELP {name} {family.help}")
        lines.append(f"# TYPE {name} {family.kind}")
        lines.extend(f"{key} {_number(v)}" for key, v in family.samples.items())
    return "\n".join(lines) + "\n"


class MetricsShare:
    """A directory where each worker of one server publishes its metrics text.

    Files: ``worker-<pid>.prom`` per running worker, ``retired.prom`` with the
    summed counters of workers that exited (`retire`, called by the supervisor).

    Args:
        directory: The shared directory (created if missing).
        pid: This worker's process id (None: a reader only, e.g. the supervisor).
    """

    def __init__(self, directory: str | Path, pid: int | None = None) -> None:
        """Use `directory`."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pid = pid
        self._last: str | None = None

    def _own(self, pid: int) -> Path:
        return self.directory / f"worker-{pid}.prom"

    def publish(self, text: str) -> None:
        """Replace this worker's file with `text` (atomically; skipped if unchanged)."""
        assert self.pid is not None
        if text == self._last:
            return
        target = self._own(self.pid)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        self._last = text

    def _read(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:  # retired meanwhile
            return None

    def workers(self) -> dict[int, str]:
        """pid -> latest published text, for every running worker."""
        out: dict[int, str] = {}
        for path in sorted(self.directory.iterdir()):
            match = _LIVE.match(path.name)
            if match:
                text = self._read(path)
                if text is not None:
                    out[int(match.group(1))] = text
        return out

    def aggregate(self, own_text: str) -> str:
        """The whole server's metrics: this worker's fresh text plus the others'.

        Adds ``prefroute_workers`` (running workers) and
        ``prefroute_worker_requests_total{pid}`` (HTTP requests per running
        worker, to see how evenly the kernel spreads connections).
        """
        others = self.workers()
        own_pid = self.pid
        texts = dict(others)
        if own_pid is not None:
            texts[own_pid] = own_text
        live = [own_text] + [t for pid, t in sorted(texts.items()) if pid != own_pid]
        retired = self._read(self.directory / _RETIRED)
        body = merge_metrics(live, [retired] if retired else [])
        per_worker = []
        for pid, text in sorted(texts.items()):
            family = _parse(text).get("prefroute_requests_total")
            n = sum(family.samples.values()) if family else 0.0
            per_worker.append(f'prefroute_worker_requests_total{{pid="{pid}"}} {n:g}')
        return (
            body
            + "# HELP prefroute_workers Worker processes serving on this port.\n"
            + "# TYPE prefroute_workers gauge\n"
            + f"prefroute_workers {len(texts)}\n"
            + "# HELP prefroute_worker_requests_total HTTP requests per running "
            + "worker.\n# TYPE prefroute_worker_requests_total counter\n"
            + "\n".join(per_worker)
            + "\n"
        )

    def retire(self, pid: int) -> None:
        """Fold an exited worker's counters into ``retired.prom`` (supervisor only)."""
        path = self._own(pid)
        text = self._read(path)
        if text is None:
            return
        retired_path = self.directory / _RETIRED
        previous = self._read(retired_path)
        merged = merge_metrics([], [t for t in (previous, text) if t])
        tmp = retired_path.with_suffix(".tmp")
        tmp.write_text(merged, encoding="utf-8")
        os.replace(tmp, retired_path)
        path.unlink(missing_ok=True)


class ClusterApp:
    """The app of one worker or replica among several (see the module docstring).

    Args:
        app: The app from `create_app` (its ``state`` is shared).
        share: Where workers publish their metrics (None: this process's only).
        follower: Follows and announces the fleet's router generation (None: off).
        publish_s: Seconds between metrics publications.
    """

    def __init__(
        self,
        app: Any,
        *,
        share: MetricsShare | None = None,
        follower: ReloadFollower | None = None,
        publish_s: float = 0.5,
    ) -> None:
        """Wrap `app`; background tasks run inside its lifespan."""
        self.app = app
        self.share = share
        self.follower = follower
        self.publish_s = publish_s
        self._tasks: list[asyncio.Task[None]] = []
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> Any:
            async with inner(a) as state:
                self._start()
                try:
                    yield state
                finally:
                    await self._stop()

        app.router.lifespan_context = lifespan

    @property
    def state(self) -> Any:
        """The wrapped app's state (config, core, metrics)."""
        return self.app.state

    def _render(self) -> str:
        text: str = self.app.state.render_metrics()
        return text

    def _start(self) -> None:
        if self.share is not None:
            self._tasks.append(asyncio.create_task(self._publish_loop()))
        if self.follower is not None:
            self._tasks.append(asyncio.create_task(self.follower.run()))

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.share is not None:
            self._publish()  # the last counts of this worker

    def _publish(self, text: str | None = None) -> None:
        # in the event loop only, so the file always holds the latest render
        assert self.share is not None
        try:
            self.share.publish(self._render() if text is None else text)
        except OSError as exc:
            logger.warning("cannot publish worker metrics: %s", exc)

    async def _publish_loop(self) -> None:
        while True:
            self._publish()
            await asyncio.sleep(self.publish_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET /metrics`` summed, ``POST /admin/reload`` announced, the rest as is."""
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == "/metrics" and method == "GET" and self.share is not None:
                await self._metrics(send)
                return
            if path == "/admin/reload" and method == "POST" and self.follower:
                await self._reload(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _metrics(self, send: Send) -> None:
        assert self.share is not None
        share = self.share
        own = self._render()
        # publish what this answer reports first: a scrape that another worker
        # answers next then counts at least as much of this one, so summed
        # counters never go back from one scrape to the next
        self._publish(own)
        body = (await asyncio.to_thread(share.aggregate, own)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _reload(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.follower is not None
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status == 200:
            try:
                generation = await asyncio.to_thread(self.follower.announce)
            except Exception as exc:
                logger.error(
                    "reloaded here, but the other processes were not told "
                    "(router generation not bumped): %r",
                    exc,
                )
            else:
                logger.info("router generation %d announced", generation)
