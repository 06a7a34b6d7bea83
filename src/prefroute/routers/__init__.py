"""Routers: the base contract, the registry, one module per router."""

from prefroute.routers.base import Router
from prefroute.routers.registry import (
    available_routers,
    get_router,
    get_router_class,
    load_router,
)

__all__ = [
    "Router",
    "available_routers",
    "get_router",
    "get_router_class",
    "load_router",
]
