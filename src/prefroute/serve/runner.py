"""Run the app under uvicorn the way `prefroute serve` does: read timeouts on request
heads and bodies, no client secrets in the access log, and a bounded graceful
shutdown (SIGTERM / Ctrl-C: new requests are shed, those in flight get
`ServeConfig.shutdown_timeout` seconds, then the process exits)."""

from __future__ import annotations

import logging
import math
import socket
from typing import Any

from prefroute.errors import MissingDependencyError

__all__ = ["RedactQueryFilter", "build_server", "run_server"]

logger = logging.getLogger(__name__)

try:
    import uvicorn
except ImportError as _exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("uvicorn", "serve", "prefroute serve") from _exc


class RedactQueryFilter(logging.Filter):
    """Drops query strings from uvicorn's access log lines.

    Clients sometimes put keys in the URL (``?api_key=...``); the server reads none
    from there, and the access log must not keep them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument of an access record; never drops a record."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _ = args[2].partition("?")
            if sep:
                record.args = (*args[:2], f"{path}?<redacted>", *args[3:])
        return True


class _GracefulServer(uvicorn.Server):
    """uvicorn's server, draining the app before it waits for connections."""

    def __init__(self, config: uvicorn.Config, app: Any, grace: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace = grace

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        admission = getattr(self._app.state, "admission", None)
        if admission is not None:
            admission.begin_drain(self._grace)
        await super().shutdown(sockets)


def build_server(
    app: Any, *, access_log: bool = False, log_level: str = "info"
) -> uvicorn.Server:
    """A uvicorn server for an app made by `create_app` (its `ServeConfig` decides
    host, port and limits).

    Args:
        app: The ASGI app; ``app.state.config`` is its `ServeConfig`.
        access_log: Log one line per request (query strings redacted).
        log_level: uvicorn's log level.

    Returns:
        The server (call `run()`, or `run(sockets=[...])` on bound sockets).
    """
    config = app.state.config
    http: Any = "auto"
    try:
        from prefroute.serve._protocol import timed_protocol
    except ImportError:  # httptools missing: uvicorn falls back to h11
        logger.warning(
            "httptools is not installed: request head and body read timeouts are off "
            "(pip install 'prefroute[serve]')"
        )
    else:
        http = timed_protocol(config.header_timeout, config.body_timeout)
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=http,
        log_level=log_level,
        access_log=access_log,
        timeout_keep_alive=30,
        # uvicorn's own backstop: our drain ends every request within the grace
        # period; after one more second uvicorn cancels what is left.
        timeout_graceful_shutdown=math.ceil(config.shutdown_timeout) + 1,
    )
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryFilter) for f in access.filters):
        access.addFilter(RedactQueryFilter())
    return _GracefulServer(uv_config, app, config.shutdown_timeout)


def run_server(app: Any, *, access_log: bool = False) -> None:
    """Serve `app` until SIGTERM / Ctrl-C (see `build_server`).

    Args:
        app: The ASGI app made by `create_app`.
        access_log: Log one line per request (query strings redacted).
    """
    server = build_server(app, access_log=access_log)
    server.run()
    if not server.started:  # e.g. the port is taken (uvicorn logged why)
        raise SystemExit(3)
