"""The Router contract: batched scores in [0, 1] for how much a prompt needs the
strong model, a threshold rule, and save/load of a folder (no pickle)."""

from __future__ import annotations

import abc
import inspect
import json
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from prefroute._npz import write_npz
from prefroute.errors import ArtifactError, ConfigError, NotFittedError
from prefroute.types import Battle, FloatArray

__all__ = [
    "CONFIG_FILE",
    "Router",
    "embedder_spec",
    "load_arrays",
    "read_config",
    "save_arrays",
]

CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.npz"
_EMBEDDER_KEY = "__embedder__"


def save_arrays(directory: Path, **arrays: np.ndarray) -> None:
    """Write named arrays to `directory/arrays.npz` (no pickle; the same arrays
    give the same bytes: `prefroute._npz.write_npz`).

    Args:
        directory: Target folder (created if needed).
        **arrays: Arrays to store; object arrays are refused.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ArtifactError(f"array {key!r} has dtype object; refusing to pickle")
    write_npz(directory / ARRAYS_FILE, arrays)


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    """Read the arrays written by `save_arrays`.

    Args:
        directory: Router folder.

    Returns:
        Name -> array.

    Raises:
        ArtifactError: The file is missing or unreadable.
    """
    path = directory / ARRAYS_FILE
    try:
        # our own handle: np.load leaks its file when the zip is unreadable
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # a truncated or corrupted .npz fails inside zipfile / zlib
        raise ArtifactError(f"cannot read arrays from {str(path)!r}: {exc}") from exc


def embedder_spec(router: Router) -> str | None:
    """The spec of the embedder a router scores with, or None when it has none.

    Args:
        router: The router.

    Returns:
        The spec (e.g. "minilm-dq8"), or None.
    """
    own = router.hyperparameters().get("embedder")
    spec = own if isinstance(own, str) else getattr(own, "spec", None)
    return spec if isinstance(spec, str) else None


def read_config(directory: Path) -> dict[str, Any]:
    """Read and minimally check a router folder's config.json.

    Args:
        directory: Router folder.

    Returns:
        The parsed config (has "name", "format_version", "hyperparameters").

    Raises:
        ArtifactError: Missing, unparsable, or lacking required keys.
    """
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"no {CONFIG_FILE} in {str(directory)!r}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot parse {str(path)!r}: {exc}") from exc
    if not isinstance(config, dict) or not {"name", "format_version"} <= set(config):
        raise ArtifactError(f"{str(path)!r} lacks 'name' or 'format_version'")
    return config


class Router(abc.ABC):
    """Scores prompts by how much they need the strong model.

    Subclasses store keyword-only hyperparameters in `__init__` (attributes of the
    same name) and learned state in attributes ending in `_`.
    """

    name: ClassVar[str]
    format_version: ClassVar[int] = 1
    needs_fit: ClassVar[bool] = True

    def fit(self, battles: Sequence[Battle]) -> Self:
        """Learn from battles. Routers with nothing to learn return self.

        Args:
            battles: Training battles.

        Returns:
            self.
        """
        return self

    @abc.abstractmethod
    def score(self, prompts: Sequence[str]) -> FloatArray:
        """P(strong needed) per prompt.

        Args:
            prompts: Prompts to score.

        Returns:
            Array of shape (len(prompts),), values in [0, 1].
        """

    def route(self, prompts: Sequence[str], threshold: float) -> list[bool]:
        """Route each prompt: True = strong model.

        Args:
            prompts: Prompts to route.
            threshold: Cost threshold in [0, 1]; a score >= threshold goes strong.

        Returns:
            One boolean per prompt.

        Raises:
            ConfigError: threshold outside [0, 1].
        """
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}")
        scores = self.score(prompts)
        return [bool(s) for s in scores >= threshold]

    # -- persistence -----------------------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        """Keyword-only constructor arguments and their current values.

        Returns:
            Name -> value (JSON-serialisable after embedders become specs).
        """
        params = inspect.signature(type(self).__init__).parameters
        return {
            name: getattr(self, name)
            for name, p in params.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def _save_state(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Write learned state (arrays) into `directory`; stateless routers skip."""

    def _load_state(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Read learned state written by `_save_state`."""

    def save(self, directory: Path | str) -> None:
        """Write the router as a folder: config.json plus arrays.

        Args:
            directory: Target folder (created if needed).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        hyper: dict[str, Any] = {}
        for key, value in self.hyperparameters().items():
            spec = getattr(value, "spec", None)
            hyper[key] = {_EMBEDDER_KEY: spec} if isinstance(spec, str) else value
        config = {
            "name": self.name,
            "format_version": self.format_version,
            "hyperparameters": hyper,
        }
        self._save_state(directory)
        (directory / CONFIG_FILE).write_text(
            json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    def with_embedder(self, embedder: Any) -> Self:
        """The same learned router, scoring with another embedder.

        For an embedder that is a drop-in for the training one (same dimension, e.g.
        ``minilm-dq8`` for vectors trained on exact ``minilm``). Goes through `save`
        and `load`, so the result is exactly what loading a saved folder gives.

        Args:
            embedder: Embedder object or spec.

        Returns:
            A new router; this one is unchanged.

        Raises:
            ConfigError: The router has no embedder.
        """
        import tempfile

        if "embedder" not in self.hyperparameters():
            raise ConfigError(f"router {self.name!r} has no embedder to replace")
        with tempfile.TemporaryDirectory() as tmp:
            self.save(tmp)
            return type(self).load(tmp, embedder=embedder)

    @classmethod
    def load(cls, directory: Path | str, **overrides: Any) -> Self:
        """Load a router saved by `save`.

        Args:
            directory: Router folder.
            **overrides: Constructor arguments to replace (e.g. an embedder).

        Returns:
            The router, ready to score.

        Raises:
            ArtifactError: Wrong router name, unsupported format, or bad files.
        """
        directory = Path(directory)
        config = read_config(directory)
        if config["name"] != cls.name:
            raise ArtifactError(
                f"{str(directory)!r} holds router {config['name']!r}, not {cls.name!r}"
            )
        if config["format_version"] != cls.format_version:
            raise ArtifactError(
                f"{str(directory)!r} has format_version {config['format_version']!r}; "
                f"this prefroute reads {cls.format_version}"
            )
        hyper = dict(config.get("hyperparameters", {}))
        for key, value in hyper.items():
            if isinstance(value, dict) and _EMBEDDER_KEY in value:
                from prefroute.embed import get_embedder

                hyper[key] = get_embedder(value[_EMBEDDER_KEY])
        hyper.update(overrides)
        try:
            router = cls(**hyper)
        except TypeError as exc:
            raise ArtifactError(
                f"bad hyperparameters in {str(directory)!r}: {exc}"
            ) from exc
        router._load_state(directory)
        return router

    def _check_fitted(self, *attributes: str) -> None:
        """Raise NotFittedError unless every named learned attribute is set."""
        for attribute in attributes:
            if getattr(self, attribute, None) is None:
                raise NotFittedError(
                    f"{type(self).__name__} is not fitted: call fit() or load() first"
                )
