"""Exception tree: every error prefroute raises on purpose is a PrefrouteError."""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataError",
    "MissingDependencyError",
    "NotFittedError",
    "PrefrouteError",
    "UnknownRouterError",
    "UpstreamError",
]


class PrefrouteError(Exception):
    """Base of every error prefroute raises on purpose."""


class ConfigError(PrefrouteError, ValueError):
    """A configuration value or user argument is invalid."""


class DataError(PrefrouteError, ValueError):
    """A data file is missing or malformed (the message names file and line)."""


class NotFittedError(PrefrouteError, RuntimeError):
    """A router was used before `fit` or `load`."""


class UnknownRouterError(PrefrouteError, LookupError):
    """No router is registered (or shipped) under the requested name."""


class ArtifactError(PrefrouteError):
    """A saved router folder is missing, corrupt, or of an unsupported format."""


class UpstreamError(PrefrouteError):
    """The LLM provider (or embedding provider) failed."""


class MissingDependencyError(PrefrouteError, ImportError):
    """An optional package is needed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        """Build the message from the missing package and the extra that brings it.

        Args:
            package: Import name of the missing package.
            extra: Name of the prefroute extra that installs it.
            purpose: What it is needed for.
        """
        why = f" for {purpose}" if purpose else ""
        super().__init__(
            f"the package {package!r} is needed{why}: pip install 'prefroute[{extra}]'"
        )
        self.package = package
        self.extra = extra
