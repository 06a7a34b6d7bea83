"""`ServeConfig`: what `prefroute serve` needs, parsed once from YAML and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError

from prefroute.errors import ConfigError
from prefroute.gateway.config import RoutingConfig

__all__ = ["ServeConfig", "load_serve_config"]


class ServeConfig(RoutingConfig):
    """Server settings on top of the routing settings (see `RoutingConfig`).

    Attributes:
        host: Interface to bind.
        port: TCP port.
        api_keys_env: Environment variable holding the server's own API keys
            (comma-separated); clients then must send ``Authorization: Bearer KEY``.
        api_keys: Keys given directly (prefer `api_keys_env`).
        max_body_bytes: Largest accepted request body.
        admin_api_keys_env: Environment variable holding the admin keys
            (comma-separated) that ``POST /admin/reload`` requires as
            ``Authorization: Bearer KEY``; with no admin key configured the
            admin endpoints answer 403.
        admin_api_keys: Admin keys given directly (prefer `admin_api_keys_env`).
    """

    host: str = "127.0.0.1"
    port: int = Field(default=6060, ge=0, le=65535)
    api_keys_env: str | None = None
    api_keys: list[SecretStr] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    admin_api_keys_env: str | None = None
    admin_api_keys: list[SecretStr] = Field(default_factory=list)

    def resolved_api_keys(self) -> list[str]:
        """Server keys from `api_keys` and the variable named by `api_keys_env`."""
        return _keys(self.api_keys, self.api_keys_env)

    def resolved_admin_api_keys(self) -> list[str]:
        """Admin keys from `admin_api_keys` and the variable `admin_api_keys_env`."""
        return _keys(self.admin_api_keys, self.admin_api_keys_env)


def _keys(given: list[SecretStr], env: str | None) -> list[str]:
    keys = [k.get_secret_value() for k in given]
    if env:
        from prefroute.config import env_value

        value = env_value(env)
        if value:
            keys += [k.strip() for k in value.split(",") if k.strip()]
    return keys


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_serve_config(
    path: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> ServeConfig:
    """Build a `ServeConfig` from an optional YAML file plus overrides.

    Args:
        path: YAML file (keys as in `ServeConfig`; `strong`/`weak` are mappings).
        overrides: Dotted keys -> values (e.g. ``{"strong.model": "gpt-4o"}``);
            None values are ignored. They win over the file.

    Returns:
        The validated config.

    Raises:
        ConfigError: Unreadable file or invalid values (message lists each problem).
    """
    data: dict[str, Any] = {}
    if path is not None:
        import yaml

        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read serve config {str(path)!r}: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"serve config {str(path)!r} must be a mapping, "
                f"got {type(loaded).__name__}"
            )
        data = loaded or {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, key, value)
    try:
        return ServeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        where = f" in {str(path)!r}" if path is not None else ""
        raise ConfigError(f"invalid serve config{where}: {problems}") from exc
