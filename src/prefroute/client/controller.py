"""`Controller` and `AsyncController`: drop-in twins of `openai.OpenAI` /
`openai.AsyncOpenAI` that route each chat request in-process.

    from prefroute import Controller
    client = Controller(
        strong={"model": "gpt-4o", "base_url": "https://api.openai.com/v1",
                "api_key_env": "OPENAI_API_KEY"},
        weak={"model": "llama3.1:8b", "base_url": "http://127.0.0.1:11434/v1"},
        routers=["mf"],
    )
    reply = client.chat.completions.create(
        model="router-mf-0.116", messages=[{"role": "user", "content": "Hi"}])

Return types are the official ones (`ChatCompletion`, `Stream[ChatCompletionChunk]`,
`AsyncStream[...]`); the routing decision is made by the same `RoutingCore` the server
uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prefroute._unicode import utf8_safe
from prefroute.errors import ConfigError, MissingDependencyError
from prefroute.gateway.calibrations import load_calibrations_for
from prefroute.gateway.config import (
    EndpointConfig,
    PricedEndpoint,
    RouteOn,
    RoutingConfig,
)
from prefroute.gateway.core import RoutingCore
from prefroute.gateway.decision import Decision
from prefroute.gateway.errors import InvalidRequestError
from prefroute.gateway.request_log import RequestTrace, UnknownRequestIdError

if TYPE_CHECKING:
    from prefroute.calibrate import Calibration
    from prefroute.routers.base import Router

__all__ = ["AsyncController", "Controller", "UnknownRequestIdError"]


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise MissingDependencyError("openai", "client", "the Controller") from exc
    return openai


def _endpoint(value: EndpointConfig | Mapping[str, Any], which: str) -> EndpointConfig:
    if isinstance(value, EndpointConfig):
        return value
    if isinstance(value, Mapping):
        return EndpointConfig(**value)
    raise ConfigError(
        f"{which} must be an EndpointConfig or a mapping with 'model' and 'base_url', "
        f"got {type(value).__name__}"
    )


def _build_core(
    strong: EndpointConfig | Mapping[str, Any] | None,
    weak: EndpointConfig | Mapping[str, Any] | None,
    routers: Sequence[str] | Mapping[str, str | Router],
    route_on: RouteOn,
    fallback: bool,
    calibrations: Mapping[str, Calibration] | Path | str | None,
    calibration_prompts: str | None,
    models: Sequence[PricedEndpoint | Mapping[str, Any]] = (),
    budgets: Sequence[float] = (),
    learning: Mapping[str, Any] | None = None,
) -> RoutingCore:
    from pydantic import ValidationError

    from prefroute.calibrate import load_calibrations
    from prefroute.routers.base import Router
    from prefroute.routers.registry import load_router

    if isinstance(routers, str):
        routers = [routers]
    items = (
        routers.items() if isinstance(routers, Mapping) else ((r, r) for r in routers)
    )
    loaded: dict[str, Router] = {}
    targets: dict[str, str] = {}
    for name, target in items:
        if isinstance(target, Router):
            loaded[name] = target
            targets[name] = name
        else:
            loaded[name] = load_router(target)
            targets[name] = str(target)
    if (strong is None or weak is None) and not models:
        raise ConfigError(
            "give both 'strong' and 'weak' endpoints, or a priced 'models' list "
            "(strong/weak then default to its dearest and cheapest model)"
        )
    fields: dict[str, Any] = {
        "routers": targets,
        "route_on": route_on,
        "fallback": fallback,
        "calibration_prompts": calibration_prompts,
        "models": [
            m if isinstance(m, PricedEndpoint) else PricedEndpoint(**m) for m in models
        ],
        "budgets": list(budgets),
        **(learning or {}),
    }
    if strong is not None:
        fields["strong"] = _endpoint(strong, "strong")
    if weak is not None:
        fields["weak"] = _endpoint(weak, "weak")
    try:
        config = RoutingConfig(**fields)
    except ValidationError as exc:
        raise ConfigError(f"invalid Controller configuration: {exc}") from exc
    found: dict[str, Calibration] = {}
    if isinstance(calibrations, str | Path):
        found = {
            k: v for k, v in load_calibrations(calibrations).items() if k in loaded
        }
    elif calibrations is not None:
        found = dict(calibrations)
    if calibration_prompts:
        found.update(load_calibrations_for(config, loaded, have=set(found)))
    for endpoint in _all_endpoints(config):
        if endpoint.provider != "openai":
            raise ConfigError(
                "the Controller supports provider 'openai' (any OpenAI-compatible "
                f"API), "
                f"got {endpoint.provider!r} for {endpoint.model!r}; use the server for "
                "LiteLLM providers"
            )
    core = RoutingCore(config, routers=loaded, calibrations=found)
    core.calibrate_budgets()
    return core


def _all_endpoints(config: RoutingConfig) -> list[EndpointConfig]:
    return [config.strong, config.weak, *config.models]


def _key(endpoint: EndpointConfig) -> str:
    return f"{endpoint.base_url}|{endpoint.model}"


def _usage(reply: Any) -> dict[str, Any] | None:
    usage = getattr(reply, "usage", None)
    if usage is None:
        return None
    dump = getattr(usage, "model_dump", None)
    return dump() if dump is not None else dict(usage)


def _client_kwargs(endpoint: EndpointConfig) -> dict[str, Any]:
    secret = endpoint.resolved_api_key()
    return {
        "base_url": endpoint.base_url or None,
        # The SDK refuses a missing key; local servers ignore this placeholder.
        "api_key": secret.get_secret_value() if secret is not None else "no-key",
        "timeout": endpoint.timeout,
        "max_retries": endpoint.max_retries,
        "default_headers": endpoint.headers or None,
    }


def _require_utf8(messages: Any, kwargs: Mapping[str, Any]) -> None:
    """Refuse text the SDK cannot send: a lone surrogate ("\\ud800") has no UTF-8
    form, and the `openai` SDK writes UTF-8 JSON (the server relays such text
    \\u-escaped instead, as it came)."""
    if _has_lone_surrogate(messages) or _has_lone_surrogate(kwargs):
        raise InvalidRequestError(
            "the request holds text with a lone surrogate (e.g. '\\ud800'), which "
            "has no UTF-8 form and cannot be sent; clean it first, e.g. "
            "text.encode('utf-8', 'replace').decode()",
            param="messages",
            code="invalid_unicode",
        )


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any str in nested lists / dicts (keys included) lacks a UTF-8 form."""
    if isinstance(value, str):
        return utf8_safe(value) is not value
    if isinstance(value, Mapping):
        return any(
            _has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _fallback_errors(openai: Any) -> tuple[type[BaseException], ...]:
    return (openai.APIConnectionError, openai.InternalServerError)


class _Completions:
    def __init__(self, owner: Controller) -> None:
        self._owner = owner

    def create(self, *, model: str, messages: Any, **kwargs: Any) -> Any:
        """Route and call the chosen model; same arguments and return types as
        `openai.OpenAI().chat.completions.create`."""
        owner = self._owner
        core = owner.core
        trace = core.start_request()
        owner.last_request_id = trace.request_id
        decision = core.decide(model, messages, request=kwargs, trace=trace)
        _require_utf8(messages, kwargs)
        owner.last_decision = decision
        order = core.endpoints_for(decision)
        errors = _fallback_errors(owner._openai)
        try:
            for i, endpoint in enumerate(order):
                core.count(endpoint.model)
                try:
                    reply = owner._clients[_key(endpoint)].chat.completions.create(
                        model=endpoint.model, messages=messages, **kwargs
                    )
                except errors:
                    if i + 1 >= len(order):
                        raise
                    continue
                _record(core, endpoint, reply, messages, kwargs, trace, i > 0)
                return reply
        except Exception as exc:
            core.finish_request(trace, _status_of(exc), str(exc))
            raise
        raise AssertionError("unreachable")  # pragma: no cover


def _record(
    core: RoutingCore,
    endpoint: EndpointConfig,
    reply: Any,
    messages: Any,
    kwargs: Mapping[str, Any],
    trace: RequestTrace,
    is_fallback: bool,
) -> None:
    """Account an answered call: spend of a priced model (from the reply's usage,
    estimated for streams) and the request's log record.

    A stream is logged when it opens (its latency is the time to open it)."""
    usage = None if kwargs.get("stream") else _usage(reply)
    if endpoint.model in core.prices:
        trace.cost_usd = core.record_spend(
            endpoint.model, usage, len(json.dumps(messages, default=str))
        )
    trace.model, trace.is_fallback, trace.usage = endpoint.model, is_fallback, usage
    core.finish_request(trace, 200)
    # the id to send feedback with, on the reply itself (the SDK's models and
    # streams take extra attributes)
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        setattr(reply, "prefroute_request_id", trace.request_id)  # noqa: B010


def _status_of(exc: BaseException) -> int:
    """The HTTP status a failed SDK call stands for (for the request log)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    if "Timeout" in type(exc).__name__:
        return 504
    return 502


class _Chat:
    def __init__(self, owner: Controller) -> None:
        self.completions = _Completions(owner)


class _ControllerBase:
    """What `Controller` and `AsyncController` share: the routing core, one SDK
    client per endpoint, counts and spend."""

    _client_class: ClassVar[str]
    _chat_class: ClassVar[type[Any]]

    def __init__(
        self,
        *,
        strong: EndpointConfig | Mapping[str, Any] | None = None,
        weak: EndpointConfig | Mapping[str, Any] | None = None,
        routers: Sequence[str] | Mapping[str, str | Router] = ("random",),
        route_on: RouteOn = "last_user",
        fallback: bool = True,
        calibrations: Mapping[str, Calibration] | Path | str | None = None,
        calibration_prompts: str | None = None,
        models: Sequence[PricedEndpoint | Mapping[str, Any]] = (),
        budgets: Sequence[float] = (),
        log: str | Path | None = None,
        log_prompts: bool = False,
        log_max_rows: int | None = None,
        log_max_age_days: float | None = None,
        explore: float = 0.0,
        explore_seed: int | None = None,
    ) -> None:
        """Load routers, open the request log (if any), create the SDK clients."""
        self._openai = _import_openai()
        self.core = _build_core(
            strong,
            weak,
            routers,
            route_on,
            fallback,
            calibrations,
            calibration_prompts,
            models,
            budgets,
            {
                "log": None if log is None else str(log),
                "log_prompts": log_prompts,
                "log_max_rows": log_max_rows,
                "log_max_age_days": log_max_age_days,
                "explore": explore,
                "explore_seed": explore_seed,
            },
        )
        factory = getattr(self._openai, self._client_class)
        self._clients: dict[str, Any] = {
            _key(e): factory(**_client_kwargs(e))
            for e in _all_endpoints(self.core.config)
        }
        self.chat: Any = self._chat_class(self)
        self.last_decision: Decision | None = None
        self.last_request_id: str | None = None

    def _feedback(
        self, request_id: str, score: float | bool, source: str | None
    ) -> None:
        if self.core.feedback(request_id, score, source) == "unknown_request":
            raise UnknownRequestIdError(
                f"no logged request has id {request_id!r} (use the "
                "`prefroute_request_id` of a reply, or `last_request_id`)"
            )

    def route(self, prompt: str, router: str, threshold: float) -> str:
        """The model a prompt would go to.

        Args:
            prompt: The prompt.
            router: Router name.
            threshold: Cost threshold in [0, 1].

        Returns:
            The upstream model id (strong or weak).
        """
        return self.core.route(prompt, router, threshold).model

    @property
    def model_counts(self) -> dict[str, int]:
        """Calls sent to each upstream model so far (fallback calls included)."""
        return dict(self.core.model_counts)

    @property
    def model_spend(self) -> dict[str, float]:
        """USD spent per priced model: each reply's ``usage`` at the model's price
        (estimated from the prompt length for streams), as the server counts it."""
        return dict(self.core.model_spend)


class Controller(_ControllerBase):
    """Synchronous drop-in for `openai.OpenAI` that routes between two models, or
    among N priced models.

    Args:
        strong: Strong model endpoint (EndpointConfig or its fields as a mapping).
        weak: Weak model endpoint.
        routers: Router names/paths for `load_router`, or name -> name/path/Router.
        route_on: Which text is scored ("last_user", "all_user", "conversation").
        fallback: Retry on the other model on connection errors and 5xx.
        calibrations: Calibration file, or router name -> Calibration, for
            ``router-<name>@<share>`` model strings.
        calibration_prompts: Prompt file (or "default") to calibrate routers
            lacking a calibration; with priced `models`, also the prompts N-model
            routers' budgets are calibrated on (`MultiModelRouter.recalibrate`,
            in place: a router object you pass is changed).
        models: Priced endpoints (`PricedEndpoint` or its fields: an endpoint plus
            ``price`` in USD and an optional ``router_name``), as the server's
            ``models:``; an N-model router (``mf-multi``) then picks among them for
            ``model="router-mf-multi@<mean USD per request>"`` or
            ``"router-mf-multi-<lambda>"``, and a priced model's id sends there
            directly. `strong`/`weak` may then be omitted (dearest / cheapest).
        budgets: USD budgets to calibrate now rather than on first use.
        log: Request log (SQLite file or ``postgresql://`` URL): one record per
            routed request, written in a background thread; enables `feedback`.
        log_prompts: Store prompt text in the log (default: only its sha256).
        log_max_rows: Retention: keep at most this many requests.
        log_max_age_days: Retention: delete requests older than this.
        explore: Share of routed requests sent to a model the router did not
            pick (propensity logged), for off-policy evaluation.
        explore_seed: Seed of the exploration draws.

    Attributes:
        chat: ``chat.completions.create(...)`` as in the OpenAI client; replies
            carry ``prefroute_request_id``.
        core: The shared `RoutingCore`.
        last_decision: The decision of the latest request.
        last_request_id: The id of the latest request (for `feedback`).
    """

    _client_class = "OpenAI"
    _chat_class = _Chat

    def feedback(
        self, request_id: str, score: float | bool, source: str | None = None
    ) -> None:
        """Rate a logged request (needs `log=`); one score per source is kept.

        Args:
            request_id: The request's id: ``reply.prefroute_request_id`` or
                `last_request_id`.
            score: In [0, 1], or True (1.0) / False (0.0).
            source: Who rates (e.g. "user", "judge"); a later score from the
                same source replaces the earlier one.

        Raises:
            RequestLogOffError: The Controller keeps no request log.
            UnknownRequestIdError: No request with this id is logged.
            InvalidRequestError: A malformed id, score or source.
        """
        self._feedback(request_id, score, source)

    def close(self) -> None:
        """Close the HTTP clients and the request log (after writing its queue)."""
        for client in self._clients.values():
            client.close()
        self.core.close_log()

    def __enter__(self) -> Controller:
        """Context manager entry."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()


class _AsyncCompletions:
    def __init__(self, owner: AsyncController) -> None:
        self._owner = owner

    async def create(self, *, model: str, messages: Any, **kwargs: Any) -> Any:
        """Route (micro-batched) and call the chosen model; as
        `openai.AsyncOpenAI().chat.completions.create`."""
        owner = self._owner
        core = owner.core
        trace = core.start_request()
        owner.last_request_id = trace.request_id
        decision = await core.adecide(model, messages, request=kwargs, trace=trace)
        _require_utf8(messages, kwargs)
        owner.last_decision = decision
        order = core.endpoints_for(decision)
        errors = _fallback_errors(owner._openai)
        try:
            for i, endpoint in enumerate(order):
                core.count(endpoint.model)
                try:
                    client = owner._clients[_key(endpoint)]
                    reply = await client.chat.completions.create(
                        model=endpoint.model, messages=messages, **kwargs
                    )
                except errors:
                    if i + 1 >= len(order):
                        raise
                    continue
                _record(core, endpoint, reply, messages, kwargs, trace, i > 0)
                return reply
        except Exception as exc:
            core.finish_request(trace, _status_of(exc), str(exc))
            raise
        raise AssertionError("unreachable")  # pragma: no cover


class _AsyncChat:
    def __init__(self, owner: AsyncController) -> None:
        self.completions = _AsyncCompletions(owner)


class AsyncController(_ControllerBase):
    """Asynchronous drop-in for `openai.AsyncOpenAI`; same arguments as `Controller`.

    Concurrent requests share micro-batched router scoring.
    """

    _client_class = "AsyncOpenAI"
    _chat_class = _AsyncChat

    async def feedback(
        self, request_id: str, score: float | bool, source: str | None = None
    ) -> None:
        """Rate a logged request, as `Controller.feedback` (the store write runs
        in a worker thread)."""
        await asyncio.to_thread(self._feedback, request_id, score, source)

    async def close(self) -> None:
        """Close the HTTP clients and the scoring thread."""
        for client in self._clients.values():
            await client.close()
        await self.core.aclose()

    async def __aenter__(self) -> AsyncController:
        """Async context manager entry."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close on exit."""
        await self.close()
