"""Name -> router class, imported on first use (so "random" never imports torch),
and `load_router`, which also finds checkpoints shipped inside the package."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from prefroute.errors import UnknownRouterError
from prefroute.routers.base import CONFIG_FILE, Router, read_config

__all__ = [
    "available_routers",
    "get_router",
    "get_router_class",
    "load_router",
    "router_folder",
    "shipped_checkpoints",
]

_ROUTERS: dict[str, str] = {
    "random": "prefroute.routers.random:RandomRouter",
    "sw_ranking": "prefroute.routers.sw_ranking:SWRankingRouter",
    "mf": "prefroute.routers.mf:MFRouter",
    "classifier": "prefroute.routers.classifier:ClassifierRouter",
    "classifier-ft": "prefroute.routers.classifier_ft:FinetunedClassifierRouter",
    "difficulty": "prefroute.routers.difficulty:DifficultyRouter",
    "llm_judge": "prefroute.routers.llm_judge:LLMJudgeRouter",
    "mf-multi": "prefroute.routers.multi:MultiModelRouter",
    "adapted": "prefroute.routers.adapted:AdaptedRouter",
    "mf-multi-adapted": "prefroute.routers.adapted_multi:AdaptedMultiModelRouter",
}

# Names that point at a shipped checkpoint folder under prefroute/checkpoints/.
_ALIASES: dict[str, str] = {}

_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def available_routers() -> list[str]:
    """Registered router class names, sorted."""
    return sorted(_ROUTERS)


def shipped_checkpoints() -> list[str]:
    """Names of checkpoints shipped in the package (including aliases), sorted."""
    names = {p.name for p in _CHECKPOINTS.iterdir() if (p / CONFIG_FILE).is_file()}
    names |= {alias for alias, target in _ALIASES.items() if target in names}
    return sorted(names)


def router_folder(name_or_path: str | Path) -> Path | None:
    """The folder `load_router(name_or_path)` would load from, if any.

    Args:
        name_or_path: A router folder, shipped checkpoint name or alias.

    Returns:
        The folder, or None for a registered router built without one.
    """
    path = Path(name_or_path)
    if (path / CONFIG_FILE).is_file():
        return path.resolve()
    name = str(name_or_path)
    shipped = _CHECKPOINTS / _ALIASES.get(name, name)
    if "/" not in name and (shipped / CONFIG_FILE).is_file():
        return shipped
    return None


def get_router_class(name: str) -> type[Router]:
    """Import and return the router class registered as `name`.

    Args:
        name: Registered router name.

    Returns:
        The Router subclass.

    Raises:
        UnknownRouterError: Nothing is registered under `name`.
    """
    try:
        target = _ROUTERS[name]
    except KeyError:
        raise UnknownRouterError(
            f"unknown router {name!r}; known: {', '.join(available_routers())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    cls: type[Router] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_router(name: str, **hyperparameters: Any) -> Router:
    """Construct an (unfitted) router by registered name.

    Args:
        name: Registered router name.
        **hyperparameters: Keyword arguments for its constructor.

    Returns:
        A new router.
    """
    return get_router_class(name)(**hyperparameters)


def load_router(name_or_path: str | Path, **overrides: Any) -> Router:
    """Load a router ready to score.

    Resolution order: a folder holding config.json; a checkpoint shipped with the
    package (or an alias such as "default"); a registered router that needs no
    training (e.g. "random").

    Args:
        name_or_path: Folder path, shipped checkpoint name, or router name.
        **overrides: Constructor arguments to replace (e.g. embedder=...).

    Returns:
        The router.

    Raises:
        UnknownRouterError: Nothing matches.
        ArtifactError: The folder exists but is not a valid router.
    """
    folder = router_folder(name_or_path)
    if folder is not None:
        return get_router_class(read_config(folder)["name"]).load(folder, **overrides)
    name = str(name_or_path)
    if name in _ROUTERS:
        cls = get_router_class(name)
        if getattr(cls, "needs_fit", True) is False:
            return cls(**overrides)
        raise UnknownRouterError(
            f"router {name!r} needs training and no checkpoint of it is shipped; "
            f"train one with `prefroute train {name}` and pass its folder"
        )
    known = sorted(set(shipped_checkpoints()) | {"random"})
    raise UnknownRouterError(
        f"unknown router {name!r}: not a router folder, shipped checkpoint or "
        f"router name (shipped: {', '.join(known)})"
    )
