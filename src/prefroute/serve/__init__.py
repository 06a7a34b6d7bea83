"""The OpenAI-compatible routing server: `create_app(config)` and `ServeConfig`.

Importing this package is cheap; fastapi is imported by `create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ServeConfig", "create_app", "load_serve_config"]

if TYPE_CHECKING:
    from prefroute.serve.app import create_app
    from prefroute.serve.config import ServeConfig, load_serve_config


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from prefroute.serve.app import create_app

        return create_app
    if name in ("ServeConfig", "load_serve_config"):
        from prefroute.serve import config

        return getattr(config, name)
    raise AttributeError(f"module 'prefroute.serve' has no attribute {name!r}")
