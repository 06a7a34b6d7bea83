"""The routing core shared by the in-process `Controller` and the server.

It parses the request's ``model`` string into a router and a threshold, extracts the
text to score from the conversation, scores it (concurrent async requests are
micro-batched into one `Router.score` call), picks the strong or weak endpoint, and
(for the server) calls that OpenAI-compatible upstream over HTTP (a lean keep-alive
HTTP/1.1 client, `prefroute.client._http`; httpx behind proxies) with retries and an
optional fallback to the other model. With priced `models`, an N-model router picks
one of them per request (quality - lambda x USD, lambda given or calibrated for a
budget) and falls back to the next-best by the same utility; calls and spend are
counted per model. A request's USD is estimated from the input tokens of all its
messages (whatever text is scored) and, with ``max_tokens``, at most that many output
tokens. Budgets are met on the prompts they were calibrated on (the router's stored
calibration prompts; `calibration_prompts` replaces them at start). The server and the
`Controller` share all of this.

Model strings:
    ``router-<name>-<threshold>``: router ``<name>`` with cost threshold in [0, 1]
    (as in the RouteLLM server, e.g. ``router-mf-0.116``); a score >= threshold goes
    to the strong model.
    ``router-<name>@<share>``: the threshold calibrated so that a fraction
    ``<share>`` of the calibration prompts goes strong (e.g. ``router-mf@0.3``).
    ``router-<name>@<USD>`` / ``router-<name>-<lambda>`` for an N-model router when
    priced `models` are configured (mean USD per request budget, or lambda).
    The strong or weak (or a priced) upstream model id itself: sent there unrouted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prefroute._lru import LRU
from prefroute.client.config import (
    EndpointConfig,
    PricedEndpoint,
    RouteOn,
    RoutingConfig,
)
from prefroute.errors import ConfigError, UnknownRouterError, UpstreamError

if TYPE_CHECKING:
    import httpx

    from prefroute.calibrate import Calibration
    from prefroute.client._http import LeanClient
    from prefroute.routers.base import Router

__all__ = [
    "Decision",
    "InvalidRequestError",
    "ModelSpec",
    "RoutingCore",
    "RoutingObserver",
    "ScoreBatcher",
    "StreamResult",
    "UpstreamResult",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
    "extract_prompt",
    "fallback_order",
    "load_calibrations_for",
    "output_token_cap",
    "parse_model",
    "tool_input_tokens",
]

logger = logging.getLogger(__name__)

MODEL_PREFIX = "router-"


class InvalidRequestError(ConfigError):
    """The request is malformed; `param` names the offending field (HTTP 400)."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None
    ):
        """Store the message, the offending parameter and a machine-readable code.

        Args:
            message: What was expected and what came.
            param: Request field at fault (e.g. "messages").
            code: Short error code (e.g. "invalid_threshold").
        """
        super().__init__(message)
        self.param = param
        self.code = code


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not answer within its timeout (HTTP 504)."""


class UpstreamStatusError(UpstreamError):
    """The upstream rejected the request with a 4xx status; passed to the caller as is.

    Attributes:
        status_code: The upstream's HTTP status.
        body: The upstream's parsed JSON body, or None.
    """

    def __init__(self, message: str, status_code: int, body: Any = None) -> None:
        """Keep the status and body.

        Args:
            message: Description.
            status_code: Upstream HTTP status (4xx).
            body: Parsed JSON body, if any.
        """
        super().__init__(message)
        self.status_code = status_code
        self.body = body


# -- model strings and prompts -------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``model`` string.

    Attributes:
        router: Router name, or None for a direct call to `direct`.
        threshold: Explicit cost threshold, or None.
        strong_share: Target share of strong calls (calibrated threshold), or None.
        direct: "strong" or "weak" when the string named an upstream model itself.
        budget: N-model routing: mean USD per request (``router-<name>@<USD>``).
        knob: N-model routing: lambda (``router-<name>-<lambda>``).
        model: A priced model id named directly (sent there, not routed).
    """

    router: str | None
    threshold: float | None = None
    strong_share: float | None = None
    direct: Literal["strong", "weak"] | None = None
    budget: float | None = None
    knob: float | None = None
    model: str | None = None


def _parse_multi(model: str, name: str, value: str, at: bool) -> ModelSpec:
    """Parse an N-model string: ``router-<name>@<USD>`` or ``router-<name>-<lam>``."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        what = "budget (mean USD per request)" if at else "lambda"
        raise InvalidRequestError(
            f"{what} in model {model!r} must be a finite number >= 0, got {value!r} "
            f"(expected e.g. 'router-{name}@0.004' or 'router-{name}-50')",
            param="model",
            code="invalid_budget" if at else "invalid_lambda",
        )
    if at:
        return ModelSpec(router=name, budget=number)
    return ModelSpec(router=name, knob=number)


def _parse_unit(text: str, what: str, model: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidRequestError(
            f"{what} in model {model!r} must be a number in [0, 1], got {text!r} "
            f"(expected e.g. 'router-mf-0.116' or 'router-mf@0.3')",
            param="model",
            code=f"invalid_{what.replace(' ', '_')}",
        )
    return value


def parse_model(
    model: Any, *, strong_model: str | None = None, weak_model: str | None = None
) -> ModelSpec:
    """Parse a request's ``model`` field.

    Args:
        model: The field's value.
        strong_model: Upstream id of the strong model (accepted for direct calls).
        weak_model: Upstream id of the weak model (accepted for direct calls).

    Returns:
        The parsed spec.

    Raises:
        InvalidRequestError: Not a string, or not of the forms above, or a
            threshold/share that is not a number in [0, 1].
    """
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            f"'model' must be a non-empty string such as 'router-mf-0.116' or "
            f"'router-mf@0.3', got {model!r}",
            param="model",
            code="invalid_model",
        )
    if not model.startswith(MODEL_PREFIX):
        if model == strong_model:
            return ModelSpec(router=None, direct="strong")
        if model == weak_model:
            return ModelSpec(router=None, direct="weak")
        raise InvalidRequestError(
            f"model {model!r} is not a router model; expected "
            "'router-<router>-<threshold>' (e.g. 'router-mf-0.116') or "
            "'router-<router>@<strong share>' (e.g. 'router-mf@0.3')",
            param="model",
            code="invalid_model",
        )
    rest = model[len(MODEL_PREFIX) :]
    if "@" in rest:
        name, _, share = rest.rpartition("@")
        if not name:
            raise InvalidRequestError(
                f"model {model!r} names no router before '@'; expected "
                "'router-<router>@<strong share>' (e.g. 'router-mf@0.3')",
                param="model",
                code="invalid_model",
            )
        return ModelSpec(
            router=name, strong_share=_parse_unit(share, "strong share", model)
        )
    name, sep, threshold = rest.rpartition("-")
    if name.endswith("-"):  # a negative threshold: "router-mf--0.1"
        name, threshold = name[:-1], f"-{threshold}"
    if not sep or not name:
        raise InvalidRequestError(
            f"model {model!r} has no threshold; expected 'router-<router>-<threshold>' "
            "(e.g. 'router-mf-0.116') or 'router-<router>@<strong share>'",
            param="model",
            code="invalid_model",
        )
    return ModelSpec(router=name, threshold=_parse_unit(threshold, "threshold", model))


def _content_text(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    raise InvalidRequestError(
        f"messages[{index}].content must be a string or a list of content parts, "
        f"got {type(content).__name__}",
        param=f"messages[{index}].content",
        code="invalid_messages",
    )


def extract_prompt(messages: Any, route_on: RouteOn = "last_user") -> str:
    """The text a router scores, taken from an OpenAI ``messages`` list.

    Args:
        messages: The request's messages.
        route_on: "last_user": the last user turn (as the paper); "all_user": every
            user turn, newline-joined; "conversation": every turn as "role: text".
            Without any user turn, the last message's text is used.

    Returns:
        The prompt.

    Raises:
        InvalidRequestError: `messages` is missing, empty, or has malformed items.
    """
    return _prompt_of(_turns(messages), route_on)


def _turns(messages: Any) -> list[tuple[str, str]]:
    """(role, text) of every message; raises `InvalidRequestError` on bad input."""
    if not isinstance(messages, list) or not messages:
        got = "an empty list" if isinstance(messages, list) else type(messages).__name__
        raise InvalidRequestError(
            "'messages' must be a non-empty list of {'role', 'content'} objects, "
            f"got {got}",
            param="messages",
            code="invalid_messages",
        )
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequestError(
                f"messages[{i}] must be an object with a string 'role', "
                f"got {message!r:.80}",
                param=f"messages[{i}]",
                code="invalid_messages",
            )
        turns.append((message["role"], _content_text(message.get("content"), i)))
    return turns


def _prompt_of(turns: list[tuple[str, str]], route_on: RouteOn) -> str:
    users = [text for role, text in turns if role == "user"]
    if route_on == "conversation":
        return "\n".join(f"{role}: {text}" for role, text in turns)
    if not users:
        return turns[-1][1]
    if route_on == "all_user":
        return "\n".join(users)
    return users[-1]


def _input_tokens(turns: list[tuple[str, str]]) -> float:
    """Estimated input tokens of a whole conversation (every message's text)."""
    from prefroute.routers.policy import estimate_input_tokens

    return float(estimate_input_tokens(["\n".join(text for _, text in turns)])[0])


def tool_input_tokens(body: Mapping[str, Any]) -> float:
    """Estimated input tokens of a request's tool / function definitions.

    Providers bill the ``tools`` (and legacy ``functions``) schemas as prompt
    tokens, so an N-model choice prices them like the messages.

    Args:
        body: The request body (or the keyword arguments of a client call).

    Returns:
        Characters of their compact JSON / 4, 0 without them.
    """
    chars = 0
    for key in ("tools", "functions"):
        value = body.get(key)
        if value:
            try:
                chars += len(json.dumps(value, separators=(",", ":"), default=str))
            except (TypeError, ValueError, RecursionError):
                continue
    return chars / 4.0


def output_token_cap(body: Mapping[str, Any]) -> float | None:
    """The output-token cap a chat request sets, for pricing N-model choices.

    Args:
        body: The request body (or the keyword arguments of a client call).

    Returns:
        The smaller of ``max_tokens`` and ``max_completion_tokens`` among those
        given as positive numbers, else None (values the upstream will reject, such
        as strings or negatives, are ignored here).
    """
    caps = [
        float(value)
        for value in (body.get("max_tokens"), body.get("max_completion_tokens"))
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ]
    return min(caps) if caps else None


# -- micro-batching scorer -------------------------------------------------------------


class ScoreBatcher:
    """Collects prompts from concurrent async callers and scores them in one batch.

    Adaptive ("natural") batching: while a batch is being scored, new prompts queue
    and are scored together as soon as it finishes, so batches grow with load and an
    idle server adds no wait. When idle, a batch is flushed `window_s` after its first
    prompt (0 = on the next event-loop turn) or as soon as it holds `max_batch`.
    Scoring runs in `executor` (one worker thread is enough: ONNX and
    numpy release the GIL and use their own threads). The last `cache_size` prompt
    scores are kept (LRU), so retried or repeated prompts are not embedded again.
    """

    def __init__(
        self,
        router: Router,
        *,
        window_s: float = 0.002,
        max_batch: int = 64,
        executor: ThreadPoolExecutor | None = None,
        cache_size: int = 0,
        score_fn: Callable[[list[str]], Sequence[Any]] | None = None,
    ) -> None:
        """Create a batcher for one router.

        Args:
            router: The router whose `score` is called.
            window_s: Collection window in seconds.
            max_batch: Largest batch.
            executor: Where `score` runs (default: a private single thread).
            cache_size: Scores remembered per prompt (0 = no cache).
            score_fn: Batch function to call instead of `router.score` (one result
                per prompt, returned as is by `value`; e.g. an N-model router's
                per-model qualities).
        """
        self.router = router
        self.score_fn = score_fn
        self.window_s = window_s
        self.max_batch = max_batch
        self._executor = executor or ThreadPoolExecutor(
            1, thread_name_prefix="prefroute-score"
        )
        self._pending: list[tuple[str, asyncio.Future[Any]]] = []
        self._timer: asyncio.Handle | None = None
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.n_batches = 0
        self.n_prompts = 0
        self.n_cache_hits = 0
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()

    async def score(self, prompt: str) -> float:
        """Score one prompt, batched with concurrent calls.

        Args:
            prompt: The prompt.

        Returns:
            Its score in [0, 1].
        """
        return float(await self.value(prompt))

    async def value(self, prompt: str) -> Any:
        """The batch function's result for one prompt, batched with concurrent calls.

        Args:
            prompt: The prompt.

        Returns:
            `router.score`'s float, or `score_fn`'s item for this prompt.
        """
        if self.cache_size:
            cached = self._cache.get(prompt)
            if cached is not None:
                self._cache.move_to_end(prompt)
                self.n_cache_hits += 1
                return cached
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((prompt, future))
        if not self._busy:
            if len(self._pending) >= self.max_batch:
                self._flush()
            elif self._timer is None:
                # window 0: flush on the next loop turn, so requests parsed in the
                # same turn still share a batch.
                self._timer = (
                    loop.call_later(self.window_s, self._on_timer)
                    if self.window_s > 0
                    else loop.call_soon(self._on_timer)
                )
        return await future

    def _on_timer(self) -> None:
        self._timer = None
        if not self._busy:
            self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch = self._pending[: self.max_batch]
        self._pending = self._pending[self.max_batch :]
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        loop = asyncio.get_running_loop()
        prompts = [prompt for prompt, _ in batch]
        try:
            if self.score_fn is not None:
                results = await loop.run_in_executor(
                    self._executor, self.score_fn, prompts
                )
                values: list[Any] = list(results)
            else:
                scores = await loop.run_in_executor(
                    self._executor, self.router.score, prompts
                )
                values = [float(s) for s in scores]
            if len(values) != len(prompts):
                raise UpstreamError(
                    f"router {self.router.name!r} returned {len(values)} scores for "
                    f"{len(prompts)} prompts"
                )
        except Exception as exc:  # a router failure must reach every waiting caller
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (prompt, future), value in zip(batch, values, strict=True):
                if not future.done():
                    future.set_result(value)
                if self.cache_size:
                    self._cache[prompt] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        finally:
            self.n_batches += 1
            self.n_prompts += len(prompts)
            self._busy = False
            if self._pending:
                self._flush()

    def close(self) -> None:
        """Stop the worker thread (pending calls are not cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=False)


# -- decisions and observers -----------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Where one request goes and why.

    Attributes:
        tier: "strong" or "weak".
        model: Upstream model id of that tier.
        router: Router name, or None for a direct call.
        threshold: Threshold used, or None for a direct call.
        score: Router score of the prompt, or None for a direct call.
        strong_share: Requested strong share for ``@share`` model strings.
        routing_seconds: Time spent parsing and scoring.
        candidates: N-model routing only: upstream model ids in fallback order
            (the chosen one first).
        budget: N-model routing only: the requested mean USD per request.
    """

    tier: Literal["strong", "weak"]
    model: str
    router: str | None = None
    threshold: float | None = None
    score: float | None = None
    strong_share: float | None = None
    routing_seconds: float = 0.0
    candidates: tuple[str, ...] = ()
    budget: float | None = None

    @property
    def is_strong(self) -> bool:
        """True when routed to the strong model."""
        return self.tier == "strong"


class RoutingObserver(Protocol):
    """Receives events for metrics (the server's Prometheus counters)."""

    def on_route(self, decision: Decision) -> None:
        """A request was routed."""

    def on_upstream(self, model: str, seconds: float, error: str | None) -> None:
        """An upstream call ended; `error` is its kind or None on success."""

    def on_fallback(self, from_model: str, to_model: str) -> None:
        """A failed call was retried on the other model."""


@dataclass
class UpstreamResult:
    """A non-streaming upstream answer.

    Attributes:
        body: The upstream's JSON response (unchanged except a missing "model").
        decision: The routing decision.
        model: The model that answered (differs from the decision after fallback).
        is_fallback: True when the other model answered after a failure.
    """

    body: dict[str, Any]
    decision: Decision
    model: str
    is_fallback: bool = False


@dataclass
class StreamResult:
    """An open upstream SSE stream.

    Attributes:
        chunks: Raw SSE bytes, in upstream order; on a mid-stream failure it ends
            with a ``data: {"error": ...}`` event.
        decision: The routing decision.
        model: The model that answers.
        is_fallback: True when the other model answers after a failure.
    """

    chunks: AsyncIterator[bytes]
    decision: Decision
    model: str
    is_fallback: bool = False
    _close: Callable[[], Any] | None = field(default=None, repr=False)

    async def aclose(self) -> None:
        """Close the upstream connection (idempotent)."""
        if self._close is not None:
            close, self._close = self._close, None
            result = close()
            if asyncio.iscoroutine(result):
                await result


def _error_event(message: str, kind: str) -> bytes:
    payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def fallback_order(quality: Any, cost: Any, knob: float) -> list[int]:
    """Models of one prompt in the order an N-model request tries them.

    The first is the policy's choice (`prefroute.routers.policy.choose_max_utility`:
    the highest quality - knob x cost, ties to the cheaper model); the rest follow by
    the same utility, best first (ties: cheaper, then list order), i.e. each fallback
    is the model the router would have chosen had the ones before it been missing.
    With an infinite knob (a budget below every model's cost) the order is by cost.

    Args:
        quality: Predicted quality per model, shape (m,).
        cost: Expected USD per model, shape (m,).
        knob: lambda >= 0 (may be inf).

    Returns:
        Column indices, all m of them.
    """
    import numpy as np

    from prefroute.routers.policy import choose_max_utility

    q = np.asarray(quality, dtype=np.float64).ravel()
    c = np.asarray(cost, dtype=np.float64).ravel()
    first = int(choose_max_utility(q[None, :], c[None, :], knob)[0])
    if math.isinf(knob):
        keys = [(c[j], -q[j], j) for j in range(len(q))]
    else:
        keys = [(-(q[j] - knob * c[j]), c[j], j) for j in range(len(q))]
    rest = [j for _, _, j in sorted(keys) if j != first]
    return [first, *rest]


# -- the core ----------------------------------------------------------------------


class RoutingCore:
    """Routers, calibrations and upstream endpoints, with the decision logic.

    Args:
        config: Endpoints and routing options.
        routers: Router name -> fitted router (default: loaded from
            `config.routers` with `load_router`).
        calibrations: Router name -> calibration for ``@share`` model strings.
        observer: Receives metrics events.
    """

    def __init__(
        self,
        config: RoutingConfig,
        *,
        routers: Mapping[str, Router] | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
        observer: RoutingObserver | None = None,
    ) -> None:
        """Load the routers (unless given) and keep the calibrations."""
        self.config = config
        if routers is None:
            from prefroute.routers.registry import load_router

            routers = {
                name: load_router(target) for name, target in config.routers.items()
            }
        self.routers: dict[str, Router] = dict(routers)
        self.calibrations: dict[str, Calibration] = dict(calibrations or {})
        self.observer = observer
        self.model_counts: dict[str, int] = {
            config.strong.model: 0,
            config.weak.model: 0,
        }
        from prefroute.routers.policy import ModelPrice

        self.priced: dict[str, PricedEndpoint] = {m.model: m for m in config.models}
        self.prices: dict[str, ModelPrice] = {
            m.model: ModelPrice.from_mapping(m.price) for m in config.models
        }
        self.model_spend: dict[str, float] = {m.model: 0.0 for m in config.models}
        # lambda per (router, budget): the config's budgets, kept for good, and
        # budgets first seen in requests, at most `budget_cache_size` (LRU).
        self.budget_knobs: dict[tuple[str, float], float] = {}
        self._demand_knobs: LRU[tuple[str, float], float] = LRU(
            config.budget_cache_size
        )
        for m in config.models:
            self.model_counts.setdefault(m.model, 0)
        self._executor: ThreadPoolExecutor | None = None
        self._batchers: dict[str, ScoreBatcher] = {}
        self._http: dict[str, httpx.AsyncClient | LeanClient] = {}

    # -- decisions --

    def endpoint(self, tier: Literal["strong", "weak"]) -> EndpointConfig:
        """The endpoint of a tier."""
        return self.config.strong if tier == "strong" else self.config.weak

    def _router(self, name: str) -> Router:
        try:
            return self.routers[name]
        except KeyError:
            raise UnknownRouterError(
                f"unknown router {name!r}; this server offers: "
                f"{', '.join(sorted(self.routers))} "
                "(model 'router-<router>-<threshold>')"
            ) from None

    def resolve_threshold(self, spec: ModelSpec) -> float:
        """The threshold of a routed spec (explicit, or from the calibration).

        Raises:
            InvalidRequestError: ``@share`` without a calibration for the router.
        """
        if spec.threshold is not None:
            return spec.threshold
        assert spec.router is not None and spec.strong_share is not None
        calibration = self.calibrations.get(spec.router)
        if calibration is None:
            raise InvalidRequestError(
                f"router {spec.router!r} has no calibration, so 'router-{spec.router}@"
                f"{spec.strong_share:g}' cannot be resolved; give an explicit "
                "threshold "
                f"('router-{spec.router}-<threshold>') or calibrate it "
                "(`prefroute calibrate` then serve with --calibration FILE, or "
                "--calibration-prompts FILE|default)",
                param="model",
                code="not_calibrated",
            )
        return calibration.threshold_for(spec.strong_share)

    def is_multi(self, name: str) -> bool:
        """True when router `name` routes among N priced models."""
        return self._multi(name) is not None

    def _multi(self, name: str) -> Any:
        """The router if it is an N-model router (has `choose`), else None."""
        from prefroute.routers.multi import MultiModelRouter

        router = self.routers.get(name)
        return router if isinstance(router, MultiModelRouter) else None

    def parse(self, model: Any) -> ModelSpec:
        """Parse and check a model string (router known, threshold resolvable)."""
        if isinstance(model, str) and model.startswith(MODEL_PREFIX):
            rest = model[len(MODEL_PREFIX) :]
            at = "@" in rest
            name, _, value = rest.rpartition("@" if at else "-")
            if name and self._multi(name) is not None:
                if self.config.models:
                    return _parse_multi(model, name, value, at)
                if at and name not in self.calibrations:
                    raise InvalidRequestError(
                        f"router {name!r} routes among N models, but this server has "
                        f"no 'models' list with prices, so {model!r} cannot be "
                        "resolved; add 'models' to the config or use "
                        f"'router-{name}-<threshold>' for the strong/weak pair",
                        param="model",
                        code="no_models",
                    )
        if (
            isinstance(model, str)
            and model in self.priced
            and model not in (self.config.strong.model, self.config.weak.model)
        ):
            return ModelSpec(router=None, model=model)
        spec = parse_model(
            model,
            strong_model=self.config.strong.model,
            weak_model=self.config.weak.model,
        )
        if spec.router is not None:
            self._router(spec.router)
        return spec

    def _decide(
        self,
        spec: ModelSpec,
        threshold: float | None,
        score: float | None,
        started: float,
    ) -> Decision:
        if spec.model is not None:  # a priced model named directly
            decision = Decision(
                tier="strong",
                model=spec.model,
                routing_seconds=time.perf_counter() - started,
                candidates=(spec.model,),
            )
            if self.observer is not None:
                self.observer.on_route(decision)
            return decision
        if spec.direct is not None:
            tier: Literal["strong", "weak"] = spec.direct
        else:
            assert threshold is not None and score is not None
            tier = "strong" if score >= threshold else "weak"
        decision = Decision(
            tier=tier,
            model=self.endpoint(tier).model,
            router=spec.router,
            threshold=threshold,
            score=score,
            strong_share=spec.strong_share,
            routing_seconds=time.perf_counter() - started,
        )
        if self.observer is not None:
            self.observer.on_route(decision)
        return decision

    def _prepare(
        self, model: Any, messages: Any
    ) -> tuple[float, ModelSpec, list[tuple[str, str]], str]:
        """Start time, parsed model string, (role, text) turns and routed text."""
        started = time.perf_counter()
        spec = self.parse(model)
        turns = _turns(messages)
        return started, spec, turns, _prompt_of(turns, self.config.route_on)

    def decide(
        self,
        model: Any,
        messages: Any,
        *,
        request: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Route a chat request synchronously (scores in the calling thread).

        Args:
            model: The request's model string.
            messages: The request's messages.
            request: The request's other fields (body or client keyword arguments):
                ``max_tokens`` / ``max_completion_tokens`` and ``tools`` /
                ``functions`` price N-model choices (`output_token_cap`,
                `tool_input_tokens`).

        Returns:
            The decision.

        Raises:
            InvalidRequestError: Bad model string or messages.
            UnknownRouterError: The router is not offered.
        """
        started, spec, turns, prompt = self._prepare(model, messages)
        if spec.router is None:
            return self._decide(spec, None, None, started)
        if spec.budget is not None or spec.knob is not None:
            knob = self._known_knob(spec)
            if knob is None:
                assert spec.budget is not None
                knob = self.budget_knob(spec.router, spec.budget)
            return self._decide_multi(spec, prompt, started, knob, turns, request)
        threshold = self.resolve_threshold(spec)
        score = float(self._router(spec.router).score([prompt])[0])
        return self._decide(spec, threshold, score, started)

    def _multi_names(self, router_name: str, router: Any) -> list[str]:
        """The router's names of the priced models (checked against the router)."""
        names = [self.priced[m].routed_name for m in self.priced]
        unknown = [n for n in names if n not in router.models]
        if unknown:
            raise InvalidRequestError(
                f"router {router_name!r} does not know models {unknown}; it knows "
                f"{router.models} (set 'router_name' in 'models')",
                param="model",
                code="unknown_models",
            )
        return names

    def budget_knob(self, router_name: str, budget: float) -> float:
        """lambda of an N-model router for a mean-USD-per-request budget.

        Calibrated with the configured prices on the router's calibration prompts
        (see `MultiModelRouter.recalibrate`; `calibration_prompts` in the config
        replaces them at start): the budget is met on average over those prompts,
        not necessarily on other traffic. Budgets in `config.budgets` are
        calibrated at start and kept; others on first use, the last
        `config.budget_cache_size` of them kept (least recently used evicted).

        Raises:
            InvalidRequestError: The router does not know a priced model.
        """
        knob = self.cached_budget_knob(router_name, budget)
        if knob is None:
            knob = self._calibrate_budget(router_name, budget)
            self._keep_budget_knob(router_name, budget, knob)
        return knob

    def cached_budget_knob(self, router_name: str, budget: float) -> float | None:
        """lambda of a budget already calibrated (and still kept), else None."""
        key = (router_name, budget)
        knob = self.budget_knobs.get(key)
        if knob is None:
            knob = self._demand_knobs.get(key)
        return knob

    @property
    def on_demand_budgets(self) -> list[tuple[str, float]]:
        """(router, budget) calibrated on first use and still kept, oldest first."""
        return self._demand_knobs.keys()

    def _calibrate_budget(self, router_name: str, budget: float) -> float:
        router = self._multi(router_name)
        names = self._multi_names(router_name, router)
        prices = {self.priced[m].routed_name: p for m, p in self.prices.items()}
        return float(router.calibrate(prices, models=names, target_cost=budget))

    def _keep_budget_knob(self, router_name: str, budget: float, knob: float) -> None:
        key = (router_name, budget)
        if budget in self.config.budgets:
            self.budget_knobs[key] = knob
            return
        self._demand_knobs.put(key, knob)

    def calibrate_budgets(self) -> dict[tuple[str, float], float]:
        """Calibrate every `config.budgets` entry for every N-model router (when the
        config has priced `models`); returns (router, budget) -> lambda."""
        if self.config.models:
            for name in self.routers:
                if self._multi(name) is not None:
                    for budget in self.config.budgets:
                        self.budget_knob(name, budget)
        return dict(self.budget_knobs)

    def _known_knob(self, spec: ModelSpec) -> float | None:
        """lambda of an N-model spec: given, or its budget's if calibrated and
        kept; None when the budget must be calibrated first."""
        assert spec.router is not None
        if spec.budget is None:
            return float(spec.knob if spec.knob is not None else 0.0)
        return self.cached_budget_knob(spec.router, spec.budget)

    def _decide_multi(
        self,
        spec: ModelSpec,
        prompt: str,
        started: float,
        knob: float,
        turns: list[tuple[str, str]],
        request: Mapping[str, Any] | None,
        quality: Any = None,
    ) -> Decision:
        """Pick one of `config.models` with the N-model router.

        The policy is quality - lambda x USD; quality is predicted from `prompt`
        (the routed text), USD from the input tokens of every turn and of the
        request's tool definitions (so a long system prompt makes models with dear
        input tokens dearer) and at most its ``max_tokens`` output tokens. The
        fallback order after the chosen model is the other models by the same
        utility, best first (see `fallback_order`).
        """
        fields = request or {}
        input_tokens = _input_tokens(turns) + tool_input_tokens(fields)
        assert spec.router is not None
        router = self._multi(spec.router)
        names = self._multi_names(spec.router, router)
        by_name = {self.priced[m].routed_name: m for m in self.priced}
        prices = {self.priced[m].routed_name: p for m, p in self.prices.items()}
        if quality is None:  # synchronous path: score here
            quality = router.score_models([prompt], names)[0]
        cost = router.predict_costs(
            [prompt],
            names,
            prices,
            input_tokens=[input_tokens],
            max_output_tokens=output_token_cap(fields),
        )[0]
        order = tuple(by_name[names[j]] for j in fallback_order(quality, cost, knob))
        model = order[0]
        cheapest = min(self.prices, key=lambda m: float(self.prices[m].cost(0.0)))
        decision = Decision(
            tier="weak" if model == cheapest else "strong",
            model=model,
            router=spec.router,
            threshold=knob,
            routing_seconds=time.perf_counter() - started,
            candidates=order,
            budget=spec.budget,
        )
        if self.observer is not None:
            self.observer.on_route(decision)
        return decision

    def record_spend(self, model: str, usage: Any, prompt_chars: int = 0) -> float:
        """Add the USD of one answered call to `model_spend` (and the observer).

        Args:
            model: Upstream model id.
            usage: The answer's OpenAI ``usage`` mapping (or None: estimated).
            prompt_chars: Prompt length, for the estimate without usage.

        Returns:
            The USD added (0 for unpriced models).
        """
        price = self.prices.get(model)
        if price is None:
            return 0.0
        if isinstance(usage, dict) and "prompt_tokens" in usage:
            usd = (
                price.per_query
                + float(usage.get("prompt_tokens") or 0) * price.input_per_mtok / 1e6
                + float(usage.get("completion_tokens") or 0)
                * price.output_per_mtok
                / 1e6
            )
        else:
            usd = float(price.cost(prompt_chars / 4.0))
        self.model_spend[model] = self.model_spend.get(model, 0.0) + usd
        on_spend = getattr(self.observer, "on_spend", None)
        if on_spend is not None:
            on_spend(model, usd)
        return usd

    def endpoints_for(self, decision: Decision) -> list[EndpointConfig]:
        """Endpoints to try in order (the decided one, then the fallback)."""
        if decision.candidates:
            order: list[EndpointConfig] = [self.priced[m] for m in decision.candidates]
        else:
            other: Literal["strong", "weak"] = (
                "weak" if decision.tier == "strong" else "strong"
            )
            order = [self.endpoint(decision.tier), self.endpoint(other)]
        return order[:2] if self.config.fallback else order[:1]

    async def adecide(
        self,
        model: Any,
        messages: Any,
        *,
        request: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Route a chat request; concurrent calls share micro-batched scoring.

        Args:
            model: The request's model string.
            messages: The request's messages.
            request: The request's other fields, as for `decide`.

        Returns:
            The decision.

        Raises:
            InvalidRequestError: Bad model string or messages.
            UnknownRouterError: The router is not offered.
        """
        started, spec, turns, prompt = self._prepare(model, messages)
        if spec.router is None:
            return self._decide(spec, None, None, started)
        if spec.budget is not None or spec.knob is not None:
            knob = self._known_knob(spec)
            if knob is None:  # a budget not calibrated yet: off the event loop
                assert spec.budget is not None
                knob = await asyncio.get_running_loop().run_in_executor(
                    self._scoring_executor(),
                    self._calibrate_budget,
                    spec.router,
                    spec.budget,
                )
                self._keep_budget_knob(spec.router, spec.budget, knob)
            quality = await self.multi_batcher(spec.router).value(prompt)
            return self._decide_multi(
                spec, prompt, started, knob, turns, request, quality
            )
        threshold = self.resolve_threshold(spec)
        score = await self.batcher(spec.router).score(prompt)
        return self._decide(spec, threshold, score, started)

    def route(self, prompt: str, router: str, threshold: float) -> Decision:
        """Route one prompt with an explicit router and threshold.

        Args:
            prompt: The prompt.
            router: Router name.
            threshold: Cost threshold in [0, 1].

        Returns:
            The decision (`model` is the upstream model id).
        """
        started = time.perf_counter()
        spec = ModelSpec(
            router=router,
            threshold=_parse_unit(
                str(threshold), "threshold", f"router-{router}-{threshold}"
            ),
        )
        score = float(self._router(router).score([prompt])[0])
        return self._decide(spec, spec.threshold, score, started)

    def _scoring_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="prefroute-score")
        return self._executor

    def batcher(self, router: str) -> ScoreBatcher:
        """The (lazily created) micro-batcher of a router."""
        batcher = self._batchers.get(router)
        if batcher is None:
            batcher = self._batchers[router] = self._new_batcher(self._router(router))
        return batcher

    def _new_batcher(
        self,
        router: Router,
        score_fn: Callable[[list[str]], Sequence[Any]] | None = None,
    ) -> ScoreBatcher:
        """A micro-batcher with the config's window, size and cache, on the shared
        scoring thread."""
        return ScoreBatcher(
            router,
            window_s=self.config.batch_window_ms / 1000.0,
            max_batch=self.config.max_batch,
            executor=self._scoring_executor(),
            cache_size=self.config.score_cache_size,
            score_fn=score_fn,
        )

    @property
    def batchers(self) -> dict[str, ScoreBatcher]:
        """The micro-batchers created so far, by router name."""
        return dict(self._batchers)

    def multi_batcher(self, router: str) -> ScoreBatcher:
        """The micro-batcher of an N-model router: per-prompt predicted qualities of
        the priced models (in `config.models` order), batched like `batcher`."""
        key = f"{router}@models"
        batcher = self._batchers.get(key)
        if batcher is None:
            multi = self._multi(router)
            names = self._multi_names(router, multi)

            def quality(prompts: list[str]) -> list[Any]:
                return list(multi.score_models(prompts, names))

            batcher = self._batchers[key] = self._new_batcher(multi, quality)
        return batcher

    def count(self, model: str) -> None:
        """Record one call sent to `model`."""
        self.model_counts[model] = self.model_counts.get(model, 0) + 1

    # -- upstream over HTTP (server) --

    def _client(self, endpoint: EndpointConfig) -> httpx.AsyncClient | LeanClient:
        """The HTTP client of an endpoint (one per base URL and model, created once).

        The lean HTTP/1.1 client unless the endpoint asks for httpx or an HTTP proxy
        from the environment applies to it (httpx honours proxies).
        """
        key = f"{endpoint.base_url}|{endpoint.model}"
        known = self._http.get(key)
        if known is not None:
            return known
        client: httpx.AsyncClient | LeanClient | None = None
        headers = {"content-type": "application/json", **endpoint.headers}
        secret = endpoint.resolved_api_key()
        if secret is not None:
            headers["authorization"] = f"Bearer {secret.get_secret_value()}"
        try:
            from prefroute.client._http import LeanClient, proxy_applies
        except ImportError:  # httptools (the `serve` extra) missing: use httpx
            fast = False
        else:
            fast = endpoint.http_client == "fast" and not proxy_applies(
                endpoint.base_url
            )
        if fast:
            try:
                client = LeanClient(endpoint.base_url, headers, endpoint.timeout)
            except ValueError:  # not an http(s) URL: httpx reports it as a 502
                client = None
        if client is None:
            import httpx

            client = httpx.AsyncClient(
                base_url=endpoint.base_url,
                headers=headers,
                timeout=httpx.Timeout(endpoint.timeout),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            )
        self._http[key] = client
        return client

    async def aclose(self) -> None:
        """Close HTTP clients and the scoring thread."""
        for client in self._http.values():
            await client.aclose()
        self._http.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._batchers.clear()

    def _observe(self, model: str, started: float, error: str | None) -> None:
        if self.observer is not None:
            self.observer.on_upstream(model, time.perf_counter() - started, error)

    async def _send(
        self, endpoint: EndpointConfig, body: dict[str, Any], stream: bool
    ) -> Any:
        """POST to /chat/completions with retries on connection errors; check status."""
        import httpx

        client = self._client(endpoint)
        payload = json.dumps({**body, "model": endpoint.model}).encode()
        last: Exception | None = None
        for attempt in range(endpoint.max_retries + 1):
            if attempt:
                await asyncio.sleep(min(1.0, 0.05 * 2 ** (attempt - 1)))
            try:
                response: Any
                if isinstance(client, httpx.AsyncClient):
                    request = client.build_request(
                        "POST", "/chat/completions", content=payload
                    )
                    response = await client.send(request, stream=stream)
                else:
                    response = await client.post(
                        "/chat/completions", payload, stream=stream
                    )
            except httpx.TimeoutException as exc:
                raise UpstreamTimeoutError(
                    f"upstream {endpoint.model!r} at {endpoint.base_url} "
                    "timed out after "
                    f"{endpoint.timeout:g} s"
                ) from exc
            except (
                httpx.ConnectError,
                httpx.RemoteProtocolError,
                httpx.ReadError,
            ) as exc:
                last = exc
                continue
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    f"upstream {endpoint.model!r} at {endpoint.base_url} "
                    f"failed: {exc!r}"
                ) from exc
            if response.status_code >= 400:
                try:
                    await response.aread()
                except httpx.HTTPError:
                    pass
                finally:
                    await response.aclose()
                try:
                    detail: Any = response.json()
                except (ValueError, RecursionError):
                    detail = None
                snippet = (
                    response.text[:200] if detail is None else json.dumps(detail)[:200]
                )
                message = (
                    f"upstream {endpoint.model!r} returned HTTP "
                    f"{response.status_code}: "
                    f"{snippet}"
                )
                if response.status_code < 500 and response.status_code != 429:
                    raise UpstreamStatusError(message, response.status_code, detail)
                raise UpstreamError(message)
            return response
        raise UpstreamError(
            f"cannot reach upstream {endpoint.model!r} at {endpoint.base_url} after "
            f"{endpoint.max_retries + 1} attempt(s): {last!r}"
        ) from last

    async def _complete_once(
        self, endpoint: EndpointConfig, body: dict[str, Any]
    ) -> dict[str, Any]:
        import httpx

        if endpoint.provider == "litellm":
            return await _litellm_complete(endpoint, body)
        response = await self._send(endpoint, body, stream=False)
        try:
            data = response.json()
        except (ValueError, RecursionError, httpx.HTTPError) as exc:
            raise UpstreamError(
                f"upstream {endpoint.model!r} returned a body that is not JSON: "
                f"{response.text[:120]!r}"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamError(
                f"upstream {endpoint.model!r} returned JSON without a 'choices' list: "
                f"{json.dumps(data)[:120]}"
            )
        data.setdefault("model", endpoint.model)
        return data

    async def acomplete(
        self, body: dict[str, Any], decision: Decision
    ) -> UpstreamResult:
        """Send a non-streaming chat request to the decided upstream.

        Args:
            body: The client's request body (its "model" is replaced).
            decision: Where to send it.

        Returns:
            The answer.

        Raises:
            UpstreamStatusError: The upstream rejected the request (4xx).
            UpstreamTimeoutError: Timed out (and fallback failed or is off).
            UpstreamError: Unreachable, 5xx or garbage (and fallback failed or is off).
        """
        order = self.endpoints_for(decision)
        for i, endpoint in enumerate(order):
            is_fallback = i > 0
            self.count(endpoint.model)
            started = time.perf_counter()
            try:
                data = await self._complete_once(endpoint, body)
            except UpstreamStatusError:
                self._observe(endpoint.model, started, "status_4xx")
                raise
            except UpstreamError as exc:
                self._observe(endpoint.model, started, _error_kind(exc))
                if i + 1 >= len(order):
                    raise
                nxt = order[i + 1].model
                logger.warning(
                    "upstream %s failed (%s); falling back to %s",
                    endpoint.model,
                    exc,
                    nxt,
                )
                if self.observer is not None:
                    self.observer.on_fallback(endpoint.model, nxt)
                continue
            self._observe(endpoint.model, started, None)
            if endpoint.model in self.prices:
                data["model"] = endpoint.model
                self.record_spend(
                    endpoint.model, data.get("usage"), len(json.dumps(body))
                )
            return UpstreamResult(data, decision, endpoint.model, is_fallback)
        raise AssertionError("unreachable")  # pragma: no cover

    async def astream(self, body: dict[str, Any], decision: Decision) -> StreamResult:
        """Open a streaming chat request to the decided upstream.

        Failures before the first byte may fall back to the other model; later
        failures end the stream with an error event.

        Args:
            body: The client's request body (its "model" is replaced).
            decision: Where to send it.

        Returns:
            The open stream.

        Raises:
            UpstreamStatusError: The upstream rejected the request (4xx).
            UpstreamTimeoutError: Timed out before streaming (fallback failed or off).
            UpstreamError: Unreachable, 5xx or not SSE (fallback failed or off).
        """
        order = self.endpoints_for(decision)
        for i, endpoint in enumerate(order):
            is_fallback = i > 0
            self.count(endpoint.model)
            started = time.perf_counter()
            try:
                if endpoint.provider == "litellm":
                    _import_litellm()  # fail before the response starts
                    chunks = _litellm_stream(endpoint, body)
                    return StreamResult(chunks, decision, endpoint.model, is_fallback)
                response = await self._send(endpoint, body, stream=True)
                content_type = response.headers.get("content-type", "")
                if not content_type.startswith("text/event-stream"):
                    await response.aclose()
                    raise UpstreamError(
                        f"upstream {endpoint.model!r} answered a streaming "
                        "request with "
                        f"content-type {content_type!r}, expected 'text/event-stream'"
                    )
            except UpstreamStatusError:
                self._observe(endpoint.model, started, "status_4xx")
                raise
            except UpstreamError as exc:
                self._observe(endpoint.model, started, _error_kind(exc))
                if i + 1 >= len(order):
                    raise
                if self.observer is not None:
                    self.observer.on_fallback(endpoint.model, order[i + 1].model)
                continue
            if endpoint.model in self.prices:  # streams carry no usage: estimate
                self.record_spend(endpoint.model, None, len(json.dumps(body)))
            return StreamResult(
                self._relay(response, endpoint, started),
                decision,
                endpoint.model,
                is_fallback,
                _close=response.aclose,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _relay(
        self, response: Any, endpoint: EndpointConfig, started: float
    ) -> AsyncIterator[bytes]:
        import httpx

        error: str | None = None
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.TimeoutException:
            error = "timeout"
            yield _error_event(
                f"upstream {endpoint.model!r} timed out mid-stream after "
                f"{endpoint.timeout:g} s",
                "upstream_timeout",
            )
        except httpx.HTTPError as exc:
            error = "stream"
            yield _error_event(
                f"upstream {endpoint.model!r} failed mid-stream: {exc!r}",
                "upstream_error",
            )
        finally:
            await response.aclose()
            self._observe(endpoint.model, started, error)


def _error_kind(exc: UpstreamError) -> str:
    if isinstance(exc, UpstreamTimeoutError):
        return "timeout"
    if isinstance(exc, UpstreamStatusError):
        return "status_4xx"
    return "upstream"


def _import_litellm() -> Any:
    try:
        import litellm
    except ImportError as exc:
        from prefroute.errors import MissingDependencyError

        raise MissingDependencyError("litellm", "litellm", "provider: litellm") from exc
    return litellm


def _litellm_kwargs(endpoint: EndpointConfig, body: dict[str, Any]) -> dict[str, Any]:
    kwargs = {**body, "model": endpoint.model, "timeout": endpoint.timeout}
    if endpoint.base_url:
        kwargs["base_url"] = endpoint.base_url
    secret = endpoint.resolved_api_key()
    if secret is not None:
        kwargs["api_key"] = secret.get_secret_value()
    return kwargs


async def _litellm_complete(
    endpoint: EndpointConfig, body: dict[str, Any]
) -> dict[str, Any]:
    litellm = _import_litellm()
    try:
        response = await litellm.acompletion(**_litellm_kwargs(endpoint, body))
    except Exception as exc:  # litellm raises many provider-specific types
        raise UpstreamError(
            f"litellm call to {endpoint.model!r} failed: {exc}"
        ) from exc
    data: dict[str, Any] = response.model_dump()
    return data


async def _litellm_stream(
    endpoint: EndpointConfig, body: dict[str, Any]
) -> AsyncIterator[bytes]:
    litellm = _import_litellm()
    try:
        response = await litellm.acompletion(**_litellm_kwargs(endpoint, body))
        async for chunk in response:
            yield b"data: " + json.dumps(chunk.model_dump()).encode() + b"\n\n"
    except Exception as exc:  # litellm raises many provider-specific types
        yield _error_event(
            f"litellm stream from {endpoint.model!r} failed: {exc}", "upstream_error"
        )
        return
    yield b"data: [DONE]\n\n"


def load_calibrations_for(
    config: RoutingConfig,
    routers: Mapping[str, Router],
    *,
    have: Collection[str] = (),
) -> dict[str, Calibration]:
    """Calibrations named by the config: from `calibration_file`, then computed on
    `calibration_prompts` ("default" = the data directory's default prompt set) for
    routers still missing one.

    With priced `models`, `calibration_prompts` also becomes the calibration set of
    every N-model router (`MultiModelRouter.recalibrate`, in place), so that
    ``router-<name>@<USD>`` budgets are met on those prompts rather than on the
    router's training prompts.

    Args:
        config: Routing config.
        routers: Loaded routers (N-model ones are recalibrated in place).
        have: Routers that already have a threshold calibration from elsewhere
            (e.g. the Controller's `calibrations=`): none is computed for them, but
            N-model ones still get their budgets recalibrated.

    Returns:
        Router name -> calibration (not including `have`).
    """
    from prefroute.calibrate import (
        calibrate_router,
        default_prompts,
        load_calibrations,
        load_prompts,
    )

    calibrations: dict[str, Calibration] = {}
    if config.calibration_file is not None:
        loaded = load_calibrations(config.calibration_file)
        calibrations.update({k: v for k, v in loaded.items() if k in routers})
    from prefroute.routers.multi import MultiModelRouter

    missing = [
        name for name in routers if name not in calibrations and name not in have
    ]
    multi = [
        name
        for name, router in routers.items()
        if config.models and isinstance(router, MultiModelRouter)
    ]
    if config.calibration_prompts and (missing or multi):
        if config.calibration_prompts == "default":
            prompts: Sequence[str] = default_prompts(config.data_dir)
            source = "default prompt set"
        else:
            prompts = load_prompts(config.calibration_prompts)
            source = config.calibration_prompts
        for name in missing:
            logger.info("calibrating router %s on %d prompts", name, len(prompts))
            calibrations[name] = calibrate_router(
                routers[name], prompts, name=name, source=source
            )
        for name in multi:
            logger.info(
                "calibrating budgets of router %s on %d prompts", name, len(prompts)
            )
            router = routers[name]
            assert isinstance(router, MultiModelRouter)
            router.recalibrate(prompts)
    return calibrations
