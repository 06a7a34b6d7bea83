"""`RoutingCore`: one chat request from its ``model`` string to the upstream's answer.

A request goes through the gateway's steps, each in its own module:

1. parse (`prefroute.gateway.request`): the model string into a router and a
   threshold, share, budget or lambda; the messages into the text to score;
2. decide (`prefroute.gateway.decision`): score the text (micro-batched across
   concurrent async requests) and pick the strong or weak endpoint, or one of N
   priced models (budgets calibrated once and kept, `prefroute.gateway.budgets`);
3. call (`prefroute.gateway.upstream`): the decided endpoint, then the next in
   the decision's fallback order when it fails (connection error, timeout, 5xx,
   garbage; a 4xx is the caller's and passed on);
4. account: calls and USD per model, and `RoutingObserver` events (the server's
   Prometheus metrics).

The server (`prefroute.serve`) runs all four (`adecide`, then `acomplete` or
`astream`); the in-process `Controller` runs 1-2 here (`decide` / `adecide`), calls
the upstream through the OpenAI SDK itself and accounts with `count` and
`record_spend`. Budgets are met on the prompts they were calibrated on (the router's
stored calibration prompts; `calibration_prompts` replaces them at start,
`prefroute.gateway.calibrations`).

Learning from traffic: a front-end starts each request with `start_request` (a
`RequestTrace`, whose id it returns to the caller), passes the trace through the
steps, and ends it with `finish_request`, which queues one record for the request
log (`config.log`; `prefroute.gateway.request_log`); `feedback` rates a logged
request. With `config.explore` > 0 a share of routed requests goes to a model the
policy did not pick, the decision carrying its propensity
(`prefroute.gateway.explore`). `reload` loads the routers and calibrations again
and swaps them in atomically: requests already routed finish on the old ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prefroute.errors import UpstreamError
from prefroute.gateway.config import EndpointConfig, PricedEndpoint, RoutingConfig
from prefroute.gateway.decision import Decider, Decision
from prefroute.gateway.errors import UpstreamStatusError, error_kind
from prefroute.gateway.explore import Explorer
from prefroute.gateway.request_log import (
    FeedbackResult,
    RequestLog,
    RequestLogOffError,
    RequestTrace,
)
from prefroute.gateway.upstream import StreamResult, Upstream, UpstreamResult

if TYPE_CHECKING:
    from prefroute.calibrate import Calibration
    from prefroute.gateway.batcher import ScoreBatcher
    from prefroute.routers.base import Router
    from prefroute.routers.policy import ModelPrice

__all__ = ["ReloadReport", "RoutingCore", "RoutingObserver"]

logger = logging.getLogger(__name__)


class RoutingObserver(Protocol):
    """Receives events for metrics (the server's Prometheus counters).

    An observer may also have ``on_spend(model, usd)``, called for every USD
    amount added to `RoutingCore.model_spend`.
    """

    def on_route(self, decision: Decision) -> None:
        """A request was routed."""

    def on_upstream(self, model: str, seconds: float, error: str | None) -> None:
        """An upstream call ended; `error` is its kind or None on success."""

    def on_fallback(self, from_model: str, to_model: str) -> None:
        """A failed call was retried on the other model."""


@dataclasses.dataclass(frozen=True)
class ReloadReport:
    """What `RoutingCore.reload` swapped in.

    Attributes:
        version: The router version now serving (1 at start, +1 per reload).
        routers: Router name -> what it was loaded from.
        calibrated: Routers with a threshold calibration.
        budgets: N-model (router, budget) pairs calibrated at load.
        seconds: Time spent loading.
    """

    version: int
    routers: dict[str, str]
    calibrated: list[str]
    budgets: list[tuple[str, float]]
    seconds: float


class RoutingCore:
    """The gateway: routers, calibrations and upstreams, and a request's steps.

    Args:
        config: Endpoints and routing options.
        routers: Router name -> fitted router (default: loaded from
            `config.routers` with `load_router`).
        calibrations: Router name -> calibration for ``@share`` model strings.
        observer: Receives metrics events.
        request_log: Where finished requests are logged (default: opened from
            `config.log`, None without it); the core closes it.

    Attributes:
        config: The routing config.
        decider: Parsing and the routing decision (routers, calibrations, prices,
            budgets, batchers).
        upstream: The upstreams' HTTP clients.
        observer: Receives metrics events (None: none).
        model_counts: Calls sent to each upstream model (fallback calls included).
        model_spend: USD spent per priced model.
        request_log: The request log, or None.
        explorer: Exploration draws (None when `config.explore` is 0).
        router_version: 1 at start, +1 per successful `reload`.
        n_explored: (router, policy model, explored model) -> requests explored.
    """

    def __init__(
        self,
        config: RoutingConfig,
        *,
        routers: Mapping[str, Router] | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
        observer: RoutingObserver | None = None,
        request_log: RequestLog | None = None,
    ) -> None:
        """Load the routers (unless given), keep the calibrations, open the log."""
        self.config = config
        self.decider = Decider(config, routers=routers, calibrations=calibrations)
        self.request_log = (
            request_log if request_log is not None else RequestLog.from_config(config)
        )
        self.explorer = (
            Explorer(config.explore, seed=config.explore_seed)
            if config.explore > 0
            else None
        )
        self.router_version = 1
        self.n_reloads: dict[str, int] = {"ok": 0, "error": 0}
        self.n_explored: dict[tuple[str, str, str], int] = {}
        self._reload_lock = threading.Lock()
        self._pair = [config.strong.model, config.weak.model]
        self._priced_ids = [m.model for m in config.models]
        self.upstream = Upstream()
        self.observer = observer
        self.model_counts: dict[str, int] = {
            config.strong.model: 0,
            config.weak.model: 0,
        }
        for m in config.models:
            self.model_counts.setdefault(m.model, 0)
        self.model_spend: dict[str, float] = {m.model: 0.0 for m in config.models}

    # -- what the decider holds --

    @property
    def routers(self) -> dict[str, Router]:
        """Router name -> router."""
        return self.decider.routers

    @property
    def calibrations(self) -> dict[str, Calibration]:
        """Router name -> threshold calibration (``router-<name>@<share>``)."""
        return self.decider.calibrations

    @property
    def priced(self) -> dict[str, PricedEndpoint]:
        """Model id -> priced endpoint (`config.models`)."""
        return self.decider.priced

    @property
    def prices(self) -> dict[str, ModelPrice]:
        """Model id -> price of the priced models."""
        return self.decider.prices

    @property
    def budget_knobs(self) -> dict[tuple[str, float], float]:
        """(router, budget) -> lambda of the config's budgets (kept for good)."""
        return self.decider.budgets.kept

    @property
    def on_demand_budgets(self) -> list[tuple[str, float]]:
        """(router, budget) calibrated on first use and still kept, oldest first."""
        return self.decider.budgets.on_demand_keys()

    @property
    def batchers(self) -> dict[str, ScoreBatcher]:
        """The micro-batchers created so far, by router name."""
        return self.decider.batchers

    def is_multi(self, name: str) -> bool:
        """True when router `name` routes among N priced models."""
        return self.decider.is_multi(name)

    def budget_knob(self, router_name: str, budget: float) -> float:
        """lambda of an N-model router for a budget (see `Decider.budget_knob`)."""
        return self.decider.budget_knob(router_name, budget)

    def calibrate_budgets(self) -> dict[tuple[str, float], float]:
        """Calibrate the config's budgets now (see `Decider.calibrate_budgets`)."""
        return self.decider.calibrate_budgets()

    def multi_batcher(self, router: str) -> ScoreBatcher:
        """The micro-batcher of an N-model router (see `Decider.multi_batcher`)."""
        return self.decider.multi_batcher(router)

    def endpoints_for(self, decision: Decision) -> list[EndpointConfig]:
        """Endpoints to try in order (the decided one, then the fallback)."""
        return self.decider.endpoints_for(decision)

    # -- steps 1-2: parse and decide --

    def decide(
        self,
        model: Any,
        messages: Any,
        *,
        request: Mapping[str, Any] | None = None,
        trace: RequestTrace | None = None,
    ) -> Decision:
        """Route a chat request synchronously (scores in the calling thread).

        Args:
            model: The request's model string.
            messages: The request's messages.
            request: The request's other fields (body or client keyword arguments):
                ``max_tokens`` / ``max_completion_tokens`` and ``tools`` /
                ``functions`` price N-model choices (`output_token_cap`,
                `tool_input_tokens`).
            trace: The request's trace (`start_request`): gets the routed text
                and the decision.

        Returns:
            The decision (after exploration, when on).

        Raises:
            InvalidRequestError: Bad model string or messages.
            UnknownRouterError: The router is not offered.
        """
        decider = self.decider  # one decider per request, whatever a reload does
        parsed = decider.prepare(model, messages, request)
        return self._routed(decider.decide(parsed), parsed.prompt, trace)

    async def adecide(
        self,
        model: Any,
        messages: Any,
        *,
        request: Mapping[str, Any] | None = None,
        trace: RequestTrace | None = None,
    ) -> Decision:
        """Route a chat request; concurrent calls share micro-batched scoring.

        Args:
            model: The request's model string.
            messages: The request's messages.
            request: The request's other fields, as for `decide`.
            trace: The request's trace, as for `decide`.

        Returns:
            The decision (after exploration, when on).

        Raises:
            InvalidRequestError: Bad model string or messages.
            UnknownRouterError: The router is not offered.
        """
        decider = self.decider  # one decider per request, whatever a reload does
        parsed = decider.prepare(model, messages, request)
        return self._routed(await decider.adecide(parsed), parsed.prompt, trace)

    def route(self, prompt: str, router: str, threshold: float) -> Decision:
        """Route one prompt with an explicit router and threshold.

        Args:
            prompt: The prompt.
            router: Router name.
            threshold: Cost threshold in [0, 1].

        Returns:
            The decision (`model` is the upstream model id).
        """
        return self._routed(self.decider.route(prompt, router, threshold))

    def _routed(
        self,
        decision: Decision,
        prompt: str | None = None,
        trace: RequestTrace | None = None,
    ) -> Decision:
        if self.explorer is not None and decision.router is not None:
            decision = self._explore(decision)
        if trace is not None:
            trace.prompt = prompt
            trace.decision = decision
            if decision.router is None:
                trace.candidates = [decision.model]
            elif decision.candidates:
                trace.candidates = self._priced_ids
            else:
                trace.candidates = self._pair
        if self.observer is not None:
            self.observer.on_route(decision)
        return decision

    def _explore(self, decision: Decision) -> Decision:
        """The decision after an exploration draw (see `prefroute.gateway.explore`)."""
        assert self.explorer is not None and decision.router is not None
        candidates = decision.candidates or self._pair
        choice = self.explorer.choose(decision.model, candidates)
        if not choice.is_exploration:
            return dataclasses.replace(decision, propensity=choice.propensity)
        key = (decision.router, decision.model, choice.model)
        self.n_explored[key] = self.n_explored.get(key, 0) + 1
        if decision.candidates:  # N models: the explored one first, then policy order
            order = (choice.model, *(m for m in candidates if m != choice.model))
            prices = self.prices
            cheapest = min(prices, key=lambda m: float(prices[m].cost(0.0)))
            tier: Literal["strong", "weak"] = (
                "weak" if choice.model == cheapest else "strong"
            )
        else:  # the pair: the other model, the policy's pick as its fallback
            order = ()
            tier = "strong" if choice.model == self.config.strong.model else "weak"
        return dataclasses.replace(
            decision,
            model=choice.model,
            tier=tier,
            candidates=order,
            explored_from=decision.model,
            propensity=choice.propensity,
        )

    # -- the request log --

    def start_request(self) -> RequestTrace:
        """A new request's trace: its id (``x-prefroute-request-id``) and clock."""
        return RequestTrace()

    def finish_request(
        self, trace: RequestTrace, status: int, error: str | None = None
    ) -> None:
        """End a request: queue its log record (no-op without a log or a decision).

        Never blocks and never raises for a full queue (the record is dropped and
        counted instead).

        Args:
            trace: From `start_request`, filled in by the steps.
            status: HTTP status returned to the caller.
            error: The error message returned, if any.
        """
        if self.request_log is not None:
            if trace.cost_usd is None and trace.model is not None and trace.usage:
                trace.cost_usd = self._usage_usd(trace.model, trace.usage)
            self.request_log.finish(trace, status, error)

    def _usage_usd(self, model: str, usage: Any) -> float | None:
        price = self.prices.get(model)
        if price is None or not isinstance(usage, dict):
            return None
        return float(
            price.per_query
            + float(usage.get("prompt_tokens") or 0) * price.input_per_mtok / 1e6
            + float(usage.get("completion_tokens") or 0) * price.output_per_mtok / 1e6
        )

    def feedback(
        self, request_id: object, score: object, source: object = None
    ) -> FeedbackResult:
        """Rate a logged request (blocking: may wait for the log writer).

        Args:
            request_id: The request's ``x-prefroute-request-id``.
            score: A number in [0, 1], or true / false.
            source: Who rates (optional string); one score per source is kept.

        Returns:
            "ok", or "unknown_request" when no such request is logged.

        Raises:
            RequestLogOffError: This gateway keeps no request log.
            ConfigError: A malformed id, score or source.
        """
        if self.request_log is None:
            raise RequestLogOffError(
                "feedback needs the request log, which is off: start the server "
                "with --log PATH (or 'log:' in its config; Controller(log=...))"
            )
        return self.request_log.feedback(request_id, score, source)

    # -- hot reload --

    def reload(self) -> ReloadReport:
        """Load the configured routers and calibrations again, then swap them in.

        Everything is loaded (and N-model budgets calibrated) before the swap, a
        single reference assignment: requests already routed, or being scored,
        finish on the old routers; a failed load leaves the old ones serving.
        Blocking (run it in a thread); concurrent calls run one after another.

        Returns:
            What was loaded, and the new router version.

        Raises:
            PrefrouteError: A router or calibration failed to load (nothing swapped).
        """
        from prefroute.gateway.calibrations import load_calibrations_for
        from prefroute.routers.registry import load_router

        with self._reload_lock:
            started = time.perf_counter()
            old = self.decider
            try:
                routers = {
                    name: load_router(target)
                    for name, target in self.config.routers.items()
                }
                calibrations = load_calibrations_for(self.config, routers)
                decider = Decider(
                    self.config,
                    routers=routers,
                    calibrations=calibrations,
                    executor=old.shared_executor(),
                )
                decider.calibrate_budgets()
            except Exception:
                self.n_reloads["error"] += 1
                raise
            self.decider = decider
            self.router_version += 1
            self.n_reloads["ok"] += 1
            return ReloadReport(
                version=self.router_version,
                routers=dict(self.config.routers),
                calibrated=sorted(calibrations),
                budgets=sorted(decider.budgets.kept),
                seconds=time.perf_counter() - started,
            )

    # -- step 4: accounting --

    def count(self, model: str) -> None:
        """Record one call sent to `model`."""
        self.model_counts[model] = self.model_counts.get(model, 0) + 1

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

    def _observe(self, model: str, started: float, error: str | None) -> None:
        if self.observer is not None:
            self.observer.on_upstream(model, time.perf_counter() - started, error)

    def _stream_end(
        self,
        model: str,
        started: float,
        trace: RequestTrace | None,
        error: str | None,
    ) -> None:
        self._observe(model, started, error)
        if trace is not None:
            trace.stream_error = error

    # -- step 3: the upstream call, with fallback (server) --

    async def acomplete(
        self,
        body: dict[str, Any],
        decision: Decision,
        *,
        trace: RequestTrace | None = None,
    ) -> UpstreamResult:
        """Send a non-streaming chat request to the decided upstream.

        Args:
            body: The client's request body (its "model" is replaced).
            decision: Where to send it.
            trace: The request's trace: gets the answering model and usage.

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
                data = await self.upstream.complete(endpoint, body)
            except UpstreamStatusError:
                self._observe(endpoint.model, started, "status_4xx")
                raise
            except UpstreamError as exc:
                self._observe(endpoint.model, started, error_kind(exc))
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
            usd = None
            if endpoint.model in self.prices:
                data["model"] = endpoint.model
                usd = self.record_spend(
                    endpoint.model, data.get("usage"), len(json.dumps(body))
                )
            if trace is not None:
                trace.model, trace.is_fallback = endpoint.model, is_fallback
                trace.usage, trace.cost_usd = data.get("usage"), usd
            return UpstreamResult(data, decision, endpoint.model, is_fallback)
        raise AssertionError("unreachable")  # pragma: no cover

    async def astream(
        self,
        body: dict[str, Any],
        decision: Decision,
        *,
        trace: RequestTrace | None = None,
    ) -> StreamResult:
        """Open a streaming chat request to the decided upstream.

        Failures before the first byte may fall back to the other model; later
        failures end the stream with an error event.

        Args:
            body: The client's request body (its "model" is replaced).
            decision: Where to send it.
            trace: The request's trace: gets the answering model, and the kind
                of a mid-stream failure when the stream ends.

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
                chunks, close = await self.upstream.open_stream(
                    endpoint,
                    body,
                    functools.partial(self._stream_end, endpoint.model, started, trace),
                )
            except UpstreamStatusError:
                self._observe(endpoint.model, started, "status_4xx")
                raise
            except UpstreamError as exc:
                self._observe(endpoint.model, started, error_kind(exc))
                if i + 1 >= len(order):
                    raise
                if self.observer is not None:
                    self.observer.on_fallback(endpoint.model, order[i + 1].model)
                continue
            if endpoint.provider != "litellm" and endpoint.model in self.prices:
                # streams carry no usage: estimate
                self.record_spend(endpoint.model, None, len(json.dumps(body)))
            if trace is not None:
                trace.model, trace.is_fallback = endpoint.model, is_fallback
            return StreamResult(
                chunks, decision, endpoint.model, is_fallback, _close=close
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close HTTP clients, the scoring thread and the request log."""
        await self.upstream.aclose()
        self.decider.close()
        await asyncio.to_thread(self.close_log)  # drains the queue: off the loop

    def close_log(self) -> None:
        """Write the queued log records and close the request log (if any)."""
        if self.request_log is not None:
            log, self.request_log = self.request_log, None
            log.close()
