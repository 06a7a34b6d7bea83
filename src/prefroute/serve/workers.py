"""``prefroute serve --workers N``: N server processes on one port, one supervisor.

One Python event loop serves a few thousand requests a second at most; workers
use the other cores. The supervisor (the process you start):

1. loads the routers once and computes their calibrations once (threshold
   calibrations, N-model budgets), writing them to its run directory for the
   workers to load instead of computing them N times;
2. binds one listening socket per worker on the same port (``SO_REUSEPORT``: the
   kernel spreads new connections over them) and keeps them, so connections that
   arrive while a worker restarts wait in its socket's queue;
3. starts the workers (fresh interpreters, ``spawn``): each builds its own app
   (routers, scoring thread, request log writer, upstream clients) and serves
   its socket;
4. restarts a worker that dies (backing off when one keeps dying), forwards
   SIGHUP (reload routers) to every worker, and on SIGTERM / Ctrl-C stops them
   all gracefully, then exits.

Workers publish their metrics to the run directory so that any worker's
``/metrics`` answers for all of them (`prefroute.serve.cluster`), and follow a
router generation there, so ``POST /admin/reload`` on the one worker that
receives it reloads every worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from prefroute.errors import ConfigError

if TYPE_CHECKING:
    from prefroute.gateway.core import RoutingCore
    from prefroute.serve.config import ServeConfig

__all__ = ["PreparedWorkers", "WorkerSpec", "prepare_workers", "run_workers"]

logger = logging.getLogger(__name__)

_BACKLOG = 2048
# a worker that exits within this many seconds of starting counts as failing
_QUICK_EXIT_S = 10.0
_MAX_QUICK_EXITS = 5
_MAX_BACKOFF_S = 10.0


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to build its app (picklable).

    Attributes:
        config: The server config.
        run_dir: The supervisor's run directory (metrics, router generation).
        router_targets: Router name -> what to load (a folder the supervisor
            saved after recalibrating it, or the config's target).
        calibration_file: Threshold calibrations computed by the supervisor.
        budget_knobs: (router, budget) -> lambda computed by the supervisor.
        access_log: Log one line per request.
        log_level: The supervisor's log level (`prefroute -v`), for the workers.
    """

    config: ServeConfig
    run_dir: Path
    router_targets: Mapping[str, str]
    calibration_file: Path | None
    budget_knobs: Mapping[tuple[str, float], float]
    access_log: bool = False
    log_level: int = logging.WARNING


@dataclasses.dataclass
class PreparedWorkers:
    """The supervisor's work before forking: routers loaded and calibrated once.

    Attributes:
        spec: What each worker gets.
        core: The supervisor's core, to print its calibrations (`release` drops
            it before the workers start).
    """

    spec: WorkerSpec
    core: RoutingCore

    def release(self) -> None:
        """Stop the supervisor's scoring thread (the workers load their own)."""
        self.core.decider.close()

    def discard(self) -> None:
        """Release, and delete the run directory (when no worker will start)."""
        self.release()
        shutil.rmtree(self.spec.run_dir, ignore_errors=True)


def _generation_path(run_dir: Path) -> Path:
    return run_dir / "router-generation"


def _reloaded_marker(run_dir: Path) -> Path:
    return run_dir / "reloaded"


def prepare_workers(
    config: ServeConfig, *, access_log: bool = False
) -> PreparedWorkers:
    """Load the routers and compute every start-up calibration once.

    Args:
        config: The server config (`workers` > 1).
        access_log: Log one line per request in the workers.

    Returns:
        The worker spec (calibrations written to a new run directory) and the
        supervisor's core, for printing.

    Raises:
        PrefrouteError: A router or calibration failed to load.
    """
    from prefroute.calibrate import save_calibrations
    from prefroute.gateway.calibrations import load_calibrations_for
    from prefroute.gateway.core import RoutingCore
    from prefroute.routers.multi import MultiModelRouter
    from prefroute.routers.registry import load_router

    run_dir = Path(tempfile.mkdtemp(prefix="prefroute-serve-"))
    try:
        routers = {name: load_router(t) for name, t in config.routers.items()}
        calibrations = load_calibrations_for(config, routers)
        calibration_file = run_dir / "calibrations.json"
        save_calibrations(calibration_file, list(calibrations.values()))
        targets = dict(config.routers)
        if config.calibration_prompts and config.models:
            # recalibrated on the calibration prompts: the workers load this copy
            for name, router in routers.items():
                if isinstance(router, MultiModelRouter):
                    folder = run_dir / "routers" / name
                    router.save(folder)
                    targets[name] = str(folder)
        # the supervisor neither logs nor explores: no log store opened here
        core = RoutingCore(
            config.model_copy(update={"log": None, "explore": 0.0}),
            routers=routers,
            calibrations=calibrations,
        )
        knobs = core.calibrate_budgets()
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    spec = WorkerSpec(
        config=config,
        run_dir=run_dir,
        router_targets=targets,
        calibration_file=calibration_file,
        budget_knobs=knobs,
        access_log=access_log,
        log_level=logging.getLogger().getEffectiveLevel(),
    )
    return PreparedWorkers(spec=spec, core=core)


def _bind_sockets(host: str, port: int, n: int) -> list[socket.socket]:
    """`n` listening sockets on one address (one per worker, ``SO_REUSEPORT``)."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    if not infos:
        raise ConfigError(f"cannot resolve host {host!r}")
    family, kind, proto, _, address = infos[0]
    has_reuseport = hasattr(socket, "SO_REUSEPORT")
    sockets: list[socket.socket] = []
    try:
        for _ in range(n if has_reuseport else 1):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if has_reuseport:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(_BACKLOG)
            # port 0: the others take the port the kernel gave the first
            address = (address[0], sock.getsockname()[1], *address[2:])
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    # without SO_REUSEPORT every worker accepts on the one socket
    return sockets if has_reuseport else sockets * n


def _configure_worker_logging(level: int) -> None:
    logging.basicConfig(
        level=level,
        format=f"%(levelname)s [worker {os.getpid()}] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def build_worker_app(spec: WorkerSpec) -> Any:
    """A worker's app: routers loaded, calibrations taken from the supervisor.

    Args:
        spec: From `prepare_workers`.

    Returns:
        The ASGI app (a `ClusterApp` around `create_app`'s).
    """
    from prefroute.calibrate import load_calibrations
    from prefroute.gateway.core import RoutingCore
    from prefroute.gateway.reload_sync import FileReloadSignal
    from prefroute.routers.registry import load_router
    from prefroute.serve.app import create_app
    from prefroute.serve.cluster import MetricsShare

    config = spec.config
    file_signal = FileReloadSignal(_generation_path(spec.run_dir))
    marker = _reloaded_marker(spec.run_dir)
    if not marker.exists():
        routers = {name: load_router(t) for name, t in spec.router_targets.items()}
        calibrations = (
            load_calibrations(spec.calibration_file) if spec.calibration_file else {}
        )
        core = RoutingCore(config, routers=routers, calibrations=calibrations)
        for (name, budget), knob in spec.budget_knobs.items():
            core.decider.budgets.put(name, budget, knob)
        app = create_app(config, core=core)
    else:  # routers were reloaded since start: the supervisor's are stale
        app = create_app(config)
    return attach_cluster(
        app,
        share=MetricsShare(spec.run_dir / "metrics", os.getpid()),
        fallback_signal=file_signal,
        reloaded_marker=marker,
    )


def attach_cluster(
    app: Any,
    *,
    share: Any = None,
    fallback_signal: Any = None,
    reloaded_marker: Path | None = None,
) -> Any:
    """Wrap an app for serving among others (see `prefroute.serve.cluster`).

    The router generation followed is the PostgreSQL request log's when the
    config has one (replicas), else `fallback_signal` (workers of one machine).

    Args:
        app: From `create_app`.
        share: Where workers publish metrics (None: this process only).
        fallback_signal: A `ReloadSignal` used without a shared database.
        reloaded_marker: A file touched after every reload (workers started
            later then calibrate themselves instead of taking the supervisor's
            start-up calibrations).

    Returns:
        The app to serve: `app` itself when there is nothing to share.
    """
    from prefroute.gateway.reload_sync import ReloadFollower, ReloadSignal
    from prefroute.serve.cluster import ClusterApp

    config = app.state.config
    core = app.state.core
    signal_: Any = fallback_signal
    log = core.request_log
    store = getattr(log, "store", None)
    if config.reload_sync and isinstance(store, ReloadSignal):
        signal_ = store
    follower = (
        ReloadFollower(
            core,
            signal_,
            poll_s=config.reload_poll_s,
            on_reload=None if reloaded_marker is None else reloaded_marker.touch,
        )
        if signal_ is not None and config.reload_sync
        else None
    )
    if share is None and follower is None:
        return app
    return ClusterApp(app, share=share, follower=follower)


def _build_server(app: Any, access_log: bool) -> Any:
    """uvicorn's server for `app`, as the single-process server builds it."""
    try:
        from prefroute.serve.runner import build_server
    except ImportError:
        import uvicorn

        config = app.state.config
        return uvicorn.Server(
            uvicorn.Config(
                app,
                host=config.host,
                port=config.port,
                log_level="info",
                access_log=access_log,
                timeout_keep_alive=30,
            )
        )
    return build_server(app, access_log=access_log)


def _worker_main(spec: WorkerSpec, sock: socket.socket) -> None:
    """Entry point of a worker process: build the app, serve `sock` until SIGTERM."""
    # SIGHUP is ignored until the app installs its reload handler (see
    # `_Supervisor.start`): one arriving while this worker loads its routers,
    # the newest anyway, is dropped instead of killing it
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    _configure_worker_logging(spec.log_level)
    # the supervisor's SIGHUP forwarding reaches us; Ctrl-C reaches the whole
    # process group, and uvicorn turns it into a graceful stop
    app = build_worker_app(spec)
    server = _build_server(app, spec.access_log)
    server.run(sockets=[sock])


class _Supervisor:
    def __init__(self, spec: WorkerSpec, sockets: list[socket.socket]) -> None:
        self.spec = spec
        self.sockets = sockets
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[Any] = [None] * len(sockets)
        self.started_at = [0.0] * len(sockets)
        self.quick_exits = [0] * len(sockets)
        self.restart_at = [0.0] * len(sockets)
        self.is_stopping = False
        from prefroute.serve.cluster import MetricsShare

        self.share = MetricsShare(spec.run_dir / "metrics")

    def start(self, slot: int) -> None:
        spec = self.spec
        process = self.context.Process(
            target=_worker_main,
            args=(spec, self.sockets[slot]),
            name=f"prefroute-worker-{slot}",
            daemon=False,
        )
        # the child starts with SIGHUP ignored (kept across exec) until its app
        # installs the reload handler; ours waits, blocked, until the unblock
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        handler = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGHUP, handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        self.workers[slot] = process
        self.started_at[slot] = time.monotonic()
        logger.info("worker %d started (pid %d)", slot, process.pid)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            _reloaded_marker(self.spec.run_dir).touch()
            self.forward(signal.SIGHUP)
            return
        self.is_stopping = True

    def forward(self, signum: int) -> None:
        for process in self.workers:
            if process is not None and process.is_alive() and process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    def reap(self) -> bool:
        """Handle exited workers; False when one keeps failing (give up)."""
        now = time.monotonic()
        for slot, process in enumerate(self.workers):
            if process is None or process.is_alive():
                continue
            process.join()
            self.share.retire(process.pid)
            self.workers[slot] = None
            lived = now - self.started_at[slot]
            self.quick_exits[slot] = (
                self.quick_exits[slot] + 1 if lived < _QUICK_EXIT_S else 0
            )
            if self.quick_exits[slot] >= _MAX_QUICK_EXITS:
                logger.error(
                    "worker %d exited %d times within %.0fs of starting; stopping",
                    slot,
                    self.quick_exits[slot],
                    _QUICK_EXIT_S,
                )
                return False
            delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** max(0, self.quick_exits[slot] - 1))
            logger.warning(
                "worker %d (pid %d) exited with %s; restarting in %.1fs",
                slot,
                process.pid,
                process.exitcode,
                delay,
            )
            self.restart_at[slot] = now + delay
        for slot, process in enumerate(self.workers):
            if process is None and now >= self.restart_at[slot]:
                self.start(slot)
        return True

    def stop(self, grace_s: float) -> None:
        self.forward(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.workers:
            if process is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self.workers:
            if process is not None and process.is_alive():
                logger.warning("worker pid %d did not stop; killing it", process.pid)
                process.kill()
                process.join(5)


def run_workers(spec: WorkerSpec) -> int:
    """Serve with `spec.config.workers` worker processes until SIGTERM / Ctrl-C.

    Args:
        spec: From `prepare_workers` (its run directory is removed at exit);
            release the supervisor's core first (`PreparedWorkers.release`).

    Returns:
        The exit code: 0 after a signal, 1 when a worker kept failing.
    """
    config = spec.config
    try:
        sockets = _bind_sockets(config.host, config.port, config.workers)
        supervisor = _Supervisor(spec, sockets)
        previous = {
            signum: signal.signal(signum, supervisor.on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        code = 0
        try:
            for slot in range(config.workers):
                supervisor.start(slot)
            while not supervisor.is_stopping:
                sentinels = [p.sentinel for p in supervisor.workers if p is not None]
                multiprocessing.connection.wait(sentinels, timeout=0.5)
                if not supervisor.is_stopping and not supervisor.reap():
                    code = 1
                    break
        finally:
            grace = float(getattr(config, "shutdown_timeout", 15.0)) + 5.0
            supervisor.stop(grace)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for sock in set(sockets):
                sock.close()
        return code
    finally:
        shutil.rmtree(spec.run_dir, ignore_errors=True)
