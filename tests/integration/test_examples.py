"""The example server configs: each parses, each can serve every model string of its
routers, and those naming only local endpoints start and answer (their upstreams
replaced by the fake one, as a user would with --strong-base-url / --weak-base-url)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fake_upstream import FakeUpstream, RunningServer

from prefroute.routers.base import read_config
from prefroute.routers.registry import router_folder
from prefroute.serve.app import build_core, create_app
from prefroute.serve.config import ServeConfig, load_serve_config
from prefroute.serve.metrics import ServeMetrics

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MESSAGES = [{"role": "user", "content": "Prove that there are infinitely many primes."}]


def _ids(path: Path) -> str:
    return path.name


def _is_n_model(target: str) -> bool:
    folder = router_folder(target)
    name = read_config(folder)["name"] if folder is not None else target
    return name == "mf-multi"


def _pair_routers(config: ServeConfig) -> list[str]:
    """Routers whose model strings are thresholds / shares (not budgets)."""
    return [
        name
        for name, target in config.routers.items()
        if not (config.models and _is_n_model(target))
    ]


def _is_local(config: ServeConfig) -> bool:
    endpoints = [config.strong, config.weak, *config.models]
    return all(urlsplit(e.base_url).hostname in LOCAL_HOSTS for e in endpoints)


def test_every_example_is_collected() -> None:
    assert {p.name for p in EXAMPLES} >= {"serve-local.yaml", "serve-multi.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=_ids)
def test_example_parses_with_both_tiers_and_routers(path: Path) -> None:
    config = load_serve_config(path)
    assert config.strong.model and config.weak.model
    assert config.routers


@pytest.mark.parametrize("path", EXAMPLES, ids=_ids)
def test_example_calibrates_every_two_model_router(path: Path) -> None:
    # without a calibration, 'router-<name>@<share>' is a 400 for every client
    config = load_serve_config(path)
    pair = _pair_routers(config)
    if pair:
        assert config.calibration_prompts or config.calibration_file, (
            f"{path.name}: router-{pair[0]}@0.3 cannot be resolved: no "
            "calibration_prompts or calibration_file"
        )


@pytest.mark.parametrize("path", EXAMPLES, ids=_ids)
def test_local_example_starts_and_answers_every_model_string(
    path: Path,
    data_dir: Path,
    upstream: FakeUpstream,
    start_server: Callable[[Any], RunningServer],
) -> None:
    config = load_serve_config(path)
    if not _is_local(config):
        pytest.skip(f"{path.name} names remote endpoints")
    config = load_serve_config(
        path,
        {
            "strong.base_url": upstream.base_url,
            "weak.base_url": upstream.base_url,
            "data_dir": str(data_dir),
        },
    )
    server = start_server(create_app(config))
    models = [config.strong.model, config.weak.model]
    for name in _pair_routers(config):
        for model in (f"router-{name}@0.3", f"router-{name}-0.5"):
            reply = httpx.post(
                f"{server.url}/v1/chat/completions",
                json={"model": model, "messages": MESSAGES},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-prefroute-routed-to"] in models
    direct = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": config.weak.model, "messages": MESSAGES},
        timeout=30,
    )
    assert direct.status_code == 200
    assert direct.headers["x-prefroute-tier"] == "weak"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=_ids)
def test_example_core_resolves_every_model_string(path: Path, data_dir: Path) -> None:
    # the shipped routers, calibrated on the default prompts as at start (minutes)
    config = load_serve_config(path, {"data_dir": str(data_dir)})
    core = build_core(config, ServeMetrics())
    core.calibrate_budgets()
    for name in _pair_routers(config):
        decision = core.decide(f"router-{name}@0.3", MESSAGES)
        assert decision.threshold == core.calibrations[name].threshold_for(0.3)
    for name in set(config.routers) - set(_pair_routers(config)):
        for budget in config.budgets:
            assert core.decide(f"router-{name}@{budget:g}", MESSAGES).budget == budget
