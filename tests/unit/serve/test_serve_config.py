"""Server config parsing, CLI flag merging and Prometheus rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefroute.cli import build_app
from prefroute.cli.cmd_serve import config_from_options
from prefroute.errors import ConfigError
from prefroute.gateway.decision import Decision
from prefroute.serve.config import load_serve_config
from prefroute.serve.metrics import ServeMetrics

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

YAML = """
strong: {model: big, base_url: "http://a/v1/", api_key_env: MY_KEY}
weak: {model: small, base_url: "http://b/v1"}
routers: [random]
port: 7000
"""


def test_yaml_is_parsed_and_flags_override(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(YAML)
    config = load_serve_config(
        path, {"weak.model": "tiny", "port": None, "strong.timeout": 5.0}
    )
    assert config.weak.model == "tiny"
    assert config.port == 7000
    assert config.strong.base_url == "http://a/v1"
    assert config.strong.timeout == 5.0
    assert config.routers == {"random": "random"}


def test_invalid_config_names_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("weak: {model: small, colour: red}\nport: -1\n")
    with pytest.raises(ConfigError) as info:
        load_serve_config(path)
    message = str(info.value)
    assert "strong" in message and "weak.colour" in message and "port" in message


def test_flags_alone_build_a_config_with_default_key_envs() -> None:
    config = config_from_options(
        None,
        {
            "strong.model": "big",
            "strong.base_url": "http://a/v1",
            "weak.model": "small",
            "weak.base_url": "http://b/v1",
            "routers": "random,x=random",
        },
    )
    assert config.strong.api_key_env == "PREFROUTE_STRONG_API_KEY"
    assert config.weak.api_key_env == "PREFROUTE_WEAK_API_KEY"
    assert config.api_keys_env == "PREFROUTE_SERVER_API_KEYS"
    assert config.routers == {"random": "random", "x": "random"}


def test_server_api_keys_come_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFROUTE_SERVER_API_KEYS", "a, b")
    config = config_from_options(None, {"strong.model": "big", "weak.model": "small"})
    assert config.resolved_api_keys() == ["a", "b"]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("serve*.yaml")))
def test_example_configs_are_valid(name: str) -> None:
    config = load_serve_config(EXAMPLES / name)
    assert config.strong.model and config.weak.model


def test_serve_dry_run_loads_and_prints_config() -> None:
    result = CliRunner().invoke(
        build_app(),
        [
            "serve",
            "--strong-model",
            "big",
            "--strong-base-url",
            "http://a/v1",
            "--weak-model",
            "small",
            "--weak-base-url",
            "http://b/v1",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"model": "big"' in result.stdout


def test_metrics_render_prometheus_text() -> None:
    metrics = ServeMetrics()
    metrics.on_route(Decision("strong", "big", "mf", 0.5, 0.7, routing_seconds=0.0015))
    metrics.on_upstream("big", 0.2, None)
    metrics.on_upstream("big", 0.3, "timeout")
    metrics.on_fallback("big", "small")
    metrics.on_request("/v1/chat/completions", 200)
    text = metrics.render()
    assert 'prefroute_routed_total{model="big",router="mf",tier="strong"} 1' in text
    assert 'prefroute_routing_latency_seconds_bucket{router="mf",le="0.002"} 1' in text
    assert 'prefroute_routing_latency_seconds_bucket{router="mf",le="0.001"} 0' in text
    assert 'prefroute_upstream_latency_seconds_count{model="big"} 2' in text
    assert 'prefroute_upstream_errors_total{kind="timeout",model="big"} 1' in text
    assert 'prefroute_fallbacks_total{from_model="big",to_model="small"} 1' in text
    assert "# TYPE prefroute_routing_latency_seconds histogram" in text
