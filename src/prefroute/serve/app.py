"""The OpenAI-compatible routing server: `create_app(config)`.

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE, unknown fields passed through),
``GET /v1/models``, ``GET /health``, ``GET /metrics``, ``POST /v1/feedback`` (rates a
logged request) and ``POST /admin/reload`` (admin key; also on SIGHUP). Every error
is an OpenAI error envelope ``{"error": {"message", "type", "param", "code"}}``, and
every chat completion response (answer, stream or error) carries
``x-prefroute-request-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import secrets
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prefroute.errors import (
    ConfigError,
    MissingDependencyError,
    PrefrouteError,
    UnknownRouterError,
    UpstreamError,
)
from prefroute.gateway.calibrations import load_calibrations_for
from prefroute.gateway.core import RoutingCore
from prefroute.gateway.decision import Decision
from prefroute.gateway.errors import (
    InvalidRequestError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from prefroute.gateway.request_log import RequestLogOffError, RequestTrace
from prefroute.serve.config import ServeConfig
from prefroute.serve.metrics import ServeMetrics, learning_lines

try:
    # Imported at module level: FastAPI resolves endpoint annotations from globals.
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.background import BackgroundTask
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.responses import Response
except ImportError as _exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("fastapi", "serve", "prefroute serve") from _exc

__all__ = ["HEADER_PREFIX", "build_core", "create_app", "error_body"]

logger = logging.getLogger(__name__)

HEADER_PREFIX = "x-prefroute-"
_SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class _HTTPFailure(PrefrouteError):
    def __init__(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.code = code
        self.param = param


def error_body(
    message: str, kind: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error envelope.

    Args:
        message: Human-readable message.
        kind: Error type (e.g. "invalid_request_error").
        param: Offending request field.
        code: Machine-readable code.

    Returns:
        ``{"error": {"message", "type", "param", "code"}}``.
    """
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _failure(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Map any exception to (status, envelope); never leaks a traceback."""
    if isinstance(exc, _HTTPFailure):
        return exc.status, error_body(str(exc), exc.kind, exc.param, exc.code)
    if isinstance(exc, RequestLogOffError):
        return 404, error_body(
            str(exc), "invalid_request_error", None, "request_log_disabled"
        )
    if isinstance(exc, InvalidRequestError):
        return 400, error_body(str(exc), "invalid_request_error", exc.param, exc.code)
    if isinstance(exc, UnknownRouterError):
        return 404, error_body(
            str(exc), "invalid_request_error", "model", "model_not_found"
        )
    if isinstance(exc, UpstreamStatusError):
        body = exc.body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return exc.status_code, body
        return exc.status_code, error_body(
            str(exc), "upstream_error", None, f"upstream_{exc.status_code}"
        )
    if isinstance(exc, UpstreamTimeoutError):
        return 504, error_body(str(exc), "upstream_timeout", None, "upstream_timeout")
    if isinstance(exc, UpstreamError | MissingDependencyError):
        return 502, error_body(str(exc), "upstream_error", None, "upstream_error")
    if isinstance(exc, ConfigError):
        return 400, error_body(str(exc), "invalid_request_error", None, None)
    logger.error("internal error: %r", exc, exc_info=exc)
    return 500, error_body(
        f"internal server error ({type(exc).__name__})",
        "internal_error",
        None,
        "internal_error",
    )


def _decision_headers(
    decision: Decision, model: str, is_fallback: bool
) -> dict[str, str]:
    headers = {
        f"{HEADER_PREFIX}routed-to": model,
        f"{HEADER_PREFIX}tier": decision.tier,
        f"{HEADER_PREFIX}router": decision.router or "direct",
        f"{HEADER_PREFIX}fallback": "true" if is_fallback else "false",
    }
    if decision.score is not None:
        headers[f"{HEADER_PREFIX}score"] = f"{decision.score:.6f}"
    if decision.threshold is not None:
        headers[f"{HEADER_PREFIX}threshold"] = f"{decision.threshold:.6f}"
    if is_fallback:
        headers[f"{HEADER_PREFIX}decided"] = decision.model
    if decision.explored_from is not None:
        headers[f"{HEADER_PREFIX}exploration"] = "1"
    return headers


_REQUEST_ID = f"{HEADER_PREFIX}request-id"
_MAX_CLIENT_ID = 200


def _id_headers(trace: RequestTrace, request: Request) -> dict[str, str]:
    """Our request id, and the client's ``x-request-id`` echoed back (if short)."""
    headers = {_REQUEST_ID: trace.request_id}
    client_id = request.headers.get("x-request-id")
    if client_id and len(client_id) <= _MAX_CLIENT_ID:
        headers["x-request-id"] = client_id
    return headers


def _relay_body(body: Any, model: str) -> bytes:
    """An upstream's parsed JSON answer, written back as compact UTF-8 JSON.

    Lone surrogates (legal in JSON as "\\ud800", not in UTF-8) are relayed
    \\u-escaped; NaN / Infinity cannot be written as JSON and fail as `UpstreamError`.
    """
    try:
        text = json.dumps(
            body, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode("ascii")
    except ValueError as exc:
        raise UpstreamError(
            f"upstream {model!r} returned JSON that cannot be relayed ({exc})"
        ) from exc


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _HTTPFailure(
            413,
            f"request body is {declared} bytes; the limit is {limit}",
            "invalid_request_error",
            "request_too_large",
        )
    from starlette.requests import ClientDisconnect

    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _HTTPFailure(
                    413,
                    f"request body exceeds the limit of {limit} bytes",
                    "invalid_request_error",
                    "request_too_large",
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # nobody is left to answer; 499 (nginx's "client closed request") keeps it
        # apart from server errors in /metrics
        raise _HTTPFailure(
            499,
            "the client closed the connection before sending the whole body",
            "invalid_request_error",
            "client_closed_request",
        ) from None
    raw = b"".join(chunks)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _HTTPFailure(
            400,
            f"request body is not valid JSON ({exc}); expected a "
            "chat completion object with 'model' and 'messages'",
            "invalid_request_error",
            "invalid_json",
        ) from exc
    except RecursionError as exc:  # nesting deeper than the parser's recursion limit
        raise _HTTPFailure(
            400,
            "request body is nested too deeply to parse; expected a chat "
            "completion object with 'model' and 'messages'",
            "invalid_request_error",
            "invalid_json",
        ) from exc
    if not isinstance(body, dict):
        raise _HTTPFailure(
            400,
            f"request body must be a JSON object, got {type(body).__name__}",
            "invalid_request_error",
            "invalid_json",
        )
    return body


def build_core(config: ServeConfig, metrics: ServeMetrics) -> RoutingCore:
    """Load routers and calibrations named by the config into a `RoutingCore`.

    Args:
        config: Server config.
        metrics: Observer for routing and upstream events.

    Returns:
        The core.
    """
    from prefroute.routers.registry import load_router

    routers = {name: load_router(target) for name, target in config.routers.items()}
    calibrations = load_calibrations_for(config, routers)
    return RoutingCore(
        config, routers=routers, calibrations=calibrations, observer=metrics
    )


def _batcher_lines(core: RoutingCore) -> str:
    """Micro-batching counters per router (batches scored, prompts, cache hits)."""
    out = []
    for name, help_text, attr in (
        ("prefroute_score_batches_total", "Router.score calls.", "n_batches"),
        ("prefroute_scored_prompts_total", "Prompts scored in batches.", "n_prompts"),
        ("prefroute_score_cache_hits_total", "Scores from the cache.", "n_cache_hits"),
    ):
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for router, batcher in sorted(core.batchers.items()):
            out.append(f'{name}{{router="{router}"}} {getattr(batcher, attr)}')
    return "\n".join(out) + "\n"


def _entry(created: int, model_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "prefroute",
        **fields,
    }


def _models_payload(core: RoutingCore, created: int) -> dict[str, Any]:
    """``/v1/models``: router entries (with calibrations), then the priced models.

    N-model routers list the config's budgets only (budgets first seen in requests
    are calibrated and cached, but not listed: clients could invent any number)."""
    data: list[dict[str, Any]] = []
    for name in sorted(core.routers):
        if core.is_multi(name) and core.config.models:
            knobs = {
                budget: knob
                for (router, budget), knob in sorted(core.budget_knobs.items())
                if router == name
            }
            data.append(
                _entry(
                    created,
                    f"router-{name}",
                    router=name,
                    kind="n-model",
                    usage=f"router-{name}@<mean USD per request> or "
                    f"router-{name}-<lambda>",
                    models=[m.model for m in core.config.models],
                    calibrated_budgets={
                        f"{b:g}": k if math.isfinite(k) else None
                        for b, k in knobs.items()
                    },
                    calibration_prompts=getattr(
                        core.routers[name], "n_calibration_prompts", None
                    ),
                )
            )
            for budget, knob in knobs.items():
                finite = math.isfinite(knob)  # inf: below every model's cost
                data.append(
                    _entry(
                        created,
                        f"router-{name}@{budget:g}",
                        router=name,
                        budget_usd=budget,
                        **{"lambda": knob if finite else None},
                        equivalent=f"router-{name}-{knob:.6g}" if finite else None,
                        note=None
                        if finite
                        else "budget below every model's cost: the cheapest model",
                    )
                )
            continue
        calibration = core.calibrations.get(name)
        thresholds = None
        if calibration is not None:
            thresholds = {f"{s:g}": calibration.threshold_for(s) for s in _SHARES}
        data.append(
            _entry(
                created,
                f"router-{name}",
                router=name,
                kind="two-model",
                usage=f"router-{name}-<threshold in [0, 1]> or "
                f"router-{name}@<strong share>",
                calibrated_thresholds=thresholds,
                calibration_prompts=calibration.n_prompts if calibration else None,
            )
        )
        if thresholds is not None:
            for share, threshold in thresholds.items():
                data.append(
                    _entry(
                        created,
                        f"router-{name}@{share}",
                        router=name,
                        strong_share=float(share),
                        threshold=threshold,
                        equivalent=f"router-{name}-{threshold:.6g}",
                    )
                )
    for m in core.config.models:
        data.append(
            _entry(
                created,
                m.model,
                owned_by="upstream",
                kind="upstream",
                router_name=m.routed_name,
                price=dataclasses.asdict(core.prices[m.model]),
            )
        )
    return {
        "object": "list",
        "data": data,
        "strong_model": core.config.strong.model,
        "weak_model": core.config.weak.model,
    }


_FAST_PATH = "/v1/chat/completions"


class _RoutingApp(FastAPI):
    """FastAPI with a short path for ``POST /v1/chat/completions``.

    That endpoint turns every failure into an envelope itself, so it needs none of
    FastAPI's per-request machinery (middleware stack, dependency solving, exception
    handlers): calling it straight from the ASGI entry point halved the server's
    own CPU per proxied request in benchmarks/serve_overhead.py. Everything else
    goes through FastAPI as usual.
    """

    fast_path: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Dispatch the chat endpoint directly, the rest through FastAPI."""
        if (
            self.fast_path is not None
            and scope["type"] == "http"
            and scope["path"] == _FAST_PATH
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            response = await self.fast_path(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(config: ServeConfig, *, core: RoutingCore | None = None) -> FastAPI:
    """Build the FastAPI app; state lives on ``app.state`` (core, metrics, config).

    Args:
        config: Server config.
        core: A prepared core (tests inject routers this way); default: built from
            `config` (routers loaded, calibrations computed) before returning.

    Returns:
        The ASGI app (serve it with uvicorn).

    """
    metrics = ServeMetrics()
    if core is None:
        core = build_core(config, metrics)
    elif core.observer is None:
        core.observer = metrics
    core.calibrate_budgets()  # budgets named in the config: now, not on first use
    api_keys = config.resolved_api_keys()
    admin_keys = config.resolved_admin_api_keys()
    created = int(time.time())
    n_feedback_log_off = 0

    async def reload_routers() -> Any:
        try:
            report = await asyncio.to_thread(core.reload)
        except Exception as exc:
            shown = str(exc) if isinstance(exc, PrefrouteError | OSError) else ""
            logger.error("router reload failed: %r", exc, exc_info=exc)
            raise _HTTPFailure(
                500,
                f"reload failed ({type(exc).__name__}: {shown}); router version "
                f"{core.router_version} keeps serving",
                "internal_error",
                "reload_failed",
            ) from exc
        logger.info(
            "routers reloaded: version %d in %.2fs", report.version, report.seconds
        )
        return report

    def on_sighup() -> None:
        async def run() -> None:
            with contextlib.suppress(_HTTPFailure):  # logged; the old ones serve on
                await reload_routers()

        task = asyncio.get_running_loop().create_task(run())
        reload_tasks.add(task)
        task.add_done_callback(reload_tasks.discard)

    reload_tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SIGHUP reloads the routers; only in the main thread (uvicorn as a
        # program), not when the app is served from a thread
        has_sighup = False
        if hasattr(signal, "SIGHUP"):
            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)
                has_sighup = True
            except (ValueError, RuntimeError, NotImplementedError):
                pass
        try:
            yield
        finally:
            if has_sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await app.state.core.aclose()

    app = _RoutingApp(
        title="prefroute",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.core = core
    app.state.metrics = metrics
    app.state.config = config

    def envelope(
        exc: BaseException,
        path: str,
        trace: RequestTrace | None = None,
        request: Request | None = None,
    ) -> JSONResponse:
        status, body = _failure(exc)
        metrics.on_request(path, status)
        if trace is None or request is None:
            return JSONResponse(body, status_code=status)
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        core.finish_request(trace, status, str(message or exc))
        return JSONResponse(
            body, status_code=status, headers=_id_headers(trace, request)
        )

    def check_admin(request: Request) -> None:
        if not admin_keys:
            raise _HTTPFailure(
                403,
                "admin endpoints are off on this server: configure admin keys "
                "(admin_api_keys, or PREFROUTE_ADMIN_API_KEYS=key1,key2)",
                "invalid_request_error",
                "admin_disabled",
            )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not any(
            secrets.compare_digest(token.strip(), key) for key in admin_keys
        ):
            raise _HTTPFailure(
                401,
                "missing or invalid admin key; send "
                "'Authorization: Bearer <admin key>'",
                "invalid_request_error",
                "invalid_api_key",
            )

    def check_auth(request: Request) -> None:
        if not api_keys:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not any(
            secrets.compare_digest(token.strip(), key) for key in api_keys
        ):
            raise _HTTPFailure(
                401,
                "missing or invalid API key; send 'Authorization: Bearer <key>'",
                "invalid_request_error",
                "invalid_api_key",
            )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "invalid_request_error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = (
            f"no route {request.method} {request.url.path}; endpoints: POST "
            "/v1/chat/completions, GET /v1/models, GET /health, GET /metrics, "
            "POST /v1/feedback, POST /admin/reload"
        )
        metrics.on_request(request.url.path, exc.status_code)
        return JSONResponse(
            error_body(message, kind, None, code), status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _any_error(request: Request, exc: Exception) -> Response:
        return envelope(exc, request.url.path)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        path = "/v1/chat/completions"
        trace = core.start_request()
        try:
            check_auth(request)
            body = await _read_json(request, config.max_body_bytes)
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise InvalidRequestError(
                    f"'stream' must be true or false, got {stream!r}",
                    param="stream",
                    code="invalid_stream",
                )
            decision = await core.adecide(
                body.get("model"), body.get("messages"), request=body, trace=trace
            )
            if stream:
                result = await core.astream(body, decision, trace=trace)
                headers = _decision_headers(decision, result.model, result.is_fallback)
                headers.update(_id_headers(trace, request))
                headers["cache-control"] = "no-cache"
                metrics.on_request(path, 200)

                async def end_stream() -> None:
                    try:
                        await result.aclose()
                    finally:
                        core.finish_request(trace, 200)

                return StreamingResponse(
                    result.chunks,
                    media_type="text/event-stream",
                    headers=headers,
                    background=BackgroundTask(end_stream),
                )
            answer = await core.acomplete(body, decision, trace=trace)
            headers = _decision_headers(decision, answer.model, answer.is_fallback)
            headers.update(_id_headers(trace, request))
            response = Response(
                _relay_body(answer.body, answer.model),
                media_type="application/json",
                headers=headers,
            )
            metrics.on_request(path, 200)
            core.finish_request(trace, 200)
            return response
        except Exception as exc:  # every failure becomes an envelope, never a 500 page
            return envelope(exc, path, trace, request)

    app.fast_path = chat_completions

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        try:
            check_auth(request)
        except _HTTPFailure as exc:
            return envelope(exc, "/v1/models")
        metrics.on_request("/v1/models", 200)
        return JSONResponse(_models_payload(core, created))

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> Response:
        nonlocal n_feedback_log_off
        path = "/v1/feedback"
        try:
            check_auth(request)
            body = await _read_json(request, config.max_body_bytes)
            if core.request_log is None:
                n_feedback_log_off += 1
            request_id = body.get("request_id")
            # blocking: a store write, and a flush when the request is still queued
            result = await asyncio.to_thread(
                core.feedback, request_id, body.get("score"), body.get("source")
            )
            if result == "unknown_request":
                raise _HTTPFailure(
                    404,
                    f"no logged request has id {request_id!r} (send the "
                    "x-prefroute-request-id of a chat completion of this server; "
                    "requests rejected before routing, or pruned, are not logged)",
                    "invalid_request_error",
                    "unknown_request_id",
                    "request_id",
                )
        except Exception as exc:
            return envelope(exc, path)
        metrics.on_request(path, 200)
        return JSONResponse({"status": "ok", "request_id": request_id})

    @app.post("/admin/reload")
    async def admin_reload(request: Request) -> Response:
        path = "/admin/reload"
        try:
            check_admin(request)
            report = await reload_routers()
        except Exception as exc:
            return envelope(exc, path)
        metrics.on_request(path, 200)
        return JSONResponse({"status": "ok", **dataclasses.asdict(report)})

    @app.get("/health")
    async def health() -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "routers": sorted(core.routers),
                "strong_model": config.strong.model,
                "weak_model": config.weak.model,
                "router_version": core.router_version,
                "request_log": core.request_log is not None,
                "explore": core.config.explore,
            }
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(
            metrics.render()
            + _batcher_lines(core)
            + learning_lines(core, n_feedback_log_off),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    return app
