"""prefroute: send each LLM request to the cheapest model that will answer it well.

Importing this package does no work and imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Controller",
    "Router",
    "__version__",
    "get_router",
    "load_router",
]

if TYPE_CHECKING:
    from prefroute.client import Controller
    from prefroute.routers.base import Router
    from prefroute.routers.registry import get_router, load_router


def __getattr__(name: str) -> Any:
    # Lazy public names keep `import prefroute` cheap (no numpy/onnx until used).
    if name == "Router":
        from prefroute.routers.base import Router

        return Router
    if name in ("get_router", "load_router"):
        from prefroute.routers import registry

        return getattr(registry, name)
    if name == "Controller":
        from prefroute.client import Controller

        return Controller
    raise AttributeError(f"module 'prefroute' has no attribute {name!r}")
