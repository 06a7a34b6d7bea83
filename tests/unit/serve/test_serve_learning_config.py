"""Serve config and CLI flags of the learning loop: log, explore, admin keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.cli.cmd_serve import config_from_options
from prefroute.errors import ConfigError
from prefroute.gateway.store import open_store
from prefroute.serve.config import load_serve_config

PAIR = {"strong.model": "big", "weak.model": "small"}


def test_admin_keys_come_from_env_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFROUTE_ADMIN_API_KEYS", "root1, root2")
    config = config_from_options(None, PAIR)
    assert config.admin_api_keys_env == "PREFROUTE_ADMIN_API_KEYS"
    assert config.resolved_admin_api_keys() == ["root1", "root2"]


def test_without_admin_keys_none_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFROUTE_ADMIN_API_KEYS", raising=False)
    assert config_from_options(None, PAIR).resolved_admin_api_keys() == []


def test_learning_keys_parse_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(
        "strong: {model: big}\nweak: {model: small}\n"
        "log: logs/requests.db\nlog_prompts: true\nlog_max_rows: 1000\n"
        "log_max_age_days: 30\nexplore: 0.05\nexplore_seed: 7\n"
        "admin_api_keys: [secret]\n"
    )
    config = load_serve_config(path)
    assert (config.log, config.log_prompts, config.log_max_rows) == (
        "logs/requests.db",
        True,
        1000,
    )
    assert (config.log_max_age_days, config.explore, config.explore_seed) == (
        30,
        0.05,
        7,
    )
    assert config.resolved_admin_api_keys() == ["secret"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("explore", 1.0), ("explore", -0.1), ("log_max_rows", 0), ("log_max_age_days", 0)],
)
def test_out_of_range_learning_values_are_rejected(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=key):
        load_serve_config(None, {**PAIR, key: value})


def test_serve_flags_turn_on_log_and_exploration(tmp_path: Path) -> None:
    log = tmp_path / "requests.db"
    result = CliRunner().invoke(
        build_app(),
        [
            *("serve", "--strong-model", "big", "--weak-model", "small"),
            *("--log", str(log), "--log-prompts", "--log-max-rows", "50"),
            *("--explore", "0.1", "--explore-seed", "3", "--dry-run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"request log: {log} (prompts stored), explore 0.1" in result.stderr
    assert '"explore": 0.1' in result.stdout
    store = open_store(log)  # created, with its schema, and closed again
    try:
        assert store.counts() == {"requests": 0, "feedback": 0}
    finally:
        store.close()


def test_a_database_url_is_not_echoed_with_its_password() -> None:
    result = CliRunner().invoke(
        build_app(),
        [
            *("serve", "--strong-model", "big", "--weak-model", "small"),
            *("--log", "mysql://user:hunter2@db/log", "--dry-run"),
        ],
    )
    assert isinstance(result.exception, ConfigError)
    assert "mysql://" in str(result.exception)
    assert "hunter2" not in str(result.exception) + result.output
