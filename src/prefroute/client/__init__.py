"""In-process client (Controller), the twin of the server, over the gateway core.

Importing this package is cheap: names are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "AsyncController",
    "Controller",
    "Decision",
    "EndpointConfig",
    "RoutingConfig",
    "RoutingCore",
    "parse_model",
]

if TYPE_CHECKING:
    from prefroute.client.controller import AsyncController, Controller
    from prefroute.gateway.config import EndpointConfig, RoutingConfig
    from prefroute.gateway.core import RoutingCore
    from prefroute.gateway.decision import Decision
    from prefroute.gateway.request import parse_model

_WHERE = {
    "AsyncController": "prefroute.client.controller",
    "Controller": "prefroute.client.controller",
    "Decision": "prefroute.gateway.decision",
    "RoutingCore": "prefroute.gateway.core",
    "parse_model": "prefroute.gateway.request",
    "EndpointConfig": "prefroute.gateway.config",
    "RoutingConfig": "prefroute.gateway.config",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import prefroute` must not import pydantic-heavy or httpx modules.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'prefroute.client' has no attribute {name!r}")
