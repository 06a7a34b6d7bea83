"""Configuration: the only module that reads environment variables (prefix PREFROUTE_).

Files are parsed once at the edge (CLI, server start) into frozen pydantic models;
library code takes typed arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefroute.errors import DataError

__all__ = [
    "DATA_DIR_ENV",
    "cache_dir",
    "env_value",
    "resolve_data_dir",
]

DATA_DIR_ENV = "PREFROUTE_DATA_DIR"
CACHE_DIR_ENV = "PREFROUTE_CACHE_DIR"


def env_value(name: str) -> str | None:
    """Return the environment variable `name` (any name, e.g. an API key variable).

    Args:
        name: Variable name.

    Returns:
        Its value, or None when unset or empty.
    """
    value = os.environ.get(name)
    return value if value else None


def _user_dir(kind: str) -> Path:
    import platformdirs

    if kind == "cache":
        return Path(platformdirs.user_cache_dir("prefroute"))
    return Path(platformdirs.user_data_dir("prefroute"))


def cache_dir() -> Path:
    """Directory for caches (embeddings, converted models): PREFROUTE_CACHE_DIR or
    the user cache dir. Created on demand.

    Returns:
        The cache directory path.
    """
    value = env_value(CACHE_DIR_ENV)
    path = Path(value).expanduser() if value else _user_dir("cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_data_dir(
    explicit: Path | str | None = None, *, must_exist: bool = True
) -> Path:
    """Find the data directory: `explicit`, else PREFROUTE_DATA_DIR, else the user
    data dir (where `prefroute data download` puts files).

    Args:
        explicit: A directory given on the command line (`--data-dir`).
        must_exist: Raise when the directory does not exist.

    Returns:
        The data directory.

    Raises:
        DataError: The directory does not exist; the message says how to get data.
    """
    if explicit is not None:
        path, origin = Path(explicit).expanduser(), "--data-dir"
    elif (value := env_value(DATA_DIR_ENV)) is not None:
        path, origin = Path(value).expanduser(), DATA_DIR_ENV
    else:
        path, origin = _user_dir("data"), "the default data directory"
    if must_exist and not path.is_dir():
        raise DataError(
            f"data directory {str(path)!r} (from {origin}) does not exist; "
            f"point --data-dir or {DATA_DIR_ENV} at a folder holding the data, "
            "or fetch the public sources with `prefroute data download all`"
        )
    return path
