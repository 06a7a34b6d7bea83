"""Where a request goes: the routing decision for a strong/weak pair or N models.

A pair router scores the routed text and compares the score with a threshold (given,
or calibrated for a share of strong calls). An N-model router predicts each priced
model's quality and picks the highest quality - lambda x USD, lambda given or
calibrated for a mean-USD-per-request budget (`prefroute.gateway.budgets`); the
other models follow in fallback order by the same utility. Concurrent async
requests share micro-batched scoring (`ScoreBatcher`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from prefroute.errors import UnknownRouterError
from prefroute.gateway.batcher import ScoreBatcher
from prefroute.gateway.budgets import BudgetKnobs
from prefroute.gateway.config import EndpointConfig, PricedEndpoint, RoutingConfig
from prefroute.gateway.request import (
    MODEL_PREFIX,
    ChatRequest,
    InvalidRequestError,
    ModelSpec,
    conversation_input_tokens,
    message_turns,
    output_token_cap,
    parse_model,
    parse_n_model,
    parse_unit,
    prompt_of,
    tool_input_tokens,
)

if TYPE_CHECKING:
    from prefroute.calibrate import Calibration
    from prefroute.routers.base import Router
    from prefroute.routers.multi import MultiModelRouter
    from prefroute.routers.policy import ModelPrice

__all__ = ["Decider", "Decision", "fallback_order"]


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
        scores: N-model routing only: predicted quality per candidate model id.
        explored_from: The model the policy picked, when exploration sent the
            request to `model` instead (None: the policy's pick).
        propensity: Probability that this decision's `model` was chosen for the
            request (1.0 without exploration; see `prefroute.gateway.explore`).
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
    scores: dict[str, float] | None = field(default=None, hash=False)
    explored_from: str | None = None
    propensity: float = 1.0

    @property
    def is_strong(self) -> bool:
        """True when routed to the strong model."""
        return self.tier == "strong"


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


class Decider:
    """Routers, calibrations and prices, with the decision logic.

    Args:
        config: Endpoints and routing options.
        routers: Router name -> fitted router (default: loaded from
            `config.routers` with `load_router`).
        calibrations: Router name -> calibration for ``@share`` model strings.
        executor: The scoring thread to use (a reloaded decider shares its
            predecessor's, so requests still being scored on the old one are not
            cut off); default: its own, created on first use.
    """

    def __init__(
        self,
        config: RoutingConfig,
        *,
        routers: Mapping[str, Router] | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        """Load the routers (unless given), keep the calibrations and prices."""
        self.config = config
        if routers is None:
            from prefroute.routers.registry import load_router

            routers = {
                name: load_router(target) for name, target in config.routers.items()
            }
        self.routers: dict[str, Router] = dict(routers)
        self.calibrations: dict[str, Calibration] = dict(calibrations or {})
        from prefroute.routers.policy import ModelPrice

        self.priced: dict[str, PricedEndpoint] = {m.model: m for m in config.models}
        self.prices: dict[str, ModelPrice] = {
            m.model: ModelPrice.from_mapping(m.price) for m in config.models
        }
        self.budgets = BudgetKnobs(config.budgets, config.budget_cache_size)
        self._executor: ThreadPoolExecutor | None = executor
        self._batchers: dict[str, ScoreBatcher] = {}

    # -- requests --

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

    def is_multi(self, name: str) -> bool:
        """True when router `name` routes among N priced models."""
        return self._multi(name) is not None

    def _multi(self, name: str) -> MultiModelRouter | None:
        """The router if it is an N-model router, else None."""
        from prefroute.routers.multi import MultiModelRouter

        router = self.routers.get(name)
        return router if isinstance(router, MultiModelRouter) else None

    def parse(self, model: Any) -> ModelSpec:
        """Parse and check a model string (router known, threshold resolvable).

        Raises:
            InvalidRequestError: A malformed string, or an N-model budget on a
                server without priced models.
            UnknownRouterError: The router is not offered.
        """
        if isinstance(model, str) and model.startswith(MODEL_PREFIX):
            rest = model[len(MODEL_PREFIX) :]
            at = "@" in rest
            name, _, value = rest.rpartition("@" if at else "-")
            if name and self._multi(name) is not None:
                if self.config.models:
                    return parse_n_model(model, name, value, at)
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

    def prepare(
        self, model: Any, messages: Any, fields: Mapping[str, Any] | None = None
    ) -> ChatRequest:
        """Parse a chat request: model string, turns and routed text.

        Args:
            model: The request's model string.
            messages: The request's messages.
            fields: The request's other fields (see `ChatRequest.fields`).

        Returns:
            The parsed request; its clock starts before parsing.

        Raises:
            InvalidRequestError: Bad model string or messages.
            UnknownRouterError: The router is not offered.
        """
        started = time.perf_counter()
        spec = self.parse(model)
        turns = message_turns(messages)
        return ChatRequest(
            spec=spec,
            turns=turns,
            prompt=prompt_of(turns, self.config.route_on),
            fields=fields or {},
            started=started,
        )

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

    # -- decisions --

    def decide(self, request: ChatRequest) -> Decision:
        """Route a parsed request synchronously (scores in the calling thread).

        Args:
            request: From `prepare`.

        Returns:
            The decision.

        Raises:
            InvalidRequestError: ``@share`` without a calibration, or a priced model
                the N-model router does not know.
        """
        spec = request.spec
        if spec.router is None:
            return self._decide_pair(request, None, None)
        if spec.budget is not None or spec.knob is not None:
            knob = self._known_knob(spec)
            if knob is None:
                assert spec.budget is not None
                knob = self.budget_knob(spec.router, spec.budget)
            return self._decide_multi(request, knob)
        threshold = self.resolve_threshold(spec)
        score = float(self._router(spec.router).score([request.prompt])[0])
        return self._decide_pair(request, threshold, score)

    async def adecide(self, request: ChatRequest) -> Decision:
        """Route a parsed request; concurrent calls share micro-batched scoring.

        Args:
            request: From `prepare`.

        Returns:
            The decision.

        Raises:
            InvalidRequestError: As for `decide`.
        """
        spec = request.spec
        if spec.router is None:
            return self._decide_pair(request, None, None)
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
                self.budgets.put(spec.router, spec.budget, knob)
            quality = await self.multi_batcher(spec.router).value(request.prompt)
            return self._decide_multi(request, knob, quality)
        threshold = self.resolve_threshold(spec)
        score = await self.batcher(spec.router).score(request.prompt)
        return self._decide_pair(request, threshold, score)

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
            threshold=parse_unit(
                str(threshold), "threshold", f"router-{router}-{threshold}"
            ),
        )
        score = float(self._router(router).score([prompt])[0])
        request = ChatRequest(spec=spec, turns=[], prompt=prompt, started=started)
        return self._decide_pair(request, spec.threshold, score)

    def _decide_pair(
        self, request: ChatRequest, threshold: float | None, score: float | None
    ) -> Decision:
        spec = request.spec
        if spec.model is not None:  # a priced model named directly
            return Decision(
                tier="strong",
                model=spec.model,
                routing_seconds=time.perf_counter() - request.started,
                candidates=(spec.model,),
            )
        if spec.direct is not None:
            tier: Literal["strong", "weak"] = spec.direct
        else:
            assert threshold is not None and score is not None
            tier = "strong" if score >= threshold else "weak"
        return Decision(
            tier=tier,
            model=self.endpoint(tier).model,
            router=spec.router,
            threshold=threshold,
            score=score,
            strong_share=spec.strong_share,
            routing_seconds=time.perf_counter() - request.started,
        )

    def _decide_multi(
        self, request: ChatRequest, knob: float, quality: Any = None
    ) -> Decision:
        """Pick one of `config.models` with the N-model router.

        The policy is quality - lambda x USD; quality is predicted from the routed
        text, USD from the input tokens of every turn and of the request's tool
        definitions (so a long system prompt makes models with dear input tokens
        dearer) and at most its ``max_tokens`` output tokens. The fallback order
        after the chosen model is the other models by the same utility, best first
        (see `fallback_order`).
        """
        spec = request.spec
        fields = request.fields
        input_tokens = conversation_input_tokens(request.turns) + tool_input_tokens(
            fields
        )
        assert spec.router is not None
        router = self._multi(spec.router)
        assert router is not None
        names = self._multi_names(spec.router, router)
        by_name = {self.priced[m].routed_name: m for m in self.priced}
        prices = self._routed_prices()
        if quality is None:  # synchronous path: score here
            quality = router.score_models([request.prompt], names)[0]
        cost = router.predict_costs(
            [request.prompt],
            names,
            prices,
            input_tokens=[input_tokens],
            max_output_tokens=output_token_cap(fields),
        )[0]
        order = tuple(by_name[names[j]] for j in fallback_order(quality, cost, knob))
        model = order[0]
        cheapest = min(self.prices, key=lambda m: float(self.prices[m].cost(0.0)))
        return Decision(
            tier="weak" if model == cheapest else "strong",
            model=model,
            router=spec.router,
            threshold=knob,
            routing_seconds=time.perf_counter() - request.started,
            candidates=order,
            budget=spec.budget,
            scores={by_name[n]: float(q) for n, q in zip(names, quality, strict=True)},
        )

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

    # -- N-model budgets --

    def _multi_names(self, router_name: str, router: MultiModelRouter) -> list[str]:
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

    def _routed_prices(self) -> dict[str, ModelPrice]:
        """Prices keyed by the router's names of the priced models."""
        return {self.priced[m].routed_name: p for m, p in self.prices.items()}

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
        knob = self.budgets.get(router_name, budget)
        if knob is None:
            knob = self._calibrate_budget(router_name, budget)
            self.budgets.put(router_name, budget, knob)
        return knob

    def _calibrate_budget(self, router_name: str, budget: float) -> float:
        router = self._multi(router_name)
        assert router is not None
        names = self._multi_names(router_name, router)
        prices = self._routed_prices()
        return float(router.calibrate(prices, models=names, target_cost=budget))

    def calibrate_budgets(self) -> dict[tuple[str, float], float]:
        """Calibrate every `config.budgets` entry for every N-model router (when the
        config has priced `models`); returns (router, budget) -> lambda."""
        if self.config.models:
            for name in self.routers:
                if self._multi(name) is not None:
                    for budget in self.config.budgets:
                        self.budget_knob(name, budget)
        return dict(self.budgets.kept)

    def _known_knob(self, spec: ModelSpec) -> float | None:
        """lambda of an N-model spec: given, or its budget's if calibrated and
        kept; None when the budget must be calibrated first."""
        assert spec.router is not None
        if spec.budget is None:
            return float(spec.knob if spec.knob is not None else 0.0)
        return self.budgets.get(spec.router, spec.budget)

    # -- micro-batched scoring --

    def shared_executor(self) -> ThreadPoolExecutor:
        """The scoring thread (created now if needed), to hand to a successor."""
        return self._scoring_executor()

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
            if multi is None:
                raise UnknownRouterError(
                    f"router {router!r} is not an N-model router of this server"
                )
            names = self._multi_names(router, multi)

            def quality(prompts: list[str]) -> list[Any]:
                return list(multi.score_models(prompts, names))

            batcher = self._batchers[key] = self._new_batcher(multi, quality)
        return batcher

    def close(self) -> None:
        """Stop the scoring thread and drop the batchers."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._batchers.clear()
