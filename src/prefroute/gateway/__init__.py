"""The gateway: the routing core that both front-ends share.

It takes an OpenAI chat request, decides which upstream model answers it, calls that
model (falling back to the next on failure) and counts calls and spend. It knows no
HTTP framework: the server (`prefroute.serve`, FastAPI) and the in-process
`Controller` (`prefroute.client`) translate their callers' requests into its calls.

Modules, one concern each (imports point down)::

    core.py          RoutingCore: parse -> decide -> call upstream -> account
     |-- decision.py   Decider, Decision: pair and N-model decisions, fallback order
     |    |-- batcher.py   ScoreBatcher: concurrent prompts scored in one batch
     |    |-- budgets.py   BudgetKnobs: calibrated lambda per (router, budget)
     |    '-- request.py   model strings, prompt extraction, token estimates
     '-- upstream.py   Upstream: send with retries, answers, SSE relay
          |-- _http.py     LeanClient: keep-alive HTTP/1.1 client (hot path)
          '-- litellm.py   provider: litellm
    calibrations.py  load_calibrations_for: calibrations a gateway starts with
    config.py        EndpointConfig, PricedEndpoint, RoutingConfig (pydantic)
    errors.py        InvalidRequestError, UpstreamStatusError, UpstreamTimeoutError
    store/           request log and feedback: LogStore (SQLite; PostgreSQL), LogWriter

Across the package imports flow one way::

    cli -> serve, client -> gateway -> evals, calibrate, train -> routers -> embed, data

so the gateway imports routers and calibration, never a front-end.

Importing this package is cheap: names are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Decision",
    "EndpointConfig",
    "InvalidRequestError",
    "PricedEndpoint",
    "RoutingConfig",
    "RoutingCore",
    "RoutingObserver",
    "load_calibrations_for",
    "parse_model",
]

if TYPE_CHECKING:
    from prefroute.gateway.calibrations import load_calibrations_for
    from prefroute.gateway.config import EndpointConfig, PricedEndpoint, RoutingConfig
    from prefroute.gateway.core import RoutingCore, RoutingObserver
    from prefroute.gateway.decision import Decision
    from prefroute.gateway.errors import InvalidRequestError
    from prefroute.gateway.request import parse_model

_WHERE = {
    "Decision": "prefroute.gateway.decision",
    "EndpointConfig": "prefroute.gateway.config",
    "InvalidRequestError": "prefroute.gateway.errors",
    "PricedEndpoint": "prefroute.gateway.config",
    "RoutingConfig": "prefroute.gateway.config",
    "RoutingCore": "prefroute.gateway.core",
    "RoutingObserver": "prefroute.gateway.core",
    "load_calibrations_for": "prefroute.gateway.calibrations",
    "parse_model": "prefroute.gateway.request",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import prefroute.gateway` must not import pydantic-heavy or httpx modules.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'prefroute.gateway' has no attribute {name!r}")
